package message

import "io"

// ToCRLF appends src to dst with every line ending (LF, CRLF or a bare CR)
// written as CRLF, and returns the extended buffer. src is taken as a whole:
// a CR at its very end becomes CRLF. To convert a stream in pieces, use
// NewCRLFReader, which carries the state across reads.
func ToCRLF(dst, src []byte) []byte {
	var c crlfState
	return c.convert(dst, src)
}

// crlfState converts line endings across chunk boundaries: a CR at the end
// of one chunk is written as CRLF at once, and an LF opening the next chunk
// is then dropped.
type crlfState struct {
	afterCR bool
}

func (c *crlfState) convert(dst, src []byte) []byte {
	for len(src) > 0 {
		if c.afterCR && src[0] == '\n' {
			src = src[1:]
		}
		c.afterCR = false
		i := indexEOL(src)
		if i < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:i]...)
		dst = append(dst, '\r', '\n')
		c.afterCR = src[i] == '\r'
		src = src[i+1:]
	}
	return dst
}

func (c *crlfState) feed(dst, src []byte) []byte { return c.convert(dst, src) }

// end has nothing to add: a final CR was written as CRLF already.
func (c *crlfState) end(dst []byte) []byte { return dst }

// NewCRLFReader returns a reader that yields r's bytes with every line
// ending written as CRLF, as ToCRLF does.
func NewCRLFReader(r io.Reader) io.Reader {
	return newChunkReader(r, &crlfState{})
}
