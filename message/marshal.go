package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The binary form of a tree, version 1:
//
//	'M' version  node  crc32(IEEE, little endian, of all that precedes)
//
//	node    = flags HeaderStart (BodyStart-HeaderStart) (BodyEnd-BodyStart)
//	          HeaderSize BodySize BodyLines
//	          Type Subtype params ID Description Encoding MD5
//	          Disposition params languages Location
//	          [envelope]                     if flags has flagEnvelope
//	          count *node                    the children
//	envelope = Date Subject InReplyTo MessageID 6*addresses
//	          (From Sender ReplyTo To Cc Bcc)
//	addresses = count *(groupEnd Name Adl Mailbox Host Group)
//	params  = count *(Name Value)
//	languages = count *string
//
// Numbers are unsigned varints, strings a varint length and the bytes.
// Any change to the layout needs a new version; UnmarshalBinary rejects
// versions it does not know with ErrVersion, and the cache re-parses.

const (
	marshalMagic   = 'M'
	marshalVersion = 1

	flagBroken   = 1 << 0
	flagDemoted  = 1 << 1
	flagEnvelope = 1 << 2
	knownFlags   = flagBroken | flagDemoted | flagEnvelope

	// maxOffset bounds decoded offsets and sizes, so sums cannot overflow.
	maxOffset = 1 << 56
)

var (
	// ErrCorrupt is returned by UnmarshalBinary for data that is
	// truncated, damaged or describes an impossible tree.
	ErrCorrupt = errors.New("message: corrupt part tree")
	// ErrVersion is returned by UnmarshalBinary for data written by an
	// unknown version of MarshalBinary.
	ErrVersion = errors.New("message: unknown part tree version")
)

// MarshalBinary encodes the tree rooted at p in a compact, versioned form
// protected by a checksum.
func (p *Part) MarshalBinary() ([]byte, error) {
	b := []byte{marshalMagic, marshalVersion}
	b = p.appendNode(b)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

func (p *Part) appendNode(b []byte) []byte {
	var flags uint64
	if p.Broken {
		flags |= flagBroken
	}
	if p.Demoted {
		flags |= flagDemoted
	}
	if p.Envelope != nil {
		flags |= flagEnvelope
	}
	b = binary.AppendUvarint(b, flags)
	for _, v := range []int64{p.HeaderStart, p.BodyStart - p.HeaderStart, p.BodyEnd - p.BodyStart,
		p.HeaderSize, p.BodySize, p.BodyLines} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = appendStrings(b, p.Type, p.Subtype)
	b = appendParams(b, p.Params)
	b = appendStrings(b, p.ID, p.Description, p.Encoding, p.MD5, p.Disposition)
	b = appendParams(b, p.DispositionParams)
	b = binary.AppendUvarint(b, uint64(len(p.Language)))
	b = appendStrings(b, p.Language...)
	b = appendStrings(b, p.Location)
	if e := p.Envelope; e != nil {
		b = appendStrings(b, e.Date, e.Subject, e.InReplyTo, e.MessageID)
		for _, list := range [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
			b = binary.AppendUvarint(b, uint64(len(list)))
			for _, a := range list {
				end := byte(0)
				if a.GroupEnd {
					end = 1
				}
				b = append(b, end)
				b = appendStrings(b, a.Name, a.Adl, a.Mailbox, a.Host, a.Group)
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(p.Children)))
	for _, c := range p.Children {
		b = c.appendNode(b)
	}
	return b
}

func appendStrings(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func appendParams(b []byte, params []Param) []byte {
	b = binary.AppendUvarint(b, uint64(len(params)))
	for _, p := range params {
		b = appendStrings(b, p.Name, p.Value)
	}
	return b
}

// UnmarshalBinary decodes data written by MarshalBinary into p. It returns
// ErrVersion for an unknown version and ErrCorrupt (wrapped) for anything
// else wrong; it never panics, and allocates in proportion to len(data).
func (p *Part) UnmarshalBinary(data []byte) error {
	if len(data) < 2+4 || data[0] != marshalMagic {
		return fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	if data[1] != marshalVersion {
		return fmt.Errorf("%w %d", ErrVersion, data[1])
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	d := &decoder{b: body[2:]}
	root := d.node(0)
	if d.err == nil && len(d.b) > 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return d.err
	}
	*p = *root
	return nil
}

// decoder reads the binary form; after the first error every read returns
// zero values and err keeps that error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// offset reads a non-negative number bounded by maxOffset.
func (d *decoder) offset() int64 {
	v := d.uvarint()
	if v >= maxOffset {
		d.fail("offset out of range")
		return 0
	}
	return int64(v)
}

// count reads an element count; each element takes at least min bytes.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if v > uint64(len(d.b)/min) {
		d.fail("count out of range")
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string out of range")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) params() []Param {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	ps := make([]Param, n)
	for i := range ps {
		ps[i] = Param{Name: d.string(), Value: d.string()}
	}
	return ps
}

func (d *decoder) addresses() []Address {
	n := d.count(6)
	if n == 0 {
		return nil
	}
	as := make([]Address, n)
	for i := range as {
		if len(d.b) == 0 || d.b[0] > 1 {
			d.fail("bad address")
			return nil
		}
		as[i].GroupEnd = d.b[0] == 1
		d.b = d.b[1:]
		as[i].Name, as[i].Adl, as[i].Mailbox = d.string(), d.string(), d.string()
		as[i].Host, as[i].Group = d.string(), d.string()
	}
	return as
}

// node decodes one part and its subtree, checking the invariants Parse
// guarantees so that the server can rely on them for cached trees too.
func (d *decoder) node(depth int) *Part {
	if depth > hardMaxDepth+1 {
		d.fail("tree too deep")
		return nil
	}
	p := &Part{}
	flags := d.uvarint()
	if flags&^knownFlags != 0 {
		d.fail("unknown flags")
	}
	p.Broken, p.Demoted = flags&flagBroken != 0, flags&flagDemoted != 0
	p.HeaderStart = d.offset()
	p.BodyStart = p.HeaderStart + d.offset()
	p.BodyEnd = p.BodyStart + d.offset()
	p.HeaderSize, p.BodySize, p.BodyLines = d.offset(), d.offset(), d.offset()
	p.Type, p.Subtype = d.string(), d.string()
	p.Params = d.params()
	p.ID, p.Description, p.Encoding, p.MD5 = d.string(), d.string(), d.string(), d.string()
	p.Disposition = d.string()
	p.DispositionParams = d.params()
	if n := d.count(1); n > 0 {
		p.Language = make([]string, n)
		for i := range p.Language {
			p.Language[i] = d.string()
		}
	}
	p.Location = d.string()
	if flags&flagEnvelope != 0 {
		e := &Envelope{}
		e.Date, e.Subject, e.InReplyTo, e.MessageID = d.string(), d.string(), d.string(), d.string()
		e.From, e.Sender, e.ReplyTo = d.addresses(), d.addresses(), d.addresses()
		e.To, e.Cc, e.Bcc = d.addresses(), d.addresses(), d.addresses()
		p.Envelope = e
	}
	n := d.count(8)
	if d.err != nil {
		return nil
	}
	switch {
	case n == 0:
	case p.Type == "multipart":
	case p.Type == "message" && p.Subtype == "rfc822" && n == 1:
	default:
		d.fail("children on a leaf")
		return nil
	}
	if n > 0 {
		p.Children = make([]*Part, n)
	}
	pos := p.BodyStart
	for i := range p.Children {
		c := d.node(depth + 1)
		if d.err != nil {
			return nil
		}
		if c.HeaderStart < pos || c.BodyEnd > p.BodyEnd {
			d.fail("child outside its parent")
			return nil
		}
		pos = c.BodyEnd
		p.Children[i] = c
	}
	return p
}
