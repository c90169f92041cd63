package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The parent side of the crash test: reading the child's journal and
// checking every message and UID after a kill.

// journalState is what the journal says happened, over all iterations.
type journalState struct {
	known    map[string]bool // appends and deliveries that began
	mustHave map[string]bool // appends and deliveries that are done
	expunged map[string]bool // a "\Deleted + expunge" of it began
	copied   map[string]bool // a copy of it began: it may be in a folder twice
	lines    []string        // complete lines, for the report
}

func readJournal(path string) (*journalState, error) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1] // a torn last line announced nothing that started
	} else {
		b = nil
	}
	j := &journalState{known: map[string]bool{}, mustHave: map[string]bool{}, expunged: map[string]bool{}, copied: map[string]bool{}}
	type op struct {
		kind string
		ids  []string
	}
	begun := map[string]op{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		j.lines = append(j.lines, line)
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("bad journal line %q", line)
		}
		switch f[1] {
		case "begin":
			if len(f) < 3 {
				return nil, fmt.Errorf("bad journal line %q", line)
			}
			o := op{kind: f[2]}
			switch o.kind {
			case "append", "deliver":
				o.ids = f[4:5]
				j.known[f[4]] = true
			case "copy", "move":
				o.ids = f[5:]
			case "expunge":
				o.ids = f[4:]
			}
			for _, id := range o.ids {
				switch o.kind {
				case "copy":
					j.copied[id] = true
				case "expunge":
					j.expunged[id] = true
				}
			}
			begun[f[0]] = o
		case "done":
			o, ok := begun[f[0]]
			if !ok {
				return nil, fmt.Errorf("journal: done without begin: %q", line)
			}
			if o.kind == "append" || o.kind == "deliver" {
				j.mustHave[o.ids[0]] = true
			}
		default:
			return nil, fmt.Errorf("bad journal line %q", line)
		}
	}
	return j, nil
}

func (j *journalState) tail(n int) string {
	l := j.lines
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// crashHistory is what the parent learned in earlier iterations.
type crashHistory struct {
	validity map[string]uint32
	uidNext  map[string]uint32            // UIDNEXT at the last check
	uidMsg   map[string]map[uint32]string // folder -> UID -> Message-ID, ever seen
	seen     map[string]bool              // Message-IDs seen on disk at some check
}

// folderSnapshot is what one check saw of a folder.
type folderSnapshot struct {
	uids     []uint32
	ids      map[uint32]string
	count    map[string]int // Message-ID -> number of UIDs naming it
	validity uint32
	uidNext  uint32
}

// verifyCrash opens the Maildir through a fresh Hub (a server start) and
// returns every inconsistency it finds. With check set it also runs CHECK
// on both folders first.
func verifyCrash(root string, j *journalState, h *crashHistory, check bool) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	hub := NewHub(crashParentOpts)
	defer hub.Close()
	s, err := hub.Open(root, false)
	if err != nil {
		return []string{fmt.Sprintf("open: %v", err)}
	}
	snaps := map[string]*folderSnapshot{}
	for _, name := range crashFolders {
		m, err := s.Select(name, SelectOptions{})
		if err != nil {
			bad("select %s: %v", name, err)
			continue
		}
		if check {
			if err := m.Check(); err != nil {
				bad("check %s: %v", name, err)
			}
			m.Changes()
		}
		snaps[name] = verifyFolder(m, folderDir(root, name), h, bad)
		m.Close()
	}
	if len(snaps) != len(crashFolders) {
		return problems
	}
	// 1. No message is lost.
	var lost []string
	for id := range j.mustHave {
		if !j.expunged[id] && snaps[Inbox].count[id]+snaps[crashOther].count[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id := range h.seen {
		if !j.mustHave[id] && !j.expunged[id] && snaps[Inbox].count[id]+snaps[crashOther].count[id] == 0 {
			lost = append(lost, id+" (seen at an earlier check)")
		}
	}
	sort.Strings(lost)
	for _, id := range lost {
		bad("message %s lost: in neither folder", id)
	}
	// 2. No message appears from nowhere or twice in a folder.
	for _, name := range crashFolders {
		for id, n := range snaps[name].count {
			if !j.known[id] {
				bad("%s: message %s was never appended or delivered", name, id)
			}
			if n > 1 && !j.copied[id] {
				bad("%s: message %s has %d UIDs but was never copied", name, id, n)
			}
			h.seen[id] = true
		}
	}
	// 4. Remember UIDs and UIDNEXT for the next iterations.
	for _, name := range crashFolders {
		sn := snaps[name]
		for uid, id := range sn.ids {
			h.uidMsg[name][uid] = id
		}
		h.uidNext[name] = sn.uidNext
		if h.validity[name] == 0 {
			h.validity[name] = sn.validity
		}
	}
	return problems
}

func folderDir(root, name string) string {
	if name == Inbox {
		return root
	}
	return filepath.Join(root, dirName(name))
}

// verifyFolder checks one selected folder: every UID names one readable
// message file, every file has one UID, and the UIDs agree with history.
func verifyFolder(m *Mailbox, dir string, h *crashHistory, bad func(string, ...any)) *folderSnapshot {
	name := m.Name()
	sn := &folderSnapshot{uids: m.UIDs(), ids: map[uint32]string{}, count: map[string]int{},
		validity: m.UIDValidity(), uidNext: m.UIDNext()}
	// 3. UIDs ascending and unique, below UIDNEXT; UIDVALIDITY fixed.
	for i, uid := range sn.uids {
		if uid == 0 || (i > 0 && uid <= sn.uids[i-1]) {
			bad("%s: UIDs not ascending and unique at %d: %v", name, i, sn.uids)
			break
		}
	}
	if n := len(sn.uids); n > 0 && sn.uids[n-1] >= sn.uidNext {
		bad("%s: UIDNEXT %d not above the highest UID %d", name, sn.uidNext, sn.uids[n-1])
	}
	if v := h.validity[name]; v != 0 && v != sn.validity {
		bad("%s: UIDVALIDITY changed from %d to %d", name, v, sn.validity)
	}
	if prev := h.uidNext[name]; sn.uidNext < prev {
		bad("%s: UIDNEXT went back from %d to %d", name, prev, sn.uidNext)
	}
	if int(m.Count()) != len(sn.uids) {
		bad("%s: Count %d but %d UIDs", name, m.Count(), len(sn.uids))
	}
	// Every UID opens a whole message; no two UIDs share a file.
	byPath := map[string]uint32{}
	for _, uid := range sn.uids {
		if msg := m.Message(uid); msg.Expunged || msg.UID != uid {
			bad("%s: uid %d in the view but Message says %+v", name, uid, msg)
		}
		fh, err := m.Open(uid)
		if err != nil {
			bad("%s: uid %d cannot be opened: %v", name, uid, err)
			continue
		}
		b, err := io.ReadAll(fh)
		path := fh.Name()
		fh.Close()
		if err != nil {
			bad("%s: uid %d (%s): %v", name, uid, path, err)
			continue
		}
		if o, dup := byPath[path]; dup {
			bad("%s: uids %d and %d both name %s", name, o, uid, path)
		}
		byPath[path] = uid
		id, err := parseCrashMessage(b)
		if err != nil {
			bad("%s: uid %d (%s): %v", name, uid, path, err)
			if id == "" {
				continue
			}
		}
		sn.ids[uid] = id
		sn.count[id]++
		// 4. A UID never names another message; a new UID is never one
		// handed out before.
		if old, ok := h.uidMsg[name][uid]; ok && old != id {
			bad("%s: uid %d reused: it named %s, now %s", name, uid, old, id)
		} else if !ok && uid < h.uidNext[name] {
			bad("%s: uid %d (%s) appeared below the UIDNEXT %d of the last check", name, uid, id, h.uidNext[name])
		}
		// The cached structure (imapd-cache) belongs to this message.
		p, err := m.Structure(uid)
		if err != nil {
			bad("%s: uid %d: structure: %v", name, uid, err)
		} else if p.Envelope == nil || strings.Trim(p.Envelope.MessageID, "<> ") != id {
			bad("%s: uid %d: cached structure is of another message: %+v, want %s", name, uid, p.Envelope, id)
		}
		// So does the derived data kept beside it.
		if d, err := m.Derived(uid, crashDerivedKey, crashDerived); err != nil {
			bad("%s: uid %d: derived: %v", name, uid, err)
		} else if string(d) != id {
			bad("%s: uid %d: cached derived data is of another message: %q, want %s", name, uid, d, id)
		}
	}
	// Every file in cur/ and new/ has exactly one UID.
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			bad("%s: %v", name, err)
			continue
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, sub, e.Name())
			if _, ok := byPath[p]; !ok {
				b, _ := os.ReadFile(p)
				id, _ := parseCrashMessage(b)
				bad("%s: file %s/%s (%s) has no UID", name, sub, e.Name(), id)
			}
			delete(byPath, p)
		}
	}
	for p, uid := range byPath {
		bad("%s: uid %d names %s, not in the listing", name, uid, p)
	}
	return sn
}

// lastOpUnfinished reports whether the journal ends with the "begin" of
// an operation of that kind ("": of any kind).
func lastOpUnfinished(path, kind string) bool {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	f := strings.Fields(lines[len(lines)-1])
	return len(f) > 2 && f[1] == "begin" && (kind == "" || f[2] == kind)
}

// dropTornLine cuts a line the killed child did not finish writing off
// the journal: it announced nothing that started, and the next child's
// first line would otherwise continue it. A kill can tear even a short
// line, where it crosses a page of the file (the kernel checks for a
// fatal signal between pages).
func dropTornLine(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 || b[len(b)-1] == '\n' {
		return
	}
	if err := os.Truncate(path, int64(bytes.LastIndexByte(b, '\n')+1)); err != nil {
		t.Fatal(err)
	}
}

// writeJournal appends a line to the journal (the parent's own, while no
// child runs).
func writeJournal(t *testing.T, path, line string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(line); err != nil {
		t.Fatal(err)
	}
}

// ageAndRecord sets the mtimes of cur/ and new/ of both folders an hour
// back and lets a fresh Hub record them (a listing) in the sidecars.
func ageAndRecord(root string) error {
	old := time.Now().Add(-time.Hour)
	hub := NewHub(crashParentOpts)
	defer hub.Close()
	s, err := hub.Open(root, false)
	if err != nil {
		return err
	}
	for _, name := range crashFolders {
		dir := folderDir(root, name)
		for _, sub := range []string{"cur", "new"} {
			if err := os.Chtimes(filepath.Join(dir, sub), old, old); err != nil {
				return err
			}
		}
		m, err := s.Select(name, SelectOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		m.Close()
	}
	return nil
}

// crashListing describes the Maildir for a failure report.
func crashListing(root string) string {
	var b strings.Builder
	for _, name := range crashFolders {
		dir := folderDir(root, name)
		fmt.Fprintf(&b, "== %s (%s)\n", name, dir)
		for _, sub := range []string{"cur", "new", "tmp"} {
			ents, _ := os.ReadDir(filepath.Join(dir, sub))
			for _, e := range ents {
				id := ""
				if data, err := os.ReadFile(filepath.Join(dir, sub, e.Name())); err == nil {
					id, _ = parseCrashMessage(data)
				}
				fi, _ := e.Info()
				var size int64
				ino := uint64(0)
				if fi != nil {
					size, ino = fi.Size(), inodeOf(fi)
				}
				fmt.Fprintf(&b, "  %s/%s ino=%d size=%d id=%s\n", sub, e.Name(), ino, size, id)
			}
		}
		side, _ := os.ReadFile(filepath.Join(dir, sidecarFile))
		lines := strings.SplitAfter(string(side), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		fmt.Fprintf(&b, "  %s (%d bytes), last lines:\n    %s\n", sidecarFile, len(side), strings.Join(lines, "    "))
	}
	return b.String()
}
