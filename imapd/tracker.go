package imapd

import (
	"slices"
	"sort"

	"imapd/maildir"
)

// tracker is the selected folder as this client knows it: the UIDs it has
// been told of, in order (sequence number n is view[n-1]), the keywords
// its last FLAGS response named, and what changed in the store that the
// client has not been told yet. It is plain data, fed the store's changes
// (maildir.Mailbox.Changes) and asked for the untagged responses that
// announce them (flush); the session writes them.
//
// Its invariants, which flush keeps whatever the order of the changes:
//   - view holds distinct UIDs in ascending order; a new message is only
//     ever added at its end, with a UID above every UID announced before
//     (a UID at or below that is never announced: RFC 3501 §2.3.1.1);
//   - every sequence number in a response is between 1 and the count the
//     client knows at that point of the stream;
//   - the count the client knows only grows, except by EXPUNGE;
//   - EXPUNGE goes out only when allowed (RFC 3501 §7.4.1: not during
//     FETCH, STORE or SEARCH by sequence number), so sequence numbers
//     hold still while the client reads them; a message expunged
//     meanwhile stays in view, answered from its last metadata (gone);
//     once the client enabled QRESYNC, one VANISHED naming UIDs takes
//     the place of the EXPUNGEs (RFC 7162 §3.2.10), under the same rule,
//     and names only UIDs in view;
//   - a message both added and expunged before the client heard of
//     either is never announced.
//
// Keywords: every keyword in a FETCH FLAGS must have been named in the
// last FLAGS response (RFC 3501 §7.2.6); unknownKeywords tells the
// session when to send a new one.
type tracker struct {
	view []uint32 // UIDs the client knows, ascending
	// last is the highest UID announced or waiting in added: a new UID
	// must be above it.
	last uint32
	// added holds new UIDs not yet announced, ascending, all above
	// view's last.
	added []uint32
	// gone holds the UIDs still in view that the store expunged, with
	// their metadata when they went.
	gone map[uint32]maildir.Message
	// flagged holds UIDs in view whose flags someone else changed, not
	// yet announced.
	flagged map[uint32]struct{}
	// keywords are those the last FLAGS response named.
	keywords map[string]struct{}
	// dropped counts new UIDs that came out of order and were never
	// announced (for the log).
	dropped int
	// hint is where seq's last search ended: ascending look-ups step.
	hint int
	// qresync makes flush announce expunges with VANISHED.
	qresync bool
}

// newTracker starts a tracker on the folder's UIDs at selection and the
// keywords SELECT's FLAGS named.
func newTracker(uids []uint32, keywords []string) *tracker {
	t := &tracker{view: uids, gone: map[uint32]maildir.Message{}, flagged: map[uint32]struct{}{}}
	if n := len(uids); n > 0 {
		t.last = uids[n-1]
	}
	t.setKeywords(keywords)
	return t
}

// count is the number of messages the client knows (its EXISTS).
func (t *tracker) count() uint32 { return uint32(len(t.view)) }

// uidAt returns the UID of sequence number seq, or 0.
func (t *tracker) uidAt(seq uint32) uint32 {
	if seq == 0 || int(seq) > len(t.view) {
		return 0
	}
	return t.view[seq-1]
}

// seq returns the sequence number of uid, or 0 if the client does not
// know it. UIDs asked in ascending order cost a step each.
func (t *tracker) seq(uid uint32) uint32 {
	v := t.view
	i := t.hint
	if i > len(v) || (i > 0 && v[i-1] >= uid) {
		i = 0
	}
	for n := 0; n < 4 && i < len(v) && v[i] < uid; n++ {
		i++
	}
	if i < len(v) && v[i] < uid {
		i += sort.Search(len(v)-i, func(k int) bool { return v[i+k] >= uid })
	}
	t.hint = i
	if i < len(v) && v[i] == uid {
		return uint32(i + 1)
	}
	return 0
}

// expunged returns the last metadata of uid if the store expunged it
// while the client still has it in view.
func (t *tracker) expunged(uid uint32) (maildir.Message, bool) {
	m, ok := t.gone[uid]
	return m, ok
}

// feed records changes from the store.
func (t *tracker) feed(changes []maildir.Change) {
	for _, c := range changes {
		switch c.Kind {
		case maildir.Added:
			if c.UID <= t.last {
				t.dropped++ // never in the middle of the view
				continue
			}
			t.added = append(t.added, c.UID)
			t.last = c.UID
		case maildir.Expunged:
			if i, ok := slices.BinarySearch(t.added, c.UID); ok {
				t.added = slices.Delete(t.added, i, i+1)
				continue
			}
			if t.seq(c.UID) != 0 {
				t.gone[c.UID] = c.Last
				delete(t.flagged, c.UID)
			}
		case maildir.FlagsChanged:
			if _, gone := t.gone[c.UID]; !gone && t.seq(c.UID) != 0 {
				t.flagged[c.UID] = struct{}{}
			}
		}
	}
}

// updateKind tells what an update announces.
type updateKind uint8

const (
	updExpunge  updateKind = iota // "* seq EXPUNGE"
	updExists                     // "* n EXISTS" (and RECENT)
	updFlags                      // "* seq FETCH (FLAGS ...)" for uid
	updVanished                   // "* VANISHED uids" (QRESYNC)
)

// update is one untagged response the session owes its client.
type update struct {
	kind updateKind
	seq  uint32   // updExpunge, updFlags; updExists: the new count
	uid  uint32   // updFlags
	uids []uint32 // updVanished, ascending
}

// flush applies what the client has not been told to the view and
// returns the responses that tell it, in an order it can follow:
// EXPUNGEs (only if allowExpunge) in ascending order, each number as the
// client counts after the ones before it, or one VANISHED once QRESYNC
// is on; then EXISTS for
// new messages; then FLAGS changes. out is appended to and returned.
//
// Expunging costs time in proportion to the messages removed and one
// pass over the view, not the removed times the view.
func (t *tracker) flush(allowExpunge bool, out []update) []update {
	if allowExpunge && len(t.gone) > 0 {
		seqs := make([]uint32, 0, len(t.gone))
		for uid := range t.gone {
			if s := t.seq(uid); s != 0 {
				seqs = append(seqs, s)
			}
		}
		slices.Sort(seqs)
		switch {
		case t.qresync && len(seqs) > 0:
			uids := make([]uint32, len(seqs))
			for i, seq := range seqs {
				uids[i] = t.view[seq-1]
			}
			out = append(out, update{kind: updVanished, uids: uids})
		case !t.qresync:
			for i, seq := range seqs {
				// Ascending, as Dovecot sends them: each number counts
				// the EXPUNGEs before it.
				out = append(out, update{kind: updExpunge, seq: seq - uint32(i)})
			}
		}
		kept := t.view[:0]
		for _, uid := range t.view {
			if _, gone := t.gone[uid]; !gone {
				kept = append(kept, uid)
			}
		}
		clear(t.view[len(kept):])
		t.view = kept
		clear(t.gone)
		t.hint = 0
	}
	if len(t.added) > 0 {
		t.view = append(t.view, t.added...)
		t.added = t.added[:0]
		out = append(out, update{kind: updExists, seq: t.count()})
	}
	if len(t.flagged) > 0 {
		uids := make([]uint32, 0, len(t.flagged))
		for uid := range t.flagged {
			uids = append(uids, uid)
		}
		slices.Sort(uids)
		for _, uid := range uids {
			if s := t.seq(uid); s != 0 {
				out = append(out, update{kind: updFlags, seq: s, uid: uid})
			}
		}
		clear(t.flagged)
	}
	return out
}

// told records that the client was just sent uid's flags (a FETCH or
// STORE response): a change of them noticed before needs no FETCH of
// its own.
func (t *tracker) told(uid uint32) {
	if len(t.flagged) > 0 {
		delete(t.flagged, uid)
	}
}

// unknownKeywords reports whether any of kws was not named in the last
// FLAGS response.
func (t *tracker) unknownKeywords(kws []string) bool {
	for _, k := range kws {
		if _, ok := t.keywords[k]; !ok {
			return true
		}
	}
	return false
}

// setKeywords records the keywords of a FLAGS response sent.
func (t *tracker) setKeywords(kws []string) {
	t.keywords = make(map[string]struct{}, len(kws))
	for _, k := range kws {
		t.keywords[k] = struct{}{}
	}
}
