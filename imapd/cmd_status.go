package imapd

import (
	"slices"

	"imapd/imapd/wire"
)

// cmdStatus is RFC 3501 §6.3.10, with SIZE (RFC 8438) and APPENDLIMIT
// (RFC 7889) answered when asked.
func cmdStatus(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.StatusArgs)
	name, err := mailboxName(a.Mailbox)
	if err != nil {
		return outcome{}, err
	}
	s.checkStatusItems(a.Items)
	return outcome{}, s.writeStatus(name, a.Items)
}

// checkStatusItems prepares the status items of STATUS and LIST ...
// RETURN (STATUS ...) (RFC 5819): HIGHESTMODSEQ is CONDSTORE-enabling
// (RFC 7162 §3.1).
func (s *session) checkStatusItems(items []wire.StatusItem) {
	if slices.Contains(items, wire.StatusHighestModSeq) {
		s.condStoreCommand()
	}
}

// writeStatus sends the STATUS response on the folder name with items,
// for STATUS and for LIST's RETURN (STATUS ...) (RFC 5819).
func (s *session) writeStatus(name string, items []wire.StatusItem) error {
	st, err := s.store.Status(name)
	if err != nil {
		return err
	}
	var size int64
	if slices.Contains(items, wire.StatusSize) {
		if size, err = s.store.Size(name); err != nil {
			return err
		}
	}
	s.w.Untagged().Raw("STATUS ").MailboxUTF8(canonicalPattern(name)).Raw(" (")
	for i, it := range items {
		if i > 0 {
			s.w.SP()
		}
		s.w.Atom(string(it)).SP()
		switch it {
		case wire.StatusMessages:
			s.w.Number(st.Messages)
		case wire.StatusRecent:
			s.w.Number(st.Recent)
		case wire.StatusUIDNext:
			s.w.Number(st.UIDNext)
		case wire.StatusUIDValidity:
			s.w.Number(st.UIDValidity)
		case wire.StatusUnseen:
			s.w.Number(st.Unseen)
		case wire.StatusHighestModSeq:
			s.w.Number64(st.HighestModSeq)
		case wire.StatusSize:
			s.w.Number64(uint64(size))
		case wire.StatusAppendLimit:
			s.w.Number64(uint64(s.srv.opts.Limits.MaxAppend))
		}
	}
	s.w.Raw(")").CRLF()
	return nil
}
