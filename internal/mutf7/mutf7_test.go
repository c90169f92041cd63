package mutf7

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var roundTrips = []struct{ utf8, mutf7 string }{
	{"", ""},
	{"INBOX", "INBOX"},
	{"&", "&-"},
	{"a&b", "a&-b"},
	{"&&", "&-&-"},
	{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	{"Entwürfe", "Entw&APw-rfe"},
	{"é", "&AOk-"},
	{"éé", "&AOkA6Q-"},
	{"ééé", "&AOkA6QDp-"},
	{"é-", "&AOk--"},
	{"-é", "-&AOk-"},
	{"é&", "&AOk-&-"},
	{"&é", "&-&AOk-"},
	{"\x00", "&AAA-"},
	{"\t", "&AAk-"},
	{"\x7f", "&AH8-"},
	{"a\x1fb", "a&AB8-b"},
	{"😀", "&2D3eAA-"},     // U+1F600, surrogate pair D83D DE00
	{"a😀b", "a&2D3eAA-b"}, //
	{"𐐷", "&2AHcNw-"},     // U+10437
	{"\uffff", "&,,8-"},
	{"Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"},
}

func TestEncode(t *testing.T) {
	for _, tc := range roundTrips {
		if got := Encode(tc.utf8); got != tc.mutf7 {
			t.Errorf("Encode(%q) = %q, want %q", tc.utf8, got, tc.mutf7)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range roundTrips {
		got, err := Decode(tc.mutf7)
		if err != nil || got != tc.utf8 {
			t.Errorf("Decode(%q) = %q, %v; want %q, nil", tc.mutf7, got, err, tc.utf8)
		}
	}
}

func TestEncodeInvalidUTF8(t *testing.T) {
	// U+FFFD is FF FD in UTF-16, ",,0" in modified base64.
	if got, want := Encode("a\xffb"), "a&,,0-b"; got != want {
		t.Errorf("Encode(%q) = %q, want %q", "a\xffb", got, want)
	}
}

func TestDecodeInvalid(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"&", "without a closing '-'"},
		{"a&AOk", "without a closing '-'"},
		{"&AGE-", "printable character 'a'"},         // 'a' encoded
		{"&ACY-", "printable character '&'"},         // '&' encoded
		{"&ACA-", "printable character ' '"},         // space encoded
		{"&AOk-&AOk-", "two adjacent base64 runs"},   // must be &AOkA6Q-
		{"&AOl-", "non-zero padding bits"},           // é with padding bit set
		{"&AOkA6R-", "non-zero padding bits"},        //
		{"&A-", "does not end on a UTF-16 unit"},     // 6 bits
		{"&AO-", "does not end on a UTF-16 unit"},    // 12 bits
		{"&AOkA-", "does not end on a UTF-16 unit"},  // 24 bits: 8 padding bits
		{"&AOk=-", "does not end on a UTF-16 unit"},  // '=' padding
		{"&AO*-", "not a modified base64 character"}, //
		{"&AO/-", "not a modified base64 character"}, // '/' is standard base64, not modified
		{"&2D0-", "high surrogate at the end"},       // lone high surrogate
		{"&3gA-", "low surrogate without a high"},    // lone low surrogate
		{"&2D0AQQ-", "not followed by a low surrogate"},
		{"a\x01", "byte 0x01 must be base64-encoded"},
		{"\x7f", "byte 0x7f must be base64-encoded"},
		{"Entwürfe", "must be base64-encoded"}, // raw UTF-8
		{"a\r\nb", "byte 0x0d"},
	} {
		got, err := Decode(tc.in)
		if err == nil {
			t.Errorf("Decode(%q) = %q, want error", tc.in, got)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error = %q, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, tc := range roundTrips {
		f.Add(tc.utf8)
		f.Add(tc.mutf7)
	}
	f.Add("&AGE-")
	f.Fuzz(func(t *testing.T, s string) {
		// Every valid UTF-8 string survives Encode then Decode.
		if utf8.ValidString(s) {
			enc := Encode(s)
			dec, err := Decode(enc)
			if err != nil || dec != s {
				t.Fatalf("Decode(Encode(%q)) = %q, %v (encoded %q)", s, dec, err, enc)
			}
		}
		// Decode accepts only canonical encodings.
		if dec, err := Decode(s); err == nil {
			if enc := Encode(dec); enc != s {
				t.Fatalf("Encode(Decode(%q)) = %q: Decode accepted a non-canonical form", s, enc)
			}
		}
	})
}
