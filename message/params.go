package message

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// This file parses structured MIME field values (RFC 2045 §5.1, RFC 2183,
// RFC 2231) leniently: junk is skipped up to the next ';', never fatal.

func isWSP(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isTSpecial reports RFC 2045 tspecials.
func isTSpecial(c byte) bool { return strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 }

// skipCFWS returns the index of the first byte at or after i that is neither
// white space nor inside a comment.
func skipCFWS(s string, i int) int {
	for i < len(s) {
		switch {
		case isWSP(s[i]):
			i++
		case s[i] == '(':
			i = skipComment(s, i)
		default:
			return i
		}
	}
	return i
}

// skipComment returns the index after the (possibly nested) comment that
// starts at s[i] == '(', or len(s) if it is not closed.
func skipComment(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// nextToken returns the RFC 2045 token starting at i, and the index after it.
func nextToken(s string, i int) (string, int) {
	j := i
	for j < len(s) && s[j] > ' ' && s[j] < 0x7f && !isTSpecial(s[j]) {
		j++
	}
	return s[i:j], j
}

// quotedString returns the unescaped content of the quoted string starting
// at s[i] == '"', and the index after it (len(s) if unterminated).
func quotedString(s string, i int) (string, int) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), len(s)
}

// parseContentType parses "type/subtype *(; parameter)". ok is false when
// there is no type/subtype pair.
func parseContentType(v string) (typ, sub string, params []Param, ok bool) {
	typ, i := nextToken(v, skipCFWS(v, 0))
	i = skipCFWS(v, i)
	if typ == "" || i >= len(v) || v[i] != '/' {
		return "", "", nil, false
	}
	sub, i = nextToken(v, skipCFWS(v, i+1))
	if sub == "" {
		return "", "", nil, false
	}
	return strings.ToLower(typ), strings.ToLower(sub), parseParams(v, i), true
}

// parseParams parses the parameters in v[i:], then joins RFC 2231
// continuations.
func parseParams(v string, i int) []Param {
	var raw []Param
	for i < len(v) {
		i = skipCFWS(v, i)
		if i >= len(v) {
			break
		}
		if v[i] == ';' {
			i++
			continue
		}
		name, j := nextToken(v, i)
		j = skipCFWS(v, j)
		if name == "" || j >= len(v) || v[j] != '=' {
			i = skipTo(v, max(j, i+1), ';')
			continue
		}
		j = skipCFWS(v, j+1)
		var val string
		if j < len(v) && v[j] == '"' {
			val, j = quotedString(v, j)
		} else {
			k := j
			for k < len(v) && v[k] != ';' && v[k] != '(' && !isWSP(v[k]) {
				k++
			}
			val, j = v[j:k], k
		}
		raw = append(raw, Param{Name: strings.ToLower(name), Value: val})
		i = j
	}
	return joinRFC2231(raw)
}

// skipTo returns the index of the first c at or after i, or len(s).
func skipTo(s string, i int, c byte) int {
	if k := strings.IndexByte(s[i:], c); k >= 0 {
		return i + k
	}
	return len(s)
}

// section is one piece of an RFC 2231 parameter.
type section struct {
	n   int
	ext bool // charset-encoded ("name*n*")
	val string
}

// joinRFC2231 merges RFC 2231 sections into one parameter each, in the way
// Dovecot presents them to IMAP clients. A parameter with any encoded
// section is named "name*" with value charset'language'%XX-text: plain
// sections are escaped, and an empty charset and language (two apostrophes)
// are put in front when section 0 is not encoded. A parameter with only
// plain sections keeps its name, the values concatenated. The merged
// parameter takes the place of its first section.
func joinRFC2231(raw []Param) []Param {
	if !slices.ContainsFunc(raw, func(p Param) bool { return strings.Contains(p.Name, "*") }) {
		return raw
	}
	type group struct {
		at   int
		secs []section
	}
	out := make([]Param, 0, len(raw))
	groups := make(map[string]*group)
	for _, p := range raw {
		base, s, ok := splitSection(p.Name)
		if !ok {
			out = append(out, p)
			continue
		}
		g := groups[base]
		if g == nil {
			g = &group{at: len(out)}
			groups[base] = g
			out = append(out, Param{Name: base})
		}
		s.val = p.Value
		g.secs = append(g.secs, s)
	}
	for _, g := range groups {
		secs := g.secs
		slices.SortStableFunc(secs, func(a, b section) int { return cmp.Compare(a.n, b.n) })
		secs = slices.CompactFunc(secs, func(a, b section) bool { return a.n == b.n })
		var b strings.Builder
		if !slices.ContainsFunc(secs, func(s section) bool { return s.ext }) {
			for _, s := range secs {
				b.WriteString(s.val)
			}
			out[g.at].Value = b.String()
			continue
		}
		if secs[0].n != 0 || !secs[0].ext {
			b.WriteString("''")
		}
		for _, s := range secs {
			if s.ext {
				b.WriteString(s.val)
			} else {
				pctEscape(&b, s.val)
			}
		}
		out[g.at].Name += "*"
		out[g.at].Value = b.String()
	}
	return out
}

// splitSection parses an RFC 2231 parameter name: "base*", "base*n" or
// "base*n*". ok is false for an ordinary name.
func splitSection(name string) (string, section, bool) {
	i := strings.IndexByte(name, '*')
	if i <= 0 {
		return "", section{}, false
	}
	base, rest := name[:i], name[i+1:]
	if rest == "" {
		return base, section{ext: true}, true
	}
	var s section
	if s.ext = strings.HasSuffix(rest, "*"); s.ext {
		rest = rest[:len(rest)-1]
	}
	if len(rest) == 0 || len(rest) > 4 || strings.Trim(rest, "0123456789") != "" {
		return "", section{}, false
	}
	s.n, _ = strconv.Atoi(rest)
	return base, s, true
}

// pctEscape writes v with every byte that is not an RFC 2231
// attribute-char written as %XX.
func pctEscape(b *strings.Builder, v string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c > ' ' && c < 0x7f && !isTSpecial(c) && c != '*' && c != '\'' && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// ParamValue returns the value of parameter name (any case) in params,
// decoded to UTF-8: an RFC 2231 "name*" parameter is percent-decoded and
// converted from its charset; an ordinary one has RFC 2047 encoded words
// decoded (a common, if non-standard, practice). It returns "" if absent.
func ParamValue(params []Param, name string) string {
	name = strings.ToLower(name)
	for _, p := range params {
		if p.Name == name+"*" {
			return decodeRFC2231(p.Value)
		}
	}
	for _, p := range params {
		if p.Name == name {
			return DecodeHeaderValue(p.Value)
		}
	}
	return ""
}

// decodeRFC2231 decodes charset'language'%XX-text into UTF-8. Invalid escapes
// are kept as they are; an unknown charset leaves the bytes unconverted.
func decodeRFC2231(v string) string {
	charset, text := "", v
	if i := strings.IndexByte(v, '\''); i >= 0 {
		if j := strings.IndexByte(v[i+1:], '\''); j >= 0 {
			charset, text = v[:i], v[i+1+j+1:]
		}
	}
	b := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		if text[i] == '%' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]) {
			b = append(b, unhex(text[i+1])<<4|unhex(text[i+2]))
			i += 2
			continue
		}
		b = append(b, text[i])
	}
	s, _ := toUTF8(charset, b)
	return s
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
