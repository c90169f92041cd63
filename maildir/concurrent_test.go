package maildir

import (
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
)

// TestTwoProcessesAndPostfix runs two Hubs (two server processes, as in
// inetd mode) on one folder while "Postfix" delivers into new/: appends,
// flag changes and expunges from both, then checks that both views, the
// files and a fresh open agree and that no UID named two messages.
func TestTwoProcessesAndPostfix(t *testing.T) {
	_, s1 := newStore(t)
	s2 := reopen(t, s1)
	const perWorker = 60
	var mu sync.Mutex
	seen := map[uint32]string{} // UID -> Message-ID, across both processes
	record := func(m *Mailbox) {
		for _, uid := range m.UIDs() {
			fh, err := m.Open(uid)
			if err != nil {
				continue // expunged meanwhile
			}
			b, _ := readAll(fh)
			fh.Close()
			id := messageID(string(b))
			mu.Lock()
			if prev, ok := seen[uid]; ok && prev != id {
				t.Errorf("UID %d named %s and then %s", uid, prev, id)
			}
			seen[uid] = id
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	worker := func(s *Store, name string, seed int64) {
		defer wg.Done()
		rng := rand.New(rand.NewSource(seed))
		m, err := s.Select("INBOX", SelectOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		defer m.Close()
		for i := 0; i < perWorker; i++ {
			switch rng.Intn(4) {
			case 0, 1:
				body := fmt.Sprintf("Message-ID: <%s-%d@t>\n\nbody\n", name, i)
				if _, err := s.Append("INBOX", strings.NewReader(body), AppendOptions{}); err != nil {
					t.Error(err)
				}
			case 2:
				m.Changes()
				if n := m.Count(); n > 0 {
					uids := m.UIDs()
					uid := uids[rng.Intn(len(uids))]
					if _, _, err := m.SetFlags([]uint32{uid}, FlagsAdd, FlagSeen|FlagDeleted, []string{"$Junk"}, 0); err != nil {
						t.Error(err)
					}
				}
			case 3:
				if err := m.Expunge(nil); err != nil {
					t.Error(err)
				}
			}
			m.Changes()
			record(m)
		}
	}
	wg.Add(3)
	go worker(s1, "p1", 1)
	go worker(s2, "p2", 2)
	go func() {
		defer wg.Done()
		for i := 0; i < perWorker; i++ {
			deliver(t, s1.Root(), fmt.Sprintf("Message-ID: <postfix-%d@t>\n\nbody\n", i))
		}
	}()
	wg.Wait()

	a := mustSelect(t, s1, "INBOX")
	b := mustSelect(t, s2, "INBOX")
	fresh := mustSelect(t, reopen(t, s1), "INBOX")
	ca, cb, cf := contents(t, a), contents(t, b), contents(t, fresh)
	if len(cf) != len(files(t, s1.Root())) {
		t.Fatalf("%d UIDs for %d files", len(cf), len(files(t, s1.Root())))
	}
	if fmt.Sprint(ca) != fmt.Sprint(cf) || fmt.Sprint(cb) != fmt.Sprint(cf) {
		t.Fatalf("views disagree:\n a %v\n b %v\n fresh %v", sortedUIDs(ca), sortedUIDs(cb), sortedUIDs(cf))
	}
	record(fresh)
	// Every Postfix delivery that was not expunged is there; nothing lost
	// but what was flagged \Deleted.
	ids := map[string]bool{}
	for _, body := range cf {
		ids[messageID(body)] = true
	}
	for i := 0; i < perWorker; i++ {
		id := fmt.Sprintf("postfix-%d@t", i)
		if !ids[id] && !everDeleted(seen, id) {
			t.Errorf("delivery %s lost", id)
		}
	}
}

func messageID(body string) string {
	i := strings.Index(body, "Message-ID: <")
	if i < 0 {
		return ""
	}
	rest := body[i+len("Message-ID: <"):]
	return rest[:strings.IndexByte(rest, '>')]
}

// everDeleted reports whether a message may legitimately be gone: it had
// a UID (so a worker could flag and expunge it).
func everDeleted(seen map[uint32]string, id string) bool {
	for _, v := range seen {
		if v == id {
			return true
		}
	}
	return false
}

// TestOtherProcessChangesReachSessions: what another process records only
// in the sidecar (its APPEND, STORE, EXPUNGE; its claim of a delivery)
// reaches this process's sessions as updates.
func TestOtherProcessChangesReachSessions(t *testing.T) {
	_, s1 := newStore(t)
	s2 := reopen(t, s1)
	a := mustSelect(t, s1, "INBOX")
	b := mustSelect(t, s2, "INBOX")
	if _, err := s2.Append("INBOX", strings.NewReader(msg(1)), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	a.Refresh(false)
	if ups := a.Changes(); len(ups) != 1 || ups[0].Kind != Added || ups[0].UID != 1 {
		t.Fatalf("append by the other process: %+v", ups)
	}
	b.Changes()
	if _, _, err := b.SetFlags([]uint32{1}, FlagsAdd, FlagDeleted, []string{"x-kw"}, 0); err != nil {
		t.Fatal(err)
	}
	a.Refresh(false)
	if ups := a.Changes(); len(ups) != 1 || ups[0].Kind != FlagsChanged || a.Message(1).Flags != FlagDeleted {
		t.Fatalf("store by the other process: %+v", ups)
	}
	if err := b.Expunge(nil); err != nil {
		t.Fatal(err)
	}
	a.Refresh(false)
	if ups := a.Changes(); len(ups) != 1 || ups[0].Kind != Expunged || ups[0].Last.Flags != FlagDeleted || a.Count() != 0 {
		t.Fatalf("expunge by the other process: %+v", ups)
	}
}
