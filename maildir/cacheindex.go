package maildir

// cacheIndex is where each record of the cache file is: a table per
// key, by UID. A FETCH or SEARCH looks up every message's records, in
// UID order. A folder's UIDs are mostly dense, so each key's table is a
// slice indexed by UID from a base: a look-up is an index, and a FETCH
// 1:* walks memory in order. (In a map by UID, the hashing and the
// cache misses were a tenth of a first HEADER.FIELDS of 20,000
// messages; before that, one map of every record by UID and key took a
// third of a warm FETCH of ENVELOPE BODYSTRUCTURE.) UIDs too far apart
// for a slice to pay (a few kept out of many expunged) go to a map.
type cacheIndex struct {
	byKey []keyIndex // by the index of the key in metaCache.keys
	n     int        // records in all
}

// keyIndex holds one key's records. dense[uid-base] is a UID's record;
// a zero cacheLoc is none, as every record has n ≥ 1 (its payload holds
// at least the key's length). A UID the slice does not reach without
// growing past denseSpan goes to sparse.
type keyIndex struct {
	base   uint32
	dense  []cacheLoc
	inDen  int // records in dense
	sparse map[uint32]cacheLoc
}

// denseSpan is how far a key's slice may reach for the records it
// holds: at most four slots per record, beyond a first 1,024. It costs
// 64 octets per record at worst, against about 40 in a map.
func denseSpan(records int) int { return 4*records + 1024 }

func (x *cacheIndex) get(k cacheKey) (cacheLoc, bool) {
	if int(k.key) >= len(x.byKey) {
		return cacheLoc{}, false
	}
	ki := &x.byKey[k.key]
	if i := k.uid - ki.base; k.uid >= ki.base && int(i) < len(ki.dense) {
		if loc := ki.dense[i]; loc.n != 0 {
			return loc, true
		}
	}
	if ki.sparse == nil {
		return cacheLoc{}, false
	}
	loc, ok := ki.sparse[k.uid]
	return loc, ok
}

// set places k's record at loc, and reports whether it replaced one.
func (x *cacheIndex) set(k cacheKey, loc cacheLoc) (replaced bool) {
	for int(k.key) >= len(x.byKey) {
		x.byKey = append(x.byKey, keyIndex{})
	}
	replaced = x.byKey[k.key].set(k.uid, loc)
	if !replaced {
		x.n++
	}
	return replaced
}

func (ki *keyIndex) set(uid uint32, loc cacheLoc) (replaced bool) {
	if ki.reach(uid) {
		i := uid - ki.base
		replaced = ki.dense[i].n != 0
		if !replaced {
			ki.inDen++
		}
		ki.dense[i] = loc
		return replaced
	}
	if ki.sparse == nil {
		ki.sparse = map[uint32]cacheLoc{}
	}
	_, replaced = ki.sparse[uid]
	ki.sparse[uid] = loc
	return replaced
}

// reach makes dense cover uid when that keeps it within denseSpan, and
// reports whether it covers it. A UID in sparse stays there.
func (ki *keyIndex) reach(uid uint32) bool {
	if _, ok := ki.sparse[uid]; ok {
		return false
	}
	if len(ki.dense) == 0 {
		ki.base, ki.dense = uid, make([]cacheLoc, 1, 64)
		return true
	}
	lo, hi := int64(ki.base), int64(ki.base)+int64(len(ki.dense)) // [lo, hi)
	u := int64(uid)
	if u >= lo && u < hi {
		return true
	}
	lo, hi = min(lo, u), max(hi, u+1)
	if hi-lo > int64(denseSpan(ki.inDen+1)) {
		return false
	}
	if u > int64(ki.base) { // upwards: append's doubling
		ki.dense = append(ki.dense, make([]cacheLoc, int(hi-lo)-len(ki.dense))...)
		return true
	}
	// Downwards: a new slice with room above too, for the UIDs to come.
	span := int(hi - lo)
	grown := make([]cacheLoc, span, span+span/4)
	copy(grown[int64(ki.base)-lo:], ki.dense)
	ki.base, ki.dense = uid, grown
	return true
}

// del forgets k's record, and reports whether there was one.
func (x *cacheIndex) del(k cacheKey) bool {
	if _, ok := x.get(k); !ok {
		return false
	}
	ki := &x.byKey[k.key]
	if i := k.uid - ki.base; k.uid >= ki.base && int(i) < len(ki.dense) && ki.dense[i].n != 0 {
		ki.dense[i] = cacheLoc{}
		ki.inDen--
	} else {
		delete(ki.sparse, k.uid)
	}
	x.n--
	return true
}

func (x *cacheIndex) len() int { return x.n }

// keys returns the keys of every record.
func (x *cacheIndex) keys() []cacheKey {
	out := make([]cacheKey, 0, x.n)
	for k := range x.byKey {
		ki := &x.byKey[k]
		for i, loc := range ki.dense {
			if loc.n != 0 {
				out = append(out, cacheKey{ki.base + uint32(i), uint8(k)})
			}
		}
		for uid := range ki.sparse {
			out = append(out, cacheKey{uid, uint8(k)})
		}
	}
	return out
}
