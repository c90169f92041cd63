package imapd

import (
	"imapd/imapd/wire"
	"imapd/maildir"
)

// cmdStore is STORE and UID STORE (RFC 3501 §6.4.6, §6.4.8). Unless
// .SILENT, the new flags of every message named go back as FETCH (with
// UID for UID STORE); changes by other sessions come with the flush.
func cmdStore(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.StoreArgs)
	if a.UnchangedSince != nil {
		return outcome{}, bad("UNCHANGEDSINCE needs CONDSTORE, which is not supported")
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
	if len(uids) > 0 {
		if _, _, err := s.mbox.SetFlags(uids, op, flags, kws, 0); err != nil {
			return outcome{}, err
		}
	}
	// RFC 5530 [EXPUNGEISSUED]: a message named was expunged by another
	// session; the rest were changed.
	expungeIssued := outcome{code: "EXPUNGEISSUED", text: "Some messages were expunged by another session"}
	if a.Silent {
		for _, uid := range uids {
			if _, gone := s.sel.expunged(uid); gone {
				return expungeIssued, nil
			}
		}
		return outcome{}, nil
	}
	if len(uids) > 1 {
		s.w.Grow()
	}
	var out outcome
	err = s.eachMessage(uids, func(uid uint32, msg maildir.Message) error {
		if msg.Expunged {
			out = expungeIssued
			return nil
		}
		s.announceKeywords(msg)
		s.w.Untagged().Number(s.sel.seq(uid)).Raw(" FETCH (FLAGS ").Flags(s.flagList(msg))
		if c.UID() {
			s.w.Raw(" UID ").Number(uid)
		}
		return s.w.Raw(")").CRLF()
	})
	return out, err
}
