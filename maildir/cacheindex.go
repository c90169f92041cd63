package maildir

// cacheIndex is where each record of the cache file is: a map per key,
// by UID. A FETCH or SEARCH looks up every message's records; Go hashes
// a UID alone much faster than a struct of UID and key, and a map per
// key is a few times smaller than one of them all (in a warm FETCH 1:*
// of ENVELOPE BODYSTRUCTURE the look-ups in one map of every record
// took a third of the time).
type cacheIndex struct {
	byKey []map[uint32]cacheLoc // by the index of the key in metaCache.keys
	n     int                   // records in all
}

func (x *cacheIndex) get(k cacheKey) (cacheLoc, bool) {
	if int(k.key) >= len(x.byKey) {
		return cacheLoc{}, false
	}
	loc, ok := x.byKey[k.key][k.uid]
	return loc, ok
}

// set places k's record at loc, and reports whether it replaced one.
func (x *cacheIndex) set(k cacheKey, loc cacheLoc) (replaced bool) {
	for int(k.key) >= len(x.byKey) {
		x.byKey = append(x.byKey, map[uint32]cacheLoc{})
	}
	m := x.byKey[k.key]
	_, replaced = m[k.uid]
	m[k.uid] = loc
	if !replaced {
		x.n++
	}
	return replaced
}

// del forgets k's record, and reports whether there was one.
func (x *cacheIndex) del(k cacheKey) bool {
	if _, ok := x.get(k); !ok {
		return false
	}
	delete(x.byKey[k.key], k.uid)
	x.n--
	return true
}

func (x *cacheIndex) len() int { return x.n }

// keys returns the keys of every record.
func (x *cacheIndex) keys() []cacheKey {
	out := make([]cacheKey, 0, x.n)
	for k, m := range x.byKey {
		for uid := range m {
			out = append(out, cacheKey{uid, uint8(k)})
		}
	}
	return out
}
