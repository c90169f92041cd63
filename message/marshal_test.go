package message

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

func TestMarshalRoundTrip(t *testing.T) {
	for _, tc := range parseCases {
		if err := roundTrip(parseString(t, tc.msg)); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	root := parseString(t, rfc3501Example)
	// Fields the parser leaves empty in these messages.
	root.Language = []string{"en", "de"}
	root.Location = "http://example.org/x"
	root.MD5 = "Q2hlY2sgSW50ZWdyaXR5IQ=="
	root.Envelope.Bcc = []Address{{Group: "g"}, {Name: "n", Adl: "@a,@b", Mailbox: "m", Host: "h"}, {GroupEnd: true}}
	if err := roundTrip(root); err != nil {
		t.Error(err)
	}
}

func TestUnmarshalTruncated(t *testing.T) {
	b, err := parseString(t, rfc3501Example).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(b) {
		var p Part
		if err := p.UnmarshalBinary(b[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d: err = %v", i, len(b), err)
		}
	}
	var p Part
	if err := p.UnmarshalBinary(append(b, 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: err = %v", err)
	}
	v2 := append([]byte{}, b...)
	v2[1] = 2
	if err := p.UnmarshalBinary(v2); !errors.Is(err, ErrVersion) {
		t.Errorf("version 2: err = %v", err)
	}
}

// TestUnmarshalCorrupt damages every byte, with and without fixing the
// checksum, so that the structural checks are reached too.
func TestUnmarshalCorrupt(t *testing.T) {
	b, err := parseString(t, rfc3501Example).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	body := b[:len(b)-4]
	for i := 2; i < len(body); i++ {
		for _, v := range []byte{0, 1, 0x7f, 0x80, 0xff, body[i] ^ 0x20} {
			if v == body[i] {
				continue
			}
			bad := append([]byte{}, body...)
			bad[i] = v
			var p Part
			if err := p.UnmarshalBinary(binary.LittleEndian.AppendUint32(append([]byte{}, bad...), crc32.ChecksumIEEE(body))); err == nil {
				t.Fatalf("byte %d = %#x: checksum not checked", i, v)
			}
			fixed := binary.LittleEndian.AppendUint32(bad, crc32.ChecksumIEEE(bad))
			if err := p.UnmarshalBinary(fixed); err == nil {
				// Accepted data must still be a tree the server can walk,
				// whatever its strings say.
				if !structurallySound(&p) {
					t.Fatalf("byte %d = %#x: accepted an unsound tree", i, v)
				}
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d = %#x: err = %v", i, v, err)
			}
		}
	}
}

// structurallySound checks the invariants UnmarshalBinary promises.
func structurallySound(p *Part) bool {
	if p.HeaderStart > p.BodyStart || p.BodyStart > p.BodyEnd {
		return false
	}
	if len(p.Children) > 0 && p.Type != "multipart" && !(p.Type == "message" && p.Subtype == "rfc822" && len(p.Children) == 1) {
		return false
	}
	pos := p.BodyStart
	for _, c := range p.Children {
		if c.HeaderStart < pos || c.BodyEnd > p.BodyEnd || !structurallySound(c) {
			return false
		}
		pos = c.BodyEnd
	}
	return true
}

func TestUnmarshalHostileCounts(t *testing.T) {
	// A valid checksum over a node claiming 2^40 children.
	b := []byte{marshalMagic, marshalVersion}
	b = binary.AppendUvarint(b, 0) // flags
	for range 6 {
		b = binary.AppendUvarint(b, 0)
	}
	b = appendStrings(b, "multipart", "mixed")
	b = binary.AppendUvarint(b, 0) // params
	b = appendStrings(b, "", "", "7bit", "", "")
	b = binary.AppendUvarint(b, 0) // disposition params
	b = binary.AppendUvarint(b, 0) // languages
	b = appendStrings(b, "")
	b = binary.AppendUvarint(b, 1<<40)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	var p Part
	if err := p.UnmarshalBinary(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v", err)
	}
}
