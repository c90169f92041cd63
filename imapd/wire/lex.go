package wire

import (
	"bytes"
	"fmt"
	"math"
	"strings"
)

// Character classes of RFC 3501 §9.

// isAtomChar reports whether c is an ATOM-CHAR: a 7-bit CHAR that is not an
// atom-special ("(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]").
func isAtomChar(c byte) bool {
	if c <= 0x1f || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// isAStringChar reports whether c is an ASTRING-CHAR (ATOM-CHAR or "]").
func isAStringChar(c byte) bool { return isAtomChar(c) || c == ']' }

// isListChar reports whether c is a list-char (ATOM-CHAR, "%", "*" or "]").
func isListChar(c byte) bool { return isAStringChar(c) || c == '%' || c == '*' }

// isTagChar reports whether c may appear in a tag (ASTRING-CHAR but "+").
func isTagChar(c byte) bool { return isAStringChar(c) && c != '+' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isWordChar reports whether c may appear in the keywords of the grammar
// (command names, FETCH items, SEARCH keys, options): a tagged-ext-label's
// characters without ":".
func isWordChar(c byte) bool { return isAlpha(c) || isDigit(c) || c == '.' || c == '-' || c == '_' }

// parser is a cursor over one command as Reader.ReadCommand returns it:
// lines joined by CRLF, each literal's body following its "{n}" CRLF, the
// final CRLF removed.
type parser struct {
	buf      []byte
	pos      int
	maxDepth int
	depth    int
	maxKeys  int // SEARCH keys allowed (ParseOptions.MaxKeys)
	keys     int // SEARCH keys parsed so far
	tag      string
	name     string
	// streamed: the buffer ends at a literal announcement whose octets
	// are not in it (ParseOptions.Streamed); literal then sets
	// streamedSize instead of reading them.
	streamed     bool
	streamedLit  bool
	streamedSize int64
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Tag: p.tag, Name: p.name, Offset: p.pos, Msg: p.prefix() + fmt.Sprintf(format, args...)}
}

func (p *parser) prefix() string {
	if p.name == "" {
		return ""
	}
	return p.name + ": "
}

// found describes what is at the cursor, for error messages.
func (p *parser) found() string {
	if p.pos >= len(p.buf) {
		return "end of line"
	}
	end := p.pos + 1
	for end < len(p.buf) && end-p.pos < 16 && p.buf[end] != ' ' && p.buf[end] != '\r' {
		end++
	}
	return quoteInput(p.buf[p.pos:end])
}

func (p *parser) eof() bool { return p.pos >= len(p.buf) }

func (p *parser) peek() byte {
	if p.pos >= len(p.buf) {
		return 0
	}
	return p.buf[p.pos]
}

// peekAt returns the byte i positions past the cursor, or 0.
func (p *parser) peekAt(i int) byte {
	if p.pos+i >= len(p.buf) {
		return 0
	}
	return p.buf[p.pos+i]
}

func (p *parser) accept(c byte) bool {
	if p.peek() == c && !p.eof() {
		p.pos++
		return true
	}
	return false
}

// expect consumes c or fails saying what was expected where.
func (p *parser) expect(c byte, where string) error {
	if p.accept(c) {
		return nil
	}
	return p.errorf("expected %q %s, found %s", c, where, p.found())
}

// sp consumes exactly one space (RFC 3501 §9 note 2: SP is one space).
func (p *parser) sp(where string) error {
	if p.accept(' ') {
		return nil
	}
	if p.peek() == '\t' {
		return p.errorf("expected a space %s, found a tab (SP is exactly one space)", where)
	}
	return p.errorf("expected a space %s, found %s", where, p.found())
}

// end checks that the whole command has been consumed.
func (p *parser) end() error {
	if p.eof() {
		return nil
	}
	if p.peek() == ' ' {
		if p.pos+1 == len(p.buf) {
			return p.errorf("trailing space at end of line")
		}
		return p.errorf("unexpected %s after the arguments", quoteInput(p.buf[p.pos+1:min(len(p.buf), p.pos+17)]))
	}
	return p.errorf("unexpected %s after the arguments", p.found())
}

// enter and leave bound the nesting of parenthesised lists, NOT and OR.
func (p *parser) enter() error {
	p.depth++
	if p.depth > p.maxDepth {
		return p.errorf("nesting deeper than %d levels", p.maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// word reads 1*word-char and returns it upper-cased; "" if there is none.
func (p *parser) word() string {
	start := p.pos
	for p.pos < len(p.buf) && isWordChar(p.buf[p.pos]) {
		p.pos++
	}
	return strings.ToUpper(string(p.buf[start:p.pos]))
}

// wordAt is word without consuming.
func (p *parser) wordAt() string {
	save := p.pos
	w := p.word()
	p.pos = save
	return w
}

// atom reads 1*ATOM-CHAR.
func (p *parser) atom(what string) (string, error) {
	start := p.pos
	for p.pos < len(p.buf) && isAtomChar(p.buf[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected %s (an atom), found %s", what, p.found())
	}
	return string(p.buf[start:p.pos]), nil
}

// astring reads an astring: 1*ASTRING-CHAR, a quoted string or a literal.
// Octets above 0x7f are accepted in the atom form, as in a quoted string:
// many clients send UTF-8 that way, and what it means is the server's
// business (CHARSET, mailbox name checks).
func (p *parser) astring(what string) (string, error) {
	return p.astringOf(what, isAStringChar)
}

// mailboxName reads a mailbox: an astring (RFC 3501 §9) whose atom form
// may also hold "%" and "*". They are list-wildcards, not ATOM-CHARs, but
// offlineimap sends "SELECT 100%" unquoted and Dovecot accepts it. In
// every command a mailbox is followed by SP or the end of the command,
// never by "%" or "*", so nothing can be read two ways. LIST and LSUB patterns are read by
// listMailbox, where the two are wildcards.
func (p *parser) mailboxName(what string) (string, error) {
	return p.astringOf(what, isListChar)
}

// astringOf reads an astring whose atom form is 1*(isChar or 8-bit).
func (p *parser) astringOf(what string, isChar func(byte) bool) (string, error) {
	switch p.peek() {
	case '"', '{':
		return p.str(what)
	}
	start := p.pos
	for p.pos < len(p.buf) && (isChar(p.buf[p.pos]) || p.buf[p.pos] >= 0x80) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected %s (an atom, quoted string or literal), found %s", what, p.found())
	}
	if p.pos == start+1 && p.buf[start] == '~' && p.peek() == '{' {
		p.pos = start
		return "", p.errorf("%s cannot be a literal8 (~{n}); use a literal", what)
	}
	return string(p.buf[start:p.pos]), nil
}

// listMailbox reads a list-mailbox: 1*list-char or a string.
func (p *parser) listMailbox(what string) (string, error) {
	switch p.peek() {
	case '"', '{':
		return p.str(what)
	}
	start := p.pos
	for p.pos < len(p.buf) && (isListChar(p.buf[p.pos]) || p.buf[p.pos] >= 0x80) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected %s, found %s", what, p.found())
	}
	return string(p.buf[start:p.pos]), nil
}

// str reads a string: quoted or literal (not literal8).
func (p *parser) str(what string) (string, error) {
	switch p.peek() {
	case '"':
		return p.quoted(what)
	case '{':
		b, err := p.literal(what, false)
		return string(b), err
	}
	return "", p.errorf("expected %s (a quoted string or literal), found %s", what, p.found())
}

// quoted reads DQUOTE *QUOTED-CHAR DQUOTE. A backslash may only escape
// DQUOTE or backslash. CR, LF and NUL are refused; 8-bit octets are
// accepted (see astring).
func (p *parser) quoted(what string) (string, error) {
	start := p.pos
	if err := p.expect('"', "to open "+what); err != nil {
		return "", err
	}
	var b []byte
	for {
		if p.eof() {
			p.pos = start
			return "", p.errorf("quoted string %s not closed before end of line", what)
		}
		c := p.buf[p.pos]
		switch c {
		case '"':
			p.pos++
			if b == nil {
				return string(p.buf[start+1 : p.pos-1]), nil
			}
			return string(b), nil
		case '\\':
			if b == nil {
				b = append([]byte{}, p.buf[start+1:p.pos]...)
			}
			n := p.peekAt(1)
			if n != '"' && n != '\\' {
				p.pos++
				return "", p.errorf("in %s: a backslash in a quoted string may only escape '\"' or '\\\\', found %s", what, p.found())
			}
			b = append(b, n)
			p.pos += 2
			continue
		case '\r', '\n', 0:
			return "", p.errorf("in %s: a quoted string cannot hold CR, LF or NUL; use a literal", what)
		}
		if b != nil {
			b = append(b, c)
		}
		p.pos++
	}
}

// literal reads "{" number ["+"] "}" CRLF and the octets that follow, or
// with binary, also "~{" ... (literal8). It returns the octets (a slice of
// the command buffer). A literal that is not literal8 must not hold NUL.
func (p *parser) literal(what string, binary bool) ([]byte, error) {
	start := p.pos
	isBinary := false
	if p.peek() == '~' {
		if !binary {
			return nil, p.errorf("%s cannot be a literal8 (~{n}); use a literal", what)
		}
		isBinary = true
		p.pos++
	}
	if err := p.expect('{', "to open the literal for "+what); err != nil {
		return nil, err
	}
	n, err := p.digits64("literal size")
	if err != nil {
		return nil, err
	}
	p.accept('+')
	if err := p.expect('}', "to close the literal size"); err != nil {
		return nil, err
	}
	if p.streamed && p.eof() {
		if n > math.MaxInt64 {
			return nil, p.errorf("literal size is too large")
		}
		p.streamedLit, p.streamedSize = true, int64(n)
		return nil, nil
	}
	if !bytes.HasPrefix(p.buf[p.pos:], []byte("\r\n")) {
		return nil, p.errorf("a literal's {size} must end its line, found %s", p.found())
	}
	p.pos += 2
	if n > uint64(len(p.buf)-p.pos) {
		p.pos = start
		return nil, p.errorf("literal for %s is shorter than its announced %d octets", what, n)
	}
	b := p.buf[p.pos : p.pos+int(n)]
	if !isBinary && bytes.IndexByte(b, 0) >= 0 {
		p.pos = start
		return nil, p.errorf("literal for %s contains NUL, which only a literal8 (~{n}) may carry", what)
	}
	p.pos += int(n)
	return b, nil
}

// digits64 reads 1*DIGIT as a uint64.
func (p *parser) digits64(what string) (uint64, error) {
	start := p.pos
	var n uint64
	for p.pos < len(p.buf) && isDigit(p.buf[p.pos]) {
		d := uint64(p.buf[p.pos] - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, p.errorf("%s %s is too large", what, quoteInput(p.buf[start:p.pos+1]))
		}
		n = n*10 + d
		p.pos++
	}
	if p.pos == start {
		return 0, p.errorf("expected %s (a number), found %s", what, p.found())
	}
	return n, nil
}

// number reads a number: 1*DIGIT, 0 <= n < 2^32.
func (p *parser) number(what string) (uint32, error) {
	start := p.pos
	n, err := p.digits64(what)
	if err != nil {
		return 0, err
	}
	if n > math.MaxUint32 {
		p.pos = start
		return 0, p.errorf("%s %s is larger than 4294967295", what, quoteInput(p.buf[start:min(start+24, len(p.buf))]))
	}
	return uint32(n), nil
}

// nzNumber reads an nz-number: 0 < n < 2^32.
func (p *parser) nzNumber(what string) (uint32, error) {
	start := p.pos
	n, err := p.number(what)
	if err == nil && n == 0 {
		p.pos = start
		return 0, p.errorf("%s must not be zero", what)
	}
	return n, err
}

// number63 reads a 63-bit number (mod-sequence-valzer, number64 of
// RFC 9208); with nonZero, 0 is refused (mod-sequence-value).
func (p *parser) number63(what string, nonZero bool) (uint64, error) {
	start := p.pos
	n, err := p.digits64(what)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64 {
		p.pos = start
		return 0, p.errorf("%s is larger than 9223372036854775807", what)
	}
	if nonZero && n == 0 {
		p.pos = start
		return 0, p.errorf("%s must not be zero", what)
	}
	return n, nil
}

// list parses "(" [item *(SP item)] ")", calling item for each element.
// With nonEmpty, "()" is refused.
func (p *parser) list(what string, nonEmpty bool, item func() error) error {
	if err := p.expect('(', "to open "+what); err != nil {
		return err
	}
	if p.accept(')') {
		if nonEmpty {
			p.pos--
			return p.errorf("%s must not be empty", what)
		}
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if p.accept(')') {
			return nil
		}
		if err := p.sp("or ')' in " + what); err != nil {
			return err
		}
	}
}
