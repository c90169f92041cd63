package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// renamer changes the flags of the message file whose base is base, in
// dir's cur/, in a tight loop with os.Rename, as mutt does without our
// lock: ":2,S" becomes ":2,RS" and back, until stop is closed.
func renamer(t *testing.T, dir, base string, stop <-chan struct{}) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cur := filepath.Join(dir, "cur")
		a, b := filepath.Join(cur, base+":2,S"), filepath.Join(cur, base+":2,RS")
		for {
			select {
			case <-stop:
				return
			default:
			}
			if os.Rename(a, b) != nil {
				// Somebody else renamed it (or this is the first turn): find it.
				ents, _ := os.ReadDir(cur)
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), base+":2,") {
						os.Rename(filepath.Join(cur, e.Name()), a)
					}
				}
				continue
			}
			os.Rename(b, a)
		}
	}()
	return &wg
}

// curBase returns the base name of the only file in dir's cur/.
func curBase(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "cur"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("cur/ of %s: %v %v", dir, ents, err)
	}
	base, _, _ := splitName(ents[0].Name())
	return base
}

// Issue 10, class 4: another program renaming a message file (a flag
// change) between the lookup of its name and the open must never make
// Open fail; the unique part of the name finds the file again.
func TestOpenWhileAnotherProgramRenames(t *testing.T) {
	_, s := newStore(t)
	s.Append("INBOX", stringsReader(msg(1)), AppendOptions{Flags: FlagSeen})
	m := mustSelect(t, s, "INBOX")
	base := curBase(t, s.Root())
	stop := make(chan struct{})
	wg := renamer(t, s.Root(), base, stop)
	defer wg.Wait()
	defer close(stop)
	for i := 0; i < 3000; i++ {
		fh, err := m.Open(1)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		b, err := readAll(fh)
		fh.Close()
		if err != nil || string(b) != msg(1) {
			t.Fatalf("read %d: %q %v", i, b, err)
		}
		if i%100 == 0 {
			m.Changes()
		}
	}
}

// The same race under COPY and MOVE: the message is copied or moved, not
// skipped, and not reported as an error.
func TestCopyMoveWhileAnotherProgramRenames(t *testing.T) {
	_, s := newStore(t)
	s.Create("Archive")
	s.Append("INBOX", stringsReader(msg(0)), AppendOptions{Flags: FlagSeen})
	m := mustSelect(t, s, "INBOX")
	stop := make(chan struct{})
	wg := renamer(t, s.Root(), curBase(t, s.Root()), stop)
	for i := 0; i < 300; i++ {
		c, err := m.Copy([]uint32{1}, "Archive")
		if err != nil || len(c.DstUIDs) != 1 {
			close(stop)
			wg.Wait()
			t.Fatalf("copy %d: %+v %v", i, c, err)
		}
	}
	mv, err := m.Move([]uint32{1}, "Archive")
	close(stop)
	wg.Wait()
	if err != nil || len(mv.DstUIDs) != 1 {
		t.Fatalf("move: %+v %v", mv, err)
	}
	for i := 1; i <= 30; i++ {
		s.Append("INBOX", stringsReader(msg(i)), AppendOptions{Flags: FlagSeen})
		m.Refresh(false)
		m.Changes()
		uids := m.UIDs()
		stop := make(chan struct{})
		wg := renamer(t, s.Root(), curBase(t, s.Root()), stop)
		mv, err := m.Move(uids, "Archive")
		close(stop)
		wg.Wait()
		if err != nil || len(uids) != 1 || len(mv.DstUIDs) != 1 {
			t.Fatalf("move %d of %v: %+v %v", i, uids, mv, err)
		}
		m.Changes()
	}
	a := mustSelect(t, s, "Archive")
	got := contents(t, a)
	if len(got) != 331 {
		t.Fatalf("archive has %d messages, want 331", len(got))
	}
	n := map[string]int{}
	for _, c := range got {
		n[c]++
	}
	if n[msg(0)] != 301 || n[msg(30)] != 1 {
		t.Fatalf("archive contents: %d copies of the first, %d of the last", n[msg(0)], n[msg(30)])
	}
}

// A message whose file is truly gone from cur/ and new/ is expunged:
// Open says so with ErrExpunged, never with a file-system error.
func TestOpenOfDeletedFileIsExpunged(t *testing.T) {
	_, s := newStore(t)
	s.Append("INBOX", stringsReader(msg(1)), AppendOptions{Flags: FlagSeen})
	m := mustSelect(t, s, "INBOX")
	base := curBase(t, s.Root())
	if err := os.Remove(filepath.Join(s.Root(), "cur", base+":2,S")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open(1); !errors.Is(err, ErrExpunged) {
		t.Fatalf("open of a deleted file: %v, want ErrExpunged", err)
	}
}

// TestSetFlagsManyWhileAnotherProgramRenames: a STORE over many messages
// (renames through descriptors of cur/ and new/) after another program
// renamed one file and put a file of its own under the name another
// message's file will get, and while it keeps renaming a third: every
// STORE succeeds, the first file keeps the other program's flag beside
// ours, the newcomer is kept under a name of its own, and no file is lost.
func TestSetFlagsManyWhileAnotherProgramRenames(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 12; i++ {
		deliver(t, s.Root(), msg(i))
	}
	m := mustSelect(t, s, Inbox) // moves them to cur/ with ":2,"
	uids := m.UIDs()
	cur := filepath.Join(s.Root(), "cur")
	nameOf := func(uid uint32) string {
		m.f.mu.Lock()
		defer m.f.mu.Unlock()
		return m.f.side.get(uid).name()
	}
	base := func(uid uint32) string { b, _, _ := splitName(nameOf(uid)); return b }
	if err := os.Rename(filepath.Join(cur, nameOf(uids[2])), filepath.Join(cur, base(uids[2])+":2,R")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cur, base(uids[5])+":2,F"), []byte(msg(99)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(cur, nameOf(uids[8])), filepath.Join(cur, base(uids[8])+":2,S")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wg := renamer(t, s.Root(), base(uids[8]), stop)
	for i := range 20 {
		op := []FlagOp{FlagsAdd, FlagsRemove}[i%2]
		if _, _, err := m.SetFlags(uids, op, FlagFlagged, nil, 0); err != nil {
			close(stop)
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if _, _, err := m.SetFlags(uids, FlagsAdd, FlagFlagged, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	m.Changes()
	for _, uid := range m.UIDs() {
		fh, err := m.Open(uid)
		if err != nil {
			t.Fatalf("uid %d: %v", uid, err)
		}
		fh.Close()
	}
	if n, got := m.Count(), len(files(t, s.Root())); n != 13 || got != 13 {
		t.Errorf("%d messages, %d files, want 13", n, got)
	}
	if f := m.Message(uids[2]).Flags; f != FlagAnswered|FlagFlagged {
		t.Errorf("flags of the renamed message %v, want \\Answered \\Flagged", f)
	}
	if f := m.Message(uids[0]).Flags; f != FlagFlagged {
		t.Errorf("flags %v, want \\Flagged", f)
	}
}
