package message

import (
	"bytes"
	"strings"
)

// This file works on raw header blocks, as read from [HeaderStart,
// BodyStart) of a part. A block ends at its first blank line or at the end
// of the slice. A field is a line with a valid name and a colon, together
// with the continuation lines (starting with SP or HTAB) that follow it.
// Lines that are not fields, and continuation lines before the first
// field, belong to no field and are never selected.

// HeaderFields returns the subset of a raw header block that IMAP's
// BODY[HEADER.FIELDS (names)] (not false) or BODY[HEADER.FIELDS.NOT (names)]
// (not true) selects (RFC 3501 §6.4.5): whole fields, continuation lines
// included, in their original order, names matched without regard to
// case. The result is in CRLF form and ends with the blank line.
func HeaderFields(header []byte, names []string, not bool) []byte {
	var out []byte
	eachField(header, func(name, raw []byte) {
		if name == nil || matchName(name, names) == not {
			return
		}
		out = ToCRLF(out, raw)
		if !bytes.HasSuffix(out, []byte("\r\n")) {
			out = append(out, '\r', '\n')
		}
	})
	return append(out, '\r', '\n')
}

// HeaderValues returns the unfolded values of every field called name (any
// case) in a raw header block, in order, with surrounding white space
// removed.
func HeaderValues(header []byte, name string) []string {
	var vals []string
	eachField(header, func(n, raw []byte) {
		if n == nil || !equalFoldASCII(n, name) {
			return
		}
		v := raw[bytes.IndexByte(raw, ':')+1:]
		v = bytes.ReplaceAll(bytes.ReplaceAll(v, []byte("\n"), nil), []byte("\r"), nil)
		vals = append(vals, strings.Trim(string(v), " \t"))
	})
	return vals
}

// eachField calls fn for each field and each non-field line of the block,
// with raw holding its lines and their line endings; name is nil for a
// line that is not a field.
func eachField(header []byte, fn func(name, raw []byte)) {
	start := -1 // start of the pending field
	var name []byte
	i := 0
	for i < len(header) {
		content, next := nextLine(header, i)
		if len(content) == 0 {
			break
		}
		if content[0] == ' ' || content[0] == '\t' {
			i = next // continuation, or a stray line if start < 0
			continue
		}
		if start >= 0 {
			fn(name, header[start:i])
		}
		start, name = i, fieldName(content)
		i = next
	}
	if start >= 0 {
		fn(name, header[start:i])
	}
}

// nextLine returns the content of the line starting at i, and where the
// next line starts. Lines end at LF, CRLF or a bare CR.
func nextLine(b []byte, i int) ([]byte, int) {
	rest := b[i:]
	k := indexEOL(rest)
	switch {
	case k < 0:
		return rest, len(b)
	case rest[k] == '\r' && k+1 < len(rest) && rest[k+1] == '\n':
		return rest[:k], i + k + 2
	default:
		return rest[:k], i + k + 1
	}
}

// fieldName returns the name of the field line, or nil if it is not one.
func fieldName(line []byte) []byte {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return nil
	}
	name := trimRightWSP(line[:colon])
	if !validFieldName(name) {
		return nil
	}
	return name
}

// matchName reports whether name is one of names, ignoring ASCII case.
func matchName(name []byte, names []string) bool {
	for _, n := range names {
		if equalFoldASCII(name, n) {
			return true
		}
	}
	return false
}

// equalFoldASCII compares b and s, ignoring the case of ASCII letters.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
