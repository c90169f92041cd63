package imapd

import (
	"slices"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// cmdStore is STORE and UID STORE (RFC 3501 §6.4.6, §6.4.8). Unless
// .SILENT, the new flags of every message named go back as FETCH (with
// UID for UID STORE); changes by other sessions come with the flush.
// With UNCHANGEDSINCE (RFC 7162 §3.1.3) a message changed after the
// given MODSEQ is left alone and named in [MODIFIED]; once CONDSTORE is
// on, each FETCH carries MODSEQ, and a .SILENT STORE still tells the
// new MODSEQ of the messages it changed (as Dovecot does).
func cmdStore(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.StoreArgs)
	if a.UnchangedSince != nil {
		s.condStoreCommand()
	}
	uids, err := s.resolveSet(a.Set, c.UID())
	if err != nil {
		return outcome{}, err
	}
	if s.mbox.ReadOnly() {
		return outcome{}, no("READ-ONLY", "Mailbox is selected read-only")
	}
	flags, kws, err := splitFlags(a.Flags)
	if err != nil {
		return outcome{}, err
	}
	op := maildir.FlagsSet
	switch a.Action {
	case wire.StoreAdd:
		op = maildir.FlagsAdd
	case wire.StoreRemove:
		op = maildir.FlagsRemove
	}
	var changed, failed []uint32
	switch {
	case len(uids) == 0:
	case a.UnchangedSince != nil && *a.UnchangedSince == 0:
		// §3.1.3: every message has a MODSEQ, so UNCHANGEDSINCE 0
		// fails for all of them (the store's 0 means no condition).
		for _, uid := range uids {
			if _, gone := s.sel.expunged(uid); !gone {
				failed = append(failed, uid)
			}
		}
	default:
		var since uint64
		if a.UnchangedSince != nil {
			since = *a.UnchangedSince
		}
		if changed, failed, err = s.mbox.SetFlags(uids, op, flags, kws, since); err != nil {
			return outcome{}, err
		}
	}
	out := s.modifiedOutcome(failed, c.UID())
	if a.Silent {
		return s.silentStore(uids, changed, c.UID(), out)
	}
	if len(uids) > 1 {
		s.w.Grow()
	}
	err = s.eachMessage(uids, func(uid uint32, msg maildir.Message) error {
		if msg.Expunged {
			if out.code == "" {
				out = expungeIssued
			}
			return nil
		}
		if _, ok := slices.BinarySearch(failed, uid); ok {
			return nil // §3.1.3: named in [MODIFIED], not fetched
		}
		s.announceKeywords(msg)
		s.w.Untagged().Number(s.sel.seq(uid)).Raw(" FETCH (FLAGS ").Flags(s.flagList(msg))
		if c.UID() {
			s.w.Raw(" UID ").Number(uid)
		}
		s.writeModSeqItems(msg, c.UID())
		return s.w.Raw(")").CRLF()
	})
	return out, err
}

// expungeIssued is RFC 5530's [EXPUNGEISSUED]: a message named was
// expunged by another session; the rest were changed.
var expungeIssued = outcome{code: "EXPUNGEISSUED", text: "Some messages were expunged by another session"}

// silentStore finishes a .SILENT STORE: no FLAGS go back, but once
// CONDSTORE is on the messages it changed get a FETCH of their new
// MODSEQ, which the client needs to keep its own up to date.
func (s *session) silentStore(uids, changed []uint32, uid bool, out outcome) (outcome, error) {
	if out.code == "" {
		for _, u := range uids {
			if _, gone := s.sel.expunged(u); gone {
				out = expungeIssued
				break
			}
		}
	}
	if !s.condStore() || len(changed) == 0 {
		return out, nil
	}
	err := s.eachMessage(changed, func(u uint32, msg maildir.Message) error {
		if msg.Expunged {
			return nil
		}
		s.w.Untagged().Number(s.sel.seq(u)).Raw(" FETCH (")
		if uid || s.qresync() {
			s.w.Raw("UID ").Number(u).SP()
		}
		return s.w.Raw("MODSEQ (").Number64(msg.ModSeq).Raw("))").CRLF()
	})
	return out, err
}

// modifiedOutcome is the tagged OK of a STORE whose UNCHANGEDSINCE
// failed for some messages: [MODIFIED set], of sequence numbers for
// STORE and of UIDs for UID STORE (RFC 7162 §3.1.3).
func (s *session) modifiedOutcome(failed []uint32, uid bool) outcome {
	if len(failed) == 0 {
		return outcome{}
	}
	nums := failed
	if !uid {
		nums = make([]uint32, 0, len(failed))
		for _, u := range failed {
			if seq := s.sel.seq(u); seq != 0 {
				nums = append(nums, seq)
			}
		}
	}
	return outcome{code: "MODIFIED " + wire.SeqSetOf(nums).String(), text: "Conditional STORE failed"}
}
