package message

import (
	"strconv"
	"strings"
	"testing"
)

// rfc3501Example is the message of the part-numbering example in RFC 3501
// §6.4.5; each leaf's body names its part number.
const rfc3501Example = `Content-Type: MULTIPART/MIXED; boundary=b0
Subject: rfc3501

--b0
Content-Type: TEXT/PLAIN

part 1
--b0
Content-Type: APPLICATION/OCTET-STREAM

part 2
--b0
Content-Type: MESSAGE/RFC822

Subject: part 3
Content-Type: multipart/mixed; boundary=b3

--b3
Content-Type: text/plain

part 3.1
--b3
Content-Type: application/octet-stream

part 3.2
--b3--
--b0
Content-Type: multipart/mixed; boundary=b4

--b4
Content-Type: image/gif

part 4.1
--b4
Content-Type: message/rfc822

Subject: part 4.2
Content-Type: multipart/mixed; boundary=b42

--b42
Content-Type: text/plain

part 4.2.1
--b42
Content-Type: multipart/alternative; boundary=b422

--b422
Content-Type: text/plain

part 4.2.2.1
--b422
Content-Type: text/richtext

part 4.2.2.2
--b422--
--b42--
--b4--
--b0--
`

func parsePath(t *testing.T, s string) []int {
	t.Helper()
	if s == "" {
		return nil
	}
	var path []int
	for _, f := range strings.Split(s, ".") {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad path %q", s)
		}
		path = append(path, n)
	}
	return path
}

func TestFindRFC3501(t *testing.T) {
	root := parseString(t, rfc3501Example)
	for _, tc := range []struct {
		path, ctype string
		leaf        bool // the body is "part <path>"
	}{
		{"", "multipart/mixed", false},
		{"1", "text/plain", true},
		{"2", "application/octet-stream", true},
		{"3", "message/rfc822", false},
		{"3.1", "text/plain", true},
		{"3.2", "application/octet-stream", true},
		{"4", "multipart/mixed", false},
		{"4.1", "image/gif", true},
		{"4.2", "message/rfc822", false},
		{"4.2.1", "text/plain", true},
		{"4.2.2", "multipart/alternative", false},
		{"4.2.2.1", "text/plain", true},
		{"4.2.2.2", "text/richtext", true},
	} {
		p, ok := root.Find(parsePath(t, tc.path))
		if !ok {
			t.Errorf("Find(%s): not found", tc.path)
			continue
		}
		if got := p.Type + "/" + p.Subtype; got != tc.ctype {
			t.Errorf("Find(%s) = %s, want %s", tc.path, got, tc.ctype)
		}
		if body := rfc3501Example[p.BodyStart:p.BodyEnd]; tc.leaf && body != "part "+tc.path {
			t.Errorf("Find(%s) body %q", tc.path, body)
		}
	}
	// 3.HEADER and 4.2.HEADER are the nested messages' headers.
	for _, path := range []string{"3", "4.2"} {
		p, _ := root.Find(parsePath(t, path))
		if s := p.Children[0].Envelope.Subject; s != "part "+path {
			t.Errorf("%s.HEADER subject %q", path, s)
		}
	}
	for _, bad := range []string{"0", "5", "1.1", "2.1", "3.3", "3.0", "4.1.1", "4.3", "4.2.3", "4.2.2.3", "4.2.1.1", "-1"} {
		if p, ok := root.Find(parsePath(t, bad)); ok {
			t.Errorf("Find(%s) = %s/%s, want none", bad, p.Type, p.Subtype)
		}
	}
}

func TestFindSinglePart(t *testing.T) {
	plain := parseString(t, "Subject: x\n\nbody\n")
	if p, ok := plain.Find([]int{1}); !ok || p != plain {
		t.Errorf("Find(1) of a single-part message should be the message itself")
	}
	if p, ok := plain.Find(nil); !ok || p != plain {
		t.Errorf("Find() should be the root")
	}
	for _, bad := range [][]int{{2}, {0}, {1, 1}} {
		if _, ok := plain.Find(bad); ok {
			t.Errorf("Find(%v) found a part", bad)
		}
	}

	// A message that is itself message/rfc822: part 1 is its body, the
	// nested message; 1.1 is the nested message's single part.
	msg := "Content-Type: message/rfc822\n\nSubject: in\n\ninner body\n"
	wrapped := parseString(t, msg)
	if p, ok := wrapped.Find([]int{1}); !ok || p != wrapped {
		t.Errorf("Find(1) should be the root")
	}
	if p, ok := wrapped.Find([]int{1, 1}); !ok || p != wrapped.Children[0] || msg[p.BodyStart:p.BodyEnd] != "inner body\n" {
		t.Errorf("Find(1.1) = %+v", p)
	}
	if _, ok := wrapped.Find([]int{1, 2}); ok {
		t.Errorf("Find(1.2) found a part")
	}

	// message/rfc822 inside a multipart, nesting a single-part message.
	msg = "Content-Type: multipart/mixed; boundary=x\n\n--x\n\none\n--x\nContent-Type: message/rfc822\n\n" +
		"Subject: in\n\ninner\n--x--\n"
	mixed := parseString(t, msg)
	if p, ok := mixed.Find([]int{2, 1}); !ok || msg[p.BodyStart:p.BodyEnd] != "inner" || p.Envelope == nil {
		t.Errorf("Find(2.1) = %+v", p)
	}
	if _, ok := mixed.Find([]int{2, 1, 1}); ok {
		t.Errorf("Find(2.1.1) found a part")
	}
}
