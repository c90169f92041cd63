package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test runs the test binary itself as a child that works on a
// Maildir until it is killed with SIGKILL at a random moment; the parent
// then opens the Maildir as the next server start would and checks every
// message and UID against the child's journal. The environment tells the
// child what to do.
const (
	crashEnvRoot    = "IMAPD_CRASH_CHILD"   // the Maildir: set only in the child
	crashEnvJournal = "IMAPD_CRASH_JOURNAL" // the journal file
	crashEnvSeed    = "IMAPD_CRASH_SEED"    // the child's random seed
	crashEnvIter    = "IMAPD_CRASH_ITER"    // the iteration, for unique Message-IDs
	crashReady      = "IMAPD-CRASH-CHILD-READY"
	crashOther      = "Other"
)

var crashFolders = [...]string{Inbox, crashOther}

// crashParentOpts are the parent's: it is never killed, so its writes
// need no fsync; the code paths are the same.
var crashParentOpts = Options{NoSync: true}

// TestCrashChild is the child half of TestCrashKill9; it does nothing in
// a normal test run.
func TestCrashChild(t *testing.T) {
	root := os.Getenv(crashEnvRoot)
	if root == "" {
		return
	}
	runCrashChild(t, root)
}

// crashMessage is the content of a message: its Message-ID, a body of
// random length (some large, so that kills land in the middle of writing
// a tmp file) and an end marker that shows the file is complete.
func crashMessage(id string, rng *rand.Rand) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: crash@example.org\nTo: user@example.org\nSubject: crash %s\nMessage-ID: <%s>\n", id, id)
	if rng.Intn(4) == 0 {
		b.WriteString("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/plain\n\nhello\n--XYZ\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n--XYZ--\n")
	} else {
		b.WriteString("\n")
	}
	lines := rng.Intn(60)
	if rng.Intn(20) == 0 {
		lines = 2000 + rng.Intn(8000) // up to ~800 KB
	}
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "line %d of the body of %s, some filler text to make it longer\n", i, id)
	}
	fmt.Fprintf(&b, "end <%s>\n", id)
	return b.String()
}

// parseCrashMessage returns the Message-ID of a message written by
// crashMessage, and an error when the file is not one whole such message.
func parseCrashMessage(b []byte) (string, error) {
	s := string(b)
	hdr, _, ok := strings.Cut(s, "\n\n")
	if !ok {
		return "", fmt.Errorf("no end of header in %d bytes", len(b))
	}
	id := ""
	for _, line := range strings.Split(hdr, "\n") {
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Message-ID") {
			id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "<"), ">")
		}
	}
	if id == "" {
		return "", fmt.Errorf("no Message-ID in %q", trunc(hdr, 200))
	}
	if !strings.HasSuffix(s, "end <"+id+">\n") {
		return id, fmt.Errorf("message %s is truncated (%d bytes, ends %q)", id, len(b), trunc(s[max(0, len(s)-60):], 60))
	}
	return id, nil
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

var crashKeywords = func() []string {
	out := []string{"$Junk", "$NotJunk", "$Label1"}
	for i := 0; len(out) < 40; i++ {
		out = append(out, fmt.Sprintf("kw%02d", i))
	}
	return out
}()

// crashChild is the state of the child process.
type crashChild struct {
	t       *testing.T
	rng     *rand.Rand
	store   *Store
	boxes   map[string]*Mailbox
	ids     map[string]map[uint32]string // folder -> UID -> Message-ID, as read
	journal *os.File
	iter    string
	seq     int
	n       int // messages made
}

func runCrashChild(t *testing.T, root string) {
	seed, _ := strconv.ParseInt(os.Getenv(crashEnvSeed), 10, 64)
	c := &crashChild{t: t, rng: rand.New(rand.NewSource(seed)), iter: os.Getenv(crashEnvIter),
		boxes: map[string]*Mailbox{}, ids: map[string]map[uint32]string{}}
	var err error
	c.journal, err = os.OpenFile(os.Getenv(crashEnvJournal), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		c.die("journal", err)
	}
	// The real mode: with fsync.
	c.store, err = NewHub(Options{}).Open(root, false)
	if err != nil {
		c.die("open", err)
	}
	for _, name := range crashFolders {
		// Read-write, as a server session: new/ is claimed into cur/.
		m, err := c.store.Select(name, SelectOptions{})
		if err != nil {
			c.die("select "+name, err)
		}
		c.boxes[name] = m
		c.ids[name] = map[uint32]string{}
	}
	fmt.Fprintln(os.Stdout, crashReady)
	for {
		c.step()
		for _, m := range c.boxes {
			m.Poll(true)
		}
	}
}

func (c *crashChild) die(what string, err error) {
	fmt.Fprintf(os.Stderr, "crash child %s: %s: %v\n", c.iter, what, err)
	os.Exit(3)
}

// log appends one line to the journal and makes it durable before the
// operation it announces starts.
func (c *crashChild) log(format string, args ...any) {
	line := fmt.Sprintf(format, args...) + "\n"
	if _, err := c.journal.WriteString(line); err != nil {
		c.die("journal", err)
	}
	if err := c.journal.Sync(); err != nil {
		c.die("journal sync", err)
	}
}

func (c *crashChild) begin(op string, args ...string) int {
	c.seq++
	c.log("%s.%d begin %s %s", c.iter, c.seq, op, strings.Join(args, " "))
	return c.seq
}

func (c *crashChild) done(seq int) { c.log("%s.%d done", c.iter, seq) }

func (c *crashChild) folder() string { return crashFolders[c.rng.Intn(2)] }

func (c *crashChild) newID() string {
	c.n++
	return fmt.Sprintf("%s.%d@crash", c.iter, c.n)
}

func (c *crashChild) flags(allowDeleted bool) Flags {
	var f Flags
	for _, fl := range []Flags{FlagSeen, FlagAnswered, FlagFlagged, FlagDraft, FlagForwarded} {
		if c.rng.Intn(3) == 0 {
			f |= fl
		}
	}
	if allowDeleted && c.rng.Intn(10) == 0 {
		f |= FlagDeleted
	}
	return f
}

func (c *crashChild) keywords() []string {
	var out []string
	for n := c.rng.Intn(4); n > 0; n-- {
		out = append(out, crashKeywords[c.rng.Intn(len(crashKeywords))])
	}
	return out
}

// pick returns up to n random UIDs of a folder's view and their
// Message-IDs (read from the files).
func (c *crashChild) pick(name string, n int) ([]uint32, []string) {
	m := c.boxes[name]
	view := m.UIDs()
	c.rng.Shuffle(len(view), func(i, j int) { view[i], view[j] = view[j], view[i] })
	if len(view) > n {
		view = view[:n]
	}
	var uids []uint32
	var ids []string
	for _, uid := range view {
		id, ok := c.ids[name][uid]
		if !ok {
			fh, err := m.Open(uid)
			if errors.Is(err, ErrExpunged) {
				continue
			} else if err != nil {
				c.die(fmt.Sprintf("open %s uid %d", name, uid), err)
			}
			b, err := io.ReadAll(fh)
			fh.Close()
			if err != nil {
				c.die("read", err)
			}
			if id, err = parseCrashMessage(b); err != nil {
				c.die(fmt.Sprintf("%s uid %d (%s)", name, uid, fh.Name()), err)
			}
			c.ids[name][uid] = id
		}
		uids = append(uids, uid)
		ids = append(ids, id)
	}
	return uids, ids
}

func (c *crashChild) total() int {
	n := 0
	for _, m := range c.boxes {
		n += int(m.Count())
	}
	return n
}

// step does one random operation, between a "begin" and a "done" line of
// the journal.
func (c *crashChild) step() {
	big := c.total() > 250 // keep the folders from growing without end
	switch r := c.rng.Intn(100); {
	case r < 22: // APPEND
		name, id := c.folder(), c.newID()
		seq := c.begin("append", name, id)
		_, err := c.store.Append(name, strings.NewReader(crashMessage(id, c.rng)),
			AppendOptions{Flags: c.flags(true), Keywords: c.keywords()})
		if err != nil {
			c.die("append", err)
		}
		c.done(seq)
	case r < 34: // delivery by Postfix: tmp/, then new/, no lock
		name, id := c.folder(), c.newID()
		dir := c.store.Root()
		if name != Inbox {
			dir = filepath.Join(dir, dirName(name))
		}
		seq := c.begin("deliver", name, id)
		deliver(c.t, dir, crashMessage(id, c.rng))
		c.done(seq)
	case r < 56: // STORE
		name := c.folder()
		uids, _ := c.pick(name, 1+c.rng.Intn(5))
		op := FlagOp(c.rng.Intn(3))
		flags, kws := c.flags(false), c.keywords()
		seq := c.begin("flags", name, fmt.Sprint(op, flags, kws, uids))
		if _, _, err := c.boxes[name].SetFlags(uids, op, flags, kws, 0); err != nil {
			c.die("flags", err)
		}
		c.done(seq)
	case r < 65: // COPY
		from := c.folder()
		to := crashFolders[0]
		if from == to {
			to = crashFolders[1]
		}
		if c.rng.Intn(4) != 0 {
			from, to = Inbox, crashOther // mostly INBOX -> Other
		}
		uids, ids := c.pick(from, 1+c.rng.Intn(4))
		seq := c.begin("copy", from, to, strings.Join(ids, " "))
		if _, err := c.boxes[from].Copy(uids, to); err != nil {
			c.die("copy", err)
		}
		c.done(seq)
	case r < 77: // MOVE
		from, to := Inbox, crashOther
		if c.rng.Intn(2) == 0 {
			from, to = to, from
		}
		uids, ids := c.pick(from, 1+c.rng.Intn(4))
		seq := c.begin("move", from, to, strings.Join(ids, " "))
		if _, err := c.boxes[from].Move(uids, to); err != nil {
			c.die("move", err)
		}
		c.done(seq)
	case r < 88 || (big && r < 95): // \Deleted + UID EXPUNGE
		name := c.folder()
		if c.rng.Intn(3) != 0 && c.boxes[Inbox].Count() > c.boxes[crashOther].Count() {
			name = Inbox // mostly the larger folder: copies fill Other
		} else if c.rng.Intn(3) != 0 {
			name = crashOther
		}
		n := 1 + c.rng.Intn(3)
		if big {
			n = 10
		}
		uids, ids := c.pick(name, n)
		seq := c.begin("expunge", name, strings.Join(ids, " "))
		m := c.boxes[name]
		if _, _, err := m.SetFlags(uids, FlagsAdd, FlagDeleted, nil, 0); err != nil {
			c.die("expunge flags", err)
		}
		if err := m.Expunge(uids); err != nil {
			c.die("expunge", err)
		}
		c.done(seq)
	case r < 92: // FETCH BODYSTRUCTURE: fills the cache
		name := c.folder()
		uids, _ := c.pick(name, 1+c.rng.Intn(6))
		seq := c.begin("structure", name)
		for _, uid := range uids {
			if _, err := c.boxes[name].Structure(uid); err != nil && !errors.Is(err, ErrExpunged) {
				c.die("structure", err)
			}
		}
		c.done(seq)
	case r < 96: // STATUS
		name := c.folder()
		seq := c.begin("status", name)
		if _, err := c.store.Status(name); err != nil {
			c.die("status", err)
		}
		c.done(seq)
	default: // CHECK
		name := c.folder()
		seq := c.begin("check", name)
		if err := c.boxes[name].Check(); err != nil {
			c.die("check", err)
		}
		c.done(seq)
	}
}

// readyWriter collects a child's stdout and reports the ready line.
type readyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte(crashReady)) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

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
			m.Poll(true)
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

// TestCrashKill9 kills a child process that appends, delivers, changes
// flags, copies, moves, expunges and checks at random moments (SIGKILL),
// hundreds of times on the same Maildir, and after every kill checks that
// no message is lost or duplicated and that the UIDs are consistent and
// never reused.
func TestCrashKill9(t *testing.T) {
	if os.Getenv(crashEnvRoot) != "" {
		t.Skip("in the child")
	}
	iters := 300
	budget := 50 * time.Second // keep the test near a minute on a slow machine
	if testing.Short() {
		iters = 60
	}
	if s := os.Getenv("IMAPD_CRASH_ITERS"); s != "" {
		iters, _ = strconv.Atoi(s) // for a long run: no time budget
		budget = time.Duration(1<<63 - 1)
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv(crashEnvSeed); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (set %s to repeat the choices; kill times differ)", seed, crashEnvSeed)
	// IMAPD_CRASH_DOWN_DELIVERY=0 leaves out the deliveries made while no
	// child runs, to look at the rest alone.
	downDelivery := os.Getenv("IMAPD_CRASH_DOWN_DELIVERY") != "0"
	rng := rand.New(rand.NewSource(seed))

	tmp := t.TempDir()
	root := filepath.Join(tmp, "Maildir")
	journal := filepath.Join(tmp, "journal")
	setupHub := NewHub(crashParentOpts)
	defer setupHub.Close()
	s, err := setupHub.Open(root, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(crashOther); err != nil {
		t.Fatal(err)
	}
	h := &crashHistory{validity: map[string]uint32{}, uidNext: map[string]uint32{},
		uidMsg: map[string]map[uint32]string{}, seen: map[string]bool{}}
	for _, name := range crashFolders {
		h.uidMsg[name] = map[uint32]string{}
	}

	start := time.Now()
	early, killedInOp, aged, downDeliveries := 0, 0, 0, 0
	var tChild, tReady, tVerify, tAge time.Duration
	var i int
	for i = 0; i < iters; i++ {
		if time.Since(start) > budget {
			t.Logf("time budget spent after %d of %d iterations", i, iters)
			break
		}
		out := &readyWriter{ready: make(chan struct{})}
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			crashEnvRoot+"="+root,
			crashEnvJournal+"="+journal,
			crashEnvSeed+"="+strconv.FormatInt(seed+int64(i), 10),
			crashEnvIter+"="+strconv.Itoa(i))
		cmd.Stdout, cmd.Stderr = out, &stderr
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		delay := time.Duration(1+rng.Intn(40)) * time.Millisecond
		exited := false
		if rng.Intn(8) == 0 {
			// Kill counted from the start: sometimes during the child's
			// own recovery at Select.
			early++
			time.Sleep(delay)
		} else {
			select {
			case <-out.ready:
				tReady += time.Since(t0)
			case <-waited:
				exited = true
			case <-time.After(60 * time.Second):
				cmd.Process.Signal(syscall.SIGKILL)
				<-waited
				t.Fatalf("iteration %d: child not ready after 60s:\n%s", i, stderr.String())
			}
			if !exited {
				time.Sleep(delay)
			}
		}
		if exited {
			t.Fatalf("iteration %d: child exited by itself before it was ready: %s\n%s", i, stderr.String(), out.buf.String())
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-waited
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("iteration %d: child was not killed but ended (%v):\nstderr: %s\nstdout: %s", i, cmd.ProcessState, stderr.String(), out.buf.String())
		}

		tChild += time.Since(t0)
		t0 = time.Now()
		if lastOpUnfinished(journal, "") {
			killedInOp++
		}
		if downDelivery && (rng.Intn(4) == 0 || lastOpUnfinished(journal, "expunge")) {
			// Mail arrives while the server is down: the next start
			// finds it in new/, maybe in the inode of a file an
			// interrupted EXPUNGE just unlinked.
			for k := 0; k <= rng.Intn(2); k++ {
				name := crashFolders[rng.Intn(2)]
				id := fmt.Sprintf("p%d.%d@crash", i, k)
				writeJournal(t, journal, fmt.Sprintf("p%d.%d begin deliver %s %s\n", i, k, name, id))
				deliver(t, folderDir(root, name), crashMessage(id, rng))
				writeJournal(t, journal, fmt.Sprintf("p%d.%d done\n", i, k))
				downDeliveries++
			}
		}
		j, err := readJournal(journal)
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		problems := verifyCrash(root, j, h, false)
		if len(problems) == 0 && i%50 == 49 {
			problems = verifyCrash(root, j, h, true)
		}
		tVerify += time.Since(t0)
		t0 = time.Now()
		if len(problems) == 0 && rng.Intn(3) != 0 {
			// Let the next child find a folder that has rested: its
			// directories older than the sidecar's record of them, so
			// that opens trust the record and changes keep it current
			// without listings (ownChange), the path of a real server.
			if err := ageAndRecord(root); err != nil {
				problems = append(problems, "aging: "+err.Error())
			}
			aged++
		}
		tAge += time.Since(t0)
		if len(problems) > 0 {
			t.Fatalf("iteration %d (seed %d, child seed %d): %d problems:\n  %s\n\njournal, last lines:\n%s\n\nchild stderr: %s\n\nlisting:\n%s",
				i, seed, seed+int64(i), len(problems), strings.Join(problems, "\n  "), j.tail(30), stderr.String(), crashListing(root))
		}
	}
	j, _ := readJournal(journal)
	ops := map[string]int{}
	for _, line := range j.lines {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "begin" {
			ops[f[2]]++
		}
	}
	if problems := verifyCrash(root, j, h, true); len(problems) > 0 {
		t.Fatalf("final check: %s\n\nlisting:\n%s", strings.Join(problems, "\n  "), crashListing(root))
	}
	var kw []string
	hub := NewHub(crashParentOpts)
	defer hub.Close()
	if st, err := hub.Open(root, false); err == nil {
		for _, name := range crashFolders {
			if mb, err := st.Select(name, SelectOptions{ReadOnly: true}); err == nil {
				kw = append(kw, fmt.Sprintf("%s: %d messages, %d keywords", name, mb.Count(), len(mb.Keywords())))
				mb.Close()
			}
		}
	}
	t.Logf("time in children %v (until ready %v), verifying %v, aging %v", tChild.Round(time.Millisecond), tReady.Round(time.Millisecond), tVerify.Round(time.Millisecond), tAge.Round(time.Millisecond))
	t.Logf("%d iterations in %v (%d killed from the start, %d killed inside an operation, %d on a rested folder, %d messages delivered while down); operations begun: %v; %s",
		i, time.Since(start).Round(time.Millisecond), early, killedInOp, aged, downDeliveries, ops, strings.Join(kw, "; "))
}

// sidecarLines checks that a folder's sidecar file is well formed: every
// line complete and readable. It returns its lines.
func sidecarLines(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, sidecarFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("sidecar does not end with a newline: %q", trunc(string(b[max(0, len(b)-80):]), 80))
	}
	s := newSidecar(filepath.Join(dir, sidecarFile), slog.New(slog.DiscardHandler))
	if err := s.sync(); err != nil {
		t.Fatalf("sidecar unreadable: %v", err)
	}
	if s.broken {
		t.Fatalf("sidecar has unreadable lines:\n%s", b)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestTornSidecarAppend damages the end of imapd-uidlist as a crash in
// the middle of an append, or another program, would, and checks that
// the next open keeps every UID it can read and leaves a well-formed file.
func TestTornSidecarAppend(t *testing.T) {
	// setup makes a folder with five messages, UIDs 1-5, and a few flag
	// records, and returns its contents by UID.
	setup := func(t *testing.T) (*Store, map[uint32]string) {
		_, s := newStore(t)
		for i := 1; i <= 5; i++ {
			deliver(t, s.Root(), msg(i))
		}
		m := mustSelect(t, s, Inbox)
		if _, _, err := m.SetFlags([]uint32{2, 4}, FlagsAdd, FlagSeen, []string{"$Label1"}, 0); err != nil {
			t.Fatal(err)
		}
		want := contents(t, m)
		if got := sortedUIDs(want); !reflect.DeepEqual(got, []uint32{1, 2, 3, 4, 5}) {
			t.Fatalf("uids %v", got)
		}
		m.Close()
		return s, want
	}
	appendRaw := func(t *testing.T, s *Store, data string) {
		fh, err := os.OpenFile(filepath.Join(s.Root(), sidecarFile), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteString(data); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	expectSame := func(t *testing.T, s *Store, want map[uint32]string) *Mailbox {
		t.Helper()
		m := mustSelect(t, reopen(t, s), Inbox)
		if got := contents(t, m); !reflect.DeepEqual(got, want) {
			t.Fatalf("after reopening: uids %v, want %v", sortedUIDs(got), sortedUIDs(want))
		}
		if f := m.Message(2); f.Flags != FlagSeen || !reflect.DeepEqual(f.Keywords, []string{"$Label1"}) {
			t.Errorf("uid 2 lost its flags: %+v", f)
		}
		return m
	}

	t.Run("partial record", func(t *testing.T) {
		s, want := setup(t)
		appendRaw(t, s, "a 6 9 12345 100 1700000000 0 c,S 1700000000.M1P1Q1.h")
		m := expectSame(t, s, want)
		if m.UIDNext() != 6 {
			t.Errorf("UIDNEXT %d after an interrupted record, want 6", m.UIDNext())
		}
	})

	t.Run("garbage line", func(t *testing.T) {
		s, want := setup(t)
		appendRaw(t, s, "this is not a record\n\x00\x01garbage\na 6 9 1234")
		m := expectSame(t, s, want)
		m.Close()
		// The damaged file was rewritten: well-formed, nothing of the garbage.
		lines := sidecarLines(t, s.Root())
		for _, l := range lines {
			if strings.Contains(l, "garbage") || strings.Contains(l, "not a record") || strings.HasPrefix(l, "a 6 ") {
				t.Errorf("damaged line survived the rewrite: %q", l)
			}
		}
		if !strings.HasPrefix(lines[0], sidecarMagic+" 1 ") {
			t.Errorf("rewritten sidecar starts with %q", lines[0])
		}
		expectSame(t, s, want)
	})

	// The realistic crash: the last append was cut in the middle of its
	// record, and the next process appends its own records behind the
	// torn bytes. A third process must still see every message and every
	// flag change.
	t.Run("torn record then append", func(t *testing.T) {
		s, want := setup(t)
		path := filepath.Join(s.Root(), sidecarFile)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tearLastFlagRecord(t, path, b)

		// The second process: sees the messages, appends one and flags
		// another.
		s2 := reopen(t, s)
		m2 := mustSelect(t, s2, Inbox)
		if got := contents(t, m2); !reflect.DeepEqual(got, want) {
			t.Fatalf("after the torn append: uids %v, want %v", sortedUIDs(got), sortedUIDs(want))
		}
		res, err := s2.Append(Inbox, strings.NewReader(msg(6)), AppendOptions{Flags: FlagFlagged})
		if err != nil {
			t.Fatal(err)
		}
		want[res.UID] = msg(6)
		if _, _, err := m2.SetFlags([]uint32{3}, FlagsAdd, FlagAnswered, nil, 0); err != nil {
			t.Fatal(err)
		}
		m2.Close()

		// The third process must see all of it.
		m3 := mustSelect(t, reopen(t, s), Inbox)
		got := contents(t, m3)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("third process: uids %v, want %v\nsidecar:\n%s", sortedUIDs(got), sortedUIDs(want), readFileString(path))
		}
		if f := m3.Message(res.UID).Flags; f != FlagFlagged {
			t.Errorf("appended uid %d has flags %v, want \\Flagged\nsidecar:\n%s", res.UID, f.Names(), readFileString(path))
		}
		if f := m3.Message(3).Flags; f != FlagAnswered {
			t.Errorf("uid 3 has flags %v, want \\Answered", f.Names())
		}
		m3.Close()
		sidecarLines(t, s.Root())
	})

	// The same, but the second process writes once and is gone before it
	// reads the file again (a short-lived APPEND, or another crash).
	t.Run("torn record then one append", func(t *testing.T) {
		s, want := setup(t)
		path := filepath.Join(s.Root(), sidecarFile)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tearLastFlagRecord(t, path, b)
		// The crash was a while ago: the directories are not recent.
		ageDirs(t, s.Root())

		res, err := reopen(t, s).Append(Inbox, strings.NewReader(msg(6)), AppendOptions{Flags: FlagFlagged})
		if err != nil {
			t.Fatal(err)
		}
		want[res.UID] = msg(6)

		m3 := mustSelect(t, reopen(t, s), Inbox)
		got, err := tryContents(m3)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("next process: %v; uids %v, want %v\nsidecar:\n%s\nfiles: %v", err, sortedUIDs(got), sortedUIDs(want), readFileString(path), fileNames(t, s.Root()))
		}
		if f := m3.Message(res.UID).Flags; f != FlagFlagged {
			t.Errorf("appended uid %d has flags %v, want \\Flagged", res.UID, f.Names())
		}
		if f := m3.Message(4); f.Flags != FlagSeen || !reflect.DeepEqual(f.Keywords, []string{"$Label1"}) {
			t.Errorf("uid 4 (whose flag record was torn) has %+v, want \\Seen $Label1", f)
		}
		m3.Close()
		sidecarLines(t, s.Root())
	})
}

// ageDirs sets the mtimes of cur/ and new/ of a folder an hour back, as
// if the last change had been long ago, so that an open trusts the
// sidecar's record of the directories instead of listing them because
// they changed within the last two seconds.
func ageDirs(t testing.TB, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for _, sub := range []string{"cur", "new"} {
		if err := os.Chtimes(filepath.Join(dir, sub), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// tearLastFlagRecord cuts the sidecar in the middle of its last flag
// record (of uid 4, from the SetFlags of the setup), as a writer killed
// while appending it would have left it: that record half written,
// nothing after it.
func tearLastFlagRecord(t *testing.T, path string, b []byte) {
	t.Helper()
	at := bytes.LastIndex(b, []byte("\nf 4 "))
	if at < 0 {
		t.Fatalf("no flag record of uid 4 in the sidecar:\n%s", b)
	}
	at++
	end := at + bytes.IndexByte(b[at:], '\n')
	torn := string(b[at:end])
	if err := os.Truncate(path, int64(at+len(torn)/2)); err != nil {
		t.Fatal(err)
	}
	t.Logf("torn record %q cut to %q, %d bytes after it dropped", torn, torn[:len(torn)/2], len(b)-end-1)
}

// tryContents is contents, with an error for a message that cannot be
// read instead of a fatal one.
func tryContents(m *Mailbox) (map[uint32]string, error) {
	out := map[uint32]string{}
	for _, uid := range m.UIDs() {
		fh, err := m.Open(uid)
		if err != nil {
			return out, fmt.Errorf("uid %d: %w", uid, err)
		}
		b, err := io.ReadAll(fh)
		fh.Close()
		if err != nil {
			return out, err
		}
		out[uid] = string(b)
	}
	return out, nil
}

func fileNames(t testing.TB, dir string) []string {
	var out []string
	for name := range files(t, dir) {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func readFileString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestCorruptCacheRebuilt damages imapd-cache in several ways and checks
// that Structure still returns the right structure, and that the cache
// works again afterwards (entries are found without parsing).
func TestCorruptCacheRebuilt(t *testing.T) {
	multipart := "From: a@example.org\nSubject: parts\nMessage-ID: <mp@test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nhello\n--B\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--B--\n"
	damages := []struct {
		name string
		fn   func(t *testing.T, path string, size int64, recStart []int64)
	}{
		{"truncated mid-record", func(t *testing.T, path string, size int64, rec []int64) {
			if err := os.Truncate(path, rec[len(rec)-2]+7); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated mid-header", func(t *testing.T, path string, size int64, rec []int64) {
			if err := os.Truncate(path, rec[2]+5); err != nil {
				t.Fatal(err)
			}
		}},
		{"payload byte flipped", func(t *testing.T, path string, size int64, rec []int64) {
			flipByte(t, path, rec[1]+20)
		}},
		{"length field damaged", func(t *testing.T, path string, size int64, rec []int64) {
			flipByte(t, path, rec[1]+5) // inside the 4-byte length
		}},
		{"garbage appended", func(t *testing.T, path string, size int64, rec []int64) {
			fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			fh.WriteString("\x00\x00\x00\x02\xff\xff\xff\xffjunk")
			fh.Close()
		}},
		{"bad magic", func(t *testing.T, path string, size int64, rec []int64) {
			flipByte(t, path, 2)
		}},
		{"empty", func(t *testing.T, path string, size int64, rec []int64) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			_, s := newStore(t)
			for i := 1; i <= 6; i++ {
				body := msg(i)
				if i%2 == 0 {
					body = strings.Replace(multipart, "<mp@test>", fmt.Sprintf("<%d@test>", i), 1)
				}
				if _, err := s.Append(Inbox, strings.NewReader(body), AppendOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			m := mustSelect(t, s, Inbox)
			want := map[uint32]any{}
			for _, uid := range m.UIDs() {
				p, err := m.Structure(uid)
				if err != nil {
					t.Fatal(err)
				}
				want[uid] = p
			}
			m.Close()
			path := filepath.Join(s.Root(), cacheFile)
			recs := cacheRecordStarts(t, path)
			if len(recs) != 6 {
				t.Fatalf("%d cache records, want 6", len(recs))
			}
			fi, _ := os.Stat(path)
			d.fn(t, path, fi.Size(), recs)

			// Every structure is right, damaged cache or not.
			m2 := mustSelect(t, reopen(t, s), Inbox)
			for _, uid := range m2.UIDs() {
				p, err := m2.Structure(uid)
				if err != nil {
					t.Fatalf("uid %d: %v", uid, err)
				}
				if !reflect.DeepEqual(p, want[uid]) {
					t.Errorf("uid %d: structure %+v, want %+v", uid, p, want[uid])
				}
			}
			// And now all of them are cached again, also for another process.
			for _, uid := range m2.UIDs() {
				if p := m2.f.cache.get(uid); !reflect.DeepEqual(p, want[uid]) {
					t.Errorf("uid %d not usable from the cache after the rebuild: %+v", uid, p)
				}
			}
			m2.Close()
			m3 := mustSelect(t, reopen(t, s), Inbox)
			for _, uid := range m3.UIDs() {
				if p := m3.f.cache.get(uid); !reflect.DeepEqual(p, want[uid]) {
					t.Errorf("uid %d not in the cache for the next process: %+v", uid, p)
				}
			}
		})
	}
}

// cacheRecordStarts returns the offsets of the records of a cache file.
func cacheRecordStarts(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for pos := int64(len(cacheMagic)); pos+12 <= int64(len(b)); {
		out = append(out, pos)
		n := int64(b[pos+4])<<24 | int64(b[pos+5])<<16 | int64(b[pos+6])<<8 | int64(b[pos+7])
		pos += 12 + n
	}
	return out
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var b [1]byte
	if _, err := fh.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := fh.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// TestCrashExpungeThenDelivery is a crash inside EXPUNGE after the file
// was unlinked and before the sidecar recorded it, followed by a delivery
// while the server is down. File systems hand a freed inode number to the
// next file at once (ext4 does), so the new message may have the inode of
// the expunged one, under another base name. It must get a new UID, not
// the expunged message's.
func TestCrashExpungeThenDelivery(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 3; i++ {
		deliver(t, s.Root(), msg(i))
	}
	m := mustSelect(t, s, Inbox)
	want := contents(t, m)
	if _, err := m.Structure(2); err != nil { // cached
		t.Fatal(err)
	}
	m.Close()
	cur := filepath.Join(s.Root(), "cur")
	var victim string
	var victimIno uint64
	ents, _ := os.ReadDir(cur)
	for _, e := range ents {
		if b, _ := os.ReadFile(filepath.Join(cur, e.Name())); string(b) == want[2] {
			victim = e.Name()
			fi, _ := e.Info()
			victimIno = inodeOf(fi)
		}
	}
	if victim == "" {
		t.Fatal("message 2 not found in cur/")
	}
	// The crash: uid 2's file is gone, its "x" record never written.
	if err := os.Remove(filepath.Join(cur, victim)); err != nil {
		t.Fatal(err)
	}
	delete(want, 2)
	// Deliveries while down, until one gets the freed inode.
	reused := false
	var delivered []string
	for n := 4; n < 14 && !reused; n++ {
		name := deliver(t, s.Root(), msg(n))
		delivered = append(delivered, msg(n))
		fi, err := os.Stat(filepath.Join(s.Root(), "new", name))
		if err != nil {
			t.Fatal(err)
		}
		reused = inodeOf(fi) == victimIno
	}
	if !reused {
		t.Logf("the file system did not reuse inode %d; the test shows less", victimIno)
	}
	m2 := mustSelect(t, reopen(t, s), Inbox)
	got := contents(t, m2)
	for uid, content := range want {
		if got[uid] != content {
			t.Errorf("uid %d: %q, want %q", uid, trunc(got[uid], 60), trunc(content, 60))
		}
	}
	if c, ok := got[2]; ok {
		t.Errorf("the expunged uid 2 names another message now: %q", trunc(c, 60))
		if p, err := m2.Structure(2); err == nil && p.Envelope != nil && !strings.Contains(c, p.Envelope.MessageID) {
			t.Errorf("and uid 2's cached structure is still the expunged message's: Message-ID %s", p.Envelope.MessageID)
		}
	}
	var fresh []string
	for uid, content := range got {
		if uid > 3 {
			fresh = append(fresh, content)
		}
	}
	sort.Strings(fresh)
	sort.Strings(delivered)
	if !reflect.DeepEqual(fresh, delivered) {
		t.Errorf("new UIDs hold %d messages, want the %d delivered", len(fresh), len(delivered))
	}
}
