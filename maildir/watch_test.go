package maildir

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// waitUpdates waits (at most 2 s) for the session to be woken and returns
// what Changes then reports, collecting until want changes arrived.
func waitUpdates(t *testing.T, m *Mailbox, want int) []Change {
	t.Helper()
	var got []Change
	deadline := time.After(2 * time.Second)
	for len(got) < want {
		select {
		case <-m.Wake():
			got = append(got, m.Changes()...)
		case <-deadline:
			t.Fatalf("waited 2s for %d updates, got %+v", want, got)
		}
	}
	return got
}

func testWatcher(t *testing.T, opts Options) {
	opts.NoSync = true
	h := NewHub(opts)
	t.Cleanup(func() { h.Close() })
	s, err := h.Open(filepath.Join(t.TempDir(), "Maildir"), true)
	if err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, s, "INBOX")
	idle := mustSelect(t, s, "INBOX")

	// (a) A Postfix-style delivery reaches both sessions without a command.
	start := time.Now()
	deliver(t, s.Root(), msg(1))
	ups := waitUpdates(t, idle, 1)
	if ups[0].Kind != Added || ups[0].UID != 1 {
		t.Fatalf("delivery: %+v", ups)
	}
	t.Logf("delivery to EXISTS: %v", time.Since(start))
	if got := contents(t, idle); got[1] != msg(1) {
		t.Fatalf("content %q", got[1])
	}
	m.Changes()

	// (b) An outside flag rename: FETCH FLAGS, same UID.
	cur := filepath.Join(s.Root(), "cur")
	ents, _ := os.ReadDir(cur)
	if len(ents) != 1 {
		t.Fatalf("cur has %d files", len(ents))
	}
	name := ents[0].Name()
	os.Rename(filepath.Join(cur, name), filepath.Join(cur, name+"S"))
	ups = waitUpdates(t, idle, 1)
	if ups[0].Kind != FlagsChanged || ups[0].UID != 1 || idle.Message(1).Flags != FlagSeen {
		t.Fatalf("flag rename: %+v flags %v", ups, idle.Message(1).Flags.Names())
	}

	// (c) A rewrite in place: the old UID goes, a new one comes. Only
	// inotify tells of it (the directory does not change); without it,
	// CHECK's full check finds it.
	fh, _ := os.OpenFile(filepath.Join(cur, name+"S"), os.O_WRONLY|os.O_APPEND, 0)
	fh.WriteString("edited\n")
	fh.Close()
	if opts.NoWatch || opts.MaxWatches > 0 {
		if err := m.Check(); err != nil {
			t.Fatal(err)
		}
	}
	ups = waitUpdates(t, idle, 2)
	if ups[0].Kind != Expunged || ups[0].UID != 1 || ups[0].Last.Flags != FlagSeen || ups[1].Kind != Added || ups[1].UID != 2 {
		t.Fatalf("rewrite: %+v", ups)
	}
	if got := contents(t, idle); got[2] != msg(1)+"edited\n" {
		t.Fatalf("after rewrite %v", got)
	}

	// (d) An outside delete: EXPUNGE.
	ents, _ = os.ReadDir(cur)
	os.Remove(filepath.Join(cur, ents[0].Name()))
	ups = waitUpdates(t, idle, 1)
	if ups[0].Kind != Expunged || ups[0].UID != 2 || idle.Count() != 0 {
		t.Fatalf("delete: %+v", ups)
	}
}

func TestWatcherPushesOutsideChanges(t *testing.T) { testWatcher(t, Options{}) }

// TestWatchLimitFallback simulates a kernel that refuses watches: changes
// still arrive, by the periodic check.
func TestWatchLimitFallback(t *testing.T) {
	testWatcher(t, Options{MaxWatches: 1, PollInterval: 100 * time.Millisecond})
}

func TestNoInotify(t *testing.T) {
	testWatcher(t, Options{NoWatch: true, PollInterval: 100 * time.Millisecond})
}

// TestFolderDeletedByOthers: a session whose folder another process
// deleted is woken and learns it is gone.
func TestFolderDeletedByOthers(t *testing.T) {
	_, s := newStore(t)
	s.Create("Projects")
	m := mustSelect(t, s, "Projects")
	other := reopen(t, s) // another process
	if err := other.Delete("Projects"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Wake():
	case <-time.After(2 * time.Second):
		t.Fatal("not woken within 2s")
	}
	if err := m.Refresh(false); err == nil || !m.Gone() {
		t.Fatalf("refresh: %v, gone %v", err, m.Gone())
	}
}

// TestFolderRenamedByOthers: a selected folder whose directory another
// program renames wakes its sessions at once (the root is watched), and
// they find it gone.
func TestFolderRenamedByOthers(t *testing.T) {
	_, s := newStore(t)
	s.Create("Projects")
	m := mustSelect(t, s, "Projects")
	if err := os.Rename(filepath.Join(s.Root(), ".Projects"), filepath.Join(s.Root(), ".Old-Projects")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Wake():
	case <-time.After(2 * time.Second):
		t.Fatal("not woken within 2s of the rename")
	}
	if !m.Gone() {
		t.Fatal("the renamed folder is not reported gone")
	}
}

// bulkMessages is enough for a STORE over the folder to pause cur/'s
// watch (pauseRenames).
const bulkMessages = pauseRenames + 44

// bulkFolder returns a hub and an INBOX of bulkMessages messages.
func bulkFolder(t *testing.T) (*Hub, *Store) {
	t.Helper()
	h := NewHub(Options{NoSync: true})
	t.Cleanup(func() { h.Close() })
	s, err := h.Open(filepath.Join(t.TempDir(), "Maildir"), true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range bulkMessages {
		deliver(t, s.Root(), msg(i))
	}
	return h, s
}

// TestBulkStorePausesCurWatch: a STORE over many messages stops watching
// cur/ while it renames (pauseCur), and watches it again after: another
// program's flag change is then told without a command. One made while
// cur/ was not watched (its event dropped with the watch) is found by
// the refresh the resumption starts.
func TestBulkStorePausesCurWatch(t *testing.T) {
	h, s := bulkFolder(t)
	const n = bulkMessages
	m := mustSelect(t, s, "INBOX")
	idle := mustSelect(t, s, "INBOX")
	cur := filepath.Join(s.Root(), "cur")
	if _, _, err := m.SetFlags(m.UIDs(), FlagsAdd, FlagSeen, nil, 0); err != nil {
		t.Fatal(err)
	}
	waitUpdates(t, idle, n) // the STORE's own changes
	h.watch.mu.Lock()
	watched, paused := h.watch.dirs[cur] == m.f, m.f.curPaused
	h.watch.mu.Unlock()
	if !watched || paused != 0 {
		t.Fatalf("after the STORE: cur/ watched %v, paused %d", watched, paused)
	}

	// Another program's change after the STORE: told at once.
	flag := func(uid uint32, letter string) {
		t.Helper()
		m.f.mu.Lock()
		name := m.f.side.get(uid).name()
		m.f.mu.Unlock()
		if err := os.Rename(filepath.Join(cur, name), filepath.Join(cur, name+letter)); err != nil {
			t.Fatal(err)
		}
	}
	flag(1, "T")
	if ups := waitUpdates(t, idle, 1); ups[0].Kind != FlagsChanged || ups[0].UID != 1 {
		t.Fatalf("after the STORE: %+v", ups)
	}

	// One made while cur/ is not watched: the resumption's refresh.
	if !h.watch.pauseCur(m.f) {
		t.Fatal("cur/ could not be paused")
	}
	flag(2, "T")
	time.Sleep(50 * time.Millisecond) // an event would have come by now
	select {
	case <-idle.Wake():
		t.Fatalf("told while cur/ was not watched: %+v", idle.Changes())
	default:
	}
	h.watch.resumeCur(m.f)
	if ups := waitUpdates(t, idle, 1); ups[0].Kind != FlagsChanged || ups[0].UID != 2 {
		t.Fatalf("after the resumption: %+v", ups)
	}
}

// TestConcurrentBulkStoresResumeWatch: two sessions' STOREs over the
// whole folder at once nest their pauses of cur/; when both are done cur/
// is watched again, a third session has heard of every change, and
// another program's rename is told without a command.
func TestConcurrentBulkStoresResumeWatch(t *testing.T) {
	h, s := bulkFolder(t)
	const n = bulkMessages
	a, b := mustSelect(t, s, "INBOX"), mustSelect(t, s, "INBOX")
	idle := mustSelect(t, s, "INBOX")
	var wg sync.WaitGroup
	for k, m := range []*Mailbox{a, b} {
		flag := []Flags{FlagSeen, FlagFlagged}[k]
		wg.Go(func() {
			for range 5 {
				for _, op := range []FlagOp{FlagsAdd, FlagsRemove} {
					if _, _, err := m.SetFlags(m.UIDs(), op, flag, nil, 0); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	cur := filepath.Join(s.Root(), "cur")
	h.watch.mu.Lock()
	watched, paused := h.watch.dirs[cur] == a.f, a.f.curPaused
	h.watch.mu.Unlock()
	if !watched || paused != 0 {
		t.Fatalf("after both STOREs: cur/ watched %v, paused %d", watched, paused)
	}
	idle.Changes()
	for uid := uint32(1); uid <= n; uid++ {
		if f := idle.Message(uid).Flags; f&(FlagSeen|FlagFlagged) != 0 {
			t.Fatalf("UID %d: flags %v after every STORE was undone", uid, f.Names())
		}
	}
	a.f.mu.Lock()
	name := a.f.side.get(7).name()
	a.f.mu.Unlock()
	if err := os.Rename(filepath.Join(cur, name), filepath.Join(cur, name+"T")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(2 * time.Second)
	for idle.Message(7).Flags&FlagDeleted == 0 {
		select {
		case <-idle.Wake():
			idle.Changes()
		case <-deadline:
			t.Fatal("another program's rename after the STOREs was not told")
		}
	}
}
