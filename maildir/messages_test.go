package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func TestUIDsSurviveRestartAndRenames(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 3; i++ {
		deliver(t, s.Root(), msg(i))
	}
	m := mustSelect(t, s, "INBOX")
	before := contents(t, m)
	if got := sortedUIDs(before); !reflect.DeepEqual(got, []uint32{1, 2, 3}) {
		t.Fatalf("uids %v", got)
	}
	v := m.UIDValidity()
	// The read-write selection moved new/ to cur/.
	for name := range files(t, s.Root()) {
		if !strings.HasPrefix(name, "cur/") || !strings.HasSuffix(name, ":2,") {
			t.Errorf("file %s not moved to cur/ with an info part", name)
		}
	}
	if m.RecentCount(m.UIDs()) != 3 {
		t.Errorf("recent %d, want 3", m.RecentCount(m.UIDs()))
	}
	m.Close()

	// An outside program flags message 2 (a rename): same UID.
	cur := filepath.Join(s.Root(), "cur")
	ents, _ := os.ReadDir(cur)
	var second string
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(cur, e.Name()))
		if string(b) == before[2] {
			second = e.Name()
		}
	}
	if err := os.Rename(filepath.Join(cur, second), filepath.Join(cur, second+"FS")); err != nil {
		t.Fatal(err)
	}
	s2 := reopen(t, s)
	m2 := mustSelect(t, s2, "INBOX")
	if m2.UIDValidity() != v {
		t.Fatalf("uidvalidity changed %d -> %d", v, m2.UIDValidity())
	}
	if got := contents(t, m2); !reflect.DeepEqual(got, before) {
		t.Fatalf("contents after restart %v", got)
	}
	if f := m2.Message(2).Flags; f != FlagFlagged|FlagSeen {
		t.Fatalf("flags of uid 2 = %v", f.Names())
	}
	if m2.RecentCount(m2.UIDs()) != 0 {
		t.Errorf("recent after restart %d", m2.RecentCount(m2.UIDs()))
	}
}

func TestReplacedContentGetsNewUID(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 2; i++ {
		deliver(t, s.Root(), msg(i))
	}
	m := mustSelect(t, s, "INBOX")
	m.Changes()
	cur := filepath.Join(s.Root(), "cur")
	nameOf := func(want string) string {
		ents, _ := os.ReadDir(cur)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(cur, e.Name()))
			if string(b) == want {
				return e.Name()
			}
		}
		t.Fatalf("no file with %q", want)
		return ""
	}
	// Replaced by a different file under the same name (a new inode).
	n1 := nameOf(msg(1))
	os.WriteFile(filepath.Join(s.Root(), "tmp", "x"), []byte("replaced\n"), 0o600)
	os.Rename(filepath.Join(s.Root(), "tmp", "x"), filepath.Join(cur, n1))
	time.Sleep(10 * time.Millisecond)
	if err := m.Refresh(false); err != nil {
		t.Fatal(err)
	}
	ups := m.Changes()
	if len(ups) != 2 || ups[0].Kind != Expunged || ups[0].UID != 1 || ups[1].Kind != Added || ups[1].UID != 3 {
		t.Fatalf("updates %+v", ups)
	}
	got := contents(t, m)
	if !reflect.DeepEqual(got, map[uint32]string{2: msg(2), 3: "replaced\n"}) {
		t.Fatalf("after replace: %v", got)
	}
	// Rewritten in place (same inode, new size): the full check of
	// CHECK finds it.
	n2 := nameOf(msg(2))
	fh, _ := os.OpenFile(filepath.Join(cur, n2), os.O_WRONLY|os.O_APPEND, 0)
	fh.WriteString("appended line\n")
	fh.Close()
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	m.Changes()
	got = contents(t, m)
	if !reflect.DeepEqual(got, map[uint32]string{3: "replaced\n", 4: msg(2) + "appended line\n"}) {
		t.Fatalf("after rewrite: %v", got)
	}
	// And a reopen agrees; UIDNEXT never went back.
	m3 := mustSelect(t, reopen(t, s), "INBOX")
	if !reflect.DeepEqual(contents(t, m3), got) || m3.UIDNext() != 5 {
		t.Fatalf("reopen: %v next %d", contents(t, m3), m3.UIDNext())
	}
}

func TestAppendFlagsKeywordsSizes(t *testing.T) {
	_, s := newStore(t)
	date := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	body := "Subject: hi\n\nline\r\nmixed\n"
	a, err := s.Append("INBOX", stringsReader(body), AppendOptions{Flags: FlagSeen | FlagForwarded, Keywords: []string{"$MDNSent", "project-x"}, Date: date})
	if err != nil {
		t.Fatal(err)
	}
	if a.UID != 1 || a.Size != int64(len(body))+3 {
		t.Fatalf("appended %+v, want uid 1 size %d", a, len(body)+3)
	}
	m := mustSelect(t, s, "INBOX")
	msg := m.Message(1)
	if msg.Flags != FlagSeen|FlagForwarded || !reflect.DeepEqual(msg.Keywords, []string{"$MDNSent", "project-x"}) || !msg.InternalDate.Equal(date) {
		t.Fatalf("message %+v", msg)
	}
	if sz, _ := m.Size(1); sz != a.Size {
		t.Fatalf("size %d", sz)
	}
	kw, _ := os.ReadFile(filepath.Join(s.Root(), "dovecot-keywords"))
	if string(kw) != "0 $MDNSent\n1 project-x\n" {
		t.Fatalf("dovecot-keywords %q", kw)
	}
	for name := range files(t, s.Root()) {
		if !strings.HasSuffix(name, fmt.Sprintf(",S=%d,W=%d:2,PSab", len(body), a.Size)) {
			t.Fatalf("file name %s", name)
		}
	}
}

func TestManyKeywordsNeverDropped(t *testing.T) {
	_, s := newStore(t)
	deliver(t, s.Root(), msg(1))
	m := mustSelect(t, s, "INBOX")
	var kws []string
	for i := 0; i < 30; i++ {
		kws = append(kws, fmt.Sprintf("kw%02d", i))
	}
	if _, _, err := m.SetFlags([]uint32{1}, FlagsAdd, FlagFlagged, kws, 0); err != nil {
		t.Fatal(err)
	}
	check := func(m *Mailbox) {
		t.Helper()
		got := m.Message(1)
		if got.Flags != FlagFlagged || !reflect.DeepEqual(got.Keywords, kws) {
			t.Fatalf("keywords %q flags %v", got.Keywords, got.Flags.Names())
		}
	}
	check(m)
	check(mustSelect(t, reopen(t, s), "INBOX"))
	// Remove some with and some without a letter.
	if _, _, err := m.SetFlags([]uint32{1}, FlagsRemove, 0, []string{"KW00", "kw29"}, 0); err != nil {
		t.Fatal(err)
	}
	kws = kws[1:29]
	check(mustSelect(t, reopen(t, s), "INBOX"))
}

func TestUnnamedLettersAndOddNamesKept(t *testing.T) {
	_, s := newStore(t)
	cur := filepath.Join(s.Root(), "cur")
	// A letter no keyword file names, and a name without an info part.
	os.WriteFile(filepath.Join(cur, "111.odd:2,Sz"), []byte(msg(1)), 0o600)
	os.WriteFile(filepath.Join(cur, "no-info-at-all"), []byte(msg(2)), 0o600)
	m := mustSelect(t, s, "INBOX")
	if m.Count() != 2 {
		t.Fatalf("count %d", m.Count())
	}
	if _, _, err := m.SetFlags([]uint32{1, 2}, FlagsSet, FlagAnswered, nil, 0); err != nil {
		t.Fatal(err)
	}
	got := files(t, s.Root())
	want := map[string]string{"cur/111.odd:2,Rz": msg(1), "cur/no-info-at-all:2,R": msg(2)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("files %v", got)
	}
	m2 := mustSelect(t, reopen(t, s), "INBOX")
	if !reflect.DeepEqual(m2.UIDs(), []uint32{1, 2}) {
		t.Fatalf("uids after rename %v", m2.UIDs())
	}
}

func TestCopyMoveExpunge(t *testing.T) {
	_, s := newStore(t)
	s.Create("Archive")
	for i := 1; i <= 4; i++ {
		s.Append("INBOX", stringsReader(msg(i)), AppendOptions{Flags: FlagSeen, Keywords: []string{"$Junk"}})
	}
	m := mustSelect(t, s, "INBOX")
	c, err := m.Copy([]uint32{1, 2}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.SrcUIDs, []uint32{1, 2}) || !reflect.DeepEqual(c.DstUIDs, []uint32{1, 2}) {
		t.Fatalf("copy %+v", c)
	}
	mv, err := m.Move([]uint32{3}, "Archive")
	if err != nil || !reflect.DeepEqual(mv.DstUIDs, []uint32{3}) {
		t.Fatalf("move %+v %v", mv, err)
	}
	ups := m.Changes()
	if len(ups) != 1 || ups[0].Kind != Expunged || ups[0].UID != 3 {
		t.Fatalf("move updates %+v", ups)
	}
	a := mustSelect(t, s, "Archive")
	if got := contents(t, a); !reflect.DeepEqual(got, map[uint32]string{1: msg(1), 2: msg(2), 3: msg(3)}) {
		t.Fatalf("archive %v", got)
	}
	if got := a.Message(3); got.Flags != FlagSeen || !reflect.DeepEqual(got.Keywords, []string{"$Junk"}) {
		t.Fatalf("moved flags %+v", got)
	}
	// Expunge 1 and 4 out of 1, 2, 4.
	m.SetFlags([]uint32{1, 4}, FlagsAdd, FlagDeleted, nil, 0)
	if err := m.Expunge(nil); err != nil {
		t.Fatal(err)
	}
	ups = m.Changes()
	if len(ups) != 2 || ups[0].Kind != Expunged || ups[0].UID != 1 || ups[1].UID != 4 {
		t.Fatalf("expunge updates %+v", ups)
	}
	if got := contents(t, m); !reflect.DeepEqual(got, map[uint32]string{2: msg(2)}) {
		t.Fatalf("inbox after expunge %v", got)
	}
}

func TestTwoSessionsSeeEachOther(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 3; i++ {
		s.Append("INBOX", stringsReader(msg(i)), AppendOptions{})
	}
	a := mustSelect(t, s, "INBOX")
	b := mustSelect(t, s, "INBOX")
	if _, _, err := a.SetFlags([]uint32{2}, FlagsAdd, FlagDeleted, nil, 0); err != nil {
		t.Fatal(err)
	}
	if ups := a.Changes(); len(ups) != 0 {
		t.Fatalf("own store reported again: %+v", ups)
	}
	if ups := b.Changes(); len(ups) != 1 || ups[0].Kind != FlagsChanged || ups[0].UID != 2 {
		t.Fatalf("b flags %+v", ups)
	}
	a.Expunge(nil)
	s.Append("INBOX", stringsReader(msg(4)), AppendOptions{})
	// b hears of both, in order; the expunged message's last flags come
	// with it.
	ups := b.Changes()
	if len(ups) != 2 || ups[0].Kind != Expunged || ups[0].UID != 2 || ups[0].Last.Flags != FlagDeleted ||
		ups[1].Kind != Added || ups[1].UID != 4 {
		t.Fatalf("b after %+v", ups)
	}
	a.Changes()
	if a.Message(4).Recent == b.Message(4).Recent {
		t.Fatalf("recent in a: %v, in b: %v; the new message must be recent in exactly one session", a.Message(4).Recent, b.Message(4).Recent)
	}
	// An expunged message still in a view answers ErrExpunged.
	c := mustSelect(t, s, "INBOX")
	c.SetFlags([]uint32{1}, FlagsAdd, FlagDeleted, nil, 0)
	c.Expunge(nil)
	if _, err := b.Open(1); !errors.Is(err, ErrExpunged) {
		t.Fatalf("open expunged: %v", err)
	}
}

// TestRecentSurvivesUnselectedAppend: a message appended to a folder no
// session holds stays \Recent for STATUS, EXAMINE and the next SELECT,
// which claims it; the one after that does not see it recent.
func TestRecentSurvivesUnselectedAppend(t *testing.T) {
	_, s := newStore(t)
	s.Create("Box")
	mustSelect(t, s, "Box").Close() // claims nothing, there is nothing
	s.Append("Box", stringsReader(msg(1)), AppendOptions{})
	s2 := reopen(t, s) // even another process
	if st, _ := s2.Status("Box"); st.Recent != 1 {
		t.Fatalf("STATUS RECENT %d", st.Recent)
	}
	ex, err := s2.Select("Box", SelectOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ex.RecentCount(ex.UIDs()) != 1 || !ex.Message(1).Recent {
		t.Fatalf("EXAMINE recent %d", ex.RecentCount(ex.UIDs()))
	}
	ex.Close()
	sel := mustSelect(t, s2, "Box")
	if sel.RecentCount(sel.UIDs()) != 1 {
		t.Fatalf("SELECT recent %d", sel.RecentCount(sel.UIDs()))
	}
	sel.Close()
	if again := mustSelect(t, s, "Box"); again.RecentCount(again.UIDs()) != 0 {
		t.Fatalf("second SELECT recent %d", again.RecentCount(again.UIDs()))
	}
	if st, _ := s.Status("Box"); st.Recent != 0 {
		t.Fatalf("STATUS RECENT after claim %d", st.Recent)
	}
}
