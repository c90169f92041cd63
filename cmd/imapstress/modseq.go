package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// CONDSTORE and QRESYNC (RFC 7162). A session that finds them offered
// enables one or the other now and then, and then holds the server to
// what they promise:
//
//   - MODSEQ only grows: a UID's MODSEQ never falls within a session,
//     and HIGHESTMODSEQ at SELECT is never below a MODSEQ any session
//     saw in that mailbox before the SELECT was sent;
//   - a FETCH answering CHANGEDSINCE n (or a QRESYNC SELECT from n)
//     carries a MODSEQ above n, and every FETCH of a flag change the
//     client did not ask for carries MODSEQ once CONDSTORE is on (and
//     UID with QRESYNC);
//   - VANISHED never names a UID the session did not know (one outside
//     its view, or in a place of the view where no message it has not
//     yet learnt the UID of can be), and a UID gone (VANISHED, or
//     VANISHED (EARLIER) at a QRESYNC SELECT) is never seen again;
//   - after a QRESYNC SELECT, every UID the session knew at its last
//     selection of the mailbox and was not told vanished is there.

// qresyncCache is what a session remembers of a mailbox it left: enough
// to select it again with QRESYNC.
type qresyncCache struct {
	uidv   uint32
	modseq uint64
	uids   []uint32 // ascending
}

// enableModSeq turns CONDSTORE or QRESYNC on for some sessions.
func (s *session) enableModSeq() error {
	var want string
	switch p := s.rng.IntN(3); {
	case p == 0 && s.caps["QRESYNC"]:
		want = "QRESYNC"
	case p == 1 && s.caps["CONDSTORE"]:
		want = "CONDSTORE"
	default:
		return nil
	}
	c := &command{kind: "ENABLE", mustOK: true}
	if err := s.do(c, "ENABLE "+want, nil); err != nil {
		return err
	}
	if c.tagged.Type == "OK" {
		s.condstore = true
		s.qresync = want == "QRESYNC"
	}
	return nil
}

// remember keeps the selection's UIDs for a later QRESYNC SELECT, when
// the session knows every one of them and the mailbox's HIGHESTMODSEQ
// at selection (an older MODSEQ with a newer UID list is safe: the
// server then reports more, never less).
func (s *session) remember() {
	sel := s.sel
	if sel == nil || sel.uidv == 0 || sel.hms == 0 {
		return
	}
	uids := make([]uint32, 0, len(sel.slots))
	for _, sl := range sel.slots {
		if sl.uid == 0 {
			return
		}
		uids = append(uids, sl.uid)
	}
	if s.cache == nil {
		s.cache = map[string]qresyncCache{}
	}
	s.cache[sel.mbox] = qresyncCache{uidv: sel.uidv, modseq: sel.hms, uids: uids}
}

// selectParams returns what to add to a SELECT of mbox: (CONDSTORE), a
// QRESYNC from the session's cache (all of it, a subset with gaps, or
// none; sometimes with a stale UIDVALIDITY), or nothing. The cache used
// is returned for the check after the SELECT.
func (s *session) selectParams(mbox string, c *command) (string, *qresyncCache) {
	qc, ok := s.cache[mbox]
	switch {
	case s.qresync && ok && s.rng.IntN(3) != 0:
		uidv := qc.uidv
		if s.rng.IntN(8) == 0 {
			// A stale UIDVALIDITY: the server must answer as to a
			// plain SELECT (RFC 7162 §3.2.5), with no VANISHED.
			uidv--
			c.staleQResync = true
			c.kind += " QRESYNC"
			return fmt.Sprintf(" (QRESYNC (%d %d))", uidv, qc.modseq), nil
		}
		c.changedSince = qc.modseq
		c.kind += " QRESYNC"
		known := qc.uids
		switch s.rng.IntN(3) {
		case 0:
			return fmt.Sprintf(" (QRESYNC (%d %d))", uidv, qc.modseq), &qc
		case 1:
			// Every other UID: a known set with gaps.
			var sub []uint32
			for i := 0; i < len(known); i += 2 {
				sub = append(sub, known[i])
			}
			known = sub
		}
		qc.uids = known
		if len(known) == 0 {
			return fmt.Sprintf(" (QRESYNC (%d %d))", uidv, qc.modseq), &qc
		}
		return fmt.Sprintf(" (QRESYNC (%d %d %s))", uidv, qc.modseq, uidSet(known)), &qc
	case s.caps["CONDSTORE"] && !s.condstore && s.rng.IntN(6) == 0:
		s.condstore = true // SELECT (CONDSTORE) enables it (§3.1)
		return " (CONDSTORE)", nil
	}
	return "", nil
}

// checkQResync, after a QRESYNC SELECT and the FETCH of every UID that
// follows it, looks for each UID the session knew that it was not told
// vanished.
func (s *session) checkQResync(qc *qresyncCache) {
	sel := s.sel
	present := map[uint32]bool{}
	for _, sl := range sel.slots {
		if sl.uid == 0 {
			return // a message skipped: the check cannot tell
		}
		present[sl.uid] = true
	}
	var missing []string
	for _, u := range qc.uids {
		if !present[u] && !sel.gone[u] {
			missing = append(missing, strconv.FormatUint(uint64(u), 10))
		}
	}
	if len(missing) > 0 {
		s.violate(vQResync, "QRESYNC from MODSEQ %d: UIDs %s are gone, but no VANISHED said so", qc.modseq, strings.Join(missing, ","))
	}
}

// seenModSeq picks a MODSEQ the session saw: for CHANGEDSINCE and
// UNCHANGEDSINCE (0 now and then: RFC 7162's edge case).
func (s *session) seenModSeq() uint64 {
	sel := s.sel
	if s.rng.IntN(8) == 0 || sel.hms == 0 {
		return 0
	}
	if len(sel.slots) > 0 && s.rng.IntN(2) == 0 {
		if m := sel.modseqs[sel.slots[s.rng.IntN(len(sel.slots))].uid]; m > 0 {
			return m
		}
	}
	return sel.hms
}

// doChangedSince is UID FETCH (CHANGEDSINCE n), with VANISHED when
// QRESYNC is on.
func (s *session) doChangedSince() error {
	n := max(s.seenModSeq(), 1) // CHANGEDSINCE takes a mod-sequence-value: not 0
	mod := fmt.Sprintf("(CHANGEDSINCE %d)", n)
	if s.qresync && s.rng.IntN(2) == 0 {
		mod = fmt.Sprintf("(CHANGEDSINCE %d VANISHED)", n)
	}
	c := &command{kind: "UID FETCH CHANGEDSINCE", mustOK: true, changedSince: n}
	return s.do(c, "UID FETCH 1:* (UID FLAGS) "+mod, nil)
}

// doUnchangedSince is UID STORE (UNCHANGEDSINCE n) of flags other than
// \Deleted on known UIDs.
func (s *session) doUnchangedSince() error {
	uids := s.knownUIDs(10)
	if len(uids) == 0 {
		return s.doFetch(false)
	}
	op := []string{"+FLAGS", "-FLAGS"}[s.rng.IntN(2)]
	line := fmt.Sprintf("UID STORE %s (UNCHANGEDSINCE %d) %s (%s)", uidSet(uids), s.seenModSeq(), op, strings.Join(s.pickFlags(1+s.rng.IntN(2)), " "))
	return s.do(&command{kind: "UID STORE UNCHANGEDSINCE", mustOK: true}, line, nil)
}

// doSearchModSeq is SEARCH MODSEQ n.
func (s *session) doSearchModSeq() error {
	line := fmt.Sprintf("UID SEARCH MODSEQ %d", s.seenModSeq())
	return s.do(&command{kind: "UID SEARCH MODSEQ", mustOK: true}, line, nil)
}

// onHighestModSeq checks [HIGHESTMODSEQ n] at a SELECT against what any
// session saw before it was sent.
func (s *session) onHighestModSeq(r *Response, c *command) {
	v, err := strconv.ParseUint(r.CodeArg, 10, 64)
	if err != nil || v == 0 {
		s.violate(vMalformed, "HIGHESTMODSEQ %q", r.CodeArg)
		return
	}
	if s.sel == nil {
		return
	}
	s.sel.hms = v
	if v < c.highestBefore {
		s.violate(vModSeq, "HIGHESTMODSEQ %d at %s, below MODSEQ %d seen in this mailbox before", v, c.kind, c.highestBefore)
	}
	if s.sel.uidv != 0 {
		s.st.reg.noteModSeq(s.sel.key(s.cred.user), v)
	}
}

// onModSeq checks one FETCH's MODSEQ of uid.
func (s *session) onModSeq(uid uint32, m uint64, c *command) {
	sel := s.sel
	if c.changedSince > 0 && m <= c.changedSince {
		s.violate(vModSeq, "%s: UID %d with MODSEQ %d, not changed since %d", c.kind, uid, m, c.changedSince)
	}
	if uid == 0 {
		return
	}
	if sel.modseqs == nil {
		sel.modseqs = map[uint32]uint64{}
	}
	if old := sel.modseqs[uid]; m < old {
		s.violate(vModSeq, "UID %d MODSEQ %d, was %d", uid, m, old)
	}
	sel.modseqs[uid] = m
	if sel.uidv != 0 {
		s.st.reg.noteModSeq(sel.key(s.cred.user), m)
	}
}

// parseModSeq reads a FETCH MODSEQ value: a list of one number.
func parseModSeq(v Value) (uint64, bool) {
	if v.Kind != kList || len(v.L) != 1 {
		return 0, false
	}
	m, err := strconv.ParseUint(v.L[0].S, 10, 64)
	return m, err == nil && m > 0
}

// onVanished applies "* VANISHED [(EARLIER)] uids".
func (s *session) onVanished(r *Response, c *command) {
	sel := s.sel
	if sel == nil {
		s.violate(vSeqRange, "VANISHED with no mailbox selected")
		return
	}
	earlier := len(r.Data) == 2 && r.Data[0].Kind == kList && len(r.Data[0].L) == 1 && strings.EqualFold(r.Data[0].L[0].S, "EARLIER")
	if len(r.Data) != 1 && !earlier {
		s.violate(vMalformed, "VANISHED data %v", r.Data)
		return
	}
	uids, err := parseSet(r.Data[len(r.Data)-1].S)
	if err != nil {
		s.violate(vMalformed, "VANISHED set %q", r.Data[len(r.Data)-1].S)
		return
	}
	if !s.qresync {
		s.violate(vVanished, "VANISHED, but QRESYNC was not enabled")
	}
	if sel.gone == nil {
		sel.gone = map[uint32]bool{}
	}
	if earlier {
		if c.staleQResync {
			s.violate(vVanished, "VANISHED (EARLIER) answering a QRESYNC with a stale UIDVALIDITY")
		}
		for _, u := range uids {
			sel.gone[u] = true
			if sel.uidv != 0 && s.st.reg.isKnown(sel.key(s.cred.user), u) && !s.st.reg.isRemovable(sel.key(s.cred.user), u) {
				s.violate(vLost, "VANISHED (EARLIER) names UID %d, which no session stored \\Deleted on or moved", u)
			}
		}
		return
	}
	if s.between {
		s.violate(vAfterCompleted, "VANISHED with no command in progress")
	}
	if c.bySeq {
		s.violate(vExpungeInSeq, "VANISHED during %s", c.kind)
	}
	for _, u := range uids {
		if !s.dropUID(u) {
			s.violate(vVanished, "VANISHED names UID %d, which the session did not know", u)
			continue
		}
		sel.gone[u] = true
		c.expunged = append(c.expunged, u)
	}
}

// dropUID removes uid from the view: its slot, or else a slot whose UID
// the session never learnt where uid would be (between the known UIDs
// around it, above the slot's floor). Slots without a UID differ only in
// their floors, so the last one that fits is as good as the right one.
func (s *session) dropUID(uid uint32) bool {
	slots := s.sel.slots
	i := slices.IndexFunc(slots, func(sl slot) bool { return sl.uid >= uid && sl.uid != 0 })
	if i >= 0 && slots[i].uid == uid {
		s.sel.slots = slices.Delete(slots, i, i+1)
		return true
	}
	if i < 0 {
		i = len(slots)
	}
	for j := i - 1; j >= 0 && slots[j].uid == 0; j-- {
		if slots[j].floor < uid {
			s.sel.slots = slices.Delete(slots, j, j+1)
			return true
		}
	}
	return false
}
