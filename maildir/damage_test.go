package maildir

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// Deterministic damage tests: a torn or corrupt sidecar, a damaged cache,
// and a crash inside EXPUNGE followed by a delivery.

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
		tearLastFlagRecord(t, path)

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
		tearLastFlagRecord(t, path)
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
func tearLastFlagRecord(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
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
			if len(recs) != 18 {
				t.Fatalf("%d cache records, want 18", len(recs))
			}
			// The six fingerprints APPEND recorded come first; the damage
			// is done to the structures and list headers after them.
			recs = recs[6:]
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
	for pos := int64(cacheHeader); pos+12 <= int64(len(b)); {
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
