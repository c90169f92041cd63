package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// This file is the checker's own IMAP response reader. It is written
// apart from the server's wire package and from go-imap on purpose: a
// checker that shares the server's parser would share its mistakes. It
// is strict where the server has no choice (CRLF line ends, literal
// lengths, balanced lists) and knows only the responses the stress
// commands provoke; anything else is kept as raw values.

// maxResponse bounds one response with its literals; the stress client
// never fetches more than a few messages' bodies at once.
const maxResponse = 64 << 20

// kind says what a Value holds.
type kind int

const (
	kAtom   kind = iota // atom or number, S holds it
	kString             // quoted string or literal, S holds the bytes
	kNil                // NIL
	kList               // parenthesised list, L holds the items
)

// Value is one item of response data.
type Value struct {
	Kind kind
	S    string
	L    []Value
}

// String renders v canonically (strings always quoted, literals too), so
// two renderings of the same data compare equal.
func (v Value) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v Value) write(b *strings.Builder) {
	switch v.Kind {
	case kAtom:
		b.WriteString(v.S)
	case kString:
		if plainQuotable(v.S) {
			// What strconv.Quote gives for it, without its rune by rune
			// escaping: every ENVELOPE fetched is written so, to be
			// compared with what the UID had before.
			b.WriteByte('"')
			b.WriteString(v.S)
			b.WriteByte('"')
		} else {
			b.WriteString(strconv.Quote(v.S))
		}
	case kNil:
		b.WriteString("NIL")
	case kList:
		b.WriteByte('(')
		for i, x := range v.L {
			if i > 0 {
				b.WriteByte(' ')
			}
			x.write(b)
		}
		b.WriteByte(')')
	}
}

// plainQuotable reports whether strconv.Quote(s) is s in double quotes:
// printable ASCII without '"' or a backslash.
func plainQuotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Response is one server response, with its literals inlined.
type Response struct {
	Tag     string // "*", "+" or a command tag
	Num     uint32 // the number before Type, when HasNum
	HasNum  bool
	Type    string // upper case: OK NO BAD BYE PREAUTH EXISTS EXPUNGE FETCH FLAGS SEARCH ...
	Code    string // response code atom in upper case ("" if none)
	CodeArg string // what follows the code atom inside the brackets
	Text    string // human-readable text of a status response
	Data    []Value
	Summary string // one line for the transcript
}

// isStatus reports whether Type is a status response (RFC 3501 §7.1).
func (r *Response) isStatus() bool {
	switch r.Type {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		return true
	}
	return false
}

// errMalformed marks a response that breaks RFC 3501's syntax; the
// connection can go on (the reader is still in step) but the response
// is a violation.
var errMalformed = errors.New("malformed response")

// readRaw reads one response: a line and, while the line ends with a
// literal's announcement, the literal and the next line. It returns the
// bytes as sent and a one-line summary with literals elided.
func readRaw(r *bufio.Reader) (raw []byte, summary string, err error) {
	var buf bytes.Buffer
	var sum strings.Builder
	for {
		line, err := readLine(r, maxResponse-buf.Len())
		if err != nil {
			return nil, sum.String(), err
		}
		buf.Write(line)
		if !bytes.HasSuffix(line, []byte("\r\n")) {
			return nil, sum.String() + string(line), fmt.Errorf("%w: line not ended by CRLF", errMalformed)
		}
		body := line[:len(line)-2]
		if sum.Len() < 400 {
			sum.Write(body)
		}
		n, ok := literalLen(body)
		if !ok {
			break
		}
		if n > maxResponse-buf.Len() {
			return nil, sum.String(), fmt.Errorf("literal of %d bytes is over the %d byte bound", n, maxResponse)
		}
		buf.Grow(n)
		lit := buf.AvailableBuffer()[:n]
		if _, err := ioReadFull(r, lit); err != nil {
			return nil, sum.String(), err
		}
		buf.Write(lit)
		fmt.Fprintf(&sum, "<%d bytes>", n)
	}
	s := sum.String()
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return buf.Bytes(), s, nil
}

func ioReadFull(r *bufio.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readLine reads up to and including LF, at most max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var out []byte
	for {
		frag, err := r.ReadSlice('\n')
		out = append(out, frag...)
		if len(out) > max {
			return nil, fmt.Errorf("line over %d bytes", max)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return out, err
	}
}

// literalLen reports whether line ends with {n} or {n+} and n.
func literalLen(line []byte) (int, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	digits := line[i+1 : len(line)-1]
	digits = bytes.TrimSuffix(digits, []byte("+"))
	if len(digits) == 0 || len(digits) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseResponse parses the bytes readRaw returned.
func parseResponse(raw []byte, summary string) (*Response, error) {
	sp := stacks.Get().(*[]Value)
	p := &parser{b: raw, stack: *sp}
	defer func() {
		clear(p.stack[:cap(p.stack)])
		*sp = p.stack[:0]
		stacks.Put(sp)
	}()
	r := &Response{Summary: summary}
	tag := p.until(' ')
	if tag == "" {
		return r, fmt.Errorf("%w: no tag", errMalformed)
	}
	r.Tag = tag
	if tag == "+" {
		p.sp()
		r.Text = p.restOfLine()
		return r, nil
	}
	if !p.sp() {
		return r, fmt.Errorf("%w: no space after tag", errMalformed)
	}
	word := p.until(' ')
	if tag == "*" && word != "" && isDigits(word) {
		n, err := strconv.ParseUint(word, 10, 32)
		if err != nil {
			return r, fmt.Errorf("%w: number %q", errMalformed, word)
		}
		r.Num, r.HasNum = uint32(n), true
		if !p.sp() {
			return r, fmt.Errorf("%w: no space after number", errMalformed)
		}
		word = p.until(' ')
	}
	r.Type = strings.ToUpper(strings.TrimRight(word, "\r\n"))
	if r.isStatus() {
		if err := p.respText(r); err != nil {
			return r, err
		}
		return r, nil
	}
	if tag != "*" {
		return r, fmt.Errorf("%w: tagged %q is not OK, NO or BAD", errMalformed, r.Type)
	}
	for p.sp() {
		v, err := p.value()
		if err != nil {
			return r, err
		}
		r.Data = append(r.Data, v)
	}
	if !p.crlfEnd() {
		return r, fmt.Errorf("%w: junk after %s data at byte %d", errMalformed, r.Type, p.i)
	}
	return r, nil
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// stacks lend parsers their list stacks.
var stacks = sync.Pool{New: func() any { return new([]Value) }}

type parser struct {
	b []byte
	i int
	// stack holds the items of the lists being read, innermost last;
	// each list takes a slice of its own when it ends.
	stack []Value
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// near shows the bytes around the parse position, for a report.
func (p *parser) near() string {
	a, b := max(p.i-40, 0), min(p.i+20, len(p.b))
	return string(p.b[a:b])
}

func (p *parser) sp() bool {
	if p.peek() == ' ' {
		p.i++
		return true
	}
	return false
}

func (p *parser) crlfEnd() bool {
	return string(p.b[p.i:]) == "\r\n"
}

// until reads up to (not including) c or CR.
func (p *parser) until(c byte) string {
	j := p.i
	for j < len(p.b) && p.b[j] != c && p.b[j] != '\r' {
		j++
	}
	s := string(p.b[p.i:j])
	p.i = j
	return s
}

func (p *parser) restOfLine() string {
	s := p.until('\r')
	return s
}

// respText is RFC 3501's resp-text: an optional [code] and text.
func (p *parser) respText(r *Response) error {
	if !p.sp() {
		// "a OK\r\n" without text is common enough and harmless.
		if p.crlfEnd() {
			return nil
		}
		return fmt.Errorf("%w: no space after %s", errMalformed, r.Type)
	}
	if p.peek() == '[' {
		p.i++
		depth := 0
		j := p.i
		for ; j < len(p.b) && p.b[j] != '\r'; j++ {
			if p.b[j] == '(' {
				depth++
			} else if p.b[j] == ')' {
				depth--
			} else if p.b[j] == ']' && depth <= 0 {
				break
			}
		}
		if j >= len(p.b) || p.b[j] != ']' {
			return fmt.Errorf("%w: response code not closed", errMalformed)
		}
		code := string(p.b[p.i:j])
		p.i = j + 1
		name, arg, _ := strings.Cut(code, " ")
		r.Code, r.CodeArg = strings.ToUpper(name), arg
		p.sp()
	}
	r.Text = p.restOfLine()
	return nil
}

// value reads one atom, number, string, NIL or list.
func (p *parser) value() (Value, error) {
	switch c := p.peek(); {
	case c == '(':
		p.i++
		// An error ends the whole parse, which drops the stack.
		start := len(p.stack)
		for p.peek() != ')' {
			// Items are spaced, except where RFC 3501 runs lists
			// together: address lists ("(" 1*address ")") and a
			// multipart's body parts (1*body).
			if n := len(p.stack); n > start && !p.sp() && !(p.stack[n-1].Kind == kList && p.peek() == '(') {
				return Value{}, fmt.Errorf("%w: no space in list at byte %d, near %q", errMalformed, p.i, p.near())
			}
			v, err := p.value()
			if err != nil {
				return Value{}, err
			}
			p.stack = append(p.stack, v)
		}
		p.i++
		var l []Value
		if n := len(p.stack) - start; n > 0 {
			l = append(make([]Value, 0, n), p.stack[start:]...)
		}
		p.stack = p.stack[:start]
		return Value{Kind: kList, L: l}, nil
	case c == '"':
		p.i++
		// Most strings have no escape: taken whole, not a byte at a time.
		if j := bytes.IndexAny(p.b[p.i:], "\"\\\r\n"); j >= 0 && p.b[p.i+j] == '"' {
			s := string(p.b[p.i : p.i+j])
			p.i += j + 1
			return Value{Kind: kString, S: s}, nil
		}
		var b []byte
		for {
			if p.i >= len(p.b) || p.b[p.i] == '\r' || p.b[p.i] == '\n' {
				return Value{}, fmt.Errorf("%w: quoted string not closed", errMalformed)
			}
			ch := p.b[p.i]
			p.i++
			if ch == '"' {
				break
			}
			if ch == '\\' {
				if p.i >= len(p.b) || (p.b[p.i] != '\\' && p.b[p.i] != '"') {
					return Value{}, fmt.Errorf("%w: bad quoted escape", errMalformed)
				}
				ch = p.b[p.i]
				p.i++
			}
			b = append(b, ch)
		}
		return Value{Kind: kString, S: string(b)}, nil
	case c == '{':
		j := bytes.IndexByte(p.b[p.i:], '}')
		if j < 0 {
			return Value{}, fmt.Errorf("%w: literal not closed", errMalformed)
		}
		spec := strings.TrimSuffix(string(p.b[p.i+1:p.i+j]), "+")
		n, err := strconv.Atoi(spec)
		if err != nil || n < 0 {
			return Value{}, fmt.Errorf("%w: literal length %q", errMalformed, spec)
		}
		p.i += j + 1
		if !bytes.HasPrefix(p.b[p.i:], []byte("\r\n")) || p.i+2+n > len(p.b) {
			return Value{}, fmt.Errorf("%w: literal not followed by CRLF and %d bytes", errMalformed, n)
		}
		p.i += 2
		s := string(p.b[p.i : p.i+n])
		p.i += n
		return Value{Kind: kString, S: s}, nil
	case c == 0 || c == ' ' || c == ')' || c == '\r':
		return Value{}, fmt.Errorf("%w: value expected at byte %d", errMalformed, p.i)
	default:
		// An atom; a section like BODY[HEADER.FIELDS (FROM SUBJECT)]<0>
		// is read whole, brackets and spaces inside them included.
		j := p.i
		depth := 0
		for j < len(p.b) {
			ch := p.b[j]
			if ch == '[' {
				depth++
			} else if ch == ']' {
				depth--
			} else if depth == 0 && (ch == ' ' || ch == '(' || ch == ')' || ch == '\r' || ch == '"' || ch == '{') {
				break
			} else if ch == '\r' || ch == '\n' {
				break
			}
			j++
		}
		s := string(p.b[p.i:j])
		p.i = j
		if strings.EqualFold(s, "NIL") {
			return Value{Kind: kNil}, nil
		}
		return Value{Kind: kAtom, S: s}, nil
	}
}

// parseSet parses a UID set like "1:3,7" (as in COPYUID) into its
// numbers in order, ranges expanded in the direction written.
func parseSet(s string) ([]uint32, error) {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, ":")
		x, err := strconv.ParseUint(a, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("set %q: %v", s, err)
		}
		if !isRange {
			out = append(out, uint32(x))
			continue
		}
		y, err := strconv.ParseUint(b, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("set %q: %v", s, err)
		}
		// A range n:m means the same as m:n (RFC 3501 §9, seq-range).
		if x > y {
			x, y = y, x
		}
		if y-x > 100000 {
			return nil, fmt.Errorf("set %q too large", s)
		}
		for u := x; u <= y; u++ {
			out = append(out, uint32(u))
		}
	}
	return out, nil
}
