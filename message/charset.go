package message

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// isUTF8Charset reports whether text in charset needs no conversion:
// UTF-8, US-ASCII or no charset at all.
func isUTF8Charset(charset string) bool {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return true
	}
	return false
}

// LookupCharset returns the encoding called charset, by its WHATWG label
// (which maps ISO-8859-1 to windows-1252, as mail needs) or its IANA name,
// or nil if x/text does not know or support it.
func LookupCharset(charset string) encoding.Encoding {
	name := strings.ToLower(strings.Trim(charset, " \t\""))
	if enc, err := htmlindex.Get(name); err == nil && enc != nil {
		return enc
	}
	if enc, err := ianaindex.MIME.Encoding(name); err == nil && enc != nil {
		return enc
	}
	if enc, err := ianaindex.IANA.Encoding(name); err == nil && enc != nil {
		return enc
	}
	return nil
}

// toUTF8 converts b from charset to UTF-8. ok is false when the charset is
// unknown; the bytes are then returned unconverted.
func toUTF8(charset string, b []byte) (string, bool) {
	if isUTF8Charset(charset) && utf8.Valid(b) {
		return string(b), true
	}
	enc := LookupCharset(charset)
	if enc == nil {
		return string(b), isUTF8Charset(charset)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return string(b), false
	}
	return string(out), true
}
