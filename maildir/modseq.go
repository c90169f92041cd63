package maildir

import (
	"fmt"
	"io"
	"slices"
	"sort"
)

// This file keeps what CONDSTORE and QRESYNC (RFC 7162) ask of a folder
// beyond each message's MODSEQ: which messages changed after a given
// mod-sequence, and which UIDs were expunged after it, each answered in
// time proportional to the answer, not to the folder.
//
// Every change gets its mod-sequence under the folder lock, from the
// sidecar's HIGHESTMODSEQ, and is in the sidecar before anyone is told
// of it: ours (STORE, APPEND, COPY, MOVE, EXPUNGE), another process's
// (its records carry their mod-sequences, read by sync), and what a
// listing finds on disk (a rename by mutt, a delivery by Postfix: the
// first process to notice it under the lock gives it the next one and
// records it, so every process agrees).

// modIndex lists the records by the mod-sequence they were given, so
// that "changed since n" reads only the entries above n. An entry whose
// record got a newer mod-sequence since, or was dropped, is stale: it is
// skipped, and the list is rebuilt from the records once stale entries
// outnumber live ones. It is built at the first question (one sort), so
// a folder nobody asks about (no client with CONDSTORE) costs nothing.
type modIndex struct {
	entries []modEntry
	built   bool // entries hold every record; add keeps them up to date
	sorted  bool // entries ascend by modseq
}

type modEntry struct {
	modseq uint64
	r      *msgRec
}

// add notes that r was given its current mod-sequence.
func (x *modIndex) add(r *msgRec) {
	if !x.built {
		return
	}
	if n := len(x.entries); n > 0 && x.entries[n-1].modseq > r.modseq {
		x.sorted = false
	}
	x.entries = append(x.entries, modEntry{r.modseq, r})
}

// reset empties the index (the sidecar is being read afresh); the next
// question builds it again.
func (x *modIndex) reset() { x.entries, x.built = nil, false }

// build fills the index from recs.
func (x *modIndex) build(recs []*msgRec) {
	x.entries = make([]modEntry, 0, len(recs)+len(recs)/4)
	x.built, x.sorted = true, false
	for _, r := range recs {
		x.entries = append(x.entries, modEntry{r.modseq, r})
	}
}

// changedSince returns the records of s with a mod-sequence above
// modseq, ascending by UID.
func (s *sidecar) changedSince(modseq uint64) []*msgRec {
	x := &s.mods
	if !x.built || len(x.entries) > 2*len(s.recs)+1024 {
		x.build(s.recs)
	}
	if !x.sorted {
		slices.SortStableFunc(x.entries, func(a, b modEntry) int {
			switch {
			case a.modseq < b.modseq:
				return -1
			case a.modseq > b.modseq:
				return 1
			}
			return 0
		})
		x.sorted = true
	}
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].modseq > modseq })
	var out []*msgRec
	for _, e := range x.entries[i:] {
		if e.r.modseq == e.modseq && s.get(e.r.uid) == e.r {
			out = append(out, e.r)
		}
	}
	slices.SortFunc(out, func(a, b *msgRec) int { return cmpUID(a.uid, b.uid) })
	// A record given the same mod-sequence twice (a reload) is listed once.
	return slices.CompactFunc(out, func(a, b *msgRec) bool { return a == b })
}

func cmpUID(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// vanishedSet remembers the UIDs expunged from a folder, as runs of
// consecutive UIDs with the mod-sequence of the last expunge in the run,
// oldest first: QRESYNC's "what was expunged since n" (RFC 7162 §3.2.5).
// An EXPUNGE of a run of messages costs one entry. At most
// maxVanishedRuns are kept; the oldest go first, and floor then says up
// to which mod-sequence the memory is incomplete.
type vanishedSet struct {
	runs  []vanishedRun
	floor uint64 // expunges at or below this mod-sequence may be forgotten
}

type vanishedRun struct {
	lo, hi uint32
	modseq uint64
}

// maxVanishedRuns bounds the expunges a folder remembers: 16 bytes each
// in memory, a line each in the sidecar when it is rewritten.
const maxVanishedRuns = 4096

// add remembers that uid was expunged at modseq (the newest expunge).
func (v *vanishedSet) add(uid uint32, modseq uint64) {
	if n := len(v.runs); n > 0 {
		last := &v.runs[n-1]
		if uid >= last.lo && uid <= last.hi {
			last.modseq = max(last.modseq, modseq)
			return
		}
		if uid == last.hi+1 || uid+1 == last.lo {
			last.lo, last.hi = min(last.lo, uid), max(last.hi, uid)
			last.modseq = max(last.modseq, modseq)
			return
		}
	}
	v.runs = append(v.runs, vanishedRun{uid, uid, modseq})
	if len(v.runs) > maxVanishedRuns {
		v.forget(len(v.runs) - maxVanishedRuns*3/4)
	}
}

// forget drops the n oldest runs.
func (v *vanishedSet) forget(n int) {
	for _, r := range v.runs[:n] {
		v.floor = max(v.floor, r.modseq)
	}
	v.runs = append(v.runs[:0], v.runs[n:]...)
}

// UIDRange is a run of UIDs, Lo to Hi inclusive.
type UIDRange struct{ Lo, Hi uint32 }

// since returns the UIDs expunged at a mod-sequence above modseq,
// ascending and merged, and whether the memory reaches back that far
// (false: older expunges were forgotten, and some may be missing).
func (v *vanishedSet) since(modseq uint64) ([]UIDRange, bool) {
	i := sort.Search(len(v.runs), func(i int) bool { return v.runs[i].modseq > modseq })
	out := make([]UIDRange, 0, len(v.runs)-i)
	for _, r := range v.runs[i:] {
		out = append(out, UIDRange{r.lo, r.hi})
	}
	return mergeRanges(out), modseq >= v.floor
}

// mergeRanges sorts rs and joins those that overlap or touch.
func mergeRanges(rs []UIDRange) []UIDRange {
	slices.SortFunc(rs, func(a, b UIDRange) int { return cmpUID(a.Lo, b.Lo) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && uint64(r.Lo) <= uint64(out[n-1].Hi)+1 {
			out[n-1].Hi = max(out[n-1].Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// writeLines renders the set for a rewrite of the sidecar: a "v" line
// with the floor, then an "e" line per run, oldest first.
func (v *vanishedSet) writeLines(w io.Writer) {
	fmt.Fprintf(w, "v %d\n", v.floor)
	for _, r := range v.runs {
		fmt.Fprintf(w, "e %d %d %d\n", r.lo, r.hi, r.modseq)
	}
}

// ChangedSince returns the UIDs of the folder's messages whose MODSEQ is
// above modseq, ascending (RFC 7162 CHANGEDSINCE): the folder as it is
// now, including changes not yet drained from Changes. It costs time in
// proportion to the changes, not to the folder.
func (m *Mailbox) ChangedSince(modseq uint64) []uint32 {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	recs := f.side.changedSince(modseq)
	out := make([]uint32, len(recs))
	for i, r := range recs {
		out[i] = r.uid
	}
	return out
}

// ExpungedSince returns the UIDs expunged from the folder at a MODSEQ
// above modseq, ascending and merged (QRESYNC's VANISHED (EARLIER), RFC
// 7162 §3.2.5). complete is false when the folder no longer remembers
// every expunge that far back (see vanishedSet): the caller must then
// work out what vanished from the UIDs it knew (§3.2.5.2 allows any
// superset of the expunged UIDs the client knew).
func (m *Mailbox) ExpungedSince(modseq uint64) (uids []UIDRange, complete bool) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.side.vanished.since(modseq)
}
