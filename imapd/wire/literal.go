package wire

import "math"

// announcement is a literal announced at the end of a line: "{" number
// ["+"] "}" or, for literal8, "~{" number ["+"] "}" (RFC 3501 §9, RFC 7888
// §3, RFC 3516 §4.2).
type announcement struct {
	start  int   // offset of "{" or "~" in the line
	size   int64 // math.MaxInt64 if the number overflows
	sync   bool  // no "+"
	binary bool  // "~{"
}

// literalSuffix reports whether line ends with a literal announcement.
// A "{n}" inside a quoted string that runs to the end of the line is not
// one: quoted strings cannot span lines, so the command is malformed and
// the parser will say so, instead of the Reader waiting for octets the
// client never meant to send.
func literalSuffix(line []byte) (announcement, bool) {
	var a announcement
	i := len(line) - 1
	if i < 0 || line[i] != '}' {
		return announcement{}, false
	}
	i--
	a.sync = true
	if i >= 0 && line[i] == '+' {
		a.sync = false
		i--
	}
	end := i + 1
	for i >= 0 && isDigit(line[i]) {
		i--
	}
	if i < 0 || i+1 == end || line[i] != '{' {
		return announcement{}, false
	}
	for _, c := range line[i+1 : end] {
		d := int64(c - '0')
		if a.size > (math.MaxInt64-d)/10 {
			a.size = math.MaxInt64
			break
		}
		a.size = a.size*10 + d
	}
	a.start = i
	if i > 0 && line[i-1] == '~' {
		a.binary = true
		a.start = i - 1
	}
	if inQuote(line[:a.start]) {
		return announcement{}, false
	}
	return a, true
}

// inQuote reports whether a quoted string is open at the end of b.
func inQuote(b []byte) bool {
	in := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"':
			in = !in
		case b[i] == '\\' && in:
			i++
		}
	}
	return in
}

// commandName returns the tag and the upper-case command name ("UID
// FETCH" for UID commands) of a command's first line, as far as they can
// be read; "" for what cannot.
func commandName(line []byte) (tag, name string) {
	p := &parser{buf: line}
	tag, ok := p.tagToken()
	if !ok || !p.accept(' ') {
		return "", ""
	}
	name = p.word()
	if name == "UID" && p.accept(' ') {
		if sub := p.word(); sub != "" {
			name += " " + sub
		}
	}
	return tag, name
}

// isFirstArg reports whether the literal announced at offset start of a
// command's first line is its first argument ("tag APPEND {n}": the
// mailbox name, not a message).
func isFirstArg(line []byte, start int) bool {
	p := &parser{buf: line}
	if _, ok := p.tagToken(); !ok || !p.accept(' ') {
		return false
	}
	p.word()
	return p.accept(' ') && p.pos == start
}
