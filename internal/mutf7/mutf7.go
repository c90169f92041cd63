// Package mutf7 implements the modified UTF-7 encoding of IMAP mailbox
// names (RFC 3501 §5.1.3).
//
// In modified UTF-7 the printable US-ASCII characters (0x20–0x7e) stand for
// themselves, except '&', which is written "&-". Every other character is
// written as UTF-16 in a variant of base64 (',' instead of '/', no '='
// padding) between '&' and '-'.
//
// Decode is strict: it accepts exactly the strings that Encode produces, so
// Encode(Decode(s)) == s whenever Decode succeeds. It rejects raw 8-bit and
// control bytes, an unterminated '&', characters outside the base64 alphabet,
// base64 that encodes a printable ASCII character (which must stand for
// itself), two adjacent base64 runs ("&AOk-&AOk-", which must be one run),
// padding bits that are not zero, lengths that do not end on a UTF-16 unit,
// and unpaired surrogates.
package mutf7

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error that Decode returns.
var ErrInvalid = errors.New("mutf7: invalid modified UTF-7")

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// decodeTable maps a byte to its 6-bit value, or 0xff if it is not in the
// modified base64 alphabet.
var decodeTable = func() [256]byte {
	var t [256]byte
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// printable reports whether r stands for itself in modified UTF-7
// ('&' included: it is printable, but written "&-").
func printable(r rune) bool { return r >= 0x20 && r <= 0x7e }

// Encode returns s in modified UTF-7. Bytes of s that are not valid UTF-8
// are encoded as U+FFFD.
func Encode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if printable(rune(c)) {
			b.WriteByte(c)
			if c == '&' {
				b.WriteByte('-')
			}
			i++
			continue
		}
		// A run of characters that need base64.
		var units []uint16
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			if printable(r) {
				break
			}
			i += size
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				units = append(units, uint16(r1), uint16(r2))
			} else {
				units = append(units, uint16(r))
			}
		}
		b.WriteByte('&')
		encodeBase64(&b, units)
		b.WriteByte('-')
	}
	return b.String()
}

// encodeBase64 writes units as big-endian bytes in modified base64 with no
// padding; the unused low bits of the last character are zero.
func encodeBase64(b *strings.Builder, units []uint16) {
	var acc uint32
	bits := 0
	for _, u := range units {
		acc = acc<<16 | uint32(u)
		bits += 16
		for bits >= 6 {
			bits -= 6
			b.WriteByte(alphabet[(acc>>uint(bits))&0x3f])
		}
		acc &= 1<<uint(bits) - 1
	}
	if bits > 0 {
		b.WriteByte(alphabet[(acc<<uint(6-bits))&0x3f])
	}
}

// Decode returns the UTF-8 form of the modified UTF-7 string s, or an
// error wrapping ErrInvalid that says what is wrong and where.
func Decode(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	afterRun := false // the previous token was a base64 run
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '&':
			end := strings.IndexByte(s[i+1:], '-')
			if end < 0 {
				return "", invalid(i, "'&' without a closing '-'")
			}
			run := s[i+1 : i+1+end]
			if run == "" {
				b.WriteByte('&')
				afterRun = false
			} else {
				if afterRun {
					return "", invalid(i, "two adjacent base64 runs must be one")
				}
				if err := decodeRun(&b, run, i+1); err != nil {
					return "", err
				}
				afterRun = true
			}
			i += end + 2
		case printable(rune(c)):
			b.WriteByte(c)
			afterRun = false
			i++
		default:
			return "", invalid(i, fmt.Sprintf("byte 0x%02x must be base64-encoded", c))
		}
	}
	return b.String(), nil
}

// decodeRun decodes one base64 run (without '&' and '-') into b; off is the
// run's offset in the whole string, for error messages.
func decodeRun(b *strings.Builder, run string, off int) error {
	switch len(run) % 8 {
	case 0, 3, 6: // 16k bits plus 0, 2 or 4 padding bits
	default:
		return invalid(off, "base64 run of a length that does not end on a UTF-16 unit")
	}
	var acc uint32
	bits := 0
	var high rune // pending high surrogate, or 0
	for j := 0; j < len(run); j++ {
		v := decodeTable[run[j]]
		if v == 0xff {
			return invalid(off+j, fmt.Sprintf("%q is not a modified base64 character", run[j]))
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits < 16 {
			continue
		}
		bits -= 16
		u := rune(acc >> uint(bits) & 0xffff)
		acc &= 1<<uint(bits) - 1
		switch {
		case high != 0:
			r := utf16.DecodeRune(high, u)
			if r == utf8.RuneError {
				return invalid(off+j, "high surrogate not followed by a low surrogate")
			}
			b.WriteRune(r)
			high = 0
		case u >= 0xd800 && u < 0xdc00:
			high = u
		case u >= 0xdc00 && u < 0xe000:
			return invalid(off+j, "low surrogate without a high surrogate")
		case printable(u):
			return invalid(off+j, fmt.Sprintf("printable character %q must not be base64-encoded", u))
		default:
			b.WriteRune(u)
		}
	}
	if high != 0 {
		return invalid(off+len(run)-1, "high surrogate at the end of a base64 run")
	}
	if acc != 0 {
		return invalid(off+len(run)-1, "non-zero padding bits at the end of a base64 run")
	}
	return nil
}

func invalid(off int, what string) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrInvalid, off, what)
}
