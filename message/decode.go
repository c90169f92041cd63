package message

import (
	"io"
	"slices"
	"sync"

	"golang.org/x/text/transform"
)

// DecodedBody returns the body of p (a part of the message in r) with its
// Content-Transfer-Encoding undone (base64, quoted-printable) and, for a
// text part, its charset converted to UTF-8: the text SEARCH BODY and TEXT
// look in. Decoding is lenient: bytes outside the base64 alphabet are
// skipped, malformed quoted-printable escapes are kept literally, an
// unknown charset is left unconverted. The body of a multipart or
// message/rfc822 part is returned as it is. Read errors of r are returned
// by the reader.
func DecodedBody(p *Part, r io.ReaderAt) io.Reader {
	var body io.Reader = io.NewSectionReader(r, p.BodyStart, p.BodyEnd-p.BodyStart)
	if len(p.Children) > 0 {
		return body
	}
	switch p.Encoding {
	case "base64":
		body = newChunkReader(body, &base64Decoder{})
	case "quoted-printable":
		body = newChunkReader(body, &qpDecoder{})
	}
	if p.Type == "text" {
		if cs := p.Param("charset"); !isUTF8Charset(cs) {
			if enc := LookupCharset(cs); enc != nil {
				body = transform.NewReader(body, enc.NewDecoder())
			}
		}
	}
	return body
}

// converter rewrites a byte stream a chunk at a time, keeping its state
// across chunks.
type converter interface {
	// feed appends the conversion of src to dst.
	feed(dst, src []byte) []byte
	// end appends what is still pending when the input ends.
	end(dst []byte) []byte
}

// chunkReader applies a converter to a reader.
type chunkReader struct {
	src  io.Reader
	conv converter
	in   []byte // read buffer
	buf  []byte // conversion buffer
	out  []byte // the part of buf not yet returned
	err  error  // the source's error, returned once out is drained
}

func newChunkReader(src io.Reader, conv converter) *chunkReader {
	return &chunkReader{src: src, conv: conv}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.in == nil {
			// By the first read: a copy to the network asks for what
			// its buffer has free (a KiB or more), and a FETCH of
			// BODY[] converts each message through a new reader, read
			// to its end; those buffers come from pools. io.ReadAll
			// (SEARCH's text) starts with 512 octets: its own small
			// buffers, as many SEARCH readers are made between two
			// collections, which empty the pools.
			if len(p) >= 1<<10 {
				c.in, c.buf = *chunkIns.Get().(*[]byte), *chunkOuts.Get().(*[]byte)
			} else {
				c.in = make([]byte, 4<<10)
			}
		}
		n, err := c.src.Read(c.in)
		c.buf = c.conv.feed(c.buf[:0], c.in[:n])
		if err != nil {
			c.buf = c.conv.end(c.buf)
			c.err = err
		}
		c.out = c.buf
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	if len(c.out) == 0 && c.err != nil {
		// All is out: a reader under io.CopyN or a LimitReader is
		// not asked again once it has given the last octet.
		c.release()
	}
	return n, nil
}

// release gives the buffers back once all is read; a reader left
// before its end leaves them to the collector.
func (c *chunkReader) release() {
	in, buf := c.in[:cap(c.in)], c.buf[:0]
	c.in, c.buf, c.out = nil, nil, nil
	if len(in) != chunkIn {
		return // not from the pool
	}
	chunkIns.Put(&in)
	if cap(buf) <= 2*chunkIn+64 { // not one a converter grew far
		chunkOuts.Put(&buf)
	}
}

// chunkIn is what a chunkReader reads at a time for a copy to the
// network, from a pool (see Read).
const chunkIn = 32 << 10

var (
	chunkIns  = sync.Pool{New: func() any { b := make([]byte, chunkIn); return &b }}
	chunkOuts = sync.Pool{New: func() any { b := make([]byte, 0, 2*chunkIn+4); return &b }}
)

// base64Decoder decodes base64 leniently: bytes outside the alphabet are
// skipped, and padding ends a quantum early, so concatenated padded blocks
// decode too.
type base64Decoder struct {
	q [4]byte // the current quantum's sextets
	n int     // sextets in q
}

func (d *base64Decoder) feed(dst, src []byte) []byte {
	dst = slices.Grow(dst, len(src)/4*3+3)
	for i := 0; i < len(src); {
		if d.n == 0 {
			// Whole quanta of alphabet octets, the bulk of a line, at once.
			for i+4 <= len(src) {
				a, b, c, e := base64Table[src[i]], base64Table[src[i+1]], base64Table[src[i+2]], base64Table[src[i+3]]
				if (a|b|c|e)&0xc0 != 0 {
					break
				}
				dst = append(dst, a<<2|b>>4, b<<4|c>>2, c<<6|e)
				i += 4
			}
			if i == len(src) {
				break
			}
		}
		c := src[i]
		i++
		v := base64Table[c]
		if v == base64Invalid {
			if c == '=' {
				dst = d.end(dst)
			}
			continue
		}
		d.q[d.n] = v
		d.n++
		if d.n == 4 {
			dst = append(dst, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2, d.q[2]<<6|d.q[3])
			d.n = 0
		}
	}
	return dst
}

// base64Table maps an octet to its sextet in the standard alphabet, or to
// base64Invalid.
var base64Table = func() (t [256]byte) {
	for c := range t {
		v, ok := base64Value(byte(c))
		if !ok {
			v = base64Invalid
		}
		t[c] = v
	}
	return t
}()

const base64Invalid = 0xff

func (d *base64Decoder) end(dst []byte) []byte {
	switch d.n {
	case 2:
		dst = append(dst, d.q[0]<<2|d.q[1]>>4)
	case 3:
		dst = append(dst, d.q[0]<<2|d.q[1]>>4, d.q[1]<<4|d.q[2]>>2)
	}
	d.n = 0
	return dst
}

// base64Value returns the sextet c stands for in the standard alphabet.
func base64Value(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A', true
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26, true
	case '0' <= c && c <= '9':
		return c - '0' + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}

// qpState is where a quoted-printable decoder stands after an '='.
type qpState int

const (
	qpText  qpState = iota // ordinary text
	qpEq                   // after '='
	qpEqHex                // after '=' and one hex digit
	qpEqCR                 // after '=' CR: a soft line break, LF may follow
	qpEqWS                 // after '=' and white space: maybe a soft break
)

// maxQPPad is the most white space between '=' and a line ending still
// taken as a soft line break.
const maxQPPad = 80

// qpDecoder decodes quoted-printable (RFC 2045 §6.7) leniently: "=XX" in
// either case, soft line breaks with or without trailing white space, and
// any other '=' kept as it is. Trailing white space is not removed.
type qpDecoder struct {
	state qpState
	hex   byte   // the digit after '=' in qpEqHex
	ws    []byte // the white space after '=' in qpEqWS
}

func (d *qpDecoder) feed(dst, src []byte) []byte {
	for _, c := range src {
		dst = d.step(dst, c)
	}
	return dst
}

func (d *qpDecoder) step(dst []byte, c byte) []byte {
	switch d.state {
	case qpEq:
		switch {
		case isHex(c):
			d.hex, d.state = c, qpEqHex
			return dst
		case c == '\r':
			d.state = qpEqCR
			return dst
		case c == '\n':
			d.state = qpText
			return dst
		case c == ' ' || c == '\t':
			d.ws, d.state = append(d.ws[:0], c), qpEqWS
			return dst
		}
		dst = append(dst, '=')
	case qpEqHex:
		if isHex(c) {
			d.state = qpText
			return append(dst, unhex(d.hex)<<4|unhex(c))
		}
		dst = append(dst, '=', d.hex)
	case qpEqCR:
		d.state = qpText
		if c == '\n' {
			return dst
		}
	case qpEqWS:
		switch {
		case (c == ' ' || c == '\t') && len(d.ws) < maxQPPad:
			d.ws = append(d.ws, c)
			return dst
		case c == '\r':
			d.state = qpEqCR
			return dst
		case c == '\n':
			d.state = qpText
			return dst
		}
		dst = append(append(dst, '='), d.ws...)
	}
	d.state = qpText
	if c == '=' {
		d.state = qpEq
		return dst
	}
	return append(dst, c)
}

func (d *qpDecoder) end(dst []byte) []byte {
	switch d.state {
	case qpEq:
		dst = append(dst, '=')
	case qpEqHex:
		dst = append(dst, '=', d.hex)
	case qpEqWS:
		dst = append(append(dst, '='), d.ws...)
	}
	d.state = qpText
	return dst
}
