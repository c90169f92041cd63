package imapd

import (
	"sort"
	"strconv"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// systemFlags are the flags every mailbox accepts, as FLAGS lists them.
var systemFlags = []string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`, `$Forwarded`}

// cmdSelect is SELECT and EXAMINE (RFC 3501 §6.3.1, §6.3.2). A mailbox
// selected before is deselected first, even if the new one fails.
func cmdSelect(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.SelectArgs)
	if a.QResync != nil && !s.qresync() {
		// RFC 7162 §3.2.5: the command is not run, the selection stays.
		return outcome{}, bad("QRESYNC needs ENABLE QRESYNC first")
	}
	if a.CondStore {
		enableCondStore(s) // RFC 7162 §3.1: it says HIGHESTMODSEQ below
	}
	if s.mbox != nil {
		// RFC 7162 §3.2.11 (QRESYNC) defines [CLOSED] for this moment;
		// like Dovecot we send it always, as clients ignore response codes
		// they do not know (RFC 3501 §7.1) and it helps those that do.
		s.closeMailbox()
		s.w.Status("", "OK", "CLOSED", "Previous mailbox closed")
	}
	name, err := mailboxName(a.Mailbox)
	if err != nil {
		return outcome{}, err
	}
	readOnly := c.Name == "EXAMINE"
	mb, err := s.store.Select(name, maildir.SelectOptions{ReadOnly: readOnly})
	if err != nil {
		return outcome{}, err
	}
	s.mbox, s.state = mb, stateSelected
	s.sel = newTracker(mb.Initial(), nil)
	s.sel.qresync = s.qresync()
	s.writeFlags()
	s.w.Untagged().Number(s.sel.count()).Raw(" EXISTS").CRLF()
	s.w.Untagged().Number(mb.RecentCount(s.sel.view)).Raw(" RECENT").CRLF()
	if seq := mb.FirstUnseen(s.sel.view); seq != 0 {
		s.w.Untagged().Raw("OK [UNSEEN ").Number(seq).Raw("] First unseen").CRLF()
	}
	s.w.Untagged().Raw("OK [UIDVALIDITY ").Number(mb.UIDValidity()).Raw("] UIDs valid").CRLF()
	s.w.Untagged().Raw("OK [UIDNEXT ").Number(mb.UIDNext()).Raw("] Predicted next UID").CRLF()
	if s.condStore() {
		s.writeHighestModSeq()
	}
	if a.QResync != nil {
		if err := s.qresyncSelect(a.QResync); err != nil {
			return outcome{}, err
		}
	}
	if readOnly {
		return outcome{code: "READ-ONLY"}, nil
	}
	return outcome{code: "READ-WRITE"}, nil
}

// writeFlags sends FLAGS and PERMANENTFLAGS for the selected folder
// (RFC 3501 §7.2.6, §7.1): at SELECT, and again whenever a keyword the
// client was not told of is about to appear in a FETCH.
func (s *session) writeFlags() {
	kws := s.mbox.Keywords()
	s.sel.setKeywords(kws)
	flags := append(append([]string(nil), systemFlags...), kws...)
	s.w.Untagged().Raw("FLAGS ").Flags(flags).CRLF()
	if s.mbox.ReadOnly() {
		s.w.Untagged().Raw("OK [PERMANENTFLAGS ()] No permanent flags permitted").CRLF()
	} else {
		s.w.Untagged().Raw("OK [PERMANENTFLAGS ").Flags(append(flags, `\*`)).Raw("] Flags permitted").CRLF()
	}
}

// announceKeywords sends a new FLAGS response first if m carries a
// keyword the client was not told of: call it before a FETCH with FLAGS.
func (s *session) announceKeywords(m maildir.Message) {
	if len(m.Keywords) > 0 && s.sel.unknownKeywords(m.Keywords) {
		s.writeFlags()
	}
	s.sel.told(m.UID)
}

// cmdClose is RFC 3501 §6.4.2: expunge silently (unless read-only),
// then deselect.
func cmdClose(s *session, c *wire.Command) (outcome, error) {
	mb := s.mbox
	var err error
	if !mb.ReadOnly() {
		err = mb.Expunge(nil)
	}
	s.closeMailbox()
	return outcome{}, err
}

// cmdUnselect is RFC 3691: deselect without expunging.
func cmdUnselect(s *session, c *wire.Command) (outcome, error) {
	s.closeMailbox()
	return outcome{}, nil
}

// cmdCheck is RFC 3501 §6.4.1: a real checkpoint of the folder.
func cmdCheck(s *session, c *wire.Command) (outcome, error) {
	return outcome{}, s.mbox.Check()
}

// cmdExpunge is RFC 3501 §6.4.3 and UID EXPUNGE (RFC 4315 §2.1). The
// EXPUNGE responses come from the dispatcher's flush, like everyone's.
func cmdExpunge(s *session, c *wire.Command) (outcome, error) {
	if s.mbox.ReadOnly() {
		return outcome{}, no("READ-ONLY", "Mailbox is selected read-only")
	}
	var uids []uint32 // nil: every \Deleted message
	if c.Name == "UID EXPUNGE" {
		a := c.Args.(*wire.ExpungeArgs)
		var err error
		if uids, err = s.resolveSet(a.Set, true); err != nil {
			return outcome{}, err
		}
		if len(uids) == 0 {
			return s.expungeOutcome(), nil
		}
	}
	if err := s.mbox.Expunge(uids); err != nil {
		return outcome{}, err
	}
	return s.expungeOutcome(), nil
}

// expungeOutcome is EXPUNGE's tagged OK: with QRESYNC on, it carries the
// mailbox's HIGHESTMODSEQ after the expunge (RFC 7162 §3.2.10, as
// Dovecot sends it), so that a client can bring its cached value up to
// date without another command.
func (s *session) expungeOutcome() outcome {
	if !s.qresync() {
		return outcome{}
	}
	return outcome{code: "HIGHESTMODSEQ " + strconv.FormatUint(s.mbox.HighestModSeq(), 10)}
}

// resolveSet returns the UIDs in the view that set names, ascending: set
// holds UIDs if uid is true, else sequence numbers, for which a number
// beyond the last message is a BAD (RFC 3501 §9, seq-number).
func (s *session) resolveSet(set wire.SeqSet, uid bool) ([]uint32, error) {
	if set.Saved {
		return s.resolveSaved(set, uid)
	}
	view := s.sel.view // read here only; the result is a slice of its own
	if !uid {
		n := uint32(len(view))
		if set.MaxExplicit() > n || (n == 0 && set.HasStar()) {
			return nil, bad("Invalid message sequence number (the mailbox has " + itoa(n) + " messages)")
		}
		ranges := set.Normalize(n)
		total := 0
		for _, r := range ranges {
			total += int(r.Stop-r.Start) + 1
		}
		out := make([]uint32, 0, total)
		for _, r := range ranges {
			out = append(out, view[r.Start-1:r.Stop]...)
		}
		return out, nil
	}
	if len(view) == 0 {
		return nil, nil
	}
	// "*" is the largest UID in use, so "3291:*" includes it even when
	// it is below 3291; larger UIDs do not exist.
	var out []uint32
	for _, r := range set.Normalize(view[len(view)-1]) {
		i := sort.Search(len(view), func(i int) bool { return view[i] >= r.Start })
		for ; i < len(view) && view[i] <= r.Stop; i++ {
			out = append(out, view[i])
		}
	}
	return out, nil
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
