package message

import "bytes"

// CRLFCounter counts the bytes a stream has once its line endings are
// CRLF, by the rule ToCRLF and NewCRLFReader apply: a CRLF stays, a bare LF
// and a bare CR each become CRLF. It is how RFC822.SIZE is computed, so the
// size and the bytes sent always agree. It is an io.Writer.
type CRLFCounter struct {
	N       int64 // bytes so far, in CRLF form
	afterCR bool
}

// Write counts p; it never fails. Each CR and each LF outside a CRLF
// gains a byte; the counts are vectorised (bytes.Count), and CRLF pairs
// are only looked for when there is a CR.
func (c *CRLFCounter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := int64(len(p))
	if crs := bytes.Count(p, cr); crs > 0 || c.afterCR {
		pairs := bytes.Count(p, crlfPair)
		if c.afterCR && p[0] == '\n' {
			pairs++ // completes the CR that ended the last write
		}
		n += int64(crs+bytes.Count(p, lf)) - 2*int64(pairs)
	} else {
		n += int64(bytes.Count(p, lf))
	}
	c.afterCR = p[len(p)-1] == '\r'
	c.N += n
	return len(p), nil
}

var (
	cr       = []byte{'\r'}
	lf       = []byte{'\n'}
	crlfPair = []byte{'\r', '\n'}
)
