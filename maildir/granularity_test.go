package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The window in which a directory's mtime is distrusted after a listing:
// the fine one only for a stamp that shows a fraction of a millisecond on
// a file system that keeps such stamps; two seconds everywhere else.
func TestDirChangedWindow(t *testing.T) {
	const ms = int64(time.Millisecond)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	fine := base + 123456789 // a stamp with nanoseconds
	whole := base + 500*ms   // a stamp of whole milliseconds (or seconds)
	for _, tc := range []struct {
		name       string
		fineWindow int64
		mtime      int64
		known      int64
		scan       int64
		want       bool
	}{
		{"moved", 18 * ms, fine, fine - 1, fine + time.Hour.Nanoseconds(), true},
		{"fine stamp, listed 100 ms after", 18 * ms, fine, fine, fine + 100*ms, false},
		{"fine stamp, listed 5 ms after", 18 * ms, fine, fine, fine + 5*ms, true},
		{"whole stamp, listed 100 ms after", 18 * ms, whole, whole, whole + 100*ms, true},
		{"whole stamp, listed 3 s after", 18 * ms, whole, whole, whole + 3000*ms, false},
		{"no fine window, listed 100 ms after", 0, fine, fine, fine + 100*ms, true},
		{"no fine window, listed 3 s after", 0, fine, fine, fine + 3000*ms, false},
	} {
		f := &folder{fineWindow: tc.fineWindow}
		if got := f.dirChanged(tc.mtime, tc.known, tc.scan); got != tc.want {
			t.Errorf("%s: dirChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// On the local file system the tests run on (ext4, tmpfs, xfs, btrfs), a
// folder is given a fine window, bounded by the clock tick; elsewhere
// (NFS, FUSE) it has none.
func TestFineWindowDetected(t *testing.T) {
	w := fineWindowFor(t.TempDir())
	if w == 0 {
		t.Skip("the test directory is not on a local file system with the kernel's clock")
	}
	if w < int64(10*time.Millisecond) || w > int64(time.Second/2) {
		t.Fatalf("fine window %v", time.Duration(w))
	}
	if got := fineWindowFor(filepath.Join(t.TempDir(), "missing")); got != 0 {
		t.Fatalf("a directory that cannot be examined got window %v", time.Duration(got))
	}
}

// agedFolder makes INBOX and other hold n messages each and sets the
// directories' mtimes an hour back, as a folder nobody touched lately.
func agedFolder(t *testing.T, s *Store, n int) {
	t.Helper()
	if err := s.Create("other"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		for _, box := range []string{"INBOX", "other"} {
			if _, err := s.Append(box, stringsReader(msg(i)), AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ago := time.Now().Add(-time.Hour)
	for _, d := range []string{s.Root(), filepath.Join(s.Root(), ".other")} {
		for _, sub := range []string{"new", "cur"} {
			if err := os.Chtimes(filepath.Join(d, sub), ago, ago); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A folder another program changed is listed once for that change; on a
// file system with fine stamps it is quiet again a clock tick later, not
// listed on every look for two seconds (which, in a folder that sessions
// keep changing, was every look).
func TestForeignChangeListedOnce(t *testing.T) {
	h, s := newStore(t)
	agedFolder(t, s, 3)
	m := mustSelect(t, s, "INBOX")
	if m.f.fineWindow == 0 {
		t.Skip("no fine window on this file system")
	}
	before := h.Stats().Listings.Load()
	seesDelivery(t, s, m, 9, []uint32{1, 2, 3, 4})
	if h.Stats().Listings.Load() == before {
		t.Fatal("the delivery was found without a listing")
	}
	time.Sleep(time.Duration(m.f.fineWindow) + 20*time.Millisecond)
	m.Refresh(false) // may list once more: the listing was within the window of the delivery
	before = h.Stats().Listings.Load()
	for range 3 {
		if err := m.Refresh(false); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Stats().Listings.Load() - before; n != 0 {
		t.Fatalf("%d listings of a folder nobody changed", n)
	}
	// And a change after that is seen.
	seesDelivery(t, s, m, 10, []uint32{1, 2, 3, 4, 5})
}

// seesDelivery delivers message n as another program does and checks
// that m's next refresh finds it: the folder's UIDs are then want.
func seesDelivery(t *testing.T, s *Store, m *Mailbox, n int, want []uint32) {
	t.Helper()
	deliver(t, s.Root(), msg(n))
	if err := m.Refresh(false); err != nil {
		t.Fatal(err)
	}
	if got := m.UIDs(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after delivering message %d: %v, want %v", n, got, want)
	}
}

// A folder that sessions change faster than the fine window, after a
// delivery by another program: the delivery costs a listing or two,
// then the sessions' own changes keep the listing complete (one wait of
// at most the window, settleLocked, breaks the chain of suspect
// listings), and a later delivery is still found.
func TestBusyFolderSettles(t *testing.T) {
	h, s := newStore(t)
	agedFolder(t, s, 3)
	a, b := mustSelect(t, s, "INBOX"), mustSelect(t, s, "INBOX")
	if a.f.fineWindow == 0 {
		t.Skip("no fine window on this file system")
	}
	before := h.Stats().Listings.Load()
	deliver(t, s.Root(), msg(9))
	const ops = 50
	for i := range ops {
		op := FlagsAdd
		if i%2 == 1 {
			op = FlagsRemove
		}
		if _, _, err := a.SetFlags([]uint32{1}, op, FlagFlagged, nil, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.Refresh(false); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Stats().Listings.Load() - before; n > 4 {
		t.Fatalf("%d listings for one delivery and %d changes of our own", n, ops)
	}
	// A few waits for the delivery (new/ and cur/ after the claim; the
	// watcher's refreshes interleave with the sessions'), the same with
	// 20 or 200 changes: never one per change.
	if n := h.Stats().Settles.Load(); n > 4 {
		t.Fatalf("%d waits for the mtime to settle", n)
	}
	if got := b.UIDs(); !reflect.DeepEqual(got, []uint32{1, 2, 3, 4}) {
		t.Fatalf("after the delivery: %v", got)
	}
	seesDelivery(t, s, b, 10, []uint32{1, 2, 3, 4, 5})
}

// A directory whose mtime is in the future (touch -d, a clock stepped
// back) is listed on every look, as before, and never waited for.
func TestFutureMtimeNotWaitedFor(t *testing.T) {
	h, s := newStore(t)
	agedFolder(t, s, 1)
	m := mustSelect(t, s, "INBOX")
	later := time.Now().Add(time.Hour + 123456789)
	if err := os.Chtimes(filepath.Join(s.Root(), "cur"), later, later); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := m.Refresh(false); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Stats().Settles.Load(); n != 0 {
		t.Fatalf("%d waits for an mtime in the future", n)
	}
}
