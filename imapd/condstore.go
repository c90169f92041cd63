package imapd

import (
	"slices"
	"strings"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// CONDSTORE and QRESYNC (RFC 7162). Every message has a MODSEQ and every
// folder a HIGHESTMODSEQ, kept by the store (maildir/modseq.go) for every
// change whoever made it, so [NOMODSEQ] is never sent. What a session
// adds is when the client hears of them:
//
//   - CONDSTORE is on once the client ENABLEs it or uses a command that
//     enables it (§3.1: SELECT/EXAMINE (CONDSTORE), FETCH MODSEQ or
//     CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS
//     HIGHESTMODSEQ); QRESYNC only by ENABLE, and it implies CONDSTORE.
//   - With CONDSTORE on, SELECT says [HIGHESTMODSEQ], and every FETCH of
//     flags the client did not ask for (another session's change, its
//     own STORE, a FETCH that set \Seen) carries MODSEQ; with QRESYNC
//     on, UID too, and expunges go out as VANISHED (the tracker).
//   - A command that turns CONDSTORE on while a mailbox is selected first
//     sends its HIGHESTMODSEQ, as Dovecot does, so the client has the
//     value its later MODSEQs follow.

// condStore reports whether CONDSTORE is on for this connection.
func (s *session) condStore() bool { return s.enabled["CONDSTORE"] }

// qresync reports whether the client enabled QRESYNC.
func (s *session) qresync() bool { return s.enabled["QRESYNC"] }

// enableCondStore is ENABLE CONDSTORE (and a part of ENABLE QRESYNC).
func enableCondStore(s *session) { s.enabled["CONDSTORE"] = true }

// enableQResync is ENABLE QRESYNC (§3.2.3): CONDSTORE too, and VANISHED
// for the selected mailbox from now on.
func enableQResync(s *session) {
	enableCondStore(s)
	if s.sel != nil {
		s.sel.qresync = true
	}
}

// beforeEnable is what ENABLE sends before its ENABLED response: when it
// turns CONDSTORE on (by name or through QRESYNC) with a mailbox
// selected, that mailbox's HIGHESTMODSEQ, as for any CONDSTORE-enabling
// command (and in Dovecot's order).
func (s *session) beforeEnable(names []string) {
	if s.mbox == nil || s.condStore() {
		return
	}
	for _, n := range names {
		if strings.EqualFold(n, "CONDSTORE") || strings.EqualFold(n, "QRESYNC") {
			s.writeHighestModSeq()
			return
		}
	}
}

// condStoreCommand is called by a CONDSTORE-enabling command before it
// answers (§3.1): the first turns CONDSTORE on and, with a mailbox
// selected, sends its HIGHESTMODSEQ.
func (s *session) condStoreCommand() {
	if s.condStore() {
		return
	}
	enableCondStore(s)
	if s.mbox != nil {
		s.writeHighestModSeq()
	}
}

// writeHighestModSeq sends "* OK [HIGHESTMODSEQ n]" (§3.1.2.1).
func (s *session) writeHighestModSeq() {
	s.w.Untagged().Raw("OK [HIGHESTMODSEQ ").Number64(s.mbox.HighestModSeq()).Raw("] Highest").CRLF()
}

// writeModSeqItems appends to a FETCH response the items a flag change
// carries once CONDSTORE is on: " UID n" (with QRESYNC, unless the
// response has it already) and " MODSEQ (m)".
func (s *session) writeModSeqItems(msg maildir.Message, hasUID bool) {
	if s.qresync() && !hasUID {
		s.w.Raw(" UID ").Number(msg.UID)
	}
	if s.condStore() {
		s.w.Raw(" MODSEQ (").Number64(msg.ModSeq).Raw(")")
	}
}

// changedInSet returns the UIDs in the view that set names (UIDs if uid,
// else sequence numbers) whose MODSEQ is above since, ascending: FETCH
// (CHANGEDSINCE) and a QRESYNC SELECT. It costs time in proportion to
// the messages changed, not to the mailbox. Sequence numbers beyond the
// mailbox are a BAD, as resolveSet has them.
func (s *session) changedInSet(set wire.SeqSet, uid bool, since uint64) ([]uint32, error) {
	if set.Saved {
		uids, err := s.resolveSet(set, uid)
		if err != nil {
			return nil, err
		}
		changed := s.mbox.ChangedSince(since)
		return slices.DeleteFunc(uids, func(u uint32) bool {
			_, ok := slices.BinarySearch(changed, u)
			return !ok
		}), nil
	}
	view := s.sel.view
	n := uint32(len(view))
	if !uid && (set.MaxExplicit() > n || (n == 0 && set.HasStar())) {
		return nil, bad("Invalid message sequence number (the mailbox has " + itoa(n) + " messages)")
	}
	if n == 0 {
		return nil, nil
	}
	out := s.mbox.ChangedSince(since)
	return slices.DeleteFunc(out, func(u uint32) bool {
		seq := s.sel.seq(u)
		if seq == 0 {
			return true // not announced yet: the flush tells of it
		}
		if uid {
			return !set.Contains(u, view[n-1])
		}
		return !set.Contains(seq, n)
	}), nil
}

// vanishedEarlier returns the UIDs in known that were expunged at a
// MODSEQ above since and that the client is not about to hear of in a
// VANISHED of its own (those still in the view): QRESYNC's VANISHED
// (EARLIER), §3.2.5 and §3.2.6. known is a UID set ("*" the highest UID
// given out). When the store no longer remembers every expunge that far
// back (maildir.vanishedSet), the answer is every UID of known that is
// not in the folder: more than expunged since, which §3.2.5.2 allows,
// and all the client needs to drop what it holds.
func (s *session) vanishedEarlier(known wire.SeqSet, since uint64) wire.SeqSet {
	last := s.mbox.UIDNext() - 1
	if last == 0 {
		return wire.SeqSet{}
	}
	want := known.Normalize(last)
	gone, complete := s.mbox.ExpungedSince(since)
	if !complete {
		gone = missingUIDs(want, s.mbox.UIDs())
	}
	// Both ascending: walk them side by side.
	var out wire.SeqSet
	for i, j := 0, 0; i < len(gone) && j < len(want); {
		lo, hi := max(gone[i].Lo, want[j].Start), min(gone[i].Hi, want[j].Stop)
		if lo <= hi {
			s.addOutsideView(&out, lo, hi)
		}
		if gone[i].Hi < want[j].Stop {
			i++
		} else {
			j++
		}
	}
	return out
}

// addOutsideView adds to set the UIDs lo..hi that are not in the view.
func (s *session) addOutsideView(set *wire.SeqSet, lo, hi uint32) {
	view := s.sel.view
	i, _ := slices.BinarySearch(view, lo)
	next := uint64(lo)
	for ; i < len(view) && view[i] <= hi; i++ {
		if uint64(view[i]) > next {
			set.AddRange(uint32(next), view[i]-1)
		}
		next = uint64(view[i]) + 1
	}
	if next <= uint64(hi) {
		set.AddRange(uint32(next), hi)
	}
}

// missingUIDs returns the runs of UIDs in want (ascending ranges) that
// are not in have (ascending).
func missingUIDs(want []wire.SeqRange, have []uint32) []maildir.UIDRange {
	var out []maildir.UIDRange
	i := 0
	for _, w := range want {
		next := uint64(w.Start)
		for i < len(have) && have[i] < w.Start {
			i++
		}
		for ; i < len(have) && have[i] <= w.Stop; i++ {
			if uint64(have[i]) > next {
				out = append(out, maildir.UIDRange{Lo: uint32(next), Hi: have[i] - 1})
			}
			next = uint64(have[i]) + 1
		}
		if next <= uint64(w.Stop) {
			out = append(out, maildir.UIDRange{Lo: uint32(next), Hi: w.Stop})
		}
	}
	return out
}

// writeVanished sends "* VANISHED [(EARLIER)] set" unless set is empty.
func (s *session) writeVanished(set wire.SeqSet, earlier bool) {
	if len(set.Ranges) == 0 {
		return
	}
	s.w.Untagged().Raw("VANISHED ")
	if earlier {
		s.w.Raw("(EARLIER) ")
	}
	s.w.SeqSet(set).CRLF()
}

// qresyncSelect answers the QRESYNC parameter of SELECT and EXAMINE
// (§3.2.5) after the usual responses: with the UIDVALIDITY the client
// knew, VANISHED (EARLIER) for the UIDs of its known set expunged since
// its MODSEQ, then a FETCH (UID FLAGS MODSEQ) of every message of that
// set changed since. With another UIDVALIDITY the client's cache is void
// and nothing more is said. The sequence-match data is a hint for a
// server that does not remember expunges; this one answers from known
// UIDs either way.
func (s *session) qresyncSelect(q *wire.QResyncParams) error {
	if q.UIDValidity != s.mbox.UIDValidity() {
		return nil
	}
	known := q.KnownUIDs
	if len(known.Ranges) == 0 {
		known = wire.SeqSet{Ranges: []wire.SeqRange{{Start: 1, Stop: 0}}} // 1:*
	}
	s.writeVanished(s.vanishedEarlier(known, q.ModSeq), true)
	changed, err := s.changedInSet(known, true, q.ModSeq)
	if err != nil {
		return err
	}
	return s.eachMessage(changed, func(uid uint32, msg maildir.Message) error {
		if msg.Expunged {
			return nil
		}
		s.announceKeywords(msg)
		s.w.Untagged().Number(s.sel.seq(uid)).Raw(" FETCH (UID ").Number(uid).Raw(" FLAGS ").Flags(s.flagList(msg))
		s.w.Raw(" MODSEQ (").Number64(msg.ModSeq).Raw(")")
		return s.w.Raw(")").CRLF()
	})
}
