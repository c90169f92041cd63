package maildir

import "testing"

// idleFolder delivers n messages to a new folder name and selects and
// closes it once, so that the hub keeps it idle with n records.
func idleFolder(t *testing.T, s *Store, name string, n int) string {
	t.Helper()
	if err := s.Create(name); err != nil {
		t.Fatal(err)
	}
	_, dir, err := s.dir(name)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		deliver(t, dir, msg(i))
	}
	m, err := s.Select(name, SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(m.UIDs()); got != n {
		t.Fatalf("%s: %d messages, want %d", name, got, n)
	}
	m.Close()
	return dir
}

func kept(h *Hub, dir string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.folders[dir] != nil
}

// TestIdleFoldersCappedByRecords: the hub keeps closed folders for their
// next user only while the records they hold stay under the cap; the
// oldest go first.
func TestIdleFoldersCappedByRecords(t *testing.T) {
	defer func(old int) { maxIdleRecords = old }(maxIdleRecords)
	maxIdleRecords = 10
	h, s := newStore(t)
	a := idleFolder(t, s, "a", 6)
	if !kept(h, a) {
		t.Fatal("a, 6 records, was not kept")
	}
	b := idleFolder(t, s, "b", 6)
	if kept(h, a) || !kept(h, b) {
		t.Fatalf("after b: a kept %v (want false), b kept %v (want true)", kept(h, a), kept(h, b))
	}
	c := idleFolder(t, s, "c", 3)
	if !kept(h, b) || !kept(h, c) {
		t.Fatalf("after c, 9 records in all: b kept %v, c kept %v (want both)", kept(h, b), kept(h, c))
	}
}
