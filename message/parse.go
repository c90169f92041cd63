package message

import (
	"errors"
	"io"
)

// Default limits used by Parse.
const (
	// DefaultMaxDepth is the nesting depth (the root is at depth 0) from
	// which a multipart or message/rfc822 part is no longer expanded.
	DefaultMaxDepth = 100
	// DefaultMaxParts is the number of parts after which boundaries are no
	// longer recognised: the next part is the last and runs to the end.
	DefaultMaxParts = 10000

	// hardMaxDepth caps Limits.MaxDepth, and bounds the depth
	// UnmarshalBinary accepts.
	hardMaxDepth = 1000
	// maxBoundary is the longest boundary parameter accepted (RFC 2046
	// allows 70; real mail is sometimes longer).
	maxBoundary = 998
)

// Limits bound the tree Parse builds from hostile input.
type Limits struct {
	// MaxDepth: a part at this depth or deeper (root = 0) is never
	// expanded; a multipart or message/rfc822 there becomes a Demoted
	// application/octet-stream leaf. At most hardMaxDepth (1000).
	MaxDepth int
	// MaxParts: once this many parts exist, the next part of a multipart
	// is a leaf extending to the end of the message (as Dovecot does).
	MaxParts int
}

// DefaultLimits returns the limits Parse uses.
func DefaultLimits() Limits {
	return Limits{MaxDepth: DefaultMaxDepth, MaxParts: DefaultMaxParts}
}

// Parse reads the message in [0, size) of r and returns its MIME tree. The
// only errors are read errors: any content gives a tree.
func Parse(r io.ReaderAt, size int64) (*Part, error) {
	return ParseWith(r, size, DefaultLimits())
}

// ParseWith is Parse with explicit limits. Limits below 1 are raised to 1.
func ParseWith(r io.ReaderAt, size int64, lim Limits) (*Part, error) {
	if size < 0 {
		return nil, errors.New("message: negative size")
	}
	lim.MaxDepth = min(max(lim.MaxDepth, 1), hardMaxDepth)
	lim.MaxParts = max(lim.MaxParts, 1)
	p := &parser{lr: newLineReader(r, size), lim: lim}
	defer p.lr.release()
	root, _ := p.parsePart(mark{}, 0, kindMessage)
	if p.err != nil {
		return nil, p.err
	}
	return root, nil
}

// partKind says what a part is to its parent, which decides its defaults.
type partKind int

const (
	kindMessage    partKind = iota // a message: root or inside message/rfc822
	kindPart                       // a body part of a multipart
	kindDigestPart                 // a body part of a multipart/digest
)

// parser reads the message once, top to bottom. A part ends at the first
// line that is a delimiter of any enclosing multipart (RFC 2046 §5.1.2), so
// each line is looked at once, against at most MaxDepth boundaries.
type parser struct {
	lr  *lineReader
	lim Limits
	err error // first read error; reading stops there

	bounds []string // boundaries of the open multiparts, outermost first
	parts  int      // parts created so far
	drain  bool     // MaxParts reached: boundaries are no longer seen

	// The peeked line, not yet consumed.
	peeked   bool
	cur      line
	curOK    bool // false at the end of the data
	curBound int  // index in bounds of the boundary cur is a delimiter of, or -1
	curClose bool // cur is a close delimiter

	last mark // content end of the last consumed line
}

// peek returns the next line without consuming it; ok is false at the end
// of the data or after a read error.
func (p *parser) peek() (*line, bool) {
	if !p.peeked {
		p.peeked = true
		p.curOK = false
		p.curBound = -1
		if p.err == nil {
			l, ok, err := p.lr.next()
			p.err = err
			p.cur, p.curOK = l, ok
			if ok {
				p.curBound, p.curClose = p.matchBoundary(&p.cur)
			}
		}
	}
	return &p.cur, p.curOK
}

// consume moves past the peeked line.
func (p *parser) consume() {
	p.last = p.cur.contentEnd()
	p.peeked = false
}

// stop is where a body ends that ran into the peeked line (a delimiter) or
// the end of the data: before the line ending preceding the delimiter
// line, which belongs to the delimiter (RFC 2046 §5.1.1).
func (p *parser) stop() mark {
	if p.curOK {
		return p.last
	}
	return p.lr.pos
}

// matchBoundary finds the innermost open multipart whose delimiter l is:
// "--" boundary, or "--" boundary "--" for a close delimiter, followed by
// nothing but linear white space.
func (p *parser) matchBoundary(l *line) (int, bool) {
	t := l.text
	if p.drain || len(p.bounds) == 0 || len(t) < 3 || t[0] != '-' || t[1] != '-' || !l.blankTail {
		return -1, false
	}
	t = trimRightWSP(t[2:])
	for i := len(p.bounds) - 1; i >= 0; i-- {
		b := p.bounds[i]
		switch {
		case len(t) == len(b) && string(t) == b:
			return i, false
		case len(t) == len(b)+2 && string(t[len(b):]) == "--" && string(t[:len(b)]) == b:
			return i, true
		}
	}
	return -1, false
}

// skipBody consumes lines up to a delimiter or the end and returns where
// the body ends.
func (p *parser) skipBody() mark {
	for {
		if !p.peeked && p.err == nil && bulkSkip {
			// Lines that cannot be delimiters are counted in bulk; only
			// those beginning with "--" need a look of their own.
			if last, ok := p.lr.skipLines(!p.drain && len(p.bounds) > 0); ok {
				p.last = last
			}
		}
		if _, ok := p.peek(); !ok || p.curBound >= 0 {
			return p.stop()
		}
		p.consume()
	}
}

// readHeader consumes the header block starting at start and returns where
// the body starts: after the blank line, or where the part ends when there
// is none.
func (p *parser) readHeader(start mark, h *header) mark {
	for {
		l, ok := p.peek()
		if !ok {
			return p.lr.pos
		}
		if p.curBound >= 0 {
			return later(start, p.last)
		}
		p.consume()
		if l.n == 0 {
			return l.end()
		}
		h.addLine(l.text)
	}
}

// parsePart parses the part whose header starts at start and returns it
// with the position where it ends.
func (p *parser) parsePart(start mark, depth int, kind partKind) (*Part, mark) {
	p.parts++
	part := &Part{HeaderStart: start.raw}
	var h header
	bodyStart := p.readHeader(start, &h)
	boundary := h.apply(part, kind)
	if kind == kindMessage {
		part.Envelope = h.envelope()
	}
	part.BodyStart = bodyStart.raw

	expandable := depth < p.lim.MaxDepth && p.parts < p.lim.MaxParts && !p.drain
	var end mark
	switch {
	case part.Type == "multipart" && expandable:
		end = p.parseMultipart(part, boundary, bodyStart, depth)
	case part.Type == "message" && part.Subtype == "rfc822" && expandable &&
		part.Encoding != "base64" && part.Encoding != "quoted-printable":
		child, cend := p.parsePart(bodyStart, depth+1, kindMessage)
		part.Children = []*Part{child}
		end = cend
	default:
		if part.Type == "multipart" || (part.Type == "message" && part.Subtype == "rfc822") {
			part.Type, part.Subtype, part.Demoted = "application", "octet-stream", true
		}
		end = p.skipBody()
	}
	end = later(end, bodyStart)
	part.BodyEnd = end.raw
	part.HeaderSize = bodyStart.crlf - start.crlf
	part.BodySize = end.crlf - bodyStart.crlf
	part.BodyLines = bodyStart.linesTo(end)
	return part, end
}

// parseMultipart reads the preamble, the body parts and the epilogue of a
// multipart whose body starts at bodyStart, and returns where it ends.
func (p *parser) parseMultipart(part *Part, boundary string, bodyStart mark, depth int) mark {
	kind := kindPart
	if part.Subtype == "digest" {
		kind = kindDigestPart
	}
	p.bounds = append(p.bounds, boundary)
	own := len(p.bounds) - 1
	closed := false
	end := bodyStart
	for !closed {
		l, ok := p.peek()
		if !ok || (p.curBound >= 0 && p.curBound != own) {
			break // end of data, or an enclosing multipart's delimiter
		}
		if p.curBound < 0 {
			p.consume() // preamble
			continue
		}
		closed = p.curClose
		next := l.end()
		p.consume()
		if closed {
			break
		}
		if p.parts >= p.lim.MaxParts {
			p.drain = true
		}
		child, cend := p.parsePart(next, depth+1, kind)
		part.Children = append(part.Children, child)
		end = cend
	}
	p.bounds = p.bounds[:own]
	end = later(p.skipBody(), end) // the epilogue, if any
	if !closed {
		part.Broken = true
	}
	if len(part.Children) == 0 {
		// RFC 2046 requires a body part; like Dovecot, present an empty
		// text/plain one where the multipart ends.
		part.Broken = true
		p.parts++
		part.Children = []*Part{{
			HeaderStart: end.raw, BodyStart: end.raw, BodyEnd: end.raw,
			Type: "text", Subtype: "plain", Params: defaultTextParams(),
			Encoding: "7bit",
		}}
	}
	return end
}

// bulkSkip is off only in tests, which compare parses with it on and off.
var bulkSkip = true

// later returns whichever of a and b is further into the message.
func later(a, b mark) mark {
	if b.raw > a.raw {
		return b
	}
	return a
}

func trimRightWSP(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
