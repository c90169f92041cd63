package wire

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// writeLog is a destination that keeps what it is given and the size of
// each Write. It has no ReadFrom or WriteString, so that every octet
// passes through Write.
type writeLog struct {
	out   bytes.Buffer
	sizes []int
}

func (l *writeLog) Write(p []byte) (int, error) {
	l.sizes = append(l.sizes, len(p))
	return l.out.Write(p)
}

// bigLiteral is the message of the long response's 200 KiB literal.
var bigLiteral = func() string {
	var b strings.Builder
	for i := 0; b.Len() < 200<<10; i++ {
		fmt.Fprintf(&b, "line %d of a long message body\r\n", i)
	}
	return b.String()[:200<<10]
}()

// longResponse writes a FETCH of 5,000 messages with a 200 KiB literal
// in the middle, and its tagged OK, calling Grow first if grow is set;
// it does not flush.
func longResponse(t *testing.T, w *Writer, grow bool) {
	t.Helper()
	if grow {
		w.Grow()
	}
	for i := uint32(1); i <= 5000; i++ {
		w.Untagged().Number(i).Raw(" FETCH (UID ").Number(i + 100).SP().
			Atom("FLAGS").SP().Flags([]string{FlagSeen, "$Label1"}).SP().
			Atom("BODY[HEADER.FIELDS (SUBJECT)]").SP().String(fmt.Sprintf("Subject: message %d", i))
		if i == 2500 {
			w.SP().Atom("BODY[]").SP().LiteralFrom(strings.NewReader(bigLiteral), int64(len(bigLiteral)))
		}
		if err := w.Raw(")").CRLF(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Status("a1", OK, "", "FETCH completed"); err != nil {
		t.Fatal(err)
	}
}

// TestGrowSameOutputFewerWrites: a long response with Grow is the same
// octets as without, reaching the destination in writes of the whole
// 64 KiB buffer but the last one of the Flush, where without Grow no
// write exceeds the 4 KiB buffer.
func TestGrowSameOutputFewerWrites(t *testing.T) {
	var plain, grown writeLog
	w := NewWriter(&plain)
	longResponse(t, w, false)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w = NewWriter(&grown)
	longResponse(t, w, true)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	total := plain.out.Len()
	if total < 400<<10 || !strings.HasSuffix(plain.out.String(), "\r\na1 OK FETCH completed\r\n") {
		t.Fatalf("the response without Grow is %d octets, ending %q", total, plain.out.String()[max(0, total-40):])
	}
	if !bytes.Equal(grown.out.Bytes(), plain.out.Bytes()) {
		a, b := grown.out.Bytes(), plain.out.Bytes()
		i := 0
		for i < min(len(a), len(b)) && a[i] == b[i] {
			i++
		}
		t.Fatalf("with Grow %d octets, without %d; they differ from octet %d: %q vs %q",
			len(a), len(b), i, a[i:min(len(a), i+40)], b[i:min(len(b), i+40)])
	}

	for i, n := range plain.sizes {
		if n > smallBuffer {
			t.Fatalf("without Grow, write %d of %d octets exceeds the small buffer", i, n)
		}
	}
	if len(plain.sizes) < total/smallBuffer {
		t.Errorf("without Grow, %d writes for %d octets", len(plain.sizes), total)
	}
	for i, n := range grown.sizes[:len(grown.sizes)-1] {
		if n < bigBuffer {
			t.Fatalf("with Grow, write %d of %d (not the last) has only %d octets", i, len(grown.sizes), n)
		}
	}
	if want := (total + bigBuffer - 1) / bigBuffer; len(grown.sizes) != want {
		t.Errorf("with Grow, %d writes for %d octets, want %d", len(grown.sizes), total, want)
	}
}

// TestGrowAfterBufferedOutput: output buffered before Grow goes out
// first, in order, and Grow while grown changes nothing.
func TestGrowAfterBufferedOutput(t *testing.T) {
	var plain, grown writeLog
	for _, tc := range []struct {
		dst  *writeLog
		grow bool
	}{{&plain, false}, {&grown, true}} {
		w := NewWriter(tc.dst)
		w.Status("", OK, "", "still here")
		w.Untagged().Number(5000).Raw(" EXISTS")
		if tc.grow {
			w.Grow()
			w.Grow()
		}
		w.CRLF()
		longResponse(t, w, tc.grow)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(grown.out.Bytes(), plain.out.Bytes()) {
		t.Fatalf("output differs with Grow: %d octets, %d without", grown.out.Len(), plain.out.Len())
	}
	if want := "* OK still here\r\n* 5000 EXISTS\r\n* 1 FETCH (UID 101 "; !strings.HasPrefix(grown.out.String(), want) {
		t.Errorf("output starts %q, want %q", grown.out.String()[:len(want)], want)
	}
	// The small buffer's content went out on its own, before the big
	// writes.
	if first := grown.sizes[0]; first != len("* OK still here\r\n* 5000 EXISTS") {
		t.Errorf("first write of %d octets, want the %d buffered before Grow", first, len("* OK still here\r\n* 5000 EXISTS"))
	}
}

// TestGrowFlushReturnsToSmallBuffer: after the Flush that ends a grown
// response, the Writer is back on its 4 KiB buffer: a short response
// waits for the next Flush and comes out exactly, and a long one is
// written 4 KiB at a time.
func TestGrowFlushReturnsToSmallBuffer(t *testing.T) {
	var dst writeLog
	w := NewWriter(&dst)
	longResponse(t, w, true)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	before, writes := dst.out.Len(), len(dst.sizes)

	if err := w.Status("a2", OK, "", "NOOP completed"); err != nil {
		t.Fatal(err)
	}
	if len(dst.sizes) != writes {
		t.Fatalf("a short response reached the destination before Flush")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := dst.out.String()[before:]; got != "a2 OK NOOP completed\r\n" {
		t.Errorf("after Flush: %q, want exactly the short response", got)
	}
	if len(dst.sizes) != writes+1 {
		t.Errorf("the short response took %d writes", len(dst.sizes)-writes)
	}

	before, writes = dst.out.Len(), len(dst.sizes)
	var want strings.Builder
	for i := uint32(1); i <= 1000; i++ {
		w.Untagged().Number(i).Raw(" FETCH (FLAGS ()").Raw(")").CRLF()
		fmt.Fprintf(&want, "* %d FETCH (FLAGS ())\r\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := dst.out.String()[before:]; got != want.String() {
		t.Errorf("output after the grown response differs: %d octets, want %d", len(got), want.Len())
	}
	for _, n := range dst.sizes[writes:] {
		if n > smallBuffer {
			t.Fatalf("a write of %d octets after Flush: the large buffer was kept", n)
		}
	}
}

// TestGrowReset: Reset after Grow discards what was not flushed and
// lends no buffer that still writes to the old destination.
func TestGrowReset(t *testing.T) {
	var old, dst writeLog
	w := NewWriter(&old)
	w.Grow()
	for i := uint32(1); i <= 100; i++ {
		w.Untagged().Number(i).Raw(" EXISTS").CRLF()
	}
	w.Reset(&dst)
	if err := w.Status("a3", OK, "", "STARTTLS completed"); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if old.out.Len() != 0 {
		t.Errorf("the old destination got %q", old.out.String())
	}
	if got := dst.out.String(); got != "a3 OK STARTTLS completed\r\n" {
		t.Errorf("after Reset: %q", got)
	}

	// Grown again, on the new destination only.
	var ref writeLog
	rw := NewWriter(&ref)
	longResponse(t, rw, false)
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	before := dst.out.Len()
	longResponse(t, w, true)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if old.out.Len() != 0 {
		t.Errorf("the old destination got %d octets after the Reset", old.out.Len())
	}
	if !bytes.Equal(dst.out.Bytes()[before:], ref.out.Bytes()) {
		t.Errorf("the grown response after Reset differs: %d octets, want %d", dst.out.Len()-before, ref.out.Len())
	}

	// Another Writer that borrows a large buffer after this one's Reset
	// finds none of its discarded output.
	w.Grow()
	w.Raw("discarded")
	w.Reset(&old)
	var fresh writeLog
	w2 := NewWriter(&fresh)
	w2.Grow()
	w2.Status("a4", OK, "", "fresh")
	if err := w2.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := fresh.out.String(); got != "a4 OK fresh\r\n" {
		t.Errorf("a Writer grown after another's Reset wrote %q", got)
	}
	if old.out.Len() != 0 {
		t.Errorf("discarded output reached a destination: %q", old.out.String())
	}
}
