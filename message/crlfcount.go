package message

// CRLFCounter counts the bytes a stream has once its line endings are
// CRLF, by the rule ToCRLF and NewCRLFReader apply: a CRLF stays, a bare LF
// and a bare CR each become CRLF. It is how RFC822.SIZE is computed, so the
// size and the bytes sent always agree. It is an io.Writer.
type CRLFCounter struct {
	N       int64 // bytes so far, in CRLF form
	afterCR bool
}

// Write counts p; it never fails.
func (c *CRLFCounter) Write(p []byte) (int, error) {
	n := int64(len(p))
	for i, b := range p {
		switch b {
		case '\r':
			n++ // CR becomes CRLF; an LF right after it is then not counted
		case '\n':
			if (i == 0 && c.afterCR) || (i > 0 && p[i-1] == '\r') {
				n-- // the LF of a CRLF, counted with its CR
			} else {
				n++ // bare LF becomes CRLF
			}
		}
	}
	if len(p) > 0 {
		c.afterCR = p[len(p)-1] == '\r'
	}
	c.N += n
	return len(p), nil
}
