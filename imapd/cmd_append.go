package imapd

import (
	"bytes"
	"fmt"
	"strings"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// cmdAppend is RFC 3501 §6.3.11 with UIDPLUS's APPENDUID (RFC 4315).
// The message is stored as sent; a missing mailbox gets NO [TRYCREATE].
// If the mailbox is the selected one, the new message reaches the
// client as EXISTS through the dispatcher's flush.
func cmdAppend(s *session, c *wire.Command) error {
	a := c.Args.(*wire.AppendArgs)
	if len(a.Messages) != 1 {
		return bad("APPEND takes one message (MULTIAPPEND is not supported)")
	}
	m := a.Messages[0]
	name, err := mailboxName(a.Mailbox)
	if err != nil {
		return err
	}
	if m.Binary && bytes.IndexByte(m.Data, 0) >= 0 {
		return no("UNKNOWN-CTE", "Messages with NUL octets cannot be stored")
	}
	if int64(len(m.Data)) > s.srv.opts.Limits.MaxAppend {
		return no("TOOBIG", fmt.Sprintf("Message too big (limit %d octets)", s.srv.opts.Limits.MaxAppend))
	}
	var opts maildir.AppendOptions
	if opts.Flags, opts.Keywords, err = splitFlags(m.Flags); err != nil {
		return err
	}
	opts.Date = m.Date
	res, err := s.store.Append(name, bytes.NewReader(m.Data), opts)
	if err != nil {
		return err
	}
	// An append to the selected folder reaches this session as it does
	// every other one holding the folder: the store's update hands the
	// new message to each (Poll), with no refresh needed here.
	s.okText = fmt.Sprintf("[APPENDUID %d %d] APPEND completed", res.UIDValidity, res.UID)
	return nil
}

// splitFlags separates system flags (and $Forwarded) from keywords. A
// flag starting with a backslash that RFC 3501 §2.3.2 does not define is
// refused with BAD, as Dovecot does: "\*" in PERMANENTFLAGS allows new
// keywords, never new system flags. (\Recent never gets here: the
// parser refuses it.)
func splitFlags(names []string) (maildir.Flags, []string, error) {
	var flags maildir.Flags
	var kws []string
	for _, n := range names {
		switch f := maildir.ParseFlag(n); {
		case f != 0:
			flags |= f
		case strings.HasPrefix(n, `\`):
			return 0, nil, bad("Invalid system flag " + n)
		default:
			kws = append(kws, n)
		}
	}
	return flags, kws, nil
}
