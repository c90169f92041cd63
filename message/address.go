package message

import (
	"strings"
	"sync"
)

// This file parses RFC 5322 address lists (§3.4, with the obsolete syntax
// of §4.4) into ENVELOPE addresses, leniently: what cannot be understood is
// skipped up to the next comma, never fatal.

// tokKind is the kind of an address-list token.
type tokKind int

const (
	tokAtom    tokKind = iota // a run of atext (8-bit bytes included)
	tokQuoted                 // a quoted string, unquoted
	tokLiteral                // a domain literal, brackets included
	tokComment                // a comment, outer parentheses removed
	tokSpecial                // one of the specials < > @ , ; : . and stray ones
)

// token is one lexical element of an address list.
type token struct {
	kind  tokKind
	text  string
	space bool // white space or a comment precedes the token
}

// tokenize splits an address-list value into tokens, appended to toks.
func tokenize(toks []token, s string) []token {
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isWSP(c):
			space = true
			i++
			continue
		case c == '(':
			j := skipComment(s, i)
			inner := s[i+1 : j]
			inner = strings.TrimSuffix(inner, ")")
			toks = append(toks, token{kind: tokComment, text: unescape(inner), space: space})
			i, space = j, true
			continue
		case c == '"':
			text, j := quotedString(s, i)
			toks = append(toks, token{kind: tokQuoted, text: text, space: space})
			i = j
		case c == '[':
			j := skipTo(s, i, ']')
			j = min(j+1, len(s))
			toks = append(toks, token{kind: tokLiteral, text: s[i:j], space: space})
			i = j
		case strings.IndexByte("<>@,;:.)]\\", c) >= 0:
			toks = append(toks, token{kind: tokSpecial, text: s[i : i+1], space: space})
			i++
		default:
			j := i
			for j < len(s) && !isWSP(s[j]) && strings.IndexByte("()<>@,;:.[]\\\"", s[j]) < 0 {
				j++
			}
			toks = append(toks, token{kind: tokAtom, text: s[i:j], space: space})
			i = j
		}
		space = false
	}
	return toks
}

// unescape removes the backslashes of quoted pairs.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// tokenBuffers lend parseAddressList its token arrays: every ENVELOPE
// parses six address lists, and growing a new array each time was the
// largest allocation of a folder's first FETCH ENVELOPE.
var tokenBuffers = sync.Pool{New: func() any { return new([]token) }}

// addrParser walks the tokens of one address list.
type addrParser struct {
	toks    []token
	i       int
	comment string // last comment seen in the current address
}

func (p *addrParser) eof() bool { return p.i >= len(p.toks) }

// special reports whether the next token (comments skipped) is the special c.
func (p *addrParser) special(c string) bool {
	p.skipComments()
	return !p.eof() && p.toks[p.i].kind == tokSpecial && p.toks[p.i].text == c
}

func (p *addrParser) skipComments() {
	for !p.eof() && p.toks[p.i].kind == tokComment {
		p.comment = p.toks[p.i].text
		p.i++
	}
}

// words joins the words (atoms, quoted strings and dots) up to the next
// other token. With spaced, words separated by white space are joined with
// one space (a phrase); without, they are simply concatenated (a local part).
func (p *addrParser) words(spaced bool) string {
	var b strings.Builder
	for {
		p.skipComments()
		if p.eof() {
			break
		}
		t := p.toks[p.i]
		isDot := t.kind == tokSpecial && t.text == "."
		if t.kind != tokAtom && t.kind != tokQuoted && !isDot {
			break
		}
		if spaced && t.space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
		p.i++
	}
	return b.String()
}

// domain reads a domain: dot-atoms and domain literals, joined without
// white space.
func (p *addrParser) domain() string {
	var b strings.Builder
	for {
		p.skipComments()
		if p.eof() {
			break
		}
		t := p.toks[p.i]
		if t.kind != tokAtom && t.kind != tokLiteral && !(t.kind == tokSpecial && t.text == ".") {
			break
		}
		b.WriteString(t.text)
		p.i++
	}
	return b.String()
}

// skipToSeparator moves to the next ',' or ';', or the end.
func (p *addrParser) skipToSeparator() {
	for !p.eof() {
		t := p.toks[p.i]
		if t.kind == tokSpecial && (t.text == "," || t.text == ";") {
			return
		}
		p.i++
	}
}

// parseAddressList parses an address-list value.
func parseAddressList(s string) []Address {
	buf := tokenBuffers.Get().(*[]token)
	p := &addrParser{toks: tokenize((*buf)[:0], s)}
	defer func() {
		// The tokens' texts point into the header: cleared, so that a
		// pooled array holds on to no message.
		clear(p.toks)
		if cap(p.toks) <= 1024 {
			*buf = p.toks[:0]
			tokenBuffers.Put(buf)
		}
	}()
	var out []Address
	inGroup := false
	for !p.eof() {
		p.comment = ""
		if p.special(",") {
			p.i++
			continue
		}
		if p.special(";") {
			p.i++
			if inGroup {
				out = append(out, Address{GroupEnd: true})
				inGroup = false
			}
			continue
		}
		phrase := p.words(true)
		switch {
		case p.special(":"):
			p.i++
			if inGroup || phrase == "" {
				// Nested or nameless groups do not exist: read on as
				// if the colon were not there.
				continue
			}
			out = append(out, Address{Group: phrase})
			inGroup = true
			continue
		case p.special("<"):
			p.i++
			a := p.angleAddr()
			a.Name = phrase
			p.skipToSeparator()
			out = appendAddress(out, a, p.comment)
		case p.special("@"):
			p.i++
			a := Address{Mailbox: phrase, Host: p.domain()}
			p.skipToSeparator()
			out = appendAddress(out, a, p.comment)
		default:
			// A bare word ("undisclosed-recipients") or junk.
			out = appendAddress(out, Address{Mailbox: phrase}, p.comment)
			if !p.eof() && !p.special(",") && !p.special(";") {
				p.i++ // a stray token
			}
		}
	}
	if inGroup {
		out = append(out, Address{GroupEnd: true})
	}
	return out
}

// angleAddr parses what follows '<': [route ':'] local-part ['@' domain] '>'.
func (p *addrParser) angleAddr() Address {
	var a Address
	if p.special("@") { // obs-route
		var route []string
		for p.special("@") || p.special(",") {
			if p.special(",") {
				p.i++
				continue
			}
			p.i++
			route = append(route, "@"+p.domain())
		}
		if p.special(":") {
			p.i++
		}
		a.Adl = strings.Join(route, ",")
	}
	a.Mailbox = p.words(false)
	if p.special("@") {
		p.i++
		a.Host = p.domain()
	}
	for !p.eof() && !p.special(">") && !p.special(",") && !p.special(";") {
		p.i++
	}
	if p.special(">") {
		p.i++
	}
	return a
}

// appendAddress appends a unless it is entirely empty; a comment stands in
// for a missing display name.
func appendAddress(out []Address, a Address, comment string) []Address {
	if a.Name == "" {
		a.Name = strings.TrimSpace(comment)
	}
	if a.Name == "" && a.Mailbox == "" && a.Host == "" && a.Adl == "" {
		return out
	}
	return append(out, a)
}
