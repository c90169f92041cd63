package maildir

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The index answers as a map by key and UID would, whatever the order
// and spread of UIDs: dense runs, UIDs far apart, the largest UID, sets
// that reach down below the first, records replaced and deleted.
func TestCacheIndexAgainstMap(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		var x cacheIndex
		model := map[cacheKey]cacheLoc{}
		uid := func() uint32 {
			switch rng.IntN(6) {
			case 0:
				return 1 + rng.Uint32N(1<<31) // far apart
			case 1:
				return ^uint32(0) - rng.Uint32N(3) // the top of the range
			default:
				return 1 + rng.Uint32N(3000) // dense
			}
		}
		for op := 0; op < 20000; op++ {
			k := cacheKey{uid(), uint8(rng.IntN(3))}
			switch rng.IntN(4) {
			case 0:
				_, had := model[k]
				if got := x.del(k); got != had {
					t.Fatalf("seed %d op %d: del(%v) = %v, want %v", seed, op, k, got, had)
				}
				delete(model, k)
			default:
				loc := cacheLoc{off: int64(op), n: 1 + rng.Uint32N(100), run: rng.Uint32N(5)}
				_, had := model[k]
				if got := x.set(k, loc); got != had {
					t.Fatalf("seed %d op %d: set(%v) replaced = %v, want %v", seed, op, k, got, had)
				}
				model[k] = loc
			}
			probe := cacheKey{uid(), uint8(rng.IntN(4))}
			want, wok := model[probe]
			if got, ok := x.get(probe); ok != wok || got != want {
				t.Fatalf("seed %d op %d: get(%v) = %v %v, want %v %v", seed, op, probe, got, ok, want, wok)
			}
		}
		if x.len() != len(model) {
			t.Fatalf("seed %d: len %d, want %d", seed, x.len(), len(model))
		}
		keys := x.keys()
		if len(keys) != len(model) {
			t.Fatalf("seed %d: %d keys, want %d", seed, len(keys), len(model))
		}
		for _, k := range keys {
			if got, _ := x.get(k); got != model[k] {
				t.Fatalf("seed %d: key %v gives %v, want %v", seed, k, got, model[k])
			}
		}
		slices.SortFunc(keys, func(a, b cacheKey) int {
			if a.key != b.key {
				return int(a.key) - int(b.key)
			}
			return int(int64(a.uid) - int64(b.uid))
		})
		if len(slices.Compact(keys)) != len(model) {
			t.Fatalf("seed %d: a key listed twice", seed)
		}
	}
}

// UIDs a few apart out of many stay cheap: the dense tables never reach
// more than denseSpan slots for the records they hold.
func TestCacheIndexSparseBounded(t *testing.T) {
	var x cacheIndex
	for i := uint32(0); i < 5000; i++ {
		x.set(cacheKey{1 + i*997, 0}, cacheLoc{off: int64(i), n: 1})
	}
	ki := x.byKey[0]
	if len(ki.dense) > denseSpan(ki.inDen) {
		t.Fatalf("dense table of %d slots for %d records", len(ki.dense), ki.inDen)
	}
	if ki.inDen+len(ki.sparse) != 5000 {
		t.Fatalf("%d dense + %d sparse, want 5000", ki.inDen, len(ki.sparse))
	}
	for i := uint32(0); i < 5000; i++ {
		if loc, ok := x.get(cacheKey{1 + i*997, 0}); !ok || loc.off != int64(i) {
			t.Fatalf("uid %d: %v %v", 1+i*997, loc, ok)
		}
	}
}
