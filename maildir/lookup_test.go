package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Creating hundreds of folders costs the same per folder at the end as
// at the start: a few lstat calls, no listing of the root (one count at
// most, for the folder limit). Counted through the Hub's Stats, not timed.
func TestCreateCostDoesNotGrowWithFolders(t *testing.T) {
	h, s := newStore(t)
	s.SetLimits(Limits{MaxFolders: 10000})
	st := h.Stats()
	lookups := func(from, to int) int64 {
		before := st.Lookups.Load()
		for i := from; i < to; i++ {
			if err := s.Create(fmt.Sprintf("F%05d.sub", i)); err != nil {
				t.Fatal(err)
			}
		}
		return st.Lookups.Load() - before
	}
	first := lookups(0, 50)
	lookups(50, 350)
	last := lookups(350, 400)
	if first != last || first > 50*2 {
		t.Fatalf("lstat calls of the first 50 CREATEs: %d, of the last 50: %d", first, last)
	}
	if n := st.RootListings.Load(); n > 1 {
		t.Fatalf("%d listings of the root for 400 CREATEs, want at most 1 (the count)", n)
	}
	// A missing folder costs one lstat per spelling and no listing.
	before, listings := st.Lookups.Load(), st.RootListings.Load()
	for _, name := range []string{"Missing", "Missing.Deep.Er", "Caf\u00e9 50%.x"} {
		if _, err := s.Status(name); err == nil {
			t.Fatalf("status of %s succeeded", name)
		}
		if _, err := s.Select(name, SelectOptions{}); err == nil {
			t.Fatalf("select of %s succeeded", name)
		}
	}
	if d := st.Lookups.Load() - before; d > 6*maxSpellings {
		t.Fatalf("%d lstat calls for 6 look-ups of missing folders", d)
	}
	if st.RootListings.Load() != listings {
		t.Fatal("a missing folder made us list the root")
	}
	folders, err := s.List()
	if err != nil || len(folders) != 1+400+400 {
		t.Fatalf("list: %d folders, %v", len(folders), err)
	}
}

// Directories other tools named differently are found by name without a
// listing: raw UTF-8 instead of modified UTF-7, a bare '%'. One with too
// many possible spellings is found once a listing saw it.
func TestOtherSpellingsFoundByName(t *testing.T) {
	h, s := newStore(t)
	mk := func(dirName string) {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(s.Root(), dirName, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk(".Caf\u00e9")                       // raw UTF-8
	mk(".50%off")                          // a bare '%'
	mk(".R\u00e9s.50%.\u00e9t\u00e9%.a%b") // more spellings than are tried
	listings := h.Stats().RootListings.Load()
	for _, name := range []string{"Caf\u00e9", "50%off"} {
		if !s.Exists(name) {
			t.Fatalf("%s not found", name)
		}
		if err := s.Create(name); err == nil {
			t.Fatalf("created %s a second time", name)
		}
	}
	if h.Stats().RootListings.Load() != listings {
		t.Fatal("a look-up listed the root")
	}
	deep := "R\u00e9s.50%.\u00e9t\u00e9%.a%b"
	if len(spellings(deep)) < maxSpellings {
		t.Skip("the name no longer has more spellings than are tried")
	}
	if _, err := s.List(); err != nil {
		t.Fatal(err)
	}
	if !s.Exists(deep) {
		t.Fatalf("%s not found after a listing", deep)
	}
	if m := mustSelect(t, s, deep); m.Name() != deep {
		t.Fatal(m.Name())
	}
}

func TestFolderLimit(t *testing.T) {
	h, s := newStore(t)
	s.SetLimits(Limits{MaxFolders: 5})
	// Another session of the same user in this process shares the count.
	s2, err := h.Open(s.Root(), false)
	if err != nil {
		t.Fatal(err)
	}
	s2.SetLimits(Limits{MaxFolders: 5})
	for i := 0; i < 5; i++ {
		st := []*Store{s, s2}[i%2]
		if err := st.Create(fmt.Sprintf("A%d.deep.er", i)); err != nil {
			t.Fatal(err)
		}
	}
	wantLimit(t, s.Create("One.More"), 5)
	wantLimit(t, s2.Create("One.More"), 5)
	// Renaming INBOX makes a folder; other renames do not.
	deliver(t, s.Root(), msg(1))
	wantLimit(t, s.Rename("INBOX", "Old"), 5)
	if err := s.Rename("A0.deep.er", "B0"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Delete("A1.deep.er"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create("One.More"); err != nil {
		t.Fatal(err)
	}
	wantLimit(t, s.Create("Two.More"), 5)
	// The count follows what a listing finds (another process's folders).
	if err := os.RemoveAll(filepath.Join(s.Root(), ".B0")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Create("Two.More"); err != nil {
		t.Fatal(err)
	}
	folders, err := s.List()
	if err != nil || len(folders) != 1+3*3+4 {
		t.Fatalf("%v %v", folders, err)
	}
}

// BenchmarkCreate creates b.N folders in a root that already holds
// "existing" ones: ns/op should not depend on the size.
func BenchmarkCreate(b *testing.B) {
	for _, existing := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			_, s := newStore(b)
			s.SetLimits(Limits{MaxFolders: existing + b.N + 1})
			for i := 0; i < existing; i++ {
				for _, sub := range []string{"cur", "new", "tmp"} {
					if err := os.MkdirAll(filepath.Join(s.Root(), fmt.Sprintf(".E%05d", i), sub), 0o700); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Create(fmt.Sprintf("N%07d", i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFirstList lists a root of 10,000 folders nobody opened yet,
// with a fresh Hub, as imapd's LIST does (names, then \Marked of each);
// ns/op divided by 10,000 is the cost per folder.
func BenchmarkFirstList(b *testing.B) {
	_, s := newStore(b)
	for i := 0; i < 10000; i++ {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(s.Root(), fmt.Sprintf(".E%05d", i), sub), 0o700); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// What imapd's LIST does: the names, then \Marked of each.
		s2 := reopen(b, s)
		folders, err := s2.List()
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range folders {
			if _, err := s2.Marked(f.Name); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestMarkedWithoutLoading(t *testing.T) {
	_, s := newStore(t)
	for _, name := range []string{"Empty", "Full"} {
		if err := s.Create(name); err != nil {
			t.Fatal(err)
		}
	}
	deliver(t, filepath.Join(s.Root(), ".Full"), msg(1))
	for name, want := range map[string]bool{"Empty": false, "Full": true} {
		if got, err := s.Marked(name); err != nil || got != want {
			t.Fatalf("Marked(%s) = %v, %v", name, got, err)
		}
		if _, err := os.Stat(filepath.Join(s.Root(), "."+name, sidecarFile)); err == nil {
			t.Fatalf("Marked(%s) created a sidecar", name)
		}
	}
	// Once the folder is loaded and its messages claimed, the recent mark
	// decides: unmarked, until another delivery, by another program or
	// by APPEND, whether the folder is held or not.
	mustSelect(t, s, "Full").Close()
	if got, err := s.Marked("Full"); err != nil || got {
		t.Fatalf("Marked(Full) after a SELECT = %v, %v", got, err)
	}
	deliver(t, filepath.Join(s.Root(), ".Full"), msg(2))
	if got, err := s.Marked("Full"); err != nil || !got {
		t.Fatalf("Marked(Full) after a delivery = %v, %v", got, err)
	}
	mustSelect(t, s, "Full").Close()
	if _, err := s.Append("Full", strings.NewReader(msg(3)), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Marked("Full"); err != nil || !got {
		t.Fatalf("Marked(Full) after an APPEND = %v, %v", got, err)
	}
	if _, err := s.Marked("Missing"); err == nil {
		t.Fatal("Marked of a missing folder succeeded")
	}
}
