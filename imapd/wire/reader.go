package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
)

// Default limits of a Reader.
const (
	DefaultMaxLine          = 64 << 10 // octets per line, literal bodies not counted
	DefaultMaxLiteral       = 64 << 10 // octets per literal, except APPEND messages
	DefaultMaxAppendLiteral = 64 << 20 // octets per APPEND message literal
	DefaultMaxLiterals      = 256      // literals per command
	// DefaultMaxCommand bounds a whole command, lines and literals: one
	// message of the largest size plus room for a MULTIAPPEND of smaller
	// ones.
	DefaultMaxCommand = DefaultMaxAppendLiteral + 16<<20
	// DefaultMaxDiscard is how many octets of refused non-synchronising
	// literals the Reader reads and throws away to stay in step; past it
	// the refusal is fatal.
	DefaultMaxDiscard = 1 << 20
)

// ReaderOptions are the limits and the continuation hook of a Reader. A
// zero field means its default.
type ReaderOptions struct {
	MaxLine          int
	MaxLiteral       int64
	MaxAppendLiteral int64
	MaxLiterals      int
	// MaxCommand bounds the octets of a command read so far when a literal
	// is announced (the lines read, the literals, and the new literal);
	// the line after the last literal may add MaxLine.
	MaxCommand int64
	MaxDiscard int64

	// Continue is called for each synchronising literal that is within
	// the limits, before its octets are read. It sends the continuation
	// request ("+ Ready", flushed) and returns nil, or refuses the literal
	// by returning an error without writing anything; ReadCommand then
	// returns a *LiteralError wrapping that error, not fatal. If Continue
	// is nil, synchronising literals are refused with ErrNoContinue.
	Continue func(LiteralInfo) error
}

// A Reader reads client commands from a connection. It is not safe for
// concurrent use.
type Reader struct {
	br   *bufio.Reader
	opts ReaderOptions
}

// NewReader returns a Reader of src with the options opts (zero fields
// get the defaults). It buffers 4 KiB of src; a line longer than that is
// assembled piecewise, up to MaxLine.
func NewReader(src io.Reader, opts ReaderOptions) *Reader {
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if opts.MaxLiteral <= 0 {
		opts.MaxLiteral = DefaultMaxLiteral
	}
	if opts.MaxAppendLiteral <= 0 {
		opts.MaxAppendLiteral = DefaultMaxAppendLiteral
	}
	if opts.MaxLiterals <= 0 {
		opts.MaxLiterals = DefaultMaxLiterals
	}
	if opts.MaxCommand <= 0 {
		opts.MaxCommand = DefaultMaxCommand
	}
	if opts.MaxDiscard <= 0 {
		opts.MaxDiscard = DefaultMaxDiscard
	}
	return &Reader{br: bufio.NewReaderSize(src, 4096), opts: opts}
}

// Reset makes the Reader read from src, dropping anything buffered: after
// STARTTLS (octets the client sent before the TLS handshake must not be
// taken as commands) and COMPRESS. Check Buffered first to tell a client
// that pipelined past them.
func (r *Reader) Reset(src io.Reader) { r.br.Reset(src) }

// Buffered returns the number of octets read from the connection but not
// yet consumed.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadLine reads one line without literal processing, for the client's
// lines inside AUTHENTICATE (RFC 3501 §6.2.2) and the DONE that ends IDLE
// (RFC 2177). The line ending (CRLF, or a bare LF) is removed. A line
// longer than MaxLine gives ErrLineTooLong. The slice is the caller's.
func (r *Reader) ReadLine() ([]byte, error) {
	line, err := r.appendLine(nil)
	if err != nil {
		return nil, err
	}
	return line, nil
}

// ReadCommand reads one command: its first line and, for each literal
// announced at the end of a line, the literal's octets and the line that
// follows. The result is what ParseCommand takes: the lines joined by
// CRLF, each literal's octets after its "{n}" CRLF, the final line ending
// removed (a bare LF ending is read as CRLF). The slice is the caller's.
//
// Errors: io.EOF if the connection closed between commands;
// ErrLineTooLong; a *LiteralError when a literal is refused (see its Fatal
// field); other errors of the connection. Use IsFatal to tell whether the
// connection can go on.
func (r *Reader) ReadCommand() ([]byte, error) {
	var cmd []byte
	var info LiteralInfo
	for {
		lineStart := len(cmd)
		var err error
		if cmd, err = r.appendLine(cmd); err != nil {
			if errors.Is(err, io.EOF) && lineStart > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		line := cmd[lineStart:]
		if lineStart == 0 {
			info.Tag, info.Name = commandName(line)
		}
		ann, ok := literalSuffix(line)
		if !ok {
			return cmd, nil
		}
		if lineStart > 0 {
			info.Index++ // every line but the first follows a literal
		}
		info.Size, info.Sync, info.Binary = ann.size, ann.sync, ann.binary
		info.Message = info.Name == "APPEND" && !(info.Index == 0 && isFirstArg(line, ann.start))
		if err := r.check(info, int64(len(cmd))); err != nil {
			if !info.Sync {
				err.Fatal = !r.skipRest(info)
			}
			return nil, err
		}
		cmd = append(cmd, '\r', '\n')
		if cmd, err = r.appendLiteral(cmd, info.Size); err != nil {
			return nil, err
		}
	}
}

// check applies the limits to a literal about to be read, and for a
// synchronising one asks Continue. cmdLen is the command's length so far.
func (r *Reader) check(info LiteralInfo, cmdLen int64) *LiteralError {
	limit := r.opts.MaxLiteral
	if info.Message {
		limit = r.opts.MaxAppendLiteral
	}
	switch {
	case info.Index >= r.opts.MaxLiterals:
		return &LiteralError{Literal: info, Err: ErrTooManyLiterals, Limit: int64(r.opts.MaxLiterals)}
	case info.Size > limit:
		return &LiteralError{Literal: info, Err: ErrLiteralTooLarge, Limit: limit}
	case info.Size > r.opts.MaxCommand-cmdLen:
		return &LiteralError{Literal: info, Err: ErrCommandTooLarge, Limit: r.opts.MaxCommand}
	}
	if !info.Sync {
		return nil
	}
	if r.opts.Continue == nil {
		return &LiteralError{Literal: info, Err: ErrNoContinue}
	}
	if err := r.opts.Continue(info); err != nil {
		return &LiteralError{Literal: info, Err: err}
	}
	return nil
}

// appendLine appends the next line to dst without its ending, reading at
// most MaxLine octets of it.
func (r *Reader) appendLine(dst []byte) ([]byte, error) {
	start := len(dst)
	for {
		frag, err := r.br.ReadSlice('\n')
		dst = append(dst, frag...)
		switch {
		case err == nil:
			dst = dst[:len(dst)-1] // LF
			if len(dst) > start && dst[len(dst)-1] == '\r' {
				dst = dst[:len(dst)-1]
			}
			if len(dst)-start > r.opts.MaxLine {
				return nil, ErrLineTooLong
			}
			return dst, nil
		case errors.Is(err, bufio.ErrBufferFull):
			// One octet over MaxLine may be the CR of the line ending.
			if len(dst)-start > r.opts.MaxLine+1 {
				return nil, ErrLineTooLong
			}
		case errors.Is(err, io.EOF) && len(dst) > start:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// appendLiteral appends n octets to dst, growing it as the octets arrive
// rather than all at once, so that an announced size costs no memory
// until the client sends the data.
func (r *Reader) appendLiteral(dst []byte, n int64) ([]byte, error) {
	const chunk = 64 << 10
	for n > 0 {
		c := int(min(n, chunk))
		dst = slices.Grow(dst, c)
		got, err := io.ReadFull(r.br, dst[len(dst):len(dst)+c])
		dst = dst[:len(dst)+got]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n -= int64(c)
	}
	return dst, nil
}

// skipRest reads and throws away a refused non-synchronising literal and
// the rest of its command, so that the next read starts a new command. It
// gives up (returns false: the connection is out of step) when the
// literals to skip exceed MaxDiscard or MaxLiterals, or a line is too
// long. It stops after a line that ends without a literal, or with a
// synchronising one (the client waits for "+" and will get the tagged
// response instead).
func (r *Reader) skipRest(info LiteralInfo) bool {
	budget := r.opts.MaxDiscard
	size, index := info.Size, info.Index
	var line []byte
	for {
		if size > budget {
			return false
		}
		budget -= size
		if _, err := r.br.Discard(int(size)); err != nil {
			return false
		}
		var err error
		if line, err = r.appendLine(line[:0]); err != nil {
			return false
		}
		ann, ok := literalSuffix(line)
		if !ok || ann.sync {
			return true
		}
		if index++; index >= r.opts.MaxLiterals {
			return false
		}
		size = ann.size
	}
}

// IsDone reports whether line (from ReadLine) is the DONE that ends IDLE
// (RFC 2177 §3; case-insensitive like every keyword).
func IsDone(line []byte) bool { return len(line) == 4 && string(bytes.ToUpper(line)) == "DONE" }

// IsSASLCancel reports whether line (from ReadLine during AUTHENTICATE)
// is "*", the client cancelling the exchange (RFC 3501 §6.2.2); the
// server answers "tag BAD".
func IsSASLCancel(line []byte) bool { return len(line) == 1 && line[0] == '*' }
