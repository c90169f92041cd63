package message

import (
	"bytes"
	"strings"
)

// maxFieldValue caps the unfolded value kept for one header field; the rest
// is dropped. It bounds the memory one part can take whatever its header.
const maxFieldValue = 64 << 10

// field identifies the header fields the parser keeps.
type field int

const (
	fContentType field = iota
	fContentTransferEncoding
	fContentID
	fContentDescription
	fContentMD5
	fContentDisposition
	fContentLanguage
	fContentLocation
	fDate
	fSubject
	fFrom
	fSender
	fReplyTo
	fTo
	fCc
	fBcc
	fInReplyTo
	fMessageID
	numFields
)

// lookupField returns the field called name (any case), or -1.
func lookupField(name []byte) field {
	var buf [len("content-transfer-encoding")]byte
	if len(name) > len(buf) {
		return -1
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(name)]) {
	case "content-type":
		return fContentType
	case "content-transfer-encoding":
		return fContentTransferEncoding
	case "content-id":
		return fContentID
	case "content-description":
		return fContentDescription
	case "content-md5":
		return fContentMD5
	case "content-disposition":
		return fContentDisposition
	case "content-language":
		return fContentLanguage
	case "content-location":
		return fContentLocation
	case "date":
		return fDate
	case "subject":
		return fSubject
	case "from":
		return fFrom
	case "sender":
		return fSender
	case "reply-to":
		return fReplyTo
	case "to":
		return fTo
	case "cc":
		return fCc
	case "bcc":
		return fBcc
	case "in-reply-to":
		return fInReplyTo
	case "message-id":
		return fMessageID
	}
	return -1
}

// header collects, line by line, the first occurrence of each field the
// parser keeps, unfolded.
type header struct {
	vals   [numFields][]byte
	seen   [numFields]bool
	cur    field // field receiving continuation lines, or -1
	any    bool  // a field line has been seen
	broken bool  // a line was neither a field nor a continuation
}

// addLine adds one (non-empty) header line.
func (h *header) addLine(text []byte) {
	if text[0] == ' ' || text[0] == '\t' {
		if !h.any {
			h.broken = true
		}
		if h.any && h.cur >= 0 {
			h.appendValue(text)
		}
		return
	}
	h.any = true
	h.cur = -1
	colon := bytes.IndexByte(text, ':')
	if colon < 0 {
		h.broken = true
		return
	}
	name := trimRightWSP(text[:colon])
	if !IsFieldName(name) {
		h.broken = true
		return
	}
	f := lookupField(name)
	if f < 0 || h.seen[f] {
		return
	}
	h.seen[f] = true
	h.cur = f
	h.appendValue(text[colon+1:])
}

func (h *header) appendValue(b []byte) {
	v := h.vals[h.cur]
	if room := maxFieldValue - len(v); len(b) > room {
		b = b[:room]
	}
	h.vals[h.cur] = append(v, b...)
}

// value returns the unfolded value of f with surrounding white space
// removed, and whether the field was present.
func (h *header) value(f field) (string, bool) {
	return string(bytes.Trim(h.vals[f], " \t")), h.seen[f]
}

// IsFieldName reports whether name is an RFC 5322 field name: printable
// US-ASCII except colon (the colon cannot occur here). Every reader of
// header fields goes by it, so that a line is a field to all or to none.
func IsFieldName[T ~string | ~[]byte](name T) bool {
	if len(name) == 0 {
		return false
	}
	for i := range len(name) {
		if c := name[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// defaultTextParams are the parameters of the RFC 2045 §5.2 default type.
func defaultTextParams() []Param {
	return []Param{{Name: "charset", Value: "us-ascii"}}
}

// apply sets the Content-* fields of part from the header and returns the
// boundary of a multipart. A multipart without a usable boundary, like any
// invalid Content-Type, becomes text/plain; charset=us-ascii (RFC 2045 §5.2).
func (h *header) apply(part *Part, kind partKind) string {
	part.Broken = h.broken
	var boundary string
	ct, ok := h.value(fContentType)
	switch {
	case ok:
		typ, sub, params, valid := parseContentType(ct)
		if valid && typ == "multipart" {
			boundary, valid = validBoundary(params)
		}
		if !valid {
			typ, sub, params = "text", "plain", defaultTextParams()
			part.Broken = true
		}
		part.Type, part.Subtype, part.Params = typ, sub, params
	case kind == kindDigestPart:
		part.Type, part.Subtype = "message", "rfc822"
	default:
		part.Type, part.Subtype, part.Params = "text", "plain", defaultTextParams()
	}

	part.Encoding = "7bit"
	if v, _ := h.value(fContentTransferEncoding); v != "" {
		if tok, _ := nextToken(v, skipCFWS(v, 0)); tok != "" {
			part.Encoding = strings.ToLower(tok)
		}
	}
	part.ID, _ = h.value(fContentID)
	part.Description, _ = h.value(fContentDescription)
	part.MD5, _ = h.value(fContentMD5)
	if v, ok := h.value(fContentDisposition); ok {
		i := skipCFWS(v, 0)
		if tok, j := nextToken(v, i); tok != "" {
			part.Disposition = strings.ToLower(tok)
			part.DispositionParams = parseParams(v, j)
		}
	}
	if v, ok := h.value(fContentLanguage); ok {
		part.Language = parseLanguages(v)
	}
	if v, ok := h.value(fContentLocation); ok {
		part.Location = strings.Join(strings.Fields(v), "")
	}
	return boundary
}

// validBoundary returns the boundary parameter if it is usable.
func validBoundary(params []Param) (string, bool) {
	for _, p := range params {
		if p.Name == "boundary" {
			b := strings.TrimRight(p.Value, " \t")
			return b, b != "" && len(b) <= maxBoundary
		}
	}
	return "", false
}

// parseLanguages splits a Content-Language value (RFC 3282) into its tags.
func parseLanguages(v string) []string {
	var tags []string
	i := 0
	for i < len(v) {
		i = skipCFWS(v, i)
		if i >= len(v) {
			break
		}
		if v[i] == ',' {
			i++
			continue
		}
		j := i
		for j < len(v) && v[j] != ',' && v[j] != '(' && !isWSP(v[j]) {
			j++
		}
		if j == i { // a stray character: skip it
			j++
		} else {
			tags = append(tags, v[i:j])
		}
		i = j
	}
	return tags
}

// envelope returns the ENVELOPE fields of a message header.
func (h *header) envelope() *Envelope {
	e := &Envelope{}
	e.Date, _ = h.value(fDate)
	e.Subject, _ = h.value(fSubject)
	e.InReplyTo, _ = h.value(fInReplyTo)
	e.MessageID, _ = h.value(fMessageID)
	addrs := func(f field) []Address {
		v, ok := h.value(f)
		if !ok {
			return nil
		}
		return parseAddressList(v)
	}
	e.From = addrs(fFrom)
	e.Sender = addrs(fSender)
	e.ReplyTo = addrs(fReplyTo)
	e.To = addrs(fTo)
	e.Cc = addrs(fCc)
	e.Bcc = addrs(fBcc)
	return e
}
