package message

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomMessage writes a random, often malformed, MIME message: nested
// multiparts and messages whose boundaries overlap and prefix one another,
// delimiter lines of any open multipart in any place, headers without blank
// lines, and every kind of line ending.
func randomMessage(r *rand.Rand, depth int, open []string) string {
	eol := func() string { return [...]string{"\n", "\n", "\n", "\r\n", "\r\n", "\r"}[r.IntN(6)] }
	fields := []string{"Subject: x", "From: a@b", " continued", "no colon", "Content-Transfer-Encoding: base64",
		"Content-Type: text/plain", "Content-Type: message/rfc822", "Content-Type: multipart/digest; boundary=%s",
		"Content-Type: multipart/mixed; boundary=%s", "Content-Type: multipart/x; boundary=\"%s\""}
	boundaries := []string{"a", "ab", "abc", "b", "a b", "x--", "=_", "--"}
	var b strings.Builder
	var own string
	for range r.IntN(4) {
		f := fields[r.IntN(len(fields))]
		if strings.Contains(f, "%s") {
			own = boundaries[r.IntN(len(boundaries))]
			f = fmt.Sprintf(f, own)
		}
		b.WriteString(f + eol())
	}
	if r.IntN(5) > 0 {
		b.WriteString(eol())
	}
	open = append(open[:len(open):len(open)], own)
	for range r.IntN(8) {
		switch r.IntN(7) {
		case 0, 1:
			b.WriteString("text" + eol())
		case 2:
			b.WriteString("--" + open[r.IntN(len(open))])
			if r.IntN(3) == 0 {
				b.WriteString("--")
			}
			if r.IntN(3) == 0 {
				b.WriteString(" \t")
			}
			b.WriteString(eol())
		case 3:
			if depth < 6 {
				b.WriteString(randomMessage(r, depth+1, open))
			}
		case 4:
			b.WriteString(eol())
		case 5:
			b.WriteString("--" + eol())
		case 6:
			b.WriteString("Content-Type: multipart/mixed; boundary=a" + eol() + eol() + "--a" + eol())
		}
	}
	return b.String()
}

// TestRandomMessages checks the tree invariants on many random messages,
// some cut short, with the default limits and with tiny ones.
func TestRandomMessages(t *testing.T) {
	n := 30000
	if testing.Short() {
		n = 2000
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		msg := randomMessage(r, 0, nil)
		if r.IntN(3) == 0 && len(msg) > 0 {
			msg = msg[:r.IntN(len(msg))]
		}
		data := []byte(msg)
		for _, lim := range []Limits{DefaultLimits(), {MaxDepth: 2, MaxParts: 4}} {
			root, err := ParseWith(bytes.NewReader(data), int64(len(data)), lim)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkTree(data, root); err != nil {
				t.Fatalf("message %d: %v\n%q", i, err, msg)
			}
			if err := roundTrip(root); err != nil {
				t.Fatalf("message %d: %v\n%q", i, err, msg)
			}
		}
	}
}
