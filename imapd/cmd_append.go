package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// cmdAppend is RFC 3501 §6.3.11 with UIDPLUS's APPENDUID (RFC 4315).
// The message is stored as sent; a missing mailbox gets NO [TRYCREATE].
// If the mailbox is the selected one, the new message reaches the
// client as EXISTS through the dispatcher's flush.
//
// The message literal is streamed (wire.Reader.Pending): everything that
// can refuse the command is checked before the continuation request goes
// out (RFC 3501 §7.5 lets NO replace "+"), then the octets go straight
// into the folder's tmp/ as they arrive, so a message of any size costs
// a buffer. A refused literal is left to the command loop, which throws
// it away or, if it is too large for that, closes the connection.
func cmdAppend(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.AppendArgs)
	m := a.Message
	size := int64(len(m.Data))
	if m.Streamed {
		size = m.Size
	}
	if size > s.srv.opts.Limits.MaxAppend {
		return outcome{}, no("TOOBIG", fmt.Sprintf("Message too big (limit %d octets)", s.srv.opts.Limits.MaxAppend))
	}
	name, err := mailboxName(a.Mailbox)
	if err != nil {
		return outcome{}, err
	}
	var opts maildir.AppendOptions
	if opts.Flags, opts.Keywords, err = splitFlags(m.Flags); err != nil {
		return outcome{}, err
	}
	opts.Date = m.Date
	if !m.Streamed {
		if m.Binary && bytes.IndexByte(m.Data, 0) >= 0 {
			return outcome{}, no("UNKNOWN-CTE", "Messages with NUL octets cannot be stored")
		}
		return s.appendFrom(name, bytes.NewReader(m.Data), opts)
	}
	// Refusals that need no octet of the message come before "+".
	if _, err := s.store.FolderDir(name); err != nil {
		return outcome{}, err
	}
	lit := s.r.Pending()
	if err := lit.Accept(); err != nil {
		return outcome{}, err
	}
	src := &literalSource{lit: lit, binary: m.Binary}
	out, err := s.appendFrom(name, src, opts)
	if src.err != nil {
		// The client's octets decided it, not the store: a NUL, a
		// syntax error after the message, or the connection gone.
		if wire.IsFatal(src.err) {
			s.log.Info("APPEND cut short", "err", src.err)
			s.bye("Connection out of step, closing")
			return closed, nil
		}
		return outcome{}, src.result()
	}
	return out, err
}

// appendFrom stores the message r reads in the folder name.
func (s *session) appendFrom(name string, r io.Reader, opts maildir.AppendOptions) (outcome, error) {
	res, err := s.store.Append(name, r, opts)
	if err != nil {
		return outcome{}, err
	}
	// An append to the selected folder reaches this session as it does
	// every other one holding the folder: the store's update hands the
	// new message to each (Poll), with no refresh needed here.
	return outcome{code: fmt.Sprintf("APPENDUID %d %d", res.UIDValidity, res.UID)}, nil
}

// literalSource reads a streamed APPEND message for the store, refusing
// NUL where the literal may not carry it, and keeps the first error that
// was not the message's end: the store then removes its tmp/ file, and
// the command's answer is made from that error.
type literalSource struct {
	lit    *wire.Literal
	binary bool  // literal8: NUL allowed by the syntax, refused by us
	err    error // the first error other than io.EOF
}

// errNUL stops a message that holds NUL.
var errNUL = errors.New("message holds NUL")

func (l *literalSource) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.lit.Read(p)
	if i := bytes.IndexByte(p[:n], 0); i >= 0 {
		l.err = errNUL
		return i, l.err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		l.err = err
	}
	return n, err
}

// result is the command's outcome after the message's octets failed it.
func (l *literalSource) result() error {
	switch {
	case errors.Is(l.err, errNUL) && l.binary:
		return no("UNKNOWN-CTE", "Messages with NUL octets cannot be stored")
	case errors.Is(l.err, errNUL):
		return bad("APPEND: the message contains NUL, which only a literal8 (~{n}) may carry")
	}
	return l.err
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
