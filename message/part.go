package message

// Part is one node of the MIME tree. Offsets are raw byte offsets in the
// file; sizes and line counts are in CRLF space (see the package comment).
//
// The extent of a part is [HeaderStart, BodyEnd); its header block is
// [HeaderStart, BodyStart) and its body [BodyStart, BodyEnd).
type Part struct {
	// HeaderStart is the raw offset of the first byte of the header block.
	HeaderStart int64
	// BodyStart is the raw offset of the first byte after the blank line
	// that ends the header. When the header has no blank line it is the
	// end of the part, and the body is empty.
	BodyStart int64
	// BodyEnd is the raw offset where the body ends: for a part followed
	// by a boundary, before the line ending that precedes the boundary
	// line (RFC 2046 §5.1.1); otherwise the end of the enclosing range.
	BodyEnd int64

	// HeaderSize is the size of the header block in CRLF space, including
	// the blank line when there is one.
	HeaderSize int64
	// BodySize is the size of the body in CRLF space (BODYSTRUCTURE's
	// body-fld-octets).
	BodySize int64
	// BodyLines is the number of text lines in the body: line endings,
	// plus one for a last line without one (BODYSTRUCTURE's line count).
	BodyLines int64

	// Type and Subtype are the lowercased media type. They default to
	// text/plain, or to message/rfc822 inside multipart/digest.
	Type, Subtype string
	// Params are the Content-Type parameters in order of appearance,
	// names lowercased, values unquoted. RFC 2231 continuations are
	// joined as Dovecot does: an extended parameter keeps its name with a
	// trailing "*" and its value in charset'language'%XX form; use
	// ParamValue for the decoded UTF-8 value. A defaulted or invalid
	// text/plain gets charset=us-ascii, the RFC 2045 §5.2 default.
	Params []Param

	// ID is the raw Content-ID value.
	ID string
	// Description is the raw Content-Description value (not decoded).
	Description string
	// Encoding is the lowercased Content-Transfer-Encoding, "7bit" when
	// absent.
	Encoding string
	// MD5 is the raw Content-MD5 value.
	MD5 string

	// Disposition is the lowercased Content-Disposition type, empty when
	// absent; DispositionParams are its parameters, as for Params.
	Disposition       string
	DispositionParams []Param

	// Language lists the Content-Language tags.
	Language []string
	// Location is the Content-Location value with whitespace removed.
	Location string

	// Envelope is set on the root part and on the nested message (the
	// only child) of each message/rfc822 part.
	Envelope *Envelope

	// Children are the parts of a multipart (at least one), or for
	// message/rfc822 exactly one: the nested message with its own header
	// and body. Every other part has none.
	Children []*Part

	// Broken reports that the part is malformed: a header line that is not
	// a field, an invalid Content-Type, or a multipart without parts or
	// without its closing delimiter (IMAP's [PARSE] warning).
	Broken bool
	// Demoted reports that a multipart or message/rfc822 part could not be
	// expanded (nesting or part limit reached, or a message/rfc822 body
	// with a base64 or quoted-printable encoding) and is presented as an
	// application/octet-stream leaf.
	Demoted bool
}

// Param is one parameter of a Content-Type or Content-Disposition field.
type Param struct {
	// Name is the lowercased parameter name.
	Name string
	// Value is the unquoted value.
	Value string
}

// Envelope holds the fields of IMAP's ENVELOPE (RFC 3501 §7.4.2). Strings
// are the raw unfolded values, empty when the field is absent. Sender and
// ReplyTo are not defaulted to From: that is the server's business.
type Envelope struct {
	Date, Subject, InReplyTo, MessageID string
	From, Sender, ReplyTo, To, Cc, Bcc  []Address
}

// Address is one element of an ENVELOPE address list. A group is a start
// element (Group set, other fields empty) followed by its members and an end
// element (GroupEnd set), as in RFC 3501's group syntax. Host may be empty
// for a malformed address; since NIL host means a group in IMAP, the server
// has to substitute something (Dovecot sends "MISSING_DOMAIN").
type Address struct {
	// Name is the display name (or, failing that, the comment), unquoted
	// and not decoded.
	Name string
	// Adl is the obsolete source route, "@a,@b".
	Adl string
	// Mailbox is the local part, unquoted.
	Mailbox string
	// Host is the domain.
	Host string
	// Group is the group's display name on a group start element.
	Group string
	// GroupEnd marks the end of a group.
	GroupEnd bool
}

// IsMultipart reports whether p is an expanded multipart (it has children).
func (p *Part) IsMultipart() bool {
	return p.Type == "multipart" && len(p.Children) > 0
}

// IsMessage reports whether p is an expanded message/rfc822 part, whose
// only child is the nested message.
func (p *Part) IsMessage() bool {
	return p.Type == "message" && p.Subtype == "rfc822" && len(p.Children) == 1
}

// Param returns the decoded UTF-8 value of the Content-Type parameter name
// (lowercase), or "" if absent. See ParamValue.
func (p *Part) Param(name string) string {
	return ParamValue(p.Params, name)
}

// Find resolves an IMAP section part number ("1.2" is []int{1, 2}) following
// RFC 3501 §6.4.5: the parts of a multipart are numbered from 1; a message
// that is not multipart has a single part 1, its body (Find returns the
// message's own node); the parts of a message/rfc822 part are those of the
// nested message. An empty path returns p itself.
//
// For a message/rfc822 part the returned node is the wrapper; its header is
// the MIME header, Children[0] holds the nested message's HEADER and TEXT.
func (p *Part) Find(path []int) (*Part, bool) {
	msg := p // the message whose parts the next number selects
	var cur *Part
	for _, n := range path {
		if cur != nil {
			switch {
			case cur.IsMultipart():
				if n < 1 || n > len(cur.Children) {
					return nil, false
				}
				cur = cur.Children[n-1]
				continue
			case cur.IsMessage():
				msg = cur.Children[0]
			default:
				return nil, false
			}
		}
		if msg.IsMultipart() {
			if n < 1 || n > len(msg.Children) {
				return nil, false
			}
			cur = msg.Children[n-1]
			continue
		}
		if n != 1 {
			return nil, false
		}
		cur = msg
	}
	if cur == nil {
		return p, true
	}
	return cur, true
}

// Walk calls fn for p and every descendant in depth-first pre-order,
// stopping early when fn returns false.
func (p *Part) Walk(fn func(*Part) bool) bool {
	if !fn(p) {
		return false
	}
	for _, c := range p.Children {
		if !c.Walk(fn) {
			return false
		}
	}
	return true
}
