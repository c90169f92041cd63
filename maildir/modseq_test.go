package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestModSeqForEveryChange: every change gets a MODSEQ above every one
// before it, whoever made it — this session, another process, mutt
// renaming a file, Postfix delivering one — and two processes sharing
// the folder agree on each message's MODSEQ and on HIGHESTMODSEQ.
func TestModSeqForEveryChange(t *testing.T) {
	_, s1 := newStore(t)
	s2 := reopen(t, s1)
	for i := 1; i <= 4; i++ {
		if _, err := s1.Append("INBOX", strings.NewReader(msg(i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a := mustSelect(t, s1, "INBOX")
	b := mustSelect(t, s2, "INBOX")
	agree := func(what string, want []uint32, since uint64) uint64 {
		t.Helper()
		for _, m := range []*Mailbox{a, b} {
			if err := m.Refresh(false); err != nil {
				t.Fatal(err)
			}
		}
		ha, hb := a.HighestModSeq(), b.HighestModSeq()
		if ha != hb || ha <= since {
			t.Fatalf("%s: HIGHESTMODSEQ %d here, %d in the other process, was %d", what, ha, hb, since)
		}
		if got := a.ChangedSince(since); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: changed since %d = %v, want %v", what, since, got, want)
		}
		if got := b.ChangedSince(since); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the other process: changed since %d = %v, want %v", what, since, got, want)
		}
		for _, uid := range want {
			ma, mb := a.Message(uid), b.Message(uid)
			if ma.ModSeq != mb.ModSeq || ma.ModSeq <= since || ma.ModSeq > ha {
				t.Fatalf("%s: uid %d MODSEQ %d here, %d there (since %d, highest %d)", what, uid, ma.ModSeq, mb.ModSeq, since, ha)
			}
		}
		return ha
	}
	h := agree("appends", []uint32{1, 2, 3, 4}, 0)

	if _, _, err := a.SetFlags([]uint32{2}, FlagsAdd, FlagFlagged, nil, 0); err != nil {
		t.Fatal(err)
	}
	h = agree("our STORE", []uint32{2}, h)

	if _, _, err := b.SetFlags([]uint32{3}, FlagsAdd, 0, []string{"$label1"}, 0); err != nil {
		t.Fatal(err)
	}
	h = agree("the other process's STORE", []uint32{3}, h)

	// mutt marks message 1 seen: a rename nobody announced.
	cur := filepath.Join(s1.Root(), "cur")
	ents, _ := os.ReadDir(cur)
	renamed := false
	for _, e := range ents {
		if p, _, _ := a.path(1); filepath.Base(p) == e.Name() {
			base, _, _ := splitName(e.Name())
			if err := os.Rename(filepath.Join(cur, e.Name()), filepath.Join(cur, base+":2,S")); err != nil {
				t.Fatal(err)
			}
			renamed = true
		}
	}
	if !renamed {
		t.Fatal("message 1's file not found")
	}
	h = agree("a rename by mutt", []uint32{1}, h)

	deliver(t, s1.Root(), msg(5))
	h = agree("a delivery by Postfix", []uint32{5}, h)

	// Nothing changed: nothing to report, and no new MODSEQ.
	if got := a.ChangedSince(h); len(got) != 0 {
		t.Fatalf("changed since the highest: %v", got)
	}
	if err := a.Refresh(false); err != nil || a.HighestModSeq() != h {
		t.Fatalf("a quiet refresh moved HIGHESTMODSEQ from %d to %d (%v)", h, a.HighestModSeq(), err)
	}
}

// TestUnchangedSince: a conditional STORE skips, and reports, the
// messages changed after the given MODSEQ (RFC 7162 §3.1.3) and leaves
// their MODSEQ alone.
func TestUnchangedSince(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 3; i++ {
		if _, err := s.Append("INBOX", strings.NewReader(msg(i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	m := mustSelect(t, s, "INBOX")
	h := m.HighestModSeq()
	if _, _, err := m.SetFlags([]uint32{2}, FlagsAdd, FlagSeen, nil, 0); err != nil {
		t.Fatal(err)
	}
	before := m.Message(2).ModSeq
	changed, failed, err := m.SetFlags([]uint32{1, 2, 3}, FlagsAdd, FlagFlagged, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(changed, []uint32{1, 3}) || !reflect.DeepEqual(failed, []uint32{2}) {
		t.Fatalf("changed %v failed %v, want [1 3] and [2]", changed, failed)
	}
	if got := m.Message(2); got.ModSeq != before || got.Flags&FlagFlagged != 0 {
		t.Fatalf("message 2 was changed: %+v", got)
	}
}

// TestExpungedSinceRemembered: expunged UIDs are remembered with their
// MODSEQ, as runs, by this process and another, across a rewrite of the
// sidecar and a restart.
func TestExpungedSinceRemembered(t *testing.T) {
	_, s1 := newStore(t)
	for i := 1; i <= 10; i++ {
		if _, err := s1.Append("INBOX", strings.NewReader(msg(i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s2 := reopen(t, s1)
	a := mustSelect(t, s1, "INBOX")
	b := mustSelect(t, s2, "INBOX")
	expunge := func(m *Mailbox, uids ...uint32) {
		t.Helper()
		if _, _, err := m.SetFlags(uids, FlagsAdd, FlagDeleted, nil, 0); err != nil {
			t.Fatal(err)
		}
		if err := m.Expunge(uids); err != nil {
			t.Fatal(err)
		}
	}
	h0 := a.HighestModSeq()
	expunge(a, 2, 3, 4)
	h1 := a.HighestModSeq()
	expunge(b, 8)
	if err := a.Refresh(false); err != nil {
		t.Fatal(err)
	}
	check := func(what string, m *Mailbox, since uint64, want []UIDRange) {
		t.Helper()
		got, complete := m.ExpungedSince(since)
		if !complete || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: expunged since %d = %v (complete %v), want %v", what, since, got, complete, want)
		}
	}
	both := []UIDRange{{2, 4}, {8, 8}}
	check("here", a, h0, both)
	check("here, since the first expunge", a, h1, []UIDRange{{8, 8}})
	check("the other process", b, h0, both)

	// A rewrite keeps them; so does a restart (a new process reads it all).
	a.f.mu.Lock()
	err := a.f.side.rewrite()
	a.f.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(false); err != nil {
		t.Fatal(err)
	}
	check("the other process, after a rewrite", b, h0, both)
	c := mustSelect(t, reopen(t, s1), "INBOX")
	check("after a restart", c, h0, both)
	check("after a restart, since the first expunge", c, h1, []UIDRange{{8, 8}})
	expunge(c, 9)
	if err := a.Refresh(false); err != nil {
		t.Fatal(err)
	}
	check("an expunge after the rewrite", a, h0, []UIDRange{{2, 4}, {8, 9}})
}

// TestVanishedSetBounded: the memory of expunges is bounded; what it
// forgot, it says it forgot.
func TestVanishedSetBounded(t *testing.T) {
	var v vanishedSet
	modseq := uint64(10)
	for uid := uint32(1); uid <= 3*maxVanishedRuns; uid += 2 { // never adjacent
		modseq++
		v.add(uid, modseq)
	}
	if len(v.runs) > maxVanishedRuns {
		t.Fatalf("%d runs kept", len(v.runs))
	}
	if _, complete := v.since(10); complete {
		t.Fatal("since the start: complete, though runs were forgotten")
	}
	got, complete := v.since(modseq - 2)
	if !complete || !reflect.DeepEqual(got, []UIDRange{{3*maxVanishedRuns - 3, 3*maxVanishedRuns - 3}, {3*maxVanishedRuns - 1, 3*maxVanishedRuns - 1}}) {
		t.Fatalf("since %d: %v complete %v", modseq-2, got, complete)
	}
	// Adjacent expunges share a run.
	var w vanishedSet
	for uid := uint32(5); uid >= 1; uid-- {
		w.add(uid, uint64(20-uid))
	}
	if len(w.runs) != 1 || w.runs[0] != (vanishedRun{1, 5, 19}) {
		t.Fatalf("runs %v", w.runs)
	}
}

// TestChangedSinceAfterManyChanges: the index by MODSEQ stays right when
// stale entries pile up and it is rebuilt.
func TestChangedSinceAfterManyChanges(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 3; i++ {
		if _, err := s.Append("INBOX", strings.NewReader(msg(i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	m := mustSelect(t, s, "INBOX")
	if got := m.ChangedSince(0); !reflect.DeepEqual(got, []uint32{1, 2, 3}) {
		t.Fatalf("changed since 0: %v", got)
	}
	for i := 0; i < 1500; i++ {
		uid := uint32(1 + i%2)
		op := []FlagOp{FlagsAdd, FlagsRemove}[i/2%2]
		h := m.HighestModSeq()
		if _, _, err := m.SetFlags([]uint32{uid}, op, FlagFlagged, nil, 0); err != nil {
			t.Fatal(err)
		}
		if got := m.ChangedSince(h); !reflect.DeepEqual(got, []uint32{uid}) {
			t.Fatalf("change %d: changed since %d = %v, want [%d]", i, h, got, uid)
		}
	}
	if got := m.ChangedSince(0); !reflect.DeepEqual(got, []uint32{1, 2, 3}) {
		t.Fatalf("changed since 0 at the end: %v", got)
	}
	if n := len(m.f.side.mods.entries); n > 2*3+1024+1 {
		t.Fatalf("%d index entries for 3 messages", n)
	}
}
