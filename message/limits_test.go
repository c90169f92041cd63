package message

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// deepMultipart nests n multiparts, each with its own boundary, around a
// text part, and closes them all.
func deepMultipart(n int) string {
	var b strings.Builder
	b.WriteString("Subject: deep\n")
	for i := range n {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	b.WriteString("\ninnermost\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\n", i)
	}
	return b.String()
}

// deepMessage nests n message/rfc822 parts.
func deepMessage(n int) string {
	return strings.Repeat("Content-Type: message/rfc822\n\n", n) + "Subject: bottom\n\nbody\n"
}

func TestDeepNesting(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
	}{
		{"multipart", deepMultipart(10000)},
		{"message/rfc822", deepMessage(10000)},
		{"same boundary", "Content-Type: multipart/mixed; boundary=x\n\n" +
			strings.Repeat("--x\nContent-Type: multipart/mixed; boundary=x\n\n", 10000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			root, err := Parse(strings.NewReader(tc.msg), int64(len(tc.msg)))
			if err != nil {
				t.Fatal(err)
			}
			// One pass: generous enough for a loaded machine under -race,
			// far below what rescanning per level would take.
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("Parse took %v", el)
			}
			if err := checkTree([]byte(tc.msg), root); err != nil {
				t.Fatal(err)
			}
			if d := maxDepth(root); d > DefaultMaxDepth+1 {
				t.Errorf("depth %d", d)
			}
			var demoted *Part
			root.Walk(func(p *Part) bool {
				if p.Demoted {
					demoted = p
				}
				return demoted == nil
			})
			if demoted == nil || demoted.Type != "application" || demoted.Subtype != "octet-stream" || len(demoted.Children) != 0 {
				t.Errorf("no demoted leaf at the depth cap: %+v", demoted)
			}
			if err := roundTrip(root); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestEncodedMessageIsDemoted(t *testing.T) {
	root := parseString(t, "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeAoK\n")
	if !root.Demoted || root.Type != "application" || len(root.Children) != 0 || root.Encoding != "base64" {
		t.Errorf("got %+v", root)
	}
}

func TestMaxParts(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=p\n\n")
	for i := range 100 {
		fmt.Fprintf(&b, "--p\nContent-Type: multipart/mixed; boundary=q%d\n\n--q%d\n\npart %d\n--q%d--\n", i, i, i, i)
	}
	b.WriteString("--p--\n")
	msg := b.String()
	root, err := ParseWith(strings.NewReader(msg), int64(len(msg)), Limits{MaxDepth: 10, MaxParts: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkTree([]byte(msg), root); err != nil {
		t.Fatal(err)
	}
	if n := countParts(root); n > 7+2 {
		t.Errorf("%d parts", n)
	}
	last := root.Children[len(root.Children)-1]
	if last.BodyEnd != int64(len(msg)) || root.BodyEnd != int64(len(msg)) {
		t.Errorf("the last part should run to the end: %d, %d of %d", last.BodyEnd, root.BodyEnd, len(msg))
	}

	// The full message parses with the defaults.
	if n := countParts(parseString(t, msg)); n != 1+100*2 {
		t.Errorf("%d parts with default limits", n)
	}
}

func TestLongLines(t *testing.T) {
	long := strings.Repeat("x", 3*windowSize+17)
	pad := strings.Repeat(" ", 2*windowSize)
	for _, tc := range []struct {
		name     string
		msg      string
		children int
	}{
		{"long body line", "Subject: x\n\n" + long + "\nend\n", 0},
		{"long header line", "X-Long: " + long + "\nSubject: after\n\nbody", 0},
		{"long line ending in CR at window edge", "Subject: x\n\n" + strings.Repeat("y", windowSize-1) + "\r\n" +
			strings.Repeat("z", windowSize-13) + "\r\nend", 0},
		{"delimiter padded past the window", "Content-Type: multipart/mixed; boundary=w\n\n--w\n\n" + long +
			"\n--w" + pad + "\n\nsecond\n--w--" + pad + "\n", 2},
		{"delimiter-like line with a long tail", "Content-Type: multipart/mixed; boundary=w\n\n--w\n\none\n--w" + pad + "x\n--w--\n", 1},
	} {
		for _, le := range lineEndings {
			t.Run(tc.name+"/"+le.name, func(t *testing.T) {
				msg := le.conv(tc.msg)
				root := parseString(t, msg)
				if len(root.Children) != tc.children {
					t.Errorf("%d children, want %d", len(root.Children), tc.children)
				}
			})
		}
	}
	root := parseString(t, "X-Long: "+long+"\nSubject: after\n\nbody")
	if root.Envelope.Subject != "after" {
		t.Errorf("field after a long line: %q", root.Envelope.Subject)
	}
}

// failingReader fails every read past off.
type failingReader struct {
	r   io.ReaderAt
	off int64
}

var errDisk = errors.New("disk on fire")

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.off {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

func TestReadErrors(t *testing.T) {
	msg := deepMultipart(5)
	if _, err := Parse(failingReader{strings.NewReader(msg), 0}, int64(len(msg))); !errors.Is(err, errDisk) {
		t.Errorf("read error: got %v", err)
	}
	// A file shorter than the size given.
	if _, err := Parse(strings.NewReader(msg), int64(len(msg))+10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short file: got %v", err)
	}
	if _, err := Parse(strings.NewReader(msg), -1); err == nil {
		t.Errorf("negative size accepted")
	}
}

// TestTruncatedPrefixes parses every prefix of a rich message.
func TestTruncatedPrefixes(t *testing.T) {
	for _, le := range lineEndings {
		msg := le.conv(rfc3501Example)
		for i := range len(msg) {
			root := parseString(t, msg[:i])
			if err := roundTrip(root); err != nil {
				t.Fatalf("prefix %d: %v", i, err)
			}
		}
	}
}
