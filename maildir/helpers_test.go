package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// deliver writes a message the way Postfix does: tmp/, then a rename into
// new/. It returns the file's name.
func deliver(t testing.TB, dir, content string) string {
	t.Helper()
	name := fmt.Sprintf("%d.P%dQ%d.testhost", time.Now().Unix(), os.Getpid(), deliveries.Add(1))
	tmp := filepath.Join(dir, "tmp", name)
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
		t.Fatal(err)
	}
	return name
}

func newStore(t testing.TB) (*Hub, *Store) {
	t.Helper()
	h := NewHub(Options{NoSync: true})
	t.Cleanup(func() { h.Close() })
	s, err := h.Open(filepath.Join(t.TempDir(), "Maildir"), true)
	if err != nil {
		t.Fatal(err)
	}
	return h, s
}

// reopen returns the same Maildir through a new Hub: what another process
// (or this one after a restart) would see.
func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	h := NewHub(Options{NoSync: true})
	t.Cleanup(func() { h.Close() })
	s2, err := h.Open(s.Root(), false)
	if err != nil {
		t.Fatal(err)
	}
	return s2
}

func mustSelect(t testing.TB, s *Store, name string) *Mailbox {
	t.Helper()
	m, err := s.Select(name, SelectOptions{})
	if err != nil {
		t.Fatalf("select %s: %v", name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func msg(n int) string {
	return fmt.Sprintf("From: a@example.org\nSubject: message %d\nMessage-ID: <%d@test>\n\nbody %d\nline two\n", n, n, n)
}

// files lists the message files of a folder: name -> content.
func files(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[sub+"/"+e.Name()] = string(b)
		}
	}
	return out
}

func contents(t testing.TB, m *Mailbox) map[uint32]string {
	t.Helper()
	out := map[uint32]string{}
	for _, uid := range m.UIDs() {
		fh, err := m.Open(uid)
		if err != nil {
			t.Fatalf("open uid %d: %v", uid, err)
		}
		b, err := readAll(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[uid] = string(b)
	}
	return out
}

func readAll(fh *os.File) ([]byte, error) {
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	_, err = fh.ReadAt(b, 0)
	return b, err
}

func sortedUIDs(m map[uint32]string) []uint32 {
	var out []uint32
	for u := range m {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
