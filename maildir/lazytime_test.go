package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeNamed writes a message into cur/ under a name that begins with
// the delivery time nameSec and carries ",S=" (the size given, or the
// true one when size < 0), with the file's mtime set to date. It returns
// the file's name.
func writeNamed(t *testing.T, root string, nameSec int64, i int, size int, date time.Time) string {
	t.Helper()
	body := fmt.Sprintf("Subject: message %d\n\nbody %d\n", i, i)
	if size < 0 {
		size = len(body)
	}
	name := fmt.Sprintf("%d.M%dP1.lazyhost,S=%d:2,S", nameSec, i, size)
	p := filepath.Join(root, "cur", name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, date, date); err != nil {
		t.Fatal(err)
	}
	return name
}

func uidsOf(m *Mailbox) []uint32 { return append([]uint32(nil), m.UIDs()...) }

// A folder's first listing takes sizes from the names and stats no file
// whose name gives its size; the internal dates are learned on first use,
// are the files' mtimes (not the names' times), and go to the sidecar, so
// another process does not stat again.
func TestFirstListingLeavesStatsForLater(t *testing.T) {
	h, s := newStore(t)
	root := s.Root()
	const n = 50
	base := time.Date(2020, 3, 1, 12, 0, 0, 0, time.UTC)
	dates := map[string]time.Time{}
	for i := range n {
		// Name times ascending; mtimes descending: UIDs follow the names.
		d := base.Add(time.Duration(n-i) * time.Hour)
		dates[fmt.Sprintf("message %d", i)] = d
		writeNamed(t, root, 1700000000+int64(i), i, -1, d)
	}
	// One file named without ",S=" is stat'ed at once.
	plain := filepath.Join(root, "cur", "1800000000.M9P1.lazyhost:2,")
	if err := os.WriteFile(plain, []byte("Subject: message plain\n\nx\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dates["message plain"] = base.Add(-time.Hour)
	os.Chtimes(plain, dates["message plain"], dates["message plain"])

	m := mustSelect(t, s, "INBOX")
	if got := h.Stats().FileStats.Load(); got != 1 {
		t.Fatalf("first SELECT stat'ed %d files, want 1 (the one without S=)", got)
	}
	uids := uidsOf(m)
	if len(uids) != n+1 {
		t.Fatalf("%d messages, want %d", len(uids), n+1)
	}
	byUID := contents(t, m)
	for k, u := range uids[:n] {
		if want := fmt.Sprintf("Subject: message %d\n", k); !strings.HasPrefix(byUID[u], want) {
			t.Fatalf("UID %d holds %q, want %q: UIDs must follow the names' delivery times", u, byUID[u], want)
		}
	}
	check := func(m *Mailbox, what string) {
		t.Helper()
		contentOf := contents(t, m)
		for _, msg := range m.Messages(uidsOf(m), nil) {
			subj := strings.TrimPrefix(strings.SplitN(contentOf[msg.UID], "\n", 2)[0], "Subject: ")
			if want := dates[subj]; !msg.InternalDate.Equal(want) {
				t.Fatalf("%s: UID %d (%s): internal date %v, want the file's mtime %v", what, msg.UID, subj, msg.InternalDate.UTC(), want)
			}
		}
	}
	check(m, "first use")
	if got := h.Stats().FileStats.Load(); got != n+1 {
		t.Fatalf("after the first use of the dates, %d stats, want %d", got, n+1)
	}
	check(m, "second use")
	if got := h.Stats().FileStats.Load(); got != n+1 {
		t.Fatalf("the second use stat'ed again: %d stats, want %d", got, n+1)
	}
	m.Close()
	h.Close() // writes what it learned
	s2 := reopen(t, s)
	m2 := mustSelect(t, s2, "INBOX")
	check(m2, "another process")
	if got := s2.hub.Stats().FileStats.Load(); got != 0 {
		t.Fatalf("another process stat'ed %d files: the learned dates were not in the sidecar", got)
	}
	if got := uidsOf(m2); fmt.Sprint(got) != fmt.Sprint(uids) {
		t.Fatalf("UIDs changed across processes: %v, then %v", uids, got)
	}
}

// A name whose ",S=" is wrong does not make the message new once its file
// is stat'ed: a full check (CHECK) in this process and in another keeps
// its UID.
func TestWrongSizeInNameKeepsUID(t *testing.T) {
	_, s := newStore(t)
	date := time.Date(2021, 5, 5, 5, 5, 5, 0, time.UTC)
	writeNamed(t, s.Root(), 1700000000, 1, 999, date)
	m := mustSelect(t, s, "INBOX")
	uids := uidsOf(m)
	if got := m.Message(uids[0]).InternalDate; !got.Equal(date) {
		t.Fatalf("internal date %v, want %v", got, date)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	if got := uidsOf(m); fmt.Sprint(got) != fmt.Sprint(uids) || len(m.Changes()) != 0 {
		t.Fatalf("CHECK changed the folder: UIDs %v (were %v)", got, uids)
	}
	m.Close()
	m2 := mustSelect(t, reopen(t, s), "INBOX")
	if err := m2.Check(); err != nil {
		t.Fatal(err)
	}
	if got := uidsOf(m2); fmt.Sprint(got) != fmt.Sprint(uids) {
		t.Fatalf("in another process, CHECK gave the message a new UID: %v (was %v)", got, uids)
	}
}

// A file another program renamed (a flag changed by mutt) before its
// date was needed still gives its mtime once the folder is refreshed; if
// it cannot be found, the name's time stands in rather than 1970.
func TestLazyDateAfterOutsideRename(t *testing.T) {
	_, s := newStore(t)
	date := time.Date(2022, 7, 7, 7, 7, 7, 0, time.UTC)
	name := writeNamed(t, s.Root(), 1700000000, 1, -1, date)
	m := mustSelect(t, s, "INBOX")
	u := uidsOf(m)[0]
	cur := filepath.Join(s.Root(), "cur")
	renamed := strings.TrimSuffix(name, "S") + "FS"
	if err := os.Rename(filepath.Join(cur, name), filepath.Join(cur, renamed)); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(filepath.Join(cur, renamed), date, date)
	if got := m.Message(u).InternalDate; !got.Equal(time.Unix(1700000000, 0)) && !got.Equal(date) {
		t.Fatalf("before a refresh: internal date %v, want the name's time or the mtime", got)
	}
	if err := m.Refresh(false); err != nil {
		t.Fatal(err)
	}
	if got := m.Message(u).InternalDate; !got.Equal(date) {
		t.Fatalf("after a refresh: internal date %v, want %v", got, date)
	}
}
