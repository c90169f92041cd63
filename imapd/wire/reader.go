package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"
)

// Default limits of a Reader.
const (
	DefaultMaxLine          = 64 << 10 // octets per line, literal bodies not counted
	DefaultMaxLiteral       = 64 << 10 // octets per literal, except APPEND messages
	DefaultMaxAppendLiteral = 64 << 20 // octets per APPEND message literal
	DefaultMaxLiterals      = 256      // literals per command
	// DefaultMaxCommand bounds a whole command, lines and literals: one
	// message of the largest size plus room for the rest.
	DefaultMaxCommand = DefaultMaxAppendLiteral + 16<<20
	// DefaultMaxDiscard is how many octets of refused non-synchronising
	// literals the Reader reads and throws away to stay in step; past it
	// the refusal is fatal.
	DefaultMaxDiscard = 1 << 20
)

// Limits are the bounds a Reader applies to what the client sends. A
// zero field means its default. A server changes them with SetLimits as
// the connection's state changes (small before login, larger after).
type Limits struct {
	MaxLine          int
	MaxLiteral       int64
	MaxAppendLiteral int64
	MaxLiterals      int
	// MaxCommand bounds the octets of a command read so far when a literal
	// is announced (the lines read, the literals, and the new literal);
	// the line after the last literal may add MaxLine. A streamed APPEND
	// message (ReaderOptions.StreamMessages) is not counted: it never
	// sits in memory.
	MaxCommand int64
	// MaxDiscard is how many octets of a refused non-synchronising
	// literal (and of the rest of its command) are read and thrown away
	// to stay in step; past it the refusal is fatal.
	MaxDiscard int64
}

// withDefaults returns l with zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxLiteral <= 0 {
		l.MaxLiteral = DefaultMaxLiteral
	}
	if l.MaxAppendLiteral <= 0 {
		l.MaxAppendLiteral = DefaultMaxAppendLiteral
	}
	if l.MaxLiterals <= 0 {
		l.MaxLiterals = DefaultMaxLiterals
	}
	if l.MaxCommand <= 0 {
		l.MaxCommand = DefaultMaxCommand
	}
	if l.MaxDiscard <= 0 {
		l.MaxDiscard = DefaultMaxDiscard
	}
	return l
}

// ReaderOptions are the limits and the continuation hook of a Reader.
type ReaderOptions struct {
	Limits

	// StreamMessages makes ReadCommand stop at the message literal of an
	// APPEND instead of reading it into memory: it returns the command up
	// to the literal's announcement, and Pending returns the literal, for
	// the command's handler to accept and read as a stream (or refuse).
	// MaxAppendLiteral is then the handler's to apply.
	StreamMessages bool

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
	// br buffers src; nil after Idle, until the next read (in).
	br   *bufio.Reader
	src  io.Reader
	opts ReaderOptions
	// pending is the streamed message literal the last ReadCommand
	// stopped at, until it is read to its end or refused.
	pending *Literal
}

// NewReader returns a Reader of src with the options opts (zero fields
// get the defaults). It buffers 4 KiB of src; a line longer than that is
// assembled piecewise, up to MaxLine.
func NewReader(src io.Reader, opts ReaderOptions) *Reader {
	opts.Limits = opts.Limits.withDefaults()
	return &Reader{src: src, opts: opts}
}

// readBuffers are the Readers' buffers, given back by Idle.
var readBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// in is the buffer to read through, taken from the pool if Idle gave it
// back.
func (r *Reader) in() *bufio.Reader {
	if r.br == nil {
		r.br = readBuffers.Get().(*bufio.Reader)
		r.br.Reset(r.src)
	}
	return r.br
}

// Idle gives back the Reader's buffer if it holds nothing unread, while
// the connection waits for its client: an idle connection then holds no
// buffer. The next read takes one again.
func (r *Reader) Idle() {
	if r.br == nil || r.br.Buffered() > 0 || r.pending != nil {
		return
	}
	r.br.Reset(nil)
	readBuffers.Put(r.br)
	r.br = nil
}

// SetLimits replaces the Reader's limits (zero fields: the defaults),
// from the next command on.
func (r *Reader) SetLimits(l Limits) { r.opts.Limits = l.withDefaults() }

// Reset makes the Reader read from src, dropping anything buffered: after
// STARTTLS (octets the client sent before the TLS handshake must not be
// taken as commands) and COMPRESS. Check Buffered first to tell a client
// that pipelined past them.
func (r *Reader) Reset(src io.Reader) {
	r.src = src
	if r.br != nil {
		r.br.Reset(src)
	}
}

// Buffered returns the number of octets read from the connection but not
// yet consumed.
func (r *Reader) Buffered() int {
	n := 0
	if p, ok := r.src.(*prefixReader); ok {
		n = len(p.b)
	}
	if r.br == nil {
		return n
	}
	return n + r.br.Buffered()
}

// Push makes b the Reader's next input, before what it holds and what
// the connection sends next: commands read by another process (or given
// back by a hand-over that failed). Buffered counts them.
func (r *Reader) Push(b []byte) {
	if len(b) == 0 {
		return
	}
	if r.br != nil && r.br.Buffered() > 0 {
		held, _ := r.br.Peek(r.br.Buffered())
		b = append(b[:len(b):len(b)], held...)
	}
	src := r.src
	if p, ok := src.(*prefixReader); ok {
		b, src = append(b[:len(b):len(b)], p.b...), p.src
	}
	r.Reset(&prefixReader{b: b, src: src})
}

// prefixReader reads b, then src.
type prefixReader struct {
	b   []byte
	src io.Reader
}

func (p *prefixReader) Read(dst []byte) (int, error) {
	if len(p.b) == 0 {
		return p.src.Read(dst)
	}
	n := copy(dst, p.b)
	p.b = p.b[n:]
	return n, nil
}

// Drain consumes and returns what was read from the connection but not
// yet consumed: the commands a client pipelined behind the one that hands
// its connection to another process (imapd.Handoff).
func (r *Reader) Drain() []byte {
	if r.br == nil {
		return nil
	}
	b, _ := r.br.Peek(r.br.Buffered())
	b = bytes.Clone(b)
	r.br.Discard(len(b))
	return b
}

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
// With StreamMessages, ReadCommand stops at an APPEND message literal: the
// result ends with its announcement ("{n}", no CRLF) and Pending returns
// the literal. If the previous command's literal is still pending,
// ReadCommand refuses it first (Literal.Refuse).
//
// Errors: io.EOF if the connection closed between commands; a
// *LineError when a line is longer than MaxLine (not fatal if the rest
// of the line could be read and thrown away); a *LiteralError when a
// literal is refused (see its Fatal field); other errors of the
// connection. Use IsFatal to tell whether the connection can go on.
func (r *Reader) ReadCommand() ([]byte, error) {
	if r.pending != nil {
		if err := r.pending.Refuse(); err != nil {
			return nil, err
		}
	}
	var cmd []byte
	var info LiteralInfo
	for {
		lineStart := len(cmd)
		var err error
		if cmd, err = r.appendLine(cmd); err != nil {
			if errors.Is(err, io.EOF) && lineStart > 0 {
				err = io.ErrUnexpectedEOF
			}
			var le *LineError
			if errors.As(err, &le) {
				le.Tag = info.Tag
				if lineStart == 0 {
					le.Tag, _ = commandName(le.head)
				}
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
		if info.Message && r.opts.StreamMessages && info.Index < r.opts.MaxLiterals {
			r.pending = &Literal{r: r, Info: info, left: info.Size}
			return cmd, nil
		}
		if err := r.check(info, int64(len(cmd))); err != nil {
			if !info.Sync {
				err.Fatal = !r.skipRest(info, r.opts.MaxDiscard)
			}
			return nil, err
		}
		cmd = append(cmd, '\r', '\n')
		if cmd, err = r.appendLiteral(cmd, info.Size); err != nil {
			return nil, err
		}
	}
}

// Pending returns the APPEND message literal the last ReadCommand stopped
// at (StreamMessages), or nil. It stays pending until it has been read to
// its end or refused.
func (r *Reader) Pending() *Literal { return r.pending }

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
// most MaxLine octets of it. A longer line is read to its end and thrown
// away (see discardLine), and a *LineError returned.
func (r *Reader) appendLine(dst []byte) ([]byte, error) {
	start := len(dst)
	for {
		frag, err := r.in().ReadSlice('\n')
		dst = append(dst, frag...)
		switch {
		case err == nil:
			dst = dst[:len(dst)-1] // LF
			if len(dst) > start && dst[len(dst)-1] == '\r' {
				dst = dst[:len(dst)-1]
			}
			if len(dst)-start > r.opts.MaxLine {
				return nil, r.lineTooLong(dst[start:], true)
			}
			return dst, nil
		case errors.Is(err, bufio.ErrBufferFull):
			// One octet over MaxLine may be the CR of the line ending.
			if len(dst)-start > r.opts.MaxLine+1 {
				return nil, r.lineTooLong(dst[start:], false)
			}
		case errors.Is(err, io.EOF) && len(dst) > start:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// lineTooLong makes the error for a line over MaxLine, of which line is
// what was read (all of it if ended). Unless ended, the rest of the line
// is read and thrown away, up to MaxLineDiscard octets; and if the line
// announced a non-synchronising literal, that literal and the rest of
// its command too, within MaxDiscard. The error is fatal when either
// cannot be done: the connection is then out of step.
func (r *Reader) lineTooLong(line []byte, ended bool) *LineError {
	le := &LineError{Limit: r.opts.MaxLine, head: bytes.Clone(line[:min(len(line), 256)])}
	tail := line[max(0, len(line)-maxAnnouncement):]
	if !ended {
		var ok bool
		if tail, ok = r.discardLine(tail, maxLineDiscard(r.opts.MaxLine)); !ok {
			le.Fatal = true
			return le
		}
	}
	if ann, ok := literalSuffix(tail); ok && !ann.sync {
		le.Fatal = !r.skipRest(LiteralInfo{Size: ann.size}, r.opts.MaxDiscard)
	}
	return le
}

// maxAnnouncement is the most octets a literal announcement at the end of
// a line can take ("~{" 19 digits "+}"), with room to spare.
const maxAnnouncement = 32

// maxLineDiscard is how much of an overlong line is read and thrown away
// before the connection is given up: sixteen times the line limit.
func maxLineDiscard(maxLine int) int64 { return 16 * int64(maxLine) }

// discardLine reads the rest of a line and throws it away, at most budget
// octets, keeping only its last octets (after tail, what was read of it
// before), without the line ending. false: the budget ran out, or the
// connection failed.
func (r *Reader) discardLine(tail []byte, budget int64) ([]byte, bool) {
	keep := bytes.Clone(tail)
	for budget > 0 {
		frag, err := r.in().ReadSlice('\n')
		budget -= int64(len(frag))
		keep = append(keep, frag...)
		keep = keep[max(0, len(keep)-maxAnnouncement-2):]
		switch {
		case err == nil:
			keep = bytes.TrimSuffix(bytes.TrimSuffix(keep, []byte("\n")), []byte("\r"))
			return keep, true
		case errors.Is(err, bufio.ErrBufferFull):
		default:
			return nil, false
		}
	}
	return nil, false
}

// appendLiteral appends n octets to dst, growing it as the octets arrive
// rather than all at once, so that an announced size costs no memory
// until the client sends the data.
func (r *Reader) appendLiteral(dst []byte, n int64) ([]byte, error) {
	const chunk = 64 << 10
	for n > 0 {
		c := int(min(n, chunk))
		dst = slices.Grow(dst, c)
		got, err := io.ReadFull(r.in(), dst[len(dst):len(dst)+c])
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
// the rest of its command, at most budget octets of literals, so that the next read starts a new command. It
// gives up (returns false: the connection is out of step) when the
// literals to skip exceed MaxDiscard or MaxLiterals, or a line is too
// long. It stops after a line that ends without a literal, or with a
// synchronising one (the client waits for "+" and will get the tagged
// response instead).
func (r *Reader) skipRest(info LiteralInfo, budget int64) bool {
	size, index := info.Size, info.Index
	var line []byte
	for {
		if size > budget {
			return false
		}
		budget -= size
		if _, err := r.in().Discard(int(size)); err != nil {
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
