package message

import (
	"encoding/base64"
	"strings"
)

// DecodeHeaderValue unfolds a raw header value and decodes its RFC 2047
// encoded words (B and Q, any charset x/text knows) into UTF-8. White space
// between adjacent encoded words is dropped (RFC 2047 §6.2), and adjacent
// words in one charset are converted together, so a character split across
// two words survives. A malformed word, or one in an unknown charset, is
// left as it is. Raw 8-bit text outside encoded words is kept unchanged.
func DecodeHeaderValue(raw string) string {
	s := unfold(raw)
	if !strings.Contains(s, "=?") {
		return s
	}
	var out strings.Builder
	var pend []byte        // decoded bytes of the current run of words
	var pendCharset string // their charset
	flush := func() {
		if pend != nil {
			text, _ := toUTF8(pendCharset, pend)
			out.WriteString(text)
			pend = nil
		}
	}
	lastWord := false // the previous thing written was an encoded word
	i := 0
	for i < len(s) {
		k := strings.Index(s[i:], "=?")
		if k < 0 {
			break
		}
		start := i + k
		charset, data, end, ok := encodedWord(s, start)
		if !ok {
			flush()
			out.WriteString(s[i : start+2])
			i, lastWord = start+2, false
			continue
		}
		gap := s[i:start]
		if !lastWord || strings.Trim(gap, " \t") != "" {
			flush()
			out.WriteString(gap)
		}
		if pend != nil && !strings.EqualFold(charset, pendCharset) {
			flush()
		}
		if pend == nil {
			pend, pendCharset = []byte{}, charset
		}
		pend = append(pend, data...)
		i, lastWord = end, true
	}
	flush()
	out.WriteString(s[i:])
	return out.String()
}

// unfold removes the line breaks of a folded header value (RFC 5322 §2.2.3);
// the white space that follows them stays.
func unfold(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return lineBreaks.Replace(s)
}

var lineBreaks = strings.NewReplacer("\r\n", "", "\r", "", "\n", "")

// encodedWord parses the encoded word "=?charset?enc?text?=" at s[i:]. It
// returns the charset (without an RFC 2231 language suffix), the decoded
// bytes and the index after the word. ok is false if the word is malformed
// or its charset unknown.
func encodedWord(s string, i int) (charset string, data []byte, end int, ok bool) {
	rest := s[i+2:]
	q1 := strings.IndexByte(rest, '?')
	if q1 <= 0 || q1+2 >= len(rest) || rest[q1+2] != '?' {
		return "", nil, 0, false
	}
	charset, enc := rest[:q1], rest[q1+1]
	text := rest[q1+3:]
	q2 := strings.Index(text, "?=")
	if q2 < 0 {
		return "", nil, 0, false
	}
	text = text[:q2]
	if strings.ContainsAny(charset, " \t") || strings.ContainsAny(text, " \t?") {
		return "", nil, 0, false
	}
	if star := strings.IndexByte(charset, '*'); star >= 0 {
		charset = charset[:star]
	}
	if !isUTF8Charset(charset) && LookupCharset(charset) == nil {
		return "", nil, 0, false
	}
	switch enc {
	case 'B', 'b':
		data, ok = decodeB(text)
	case 'Q', 'q':
		data, ok = decodeQ(text)
	}
	return charset, data, i + 2 + q1 + 3 + q2 + 2, ok
}

// decodeB decodes the B encoding, tolerating missing padding.
func decodeB(text string) ([]byte, bool) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
	return b, err == nil
}

// decodeQ decodes the Q encoding of RFC 2047 §4.2.
func decodeQ(text string) ([]byte, bool) {
	b := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '_':
			b = append(b, ' ')
		case '=':
			if i+2 >= len(text) || !isHex(text[i+1]) || !isHex(text[i+2]) {
				return nil, false
			}
			b = append(b, unhex(text[i+1])<<4|unhex(text[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return b, true
}
