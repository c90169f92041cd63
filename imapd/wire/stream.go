package wire

import (
	"errors"
	"io"
)

// A Literal is an APPEND message literal that ReadCommand stopped at
// (ReaderOptions.StreamMessages): its octets are still on the connection,
// so that a message of any size costs the server a buffer, not its size.
// The command's handler checks what it can (state, size, the mailbox),
// then either accepts the literal (Accept sends the continuation request
// of a synchronising one) and reads it as a stream to its end, or refuses
// it (Refuse). The Reader refuses a literal still pending at the next
// ReadCommand.
type Literal struct {
	// Info is the literal's announcement: size, synchronising or not,
	// literal8 or not.
	Info LiteralInfo

	r        *Reader
	left     int64 // octets not yet read
	accepted bool  // Accept was called
	err      error // sticky: the end (io.EOF) or what went wrong
}

// Accept takes the literal: for a synchronising one it sends the
// continuation request through ReaderOptions.Continue. After Accept the
// client sends the octets, and they must be read (Read) or thrown away
// (Refuse).
func (l *Literal) Accept() error {
	if l.accepted {
		return nil
	}
	if l.Info.Sync {
		if l.r.opts.Continue == nil {
			return ErrNoContinue
		}
		if err := l.r.opts.Continue(l.Info); err != nil {
			return err
		}
	}
	l.accepted = true
	return nil
}

// Read reads the literal's octets; call Accept first. After the last
// octet it reads the rest of the command's line and returns io.EOF if it
// is empty (the command is complete). Anything else there, another
// message included (MULTIAPPEND, which no command serves), is a
// *SyntaxError, with the rest of the command read and thrown away (a
// fatal *LiteralError if it could not be). Errors of the connection come back
// as they are (io.ErrUnexpectedEOF for a connection closed inside the
// literal). The first error sticks.
func (l *Literal) Read(p []byte) (int, error) {
	switch {
	case l.err != nil:
		return 0, l.err
	case !l.accepted:
		return 0, errors.New("wire: Literal.Read before Accept")
	case l.left == 0:
		l.err = l.finish()
		return 0, l.err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.in().Read(p)
	l.left -= int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		l.err = err
		l.r.pending = nil
	}
	return n, err
}

// finish reads the line after the literal, which ends the command.
func (l *Literal) finish() error {
	l.r.pending = nil
	line, err := l.r.appendLine(nil)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if len(line) == 0 {
		return io.EOF
	}
	ann, ok := literalSuffix(line)
	if ok && !ann.sync {
		info := l.Info
		info.Index++
		info.Size, info.Sync, info.Binary = ann.size, false, ann.binary
		if !l.r.skipRest(info, l.r.opts.MaxDiscard) {
			return &LiteralError{Literal: info, Err: ErrLiteralTooLarge, Limit: l.r.opts.MaxDiscard, Fatal: true}
		}
	}
	return &SyntaxError{Tag: l.Info.Tag, Name: l.Info.Name,
		Msg: l.Info.Name + ": expected the end of the command after the message, found " + quoteInput(line)}
}

// Refuse gives the literal up: a synchronising one that was not accepted
// was never sent, so nothing is read; otherwise what is left of its
// octets, and of its command, is read and thrown away, within MaxDiscard.
// The error, a fatal *LiteralError, says that could not be done (or the
// connection failed): send BYE and close. Refusing a literal read to its
// end does nothing.
func (l *Literal) Refuse() error {
	if l.r.pending == l {
		l.r.pending = nil
	}
	if l.err != nil {
		if IsFatal(l.err) && !errors.Is(l.err, io.EOF) {
			return l.err
		}
		return nil
	}
	if l.Info.Sync && !l.accepted {
		l.err = ErrLiteralRefused
		return nil
	}
	if !l.r.skipRest(LiteralInfo{Size: l.left, Index: l.Info.Index}, l.r.opts.MaxDiscard) {
		l.err = &LiteralError{Literal: l.Info, Err: ErrLiteralTooLarge, Limit: l.r.opts.MaxDiscard, Fatal: true}
		return l.err
	}
	l.err = ErrLiteralRefused
	return nil
}

// ErrLiteralRefused is what a Literal's Read returns after Refuse.
var ErrLiteralRefused error = &LiteralError{Err: errors.New("literal refused")}
