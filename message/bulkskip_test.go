package message

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// bodyBlock writes n random body lines: text, base64-like runs, lines
// beginning with dashes (some of them delimiters of the boundaries
// randomMessage uses), empty lines, every kind of line ending, and now
// and then a line longer than the line reader's window.
func bodyBlock(r *rand.Rand, n int) string {
	eols := [...]string{"\n", "\n", "\n", "\r\n", "\r\n", "\r"}
	lines := [...]string{"", "text", "-", "--", "- x", "--x", "--a", "--a--", "--ab ", "a-", "x--a",
		"TWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmsuTWFueSBoYW5kcyBtYWtlIGxpZ2h0IHdvcmsu", "\t--", "-\r-"}
	var b strings.Builder
	for range n {
		if r.IntN(2000) == 0 {
			b.WriteString(strings.Repeat("y", windowSize+r.IntN(100)))
		} else {
			b.WriteString(lines[r.IntN(len(lines))])
		}
		b.WriteString(eols[r.IntN(len(eols))])
	}
	return b.String()
}

// TestBulkSkipSameTree parses random messages with bodies that span many
// windows both ways, skipping lines in bulk and one at a time, and wants
// the same tree: the bulk path is an optimisation, never a difference.
func TestBulkSkipSameTree(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	r := rand.New(rand.NewPCG(3, 4))
	parse := func(data []byte, lim Limits, bulk bool) *Part {
		t.Helper()
		bulkSkip = bulk
		defer func() { bulkSkip = true }()
		root, err := ParseWith(bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			t.Fatal(err)
		}
		return root
	}
	for i := range n {
		msg := randomMessage(r, 0, nil)
		// Blocks of body lines at random places, header included.
		for range 1 + r.IntN(4) {
			at := r.IntN(len(msg) + 1)
			msg = msg[:at] + bodyBlock(r, r.IntN(3000)) + msg[at:]
		}
		if r.IntN(3) == 0 {
			msg = msg[:r.IntN(len(msg)+1)]
		}
		data := []byte(msg)
		for _, lim := range []Limits{DefaultLimits(), {MaxDepth: 2, MaxParts: 4}} {
			want, got := parse(data, lim, false), parse(data, lim, true)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("message %d (%d bytes): bulk skipping gives another tree\nbulk: %+v\nline by line: %+v",
					i, len(data), got, want)
			}
			if len(data) <= 256<<10 {
				if err := checkTree(data, got); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
		}
	}
}
