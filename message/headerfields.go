package message

import (
	"bytes"
	"cmp"
	"slices"
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
	return AppendHeaderFields(nil, header, names, not)
}

// AppendHeaderFields is HeaderFields appending to dst. Without room in
// dst for HeaderFieldsRoom(header) more, it grows it once, first.
func AppendHeaderFields(dst, header []byte, names []string, not bool) []byte {
	out := slices.Grow(dst, HeaderFieldsRoom(header))
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

// HeaderFieldsRoom is room enough for most selections of header's
// fields in CRLF form: all of it, a CR added to a line in 16, and the
// blank line.
func HeaderFieldsRoom(header []byte) int { return len(header) + len(header)/16 + 2 }

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
	if !IsFieldName(name) {
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

// listFields are the header fields mail clients ask for when they list a
// folder (BODY.PEEK[HEADER.FIELDS (...)] of every message: Thunderbird,
// Apple Mail, K-9, mutt, Roundcube, Evolution), lower case, sorted: what
// a store keeps of each header (ListHeader), so that those requests are
// answered without reading the message again. Changing the list changes
// what kept headers cover: a store must then keep them under a new name.
var listFields = []string{
	"bcc", "cc", "chat-version", "content-class", "content-description",
	"content-transfer-encoding", "content-type", "date", "delivered-to",
	"disposition-notification-to", "followup-to", "from", "importance",
	"in-reply-to", "lines", "list-id", "list-post", "list-subscribe",
	"list-unsubscribe", "list-unsubscribe-post", "mail-followup-to",
	"mail-reply-to", "message-id", "mime-version", "newsgroups", "priority",
	"references", "reply-to", "return-path", "sender", "subject", "to",
	"x-label", "x-mailing-list", "x-original-to", "x-priority",
	"x-uniform-type-identifier", "x-universally-unique-identifier",
}

// ListHeader returns what HeaderFields selects of a raw header block
// for the list fields, and whether that is the whole block as IMAP's
// HEADER section gives it (ToCRLF of the block, blank line included).
// HeaderFields(fields, names, false) is then HeaderFields(header,
// names, false) for names that ListFieldsCover, and with whole, any
// section of the header is the same taken from fields as from header.
func ListHeader(header []byte) (fields []byte, whole bool) {
	return AppendListHeader(nil, header)
}

// AppendListHeader is ListHeader appending the fields to dst: out is dst
// and the fields, and allocates only when dst has no room for them.
func AppendListHeader(dst, header []byte) (out []byte, whole bool) {
	out = AppendHeaderFields(dst, header, listFields, false)
	return out, equalCRLF(out[len(dst):], header)
}

// equalCRLF reports whether crlf is ToCRLF(src), converting nothing.
func equalCRLF(crlf, src []byte) bool {
	for len(src) > 0 {
		i := indexEOL(src)
		if i < 0 {
			return bytes.Equal(crlf, src)
		}
		if len(crlf) < i+2 || !bytes.Equal(crlf[:i], src[:i]) || crlf[i] != '\r' || crlf[i+1] != '\n' {
			return false
		}
		crlf = crlf[i+2:]
		if src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n' {
			i++
		}
		src = src[i+1:]
	}
	return len(crlf) == 0
}

// ListFieldsCover reports whether every one of names (any case) is a
// list field, so that ListHeader's fields answer HEADER.FIELDS (names).
func ListFieldsCover(names []string) bool {
	for _, n := range names {
		if _, ok := slices.BinarySearchFunc(listFields, n, compareFoldASCII); !ok {
			return false
		}
	}
	return true
}

// compareFoldASCII compares a lower-case list field with name, ignoring
// the case of name's ASCII letters.
func compareFoldASCII(field, name string) int {
	for i := range min(len(field), len(name)) {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if field[i] != c {
			return cmp.Compare(field[i], c)
		}
	}
	return cmp.Compare(len(field), len(name))
}
