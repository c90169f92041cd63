package maildir

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Maildir copied with the usual tools (a backup restore, a move to a
// new disk) has new inodes. Its messages keep their UIDs: identity is the
// base name, and a rewrite is told by its size and mtime. A message whose
// content another program rewrote still gets a new UID.

// restoreFixture is a folder of ten messages with UIDs, some flags and a
// cached structure, and what a client knows of it.
type restoreFixture struct {
	s        *Store
	want     map[uint32]string
	flags    map[uint32]Flags
	validity uint32
	next     uint32
}

func newRestoreFixture(t *testing.T) *restoreFixture {
	t.Helper()
	h, s := newStore(t)
	for i := 1; i <= 10; i++ {
		deliver(t, s.Root(), msg(i))
	}
	m := mustSelect(t, s, Inbox)
	if _, _, err := m.SetFlags([]uint32{2, 5, 7}, FlagsAdd, FlagSeen|FlagFlagged, []string{"$Label1"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Structure(3); err != nil {
		t.Fatal(err)
	}
	fx := &restoreFixture{s: s, want: contents(t, m), flags: map[uint32]Flags{}, validity: m.UIDValidity(), next: m.UIDNext()}
	if len(fx.want) != 10 {
		t.Fatalf("%d messages, want 10", len(fx.want))
	}
	for uid := range fx.want {
		fx.flags[uid] = m.Message(uid).Flags
	}
	if err := m.Check(); err != nil { // everything on disk, as before a backup
		t.Fatal(err)
	}
	m.Close()
	// This process is done with the tree: its watcher must not act on
	// what a test then does to the files (only fx.s.Root() is used).
	h.Close()
	return fx
}

// openFresh opens root with a new Hub (a server started on the copy),
// selects INBOX and runs the full rescan of CHECK.
func openFresh(t *testing.T, root string) *Mailbox {
	t.Helper()
	h := NewHub(Options{NoSync: true})
	t.Cleanup(func() { h.Close() })
	s, err := h.Open(root, false)
	if err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, s, Inbox)
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	return m
}

// expectKept checks that the copy at root serves every message under its
// old UID, with its flags, the same UIDVALIDITY and UIDNEXT, and that no
// full rescan expunges or adds anything, in this process or the next.
func (fx *restoreFixture) expectKept(t *testing.T, root string) {
	t.Helper()
	for round := 1; round <= 2; round++ {
		m := openFresh(t, root)
		for _, c := range m.Changes() {
			t.Errorf("round %d: the full rescan reported %v of uid %d", round, c.Kind, c.UID)
		}
		if got := contents(t, m); !reflect.DeepEqual(got, fx.want) {
			t.Fatalf("round %d: uids %v, want %v", round, sortedUIDs(got), sortedUIDs(fx.want))
		}
		for uid, fl := range fx.flags {
			if got := m.Message(uid).Flags; got != fl {
				t.Errorf("round %d: uid %d flags %v, want %v", round, uid, got, fl)
			}
		}
		if m.UIDValidity() != fx.validity || m.UIDNext() != fx.next {
			t.Errorf("round %d: UIDVALIDITY %d UIDNEXT %d, want %d %d", round, m.UIDValidity(), m.UIDNext(), fx.validity, fx.next)
		}
		if _, err := m.Structure(3); err != nil {
			t.Errorf("round %d: cached structure of uid 3: %v", round, err)
		}
		m.Close()
	}
	// The new inodes are recorded: a listing matches every file by its
	// directory entry again, without a stat.
	side := newSidecar(filepath.Join(root, sidecarFile), slog.New(slog.DiscardHandler))
	if err := side.sync(); err != nil {
		t.Fatal(err)
	}
	for _, r := range side.recs {
		fi, err := os.Stat(filepath.Join(root, dirOf(r.inNew), r.name()))
		if err != nil {
			t.Fatalf("uid %d: %v", r.uid, err)
		}
		if inodeOf(fi) != r.ino {
			t.Errorf("uid %d: recorded inode %d, the file's is %d", r.uid, r.ino, inodeOf(fi))
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed: %v", name, err)
	}
}

func TestRestoreKeepsUIDs(t *testing.T) {
	t.Run("cp -a", func(t *testing.T) {
		needTool(t, "cp")
		fx := newRestoreFixture(t)
		dst := filepath.Join(t.TempDir(), "Maildir")
		run(t, "cp", "-a", fx.s.Root(), dst)
		fx.expectKept(t, dst)
	})
	t.Run("rsync -a", func(t *testing.T) {
		needTool(t, "rsync")
		fx := newRestoreFixture(t)
		dst := filepath.Join(t.TempDir(), "Maildir")
		run(t, "rsync", "-a", fx.s.Root()+"/", dst+"/")
		fx.expectKept(t, dst)
	})
	t.Run("tar", func(t *testing.T) {
		needTool(t, "tar")
		needTool(t, "sh")
		fx := newRestoreFixture(t)
		dstParent := t.TempDir()
		// GNU tar's default format keeps whole seconds of the mtime.
		run(t, "sh", "-c", `tar -C "$1" -cf - Maildir | tar -C "$2" -xf -`, "sh", filepath.Dir(fx.s.Root()), dstParent)
		dst := filepath.Join(dstParent, "Maildir")
		truncated := false
		for name := range files(t, dst) {
			if fi, err := os.Stat(filepath.Join(dst, name)); err == nil && fi.ModTime().Nanosecond() == 0 {
				truncated = true
			}
		}
		if !truncated {
			t.Log("this tar kept sub-second mtimes; the truncation rule is not exercised")
		}
		fx.expectKept(t, dst)
	})
	t.Run("mv to another file system", func(t *testing.T) {
		needTool(t, "mv")
		fx := newRestoreFixture(t)
		var a, b syscall.Stat_t
		if syscall.Stat(fx.s.Root(), &a) != nil || syscall.Stat("/dev/shm", &b) != nil || a.Dev == b.Dev {
			t.Skip("no second file system at /dev/shm")
		}
		other, err := os.MkdirTemp("/dev/shm", "imapd-restore-")
		if err != nil {
			t.Skipf("/dev/shm: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(other) })
		dst := filepath.Join(other, "Maildir")
		run(t, "mv", fx.s.Root(), dst)
		fx.expectKept(t, dst)
	})
}

// TestRewriteGetsNewUID: content changed by another program, whichever
// way, is a new message; the other messages keep their UIDs.
func TestRewriteGetsNewUID(t *testing.T) {
	// victim is uid 4's file.
	victim := func(t *testing.T, fx *restoreFixture) string {
		t.Helper()
		for name, c := range files(t, fx.s.Root()) {
			if c == fx.want[4] {
				return filepath.Join(fx.s.Root(), name)
			}
		}
		t.Fatal("uid 4's file not found")
		return ""
	}
	const body = "rewritten by another program, longer than before\n"
	cases := []struct {
		name    string
		rewrite func(t *testing.T, path string) string // returns the new content
	}{
		{"sed -i", func(t *testing.T, path string) string {
			needTool(t, "sed")
			// uid 4 holds "body N" for some N: UIDs follow the listing
			// order, not the delivery order.
			run(t, "sed", "-i", "s/^body [0-9]*$/body four, edited by sed/", path)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}},
		{"editor: temp file renamed over", func(t *testing.T, path string) string {
			tmp := filepath.Join(filepath.Dir(path), ".edit.tmp")
			if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			return body
		}},
		{"in place, same inode", func(t *testing.T, path string) string {
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			fh, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteString(body); err != nil {
				t.Fatal(err)
			}
			fh.Close()
			after, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if inodeOf(after) != inodeOf(before) {
				t.Fatal("the rewrite changed the inode")
			}
			return body
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newRestoreFixture(t)
			// No watcher and no periodic check: only CHECK looks at the
			// folder, after the rewrite. (sed -i's temporary file in
			// cur/ would otherwise be seen, mid-rewrite, as a message
			// of its own, as by any Maildir reader.)
			h := NewHub(Options{NoSync: true, NoWatch: true, PollInterval: time.Hour})
			t.Cleanup(func() { h.Close() })
			st, err := h.Open(fx.s.Root(), false)
			if err != nil {
				t.Fatal(err)
			}
			m := mustSelect(t, st, Inbox)
			m.Changes()
			time.Sleep(20 * time.Millisecond) // a later mtime, even on coarse clocks
			content := tc.rewrite(t, victim(t, fx))
			if content == fx.want[4] {
				t.Fatal("the rewrite changed nothing")
			}
			if err := m.Check(); err != nil {
				t.Fatal(err)
			}
			var expunged, added []uint32
			for _, c := range m.Changes() {
				switch c.Kind {
				case Expunged:
					expunged = append(expunged, c.UID)
				case Added:
					added = append(added, c.UID)
				}
			}
			if !reflect.DeepEqual(expunged, []uint32{4}) || !reflect.DeepEqual(added, []uint32{fx.next}) {
				t.Fatalf("expunged %v added %v, want [4] [%d]", expunged, added, fx.next)
			}
			want := map[uint32]string{}
			for uid, c := range fx.want {
				want[uid] = c
			}
			delete(want, 4)
			want[fx.next] = content
			if got := contents(t, m); !reflect.DeepEqual(got, want) {
				t.Fatalf("uids %v, want %v", sortedUIDs(got), sortedUIDs(want))
			}
			// Another process agrees, and its full rescan finds nothing more.
			m2 := openFresh(t, fx.s.Root())
			if ch := m2.Changes(); len(ch) != 0 {
				t.Errorf("a second rescan reported %+v", ch)
			}
			if got := contents(t, m2); !reflect.DeepEqual(got, want) || m2.UIDValidity() != fx.validity {
				t.Fatalf("reopened: uids %v validity %d, want %v %d", sortedUIDs(got), m2.UIDValidity(), sortedUIDs(want), fx.validity)
			}
		})
	}
}

func TestSameContentMtimePrecision(t *testing.T) {
	const ns = int64(1700000000_123456789)
	r := &msgRec{size: 100, mtime: ns}
	for _, tc := range []struct {
		size, mtime int64
		same        bool
	}{
		{100, ns, true},
		{100, 1700000000_000000000, true},  // tar: whole seconds
		{100, 1700000000_123456000, false}, // another sub-second value
		{100, 1700000001_000000000, false},
		{101, ns, false},
		{101, 1700000000_000000000, false},
	} {
		if got := sameContent(r, tc.size, tc.mtime); got != tc.same {
			t.Errorf("sameContent(size %d, mtime %d) = %v, want %v", tc.size, tc.mtime, got, tc.same)
		}
	}
	neg := &msgRec{size: 1, mtime: -1_500_000_000}
	if !sameContent(neg, 1, -2_000_000_000) || sameContent(neg, 1, -1_000_000_000) {
		t.Error("whole-second truncation of an mtime before 1970 is wrong")
	}
}
