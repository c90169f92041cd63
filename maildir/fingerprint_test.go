package maildir

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"imapd/message"
)

// Where size and mtime cannot tell a rewrite from a copy (a new inode or
// an mtime cut to the second, with the same size), the content
// fingerprint kept in the cache decides.

// fpFixture is newRestoreFixture with every message's structure read, so
// every message has a fingerprint.
func fpFixture(t *testing.T) *restoreFixture {
	t.Helper()
	fx := newRestoreFixture(t)
	m := mustSelect(t, reopen(t, fx.s), Inbox)
	for uid := range fx.want {
		if _, err := m.Structure(uid); err != nil {
			t.Fatal(err)
		}
		if _, _, _, ok := m.f.cache.fingerprint(uid); !ok {
			t.Fatalf("uid %d: no fingerprint after its structure was read", uid)
		}
	}
	m.Close()
	return fx
}

// fileOf returns the path of uid's file in fx.
func (fx *restoreFixture) fileOf(t *testing.T, uid uint32) string {
	t.Helper()
	for name, c := range files(t, fx.s.Root()) {
		if c == fx.want[uid] {
			return filepath.Join(fx.s.Root(), name)
		}
	}
	t.Fatalf("uid %d's file not found", uid)
	return ""
}

// replaceKeepingStat puts content at path as an editor would (a temp
// file renamed over: a new inode), then gives it mtime.
func replaceKeepingStat(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".edit.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// changesOf returns the UIDs m's Changes report expunged and added.
func changesOf(m *Mailbox) (expunged, added []uint32) {
	for _, c := range m.Changes() {
		switch c.Kind {
		case Expunged:
			expunged = append(expunged, c.UID)
		case Added:
			added = append(added, c.UID)
		}
	}
	return
}

func TestFingerprintTellsRewriteFromCopy(t *testing.T) {
	const uid = 4
	sameSize := func(fx *restoreFixture) string { return rewriteBody(fx.want[uid]) }
	cases := []struct {
		name    string
		content func(fx *restoreFixture) string
		mtime   func(orig time.Time) time.Time
		rewrite bool
	}{
		{"rewrite, mtime restored", sameSize, func(o time.Time) time.Time { return o }, true},
		{"rewrite, mtime cut to the second", sameSize, func(o time.Time) time.Time { return o.Truncate(time.Second) }, true},
		{"copy (cp -a)", func(fx *restoreFixture) string { return fx.want[uid] }, func(o time.Time) time.Time { return o }, false},
		{"copy, mtime cut to the second (tar)", func(fx *restoreFixture) string { return fx.want[uid] }, func(o time.Time) time.Time { return o.Truncate(time.Second) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := fpFixture(t)
			m := mustSelect(t, reopen(t, fx.s), Inbox)
			m.Changes()
			path := fx.fileOf(t, uid)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			content := tc.content(fx)
			replaceKeepingStat(t, path, content, tc.mtime(st.ModTime()))
			if err := m.Check(); err != nil {
				t.Fatal(err)
			}
			expunged, added := changesOf(m)
			want := map[uint32]string{}
			for u, c := range fx.want {
				want[u] = c
			}
			if tc.rewrite {
				if !reflect.DeepEqual(expunged, []uint32{uid}) || !reflect.DeepEqual(added, []uint32{fx.next}) {
					t.Fatalf("expunged %v added %v, want [%d] [%d]", expunged, added, uid, fx.next)
				}
				delete(want, uid)
				want[fx.next] = content
			} else if len(expunged)+len(added) != 0 {
				t.Fatalf("a copy: expunged %v added %v", expunged, added)
			}
			if got := contents(t, m); !reflect.DeepEqual(got, want) {
				t.Fatalf("uids %v, want %v", sortedUIDs(got), sortedUIDs(want))
			}
			// The verdict holds, and costs no more hashing: the new inode
			// (and, for a copy, the file it matched) is recorded.
			hashed := m.f.hub.stats.Fingerprints.Load()
			if hashed != 1 {
				t.Errorf("%d files hashed, want 1", hashed)
			}
			if err := m.Check(); err != nil {
				t.Fatal(err)
			}
			if ch := m.Changes(); len(ch) != 0 {
				t.Errorf("a second CHECK reported %+v", ch)
			}
			if n := m.f.hub.stats.Fingerprints.Load(); n != hashed {
				t.Errorf("a second CHECK hashed %d files", n-hashed)
			}
			m2 := openFresh(t, fx.s.Root())
			if ch := m2.Changes(); len(ch) != 0 {
				t.Errorf("another process's rescan reported %+v", ch)
			}
			if n := m2.f.hub.stats.Fingerprints.Load(); n != 0 {
				t.Errorf("another process's rescan hashed %d files", n)
			}
		})
	}
}

// rewriteBody returns a message of msg's form with another body of the
// same size. UIDs follow the listing order (files delivered in one clock
// tick share an mtime and go by name, Q10 before Q2), not the delivery
// order: a message holds "body N" for some N, not always its UID.
func rewriteBody(content string) string {
	i := strings.Index(content, "\nbody ") + len("\nbody ")
	c := content[:i] + "X" + content[i+1:]
	if len(c) != len(content) || c == content {
		panic("bad rewrite")
	}
	return c
}

// TestFingerprintInPlace: a rewrite on the same inode to the same size,
// with the mtime put back cut to the second, is found by CHECK.
func TestFingerprintInPlace(t *testing.T) {
	fx := fpFixture(t)
	// Check alone is tested: with a watcher, a refresh more than
	// settleWrites after the write and before the mtime is put back (a
	// slow run under -race) sees the rewrite half-way, gives it a UID,
	// and then sees the mtime change as another rewrite.
	h := NewHub(Options{NoSync: true, NoWatch: true})
	t.Cleanup(func() { h.Close() })
	s, err := h.Open(fx.s.Root(), false)
	if err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, s, Inbox)
	m.Changes()
	path := fx.fileOf(t, 4)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.ModTime().Nanosecond() == 0 {
		t.Skip("the file system keeps whole seconds")
	}
	content := rewriteBody(fx.want[4])
	if err := os.WriteFile(path, []byte(content), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, st.ModTime(), st.ModTime().Truncate(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	expunged, added := changesOf(m)
	if !reflect.DeepEqual(expunged, []uint32{4}) || !reflect.DeepEqual(added, []uint32{fx.next}) {
		t.Fatalf("expunged %v added %v, want [4] [%d]", expunged, added, fx.next)
	}
}

// TestNoFingerprintKeepsUID pins the documented limit: a message never
// read since another program delivered it has no fingerprint, and a
// rewrite to the same size with its mtime restored keeps its UID. Nothing
// is hashed.
func TestNoFingerprintKeepsUID(t *testing.T) {
	fx := newRestoreFixture(t) // only uid 3's structure was read
	path := fx.fileOf(t, 4)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, reopen(t, fx.s), Inbox)
	m.Changes()
	replaceKeepingStat(t, path, rewriteBody(fx.want[4]), st.ModTime())
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	if expunged, added := changesOf(m); len(expunged)+len(added) != 0 {
		t.Fatalf("expunged %v added %v, want nothing (no fingerprint)", expunged, added)
	}
	if n := m.f.hub.stats.Fingerprints.Load(); n != 0 {
		t.Errorf("%d files hashed, want 0", n)
	}
}

// TestAppendRecordsFingerprint: APPEND hashes what it writes, so its
// messages are covered before anyone reads them.
func TestAppendRecordsFingerprint(t *testing.T) {
	_, s := newStore(t)
	a, err := s.Append(Inbox, strings.NewReader(msg(1)), AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, s, Inbox)
	fp, _, _, ok := m.f.cache.fingerprint(a.UID)
	if !ok {
		t.Fatal("no fingerprint after APPEND")
	}
	if want, _ := hashOf(strings.NewReader(msg(1))); fp != want {
		t.Fatal("APPEND recorded a fingerprint of other octets")
	}
	if _, err := m.Structure(a.UID); err != nil {
		t.Fatal(err)
	}
	if m.f.hub.stats.Fingerprints.Load() != 0 {
		t.Error("reading the structure hashed the file through the ambiguous path")
	}
}

func TestFingerprintRestoreKeepsUIDs(t *testing.T) {
	t.Run("cp -a", func(t *testing.T) {
		needTool(t, "cp")
		fx := fpFixture(t)
		dst := filepath.Join(t.TempDir(), "Maildir")
		run(t, "cp", "-a", fx.s.Root(), dst)
		fx.expectKept(t, dst)
	})
	t.Run("tar", func(t *testing.T) {
		needTool(t, "tar")
		needTool(t, "sh")
		fx := fpFixture(t)
		dstParent := t.TempDir()
		run(t, "sh", "-c", `tar -C "$1" -cf - Maildir | tar -C "$2" -xf -`, "sh", filepath.Dir(fx.s.Root()), dstParent)
		fx.expectKept(t, filepath.Join(dstParent, "Maildir"))
	})
}

func TestDerivedRefusesReservedKey(t *testing.T) {
	_, s := newStore(t)
	deliver(t, s.Root(), msg(1))
	m := mustSelect(t, s, Inbox)
	if _, err := m.Derived(1, fpKey, func(*message.Part) ([]byte, error) { return nil, nil }); err == nil {
		t.Fatal("Derived accepted a key beginning with NUL")
	}
}

// TestStructureFingerprintOnTheWay: the fingerprint Structure takes while
// it parses a message (hashing what the parser reads) is the hash of the
// whole file, whatever the parser's reads: a small message, one larger
// than its window, one with a line longer than the window, a multipart.
func TestStructureFingerprintOnTheWay(t *testing.T) {
	_, s := newStore(t)
	bodies := []string{
		msg(1),
		"Subject: big\n\n" + strings.Repeat("a line of text in a long body\n", 5000),
		"Subject: long line\n\n" + strings.Repeat("x", 100<<10) + "\nend\n",
		"Subject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\n\nhello\n--B\nContent-Type: application/octet-stream\n\n" +
			strings.Repeat("QUJD\n", 20000) + "--B--\nepilogue\n",
	}
	for _, b := range bodies {
		deliver(t, s.Root(), b)
	}
	m := mustSelect(t, s, Inbox)
	for _, uid := range m.UIDs() {
		if _, _, _, ok := m.f.cache.fingerprint(uid); ok {
			t.Fatalf("uid %d has a fingerprint before its structure was read", uid)
		}
		if _, err := m.Structure(uid); err != nil {
			t.Fatal(err)
		}
		got, _, _, ok := m.f.cache.fingerprint(uid)
		fh, err := m.Open(uid)
		if err != nil {
			t.Fatal(err)
		}
		want, err := hashOf(fh)
		fh.Close()
		if err != nil || !ok || got != want {
			t.Errorf("uid %d: fingerprint %x (%v), want %x", uid, got, ok, want)
		}
	}
}

// TestHashingReaderCatchesUp: reads that overlap or skip ahead hash each
// octet once, in order, and sum reads what no read covered.
func TestHashingReaderCatchesUp(t *testing.T) {
	data := []byte(strings.Repeat("0123456789abcdef", 4096))
	hr := &hashingReader{r: strings.NewReader(string(data)), h: newFingerprintHash()}
	buf := make([]byte, 1000)
	for _, off := range []int64{0, 500, 1500, 40000, 1000, 60000} {
		hr.ReadAt(buf, off)
	}
	got, err := hr.sum(int64(len(data)))
	want, _ := hashOf(bytes.NewReader(data))
	if err != nil || got != want {
		t.Fatalf("fingerprint %x, %v; want %x", got, err, want)
	}
}
