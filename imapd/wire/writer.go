package wire

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"imapd/internal/mutf7"
)

// A Writer encodes server responses. Its methods chain; the first write
// error is kept, later writes do nothing, and the error is returned by
// CRLF, Flush and Err. Nothing reaches the network until Flush (or until
// the buffer fills).
//
// Tokens are not separated automatically: call SP between them, as the
// grammar has no space in places such as BODY[1]<0> or [UIDNEXT 4].
type Writer struct {
	dst io.Writer
	// bw is small, or a large one from bigBuffers after Grow, or nil
	// after Idle (out takes a small one again).
	bw    *bufio.Writer
	small *bufio.Writer
	err   error
	num   [20]byte
	bads  int // "BAD" status responses written
}

// smallBuffer is a Writer's own buffer: 4 KiB keeps an idle connection
// small. bigBuffer is lent by Grow for a long response.
const (
	smallBuffer = 4 << 10
	bigBuffer   = 64 << 10
)

var (
	bigBuffers   = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bigBuffer) }}
	smallBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, smallBuffer) }}
)

// NewWriter returns a Writer that buffers output to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{dst: w}
}

// Reset discards any unflushed output and the sticky error, and makes the
// Writer write to w: for STARTTLS and COMPRESS, after flushing the tagged
// OK.
func (w *Writer) Reset(dst io.Writer) {
	w.release()
	if w.small != nil {
		w.small.Reset(dst)
	}
	w.dst, w.err = dst, nil
}

// Idle gives back the Writer's buffer, if all it held has been flushed,
// while the connection waits for its client: an idle connection then
// holds no buffer. The next write takes one again.
func (w *Writer) Idle() {
	if w.small == nil || w.bw != w.small || w.small.Buffered() > 0 {
		return
	}
	w.small.Reset(nil)
	smallBuffers.Put(w.small)
	w.small, w.bw = nil, nil
}

// out is the buffer to write to, taken from the pool after Idle.
func (w *Writer) out() *bufio.Writer {
	if w.bw == nil {
		w.small = smallBuffers.Get().(*bufio.Writer)
		w.small.Reset(w.dst)
		w.bw = w.small
	}
	return w.bw
}

// Grow lends the Writer a large buffer until the next Flush, for a
// response of many lines (FETCH 1:*): the output then reaches the
// network in large writes, while an idle connection keeps only its small
// buffer.
func (w *Writer) Grow() {
	if w.bw != w.small || w.err != nil {
		return
	}
	if w.err = w.out().Flush(); w.err != nil {
		return
	}
	big := bigBuffers.Get().(*bufio.Writer)
	big.Reset(w.dst)
	w.bw = big
}

// release gives back the large buffer, unflushed output and all.
func (w *Writer) release() {
	if w.bw != w.small {
		w.bw.Reset(nil)
		bigBuffers.Put(w.bw)
		w.bw = w.small
	}
}

// Err returns the first write error, if any.
func (w *Writer) Err() error { return w.err }

// Flush writes buffered output to the underlying writer and returns the
// first error of the Writer.
func (w *Writer) Flush() error {
	if w.err == nil && w.bw != nil {
		w.err = w.bw.Flush()
	}
	w.release()
	return w.err
}

// CRLF ends a response line and returns the first error of the Writer. It
// does not flush.
func (w *Writer) CRLF() error {
	w.Raw("\r\n")
	return w.err
}

// Raw writes s as it is. The caller guarantees that it is valid syntax.
func (w *Writer) Raw(s string) *Writer {
	if w.err == nil {
		_, w.err = w.out().WriteString(s)
	}
	return w
}

// RawBytes writes b as it is, like Raw: output rendered earlier.
func (w *Writer) RawBytes(b []byte) *Writer { return w.bytes(b) }

func (w *Writer) bytes(b []byte) *Writer {
	if w.err == nil {
		_, w.err = w.out().Write(b)
	}
	return w
}

// SP writes one space.
func (w *Writer) SP() *Writer { return w.Raw(" ") }

// Atom writes s as an atom, a keyword or a flag, as it is: the caller
// guarantees it holds only atom characters (a leading "\" for flags, and
// the brackets and dots of items such as BODY[1.2], allowed).
func (w *Writer) Atom(s string) *Writer { return w.Raw(s) }

// Number writes n in decimal.
func (w *Writer) Number(n uint32) *Writer { return w.Number64(uint64(n)) }

// Number64 writes n in decimal (mod-sequences, quota values).
func (w *Writer) Number64(n uint64) *Writer {
	return w.bytes(strconv.AppendUint(w.num[:0], n, 10))
}

// Nil writes NIL.
func (w *Writer) Nil() *Writer { return w.Raw("NIL") }

// NString writes *s as a string, or NIL if s is nil.
func (w *Writer) NString(s *string) *Writer {
	if s == nil {
		return w.Nil()
	}
	return w.String(*s)
}

// needsLiteral reports whether s cannot be written as a quoted string
// without escapes: it holds CR, LF, NUL, an octet above 0x7f, or a
// quoted-special (DQUOTE, backslash). We never write backslash escapes, so
// that clients that mishandle them (notably with mailbox names holding
// "\") read the right octets.
func needsLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r', c == '\n', c == 0, c >= 0x80, c == '"', c == '\\':
			return true
		}
	}
	return false
}

// String writes s as a string (RFC 3501 §4.3): quoted if it can be, else
// a literal. Use it where the grammar says string or nstring (ENVELOPE
// fields, BODYSTRUCTURE values); an atom would be wrong there.
func (w *Writer) String(s string) *Writer {
	if needsLiteral(s) {
		return w.literalHeader(int64(len(s))).Raw(s)
	}
	return w.Raw(`"`).Raw(s).Raw(`"`)
}

// isAtomText reports whether s can be written as an astring's atom form
// without being mistaken for NIL.
func isAtomText(s string) bool {
	if s == "" || strings.EqualFold(s, "NIL") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAStringChar(s[i]) {
			return false
		}
	}
	return true
}

// astringText returns s as it would be written by Writer.AString (a
// literal's octets follow its {n} CRLF).
func astringText(s string) string {
	switch {
	case isAtomText(s):
		return s
	case needsLiteral(s):
		return "{" + strconv.Itoa(len(s)) + "}\r\n" + s
	}
	return `"` + s + `"`
}

// AString writes s as an astring: an atom if it is made of ASTRING-CHARs
// (and is not "NIL" in any case), else as String does.
func (w *Writer) AString(s string) *Writer {
	if isAtomText(s) {
		return w.Raw(s)
	}
	return w.String(s)
}

// Mailbox writes a mailbox name already in modified UTF-7 (as sent by the
// client or stored on disk) as an astring; INBOX in any case as "INBOX".
func (w *Writer) Mailbox(m Mailbox) *Writer {
	if m.IsInbox() {
		return w.Raw("INBOX")
	}
	return w.AString(string(m))
}

// MailboxUTF8 writes a mailbox name given in UTF-8, encoding it in
// modified UTF-7 (RFC 3501 §5.1.3).
func (w *Writer) MailboxUTF8(name string) *Writer {
	return w.Mailbox(Mailbox(mutf7.Encode(name)))
}

// BeginList writes "(".
func (w *Writer) BeginList() *Writer { return w.Raw("(") }

// EndList writes ")".
func (w *Writer) EndList() *Writer { return w.Raw(")") }

// Flags writes a parenthesised flag list, e.g. (\Seen $Forwarded). Flags
// are atoms, written as they are.
func (w *Writer) Flags(flags []string) *Writer {
	w.BeginList()
	for i, f := range flags {
		if i > 0 {
			w.SP()
		}
		w.Atom(f)
	}
	return w.EndList()
}

// SeqSet writes a sequence set, e.g. 1:3,7. The set must not be empty.
func (w *Writer) SeqSet(s SeqSet) *Writer { return w.Raw(s.String()) }

// DateTime writes t as a quoted date-time (RFC 3501 §9), for INTERNALDATE:
// "17-Jul-1996 02:44:25 -0700".
func (w *Writer) DateTime(t time.Time) *Writer {
	if w.err != nil {
		return w
	}
	// Into a stack buffer: a FETCH of every message writes one per
	// message, and Format's string would be garbage each time.
	var buf [40]byte
	out := append(buf[:0], '"')
	out = appendDateTime(out, t)
	out = append(out, '"')
	return w.bytes(out)
}

// appendDateTime is t.AppendFormat(b, DateTimeLayout), without parsing
// the layout each time.
func appendDateTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, DateTimeLayout)
	}
	hour, minute, sec := t.Clock()
	_, off := t.Zone()
	b = append2(b, day)
	b = append(b, '-')
	b = append(b, months[month-1]...)
	b = append(b, '-')
	b = append2(append2(b, year/100), year%100)
	b = append(b, ' ')
	b = append(append2(b, hour), ':')
	b = append(append2(b, minute), ':')
	b = append(append2(b, sec), ' ')
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	off /= 60
	return append2(append2(append(b, sign), off/60), off%60)
}

// append2 appends n (0 to 99) as two digits.
func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

func (w *Writer) literalHeader(n int64) *Writer {
	return w.Raw("{").Number64(uint64(n)).Raw("}\r\n")
}

// Literal writes b as a literal.
func (w *Writer) Literal(b []byte) *Writer {
	return w.literalHeader(int64(len(b))).bytes(b)
}

// ErrShortLiteral is the Writer's error when the reader given to
// LiteralFrom ends before the announced size. The connection is then out
// of step and must be closed.
var ErrShortLiteral = errors.New("literal source shorter than its announced size")

// LiteralFrom writes a literal of n octets copied from r (a message file);
// if r yields fewer than n, the Writer's error becomes one wrapping
// ErrShortLiteral. Extra octets in r are not read.
func (w *Writer) LiteralFrom(r io.Reader, n int64) *Writer {
	w.literalHeader(n)
	if w.err != nil {
		return w
	}
	copied, err := io.CopyN(w.out(), r, n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: got %d of %d octets", ErrShortLiteral, copied, n)
		}
		w.err = err
	}
	return w
}

// Text writes s as resp-text's text: octets that are not TEXT-CHAR (CR,
// LF, NUL, 8-bit) become '?'. An empty s is written as "done", since text
// must not be empty.
func (w *Writer) Text(s string) *Writer {
	if s == "" {
		return w.Raw("done")
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !isTextChar(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return w.Raw(s)
	}
	b := []byte(s)
	for i, c := range b {
		if !isTextChar(c) {
			b[i] = '?'
		}
	}
	return w.bytes(b)
}

func isTextChar(c byte) bool { return c >= 0x01 && c <= 0x7f && c != '\r' && c != '\n' }

// Untagged starts an untagged response: "* ".
func (w *Writer) Untagged() *Writer { return w.Raw("* ") }

// Tagged starts a tagged response: the tag and a space.
func (w *Writer) Tagged(tag string) *Writer { return w.Raw(tag).SP() }

// Code starts a response code: "[" and its name. Its arguments follow
// (with SP before each), then EndCode.
func (w *Writer) Code(name string) *Writer { return w.Raw("[").Raw(name) }

// EndCode ends a response code: "]" and the space before the text.
func (w *Writer) EndCode() *Writer { return w.Raw("] ") }

// The kinds of status responses (RFC 3501 §7.1).
const (
	OK      = "OK"
	NO      = "NO"
	BAD     = "BAD"
	BYE     = "BYE"
	PREAUTH = "PREAUTH"
)

// Status writes a whole status response line: tag (or "*" if tag is ""),
// kind (OK, NO, BAD, BYE, PREAUTH), an optional response code written as
// it is (e.g. "TRYCREATE", "UIDNEXT 5", `PERMANENTFLAGS (\Seen \*)`; ""
// for none) and the text. It does not flush.
func (w *Writer) Status(tag, kind, code, text string) error {
	if tag == "" {
		tag = "*"
	}
	if kind == "BAD" {
		w.bads++
	}
	w.Raw(tag).SP().Raw(kind).SP()
	if code != "" {
		w.Code(code).EndCode()
	}
	return w.Text(text).CRLF()
}

// Bads returns how many BAD responses Status wrote: a server counts a
// client's invalid commands with it.
func (w *Writer) Bads() int { return w.bads }

// Continue writes a continuation request "+ text" ("+ " alone for an empty
// text) and flushes, as the client is waiting for it (RFC 3501 §7.5).
func (w *Writer) Continue(text string) error {
	w.Raw("+ ")
	if text != "" {
		w.Text(text)
	}
	w.CRLF()
	return w.Flush()
}

// ContinueSASL writes a continuation request carrying a SASL challenge
// in base64 ("+ " alone for an empty one) and flushes (RFC 3501 §6.2.2).
func (w *Writer) ContinueSASL(challenge []byte) error {
	w.Raw("+ ").Raw(base64.StdEncoding.EncodeToString(challenge)).CRLF()
	return w.Flush()
}
