package imapd

import (
	"strings"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// dispatch runs a parsed command: the state check, the handler, the
// untagged updates the command may carry, the tagged response. The parser
// knows only the commands of the table (grammarOf), so c.Name is one.
func (s *session) dispatch(c *wire.Command) {
	spec := commands[c.Name]
	if s.refuse(c, spec) {
		return
	}
	if s.sel != nil {
		// What changed meanwhile is known before the command looks at
		// the folder (a message expunged by another session is then
		// answered from its last metadata); it is told after.
		s.sel.feed(s.mbox.Changes())
	}
	out, err := spec.fn(s, c)
	s.finish(c, spec, out, err)
}

// refuse answers a command that cannot run now, and says so: BAD in the
// wrong state, BYE when the selected folder is gone. Like finish, out of
// dispatch's frame, which a session waiting in IDLE keeps on its stack
// (see greet).
func (s *session) refuse(c *wire.Command, spec *command) bool {
	if spec.states&s.state == 0 {
		s.w.Status(c.Tag, "BAD", "", wrongState(spec.states, s.state, c.Name))
		return true
	}
	if s.mbox != nil && c.Name != "LOGOUT" && s.mbox.Gone() {
		// The selected folder was deleted or renamed by someone else:
		// nothing the client believes about it holds any more. Dovecot
		// ends the session the same way.
		s.log.Info("selected folder removed", "folder", s.mbox.Name())
		s.bye("Selected mailbox was deleted, have to disconnect")
		s.state = stateLogout
		return true
	}
	return false
}

// finish ends a command that ran: changes told, the tagged response,
// BYE or the end of the session as its outcome says.
func (s *session) finish(c *wire.Command, spec *command, out outcome, err error) {
	if !out.end.sent() {
		if s.sel != nil && !out.end.logout() {
			s.flushUpdates(!spec.holdExpunge || c.UID())
		}
		s.respond(c, spec, out, err)
	}
	if out.bye != "" {
		s.w.Status("", "BYE", "", out.bye)
	}
	if out.end.logout() || out.bye != "" {
		s.state = stateLogout
	}
}

// respond writes the tagged response of a command: OK with the outcome's
// code and text, or what the error deserves.
func (s *session) respond(c *wire.Command, spec *command, out outcome, err error) {
	if err != nil {
		s.respondError(c, spec.target, err)
		return
	}
	text := out.text
	if text == "" {
		text = c.Name + " completed"
	}
	s.w.Status(c.Tag, "OK", out.code, text)
}

// wrongState is the text of the BAD for a command sent in a state it is
// not valid in (RFC 3501 §3): it says what the client must do first.
func wrongState(allowed, now state, name string) string {
	switch {
	case now == stateNotAuth:
		return name + ": log in first"
	case allowed == stateNotAuth:
		return name + ": already logged in"
	case allowed == stateSelected:
		return name + ": no mailbox selected"
	}
	return name + " is not allowed now"
}

// flushUpdates tells the client what changed in the selected mailbox
// since it was last told, by anyone (this session included): the store's
// changes go through the tracker, which decides what may go out now and
// in which order (tracker.go): EXPUNGE (VANISHED once QRESYNC is on)
// only if allowExpunge, EXISTS and RECENT, and FETCH FLAGS for flags
// changed by others (with UID and MODSEQ as CONDSTORE and QRESYNC want),
// each after a new FLAGS response if it carries a keyword the client
// does not know. A session's own STORE is answered by STORE itself.
func (s *session) flushUpdates(allowExpunge bool) {
	s.sel.feed(s.mbox.Changes())
	if n := s.sel.dropped; n > 0 {
		s.sel.dropped = 0
		s.log.Warn("new messages with UIDs below announced ones were not announced", "folder", s.mbox.Name(), "count", n)
	}
	ups := s.sel.flush(allowExpunge, s.updScratch[:0])
	s.updScratch = ups[:0]
	for _, u := range ups {
		switch u.kind {
		case updExpunge:
			s.w.Untagged().Number(u.seq).Raw(" EXPUNGE").CRLF()
		case updVanished:
			s.writeVanished(wire.SeqSetOf(u.uids), false)
		case updExists:
			s.w.Untagged().Number(u.seq).Raw(" EXISTS").CRLF()
			s.w.Untagged().Number(s.mbox.RecentCount(s.sel.view)).Raw(" RECENT").CRLF()
		case updFlags:
			msg := s.mbox.Message(u.uid)
			if msg.Expunged {
				continue // its EXPUNGE comes
			}
			s.announceKeywords(msg)
			s.w.Untagged().Number(u.seq).Raw(" FETCH (FLAGS ").Flags(s.flagList(msg))
			s.writeModSeqItems(msg, false)
			s.w.Raw(")").CRLF()
		}
	}
}

// appendFlagNames appends a message's flags as IMAP names: system flags,
// keywords, \Recent.
func appendFlagNames(dst []string, m maildir.Message) []string {
	dst = m.Flags.AppendNames(dst)
	dst = append(dst, m.Keywords...)
	if m.Recent {
		dst = append(dst, `\Recent`)
	}
	return dst
}

// flagList is appendFlagNames into the session's scratch slice, valid until the
// next call: a FETCH of every message builds no list per message.
func (s *session) flagList(m maildir.Message) []string {
	s.flagScratch = appendFlagNames(s.flagScratch[:0], m)
	return s.flagScratch
}

// mailboxName decodes a mailbox name from the client (modified UTF-7)
// into the store's UTF-8 form.
func mailboxName(m wire.Mailbox) (string, error) {
	name, err := m.UTF8()
	if err != nil {
		return "", no("CANNOT", "Mailbox name is not valid modified UTF-7")
	}
	if strings.ContainsRune(name, rune(0)) {
		return "", no("CANNOT", "Invalid mailbox name")
	}
	return name, nil
}
