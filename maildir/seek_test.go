package maildir

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// seekUID with any starting hint answers what a binary search of the
// whole slice answers.
func TestSeekUIDMatchesSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 2000; round++ {
		n := rng.IntN(40)
		uids := make([]uint32, n)
		next := uint32(1)
		for i := range uids {
			next += uint32(rng.IntN(5)) + 1
			uids[i] = next
		}
		for q := 0; q < 20; q++ {
			uid := uint32(rng.IntN(int(next) + 3))
			from := rng.IntN(n + 3)
			want := sort.Search(n, func(i int) bool { return uids[i] >= uid })
			if got := seekUID(uids, viewUID, uid, from); got != want {
				t.Fatalf("seekUID(%v, %d, from %d) = %d, want %d", uids, uid, from, got, want)
			}
		}
	}
}
