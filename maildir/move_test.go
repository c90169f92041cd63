package maildir

import (
	"reflect"
	"testing"
)

// Issue 10, class 6: MOVE into the selected folder itself (RFC 6851
// allows it; Dovecot does it). The message gets a new UID with its
// content, flags and keywords; the old UID is expunged, and Changes
// reports both.
func TestMoveIntoItself(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 3; i++ {
		s.Append("INBOX", stringsReader(msg(i)), AppendOptions{Flags: FlagSeen | FlagFlagged, Keywords: []string{"$Junk"}})
	}
	m := mustSelect(t, s, "INBOX")
	date := m.Message(1).InternalDate
	mv, err := m.Move([]uint32{1}, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mv.SrcUIDs, []uint32{1}) || !reflect.DeepEqual(mv.DstUIDs, []uint32{4}) || mv.UIDValidity != m.UIDValidity() {
		t.Fatalf("move %+v", mv)
	}
	ups := m.Changes()
	if len(ups) != 2 || ups[0].Kind != Added || ups[0].UID != 4 || ups[1].Kind != Expunged || ups[1].UID != 1 {
		t.Fatalf("changes %+v", ups)
	}
	if got := m.UIDs(); !reflect.DeepEqual(got, []uint32{2, 3, 4}) {
		t.Fatalf("view %v", got)
	}
	got := m.Message(4)
	if got.Flags != FlagSeen|FlagFlagged || !reflect.DeepEqual(got.Keywords, []string{"$Junk"}) || !got.InternalDate.Equal(date) {
		t.Fatalf("moved message %+v", got)
	}
	if c := contents(t, m); !reflect.DeepEqual(c, map[uint32]string{2: msg(2), 3: msg(3), 4: msg(1)}) {
		t.Fatalf("contents %v", c)
	}
	if n := len(files(t, s.Root())); n != 3 {
		t.Fatalf("%d files on disk, want 3", n)
	}
	// Another process sees the same: UID 1 gone, UID 4 there.
	o := mustSelect(t, reopen(t, s), "INBOX")
	if got := o.UIDs(); !reflect.DeepEqual(got, []uint32{2, 3, 4}) {
		t.Fatalf("other process sees %v", got)
	}
}

// MOVE renames files out of the source folder: its own change, which
// leaves the source's listing complete, so that the next look at the
// source (another session's NOOP) lists nothing, and still sees the
// move.
func TestMoveKeepsSourceListing(t *testing.T) {
	h, s := newStore(t)
	agedFolder(t, s, 3)
	a := mustSelect(t, s, "INBOX")
	b := mustSelect(t, s, "INBOX")
	mustSelect(t, s, "other") // listed now (its mtimes were set back), not by the move
	before := h.Stats().Listings.Load()
	mv, err := a.Move([]uint32{2}, "other")
	if err != nil || !reflect.DeepEqual(mv.SrcUIDs, []uint32{2}) {
		t.Fatalf("move %+v, %v", mv, err)
	}
	if err := b.Refresh(false); err != nil {
		t.Fatal(err)
	}
	if n := h.Stats().Listings.Load() - before; n != 0 {
		t.Fatalf("the move and a refresh listed %d directories", n)
	}
	if got := b.UIDs(); !reflect.DeepEqual(got, []uint32{1, 3}) {
		t.Fatalf("source after the move: %v", got)
	}
	// Another process, which lists, finds the same.
	o := mustSelect(t, reopen(t, s), "INBOX")
	if got := o.UIDs(); !reflect.DeepEqual(got, []uint32{1, 3}) {
		t.Fatalf("another process sees %v", got)
	}
	if got := mustSelect(t, reopen(t, s), "other").UIDs(); !reflect.DeepEqual(got, []uint32{1, 2, 3, 4}) {
		t.Fatalf("target in another process: %v", got)
	}
}
