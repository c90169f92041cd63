package message

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// parseString parses msg, failing the test on error, and checks the tree's
// invariants against the bytes.
func parseString(t testing.TB, msg string) *Part {
	t.Helper()
	root, err := Parse(strings.NewReader(msg), int64(len(msg)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := checkTree([]byte(msg), root); err != nil {
		t.Fatalf("invariant: %v\nmessage: %q", err, msg)
	}
	return root
}

// crlfLines counts text lines the simple way: CRLFs, plus a partial last
// line.
func crlfLines(b []byte) int64 {
	n := int64(bytes.Count(b, []byte("\r\n")))
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\r\n")) {
		n++
	}
	return n
}

// checkTree verifies what the package documentation promises about a tree
// parsed from data, computing sizes and line counts independently of the
// parser: from a map of raw offsets to CRLF-space offsets built byte by
// byte and, for inputs up to 64 KiB, also by converting each range alone
// with ToCRLF.
func checkTree(data []byte, root *Part) error {
	if root.Envelope == nil {
		return fmt.Errorf("root without envelope")
	}
	return checkPart(newCRLFMap(data), root, 0, true)
}

// crlfMap maps raw offsets of a message into CRLF space.
type crlfMap struct {
	data []byte
	at   []int64 // at[i]: CRLF-space offset of raw offset i
	eols []int64 // eols[k]: line endings in the first k CRLF-space bytes
}

func newCRLFMap(data []byte) *crlfMap {
	m := &crlfMap{data: data, at: make([]int64, len(data)+1)}
	var out int64
	for i, c := range data {
		m.at[i] = out
		switch {
		case c == '\n' && i > 0 && data[i-1] == '\r':
			// the LF of a CRLF: counted with its CR
		case c == '\r' || c == '\n':
			out += 2
		default:
			out++
		}
	}
	m.at[len(data)] = out
	conv := ToCRLF(nil, data)
	m.eols = make([]int64, len(conv)+1)
	for k := range conv {
		m.eols[k+1] = m.eols[k]
		if k > 0 && conv[k-1] == '\r' && conv[k] == '\n' {
			m.eols[k+1]++
		}
	}
	return m
}

// span returns the CRLF-space size and text lines of the raw range [a, b).
func (m *crlfMap) span(a, b int64) (size, lines int64, err error) {
	for _, off := range []int64{a, b} {
		if off > 0 && off < int64(len(m.data)) && m.data[off] == '\n' && m.data[off-1] == '\r' {
			return 0, 0, fmt.Errorf("offset %d splits a CRLF", off)
		}
	}
	x, y := m.at[a], m.at[b]
	size = y - x
	lines = m.eols[y] - m.eols[x]
	if size > 0 && !(y >= 2 && m.eols[y] > m.eols[y-1]) {
		lines++ // a partial last line
	}
	if len(m.data) <= 1<<16 {
		conv := ToCRLF(nil, m.data[a:b])
		if int64(len(conv)) != size || crlfLines(conv) != lines {
			return 0, 0, fmt.Errorf("[%d,%d): %d octets, %d lines alone; %d, %d in the whole",
				a, b, len(conv), crlfLines(conv), size, lines)
		}
	}
	return size, lines, nil
}

func checkPart(m *crlfMap, p *Part, depth int, isMessage bool) error {
	size := int64(len(m.data))
	if !(0 <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.BodyEnd && p.BodyEnd <= size) {
		return fmt.Errorf("offsets %d %d %d outside [0,%d] or out of order", p.HeaderStart, p.BodyStart, p.BodyEnd, size)
	}
	hsize, _, err := m.span(p.HeaderStart, p.BodyStart)
	if err != nil {
		return err
	}
	bsize, blines, err := m.span(p.BodyStart, p.BodyEnd)
	if err != nil {
		return err
	}
	if p.HeaderSize != hsize {
		return fmt.Errorf("part at %d: HeaderSize %d, want %d", p.HeaderStart, p.HeaderSize, hsize)
	}
	if p.BodySize != bsize {
		return fmt.Errorf("part at %d: BodySize %d, want %d", p.HeaderStart, p.BodySize, bsize)
	}
	if p.BodyLines != blines {
		return fmt.Errorf("part at %d: BodyLines %d, want %d", p.HeaderStart, p.BodyLines, blines)
	}
	if (p.Envelope != nil) != isMessage {
		return fmt.Errorf("part at %d: envelope %v, message %v", p.HeaderStart, p.Envelope != nil, isMessage)
	}
	if p.Type == "" || p.Subtype == "" || p.Encoding == "" {
		return fmt.Errorf("part at %d: empty type or encoding", p.HeaderStart)
	}
	rfc822 := p.Type == "message" && p.Subtype == "rfc822"
	switch {
	case p.Type == "multipart" && len(p.Children) == 0:
		return fmt.Errorf("part at %d: multipart without children", p.HeaderStart)
	case rfc822 && len(p.Children) != 1:
		return fmt.Errorf("part at %d: message/rfc822 with %d children", p.HeaderStart, len(p.Children))
	case len(p.Children) > 0 && p.Type != "multipart" && !rfc822:
		return fmt.Errorf("part at %d: %s/%s with children", p.HeaderStart, p.Type, p.Subtype)
	case len(p.Children) > 0 && depth >= DefaultMaxDepth:
		return fmt.Errorf("part at %d: children at depth %d", p.HeaderStart, depth)
	}
	pos := p.BodyStart
	for _, c := range p.Children {
		if c.HeaderStart < pos || c.BodyEnd > p.BodyEnd {
			return fmt.Errorf("child [%d,%d) outside parent body [%d,%d) or overlapping (pos %d)",
				c.HeaderStart, c.BodyEnd, p.BodyStart, p.BodyEnd, pos)
		}
		if rfc822 && c.HeaderStart != p.BodyStart {
			return fmt.Errorf("nested message at %d, want %d", c.HeaderStart, p.BodyStart)
		}
		pos = c.BodyEnd
		if err := checkPart(m, c, depth+1, rfc822); err != nil {
			return err
		}
	}
	return nil
}

// roundTrip marshals and unmarshals p and compares.
func roundTrip(p *Part) error {
	b, err := p.MarshalBinary()
	if err != nil {
		return fmt.Errorf("MarshalBinary: %v", err)
	}
	var q Part
	if err := q.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("UnmarshalBinary: %v", err)
	}
	if !reflect.DeepEqual(p, &q) {
		return fmt.Errorf("round trip differs:\n got %+v\nwant %+v", &q, p)
	}
	return nil
}

// maxDepth returns the depth of the deepest part (root = 0).
func maxDepth(p *Part) int {
	d := 0
	for _, c := range p.Children {
		d = max(d, 1+maxDepth(c))
	}
	return d
}

// countParts returns the number of parts in the tree.
func countParts(p *Part) int {
	n := 0
	p.Walk(func(*Part) bool { n++; return true })
	return n
}
