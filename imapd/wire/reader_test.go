package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// conn is a test client: what the client sends, and the continuation
// requests the server's Continue hook would have sent.
type conn struct {
	r     *Reader
	asked []LiteralInfo // Continue calls
}

func newConn(input string, opts ReaderOptions) *conn {
	c := &conn{}
	if opts.Continue == nil {
		opts.Continue = func(info LiteralInfo) error {
			c.asked = append(c.asked, info)
			return nil
		}
	}
	c.r = NewReader(strings.NewReader(input), opts)
	return c
}

func (c *conn) read(t *testing.T) string {
	t.Helper()
	b, err := c.r.ReadCommand()
	if err != nil {
		t.Fatalf("ReadCommand: %v", err)
	}
	return string(b)
}

func TestReadCommand(t *testing.T) {
	c := newConn("a NOOP\r\nb NOOP\nc LOGIN {4}\r\nfred {3+}\r\nbob\r\nd APPEND x ~{3}\r\na\x00b\r\n", ReaderOptions{})
	for _, want := range []string{"a NOOP", "b NOOP", "c LOGIN {4}\r\nfred {3+}\r\nbob", "d APPEND x ~{3}\r\na\x00b"} {
		if got := c.read(t); got != want {
			t.Errorf("ReadCommand = %q, want %q", got, want)
		}
	}
	want := []LiteralInfo{
		{Tag: "c", Name: "LOGIN", Size: 4, Sync: true},
		{Tag: "d", Name: "APPEND", Size: 3, Sync: true, Binary: true, Message: true},
	}
	if fmt.Sprint(c.asked) != fmt.Sprint(want) {
		t.Errorf("Continue calls %+v, want %+v", c.asked, want)
	}
	if _, err := c.r.ReadCommand(); err != io.EOF {
		t.Errorf("at end: %v, want io.EOF", err)
	}
}

func TestReadCommandLiteralInfo(t *testing.T) {
	c := newConn("t1 APPEND {5}\r\nINBOX (\\Seen) {3}\r\nabc {2}\r\nde\r\nt2 UID FETCH 1 BODY[HEADER.FIELDS ({4}\r\nFrom)]\r\n", ReaderOptions{})
	c.read(t)
	c.read(t)
	want := []LiteralInfo{
		{Tag: "t1", Name: "APPEND", Size: 5, Sync: true},                          // the mailbox name
		{Tag: "t1", Name: "APPEND", Size: 3, Sync: true, Message: true, Index: 1}, // first message
		{Tag: "t1", Name: "APPEND", Size: 2, Sync: true, Message: true, Index: 2}, // MULTIAPPEND
		{Tag: "t2", Name: "UID FETCH", Size: 4, Sync: true},
	}
	if fmt.Sprint(c.asked) != fmt.Sprint(want) {
		t.Errorf("Continue calls\n got %+v\nwant %+v", c.asked, want)
	}
}

func TestReadCommandQuotedBrace(t *testing.T) {
	// A "{3}" inside an unterminated quoted string is not a literal.
	c := newConn("a LOGIN \"x {3}\r\nb NOOP\r\n", ReaderOptions{})
	if got := c.read(t); got != `a LOGIN "x {3}` {
		t.Errorf("got %q", got)
	}
	if got := c.read(t); got != "b NOOP" || len(c.asked) != 0 {
		t.Errorf("got %q, asked %v", got, c.asked)
	}
	c = newConn("a LOGIN \"x\\\"\" {3}\r\nabc\r\n", ReaderOptions{})
	if got := c.read(t); got != "a LOGIN \"x\\\"\" {3}\r\nabc" {
		t.Errorf("got %q", got)
	}
}

func TestReadCommandLineTooLong(t *testing.T) {
	// The rest of an overlong line is read and thrown away: the client
	// stays in step and gets BAD, with its tag.
	long := "a LOGIN " + strings.Repeat("x", 70<<10) + "\r\nb NOOP\r\n"
	c := newConn(long, ReaderOptions{})
	_, err := c.r.ReadCommand()
	var le *LineError
	if !errors.As(err, &le) || IsFatal(err) || le.Tag != "a" {
		t.Fatalf("70 KiB line: %v (%+v), want a LineError for tag a, not fatal", err, le)
	}
	if got := c.read(t); got != "b NOOP" {
		t.Fatalf("after the long line: %q", got)
	}
	// ... up to 16 times MaxLine (past the Reader's buffer); beyond, the connection is given up.
	c = newConn("a LOGIN "+strings.Repeat("x", 100*100)+"\r\nb NOOP\r\n", ReaderOptions{Limits: Limits{MaxLine: 100}})
	if _, err := c.r.ReadCommand(); !errors.Is(err, ErrLineTooLong) || !IsFatal(err) {
		t.Fatalf("line of 17 times MaxLine: %v, want fatal", err)
	}
	// An overlong line that announces a non-synchronising literal: the
	// literal goes too. A synchronising one is never sent.
	c = newConn("a SELECT "+strings.Repeat("x", 200)+" {5+}\r\nhello\r\nb NOOP\r\n", ReaderOptions{Limits: Limits{MaxLine: 100}})
	if _, err := c.r.ReadCommand(); !errors.Is(err, ErrLineTooLong) || IsFatal(err) {
		t.Fatalf("long line with a literal: %v", err)
	}
	if got := c.read(t); got != "b NOOP" {
		t.Fatalf("after the long line and its literal: %q", got)
	}

	// Exactly MaxLine is fine, one more is not, with CRLF or LF.
	for _, tc := range []struct {
		n   int
		end string
		ok  bool
	}{{100, "\r\n", true}, {100, "\n", true}, {101, "\r\n", false}, {101, "\n", false}} {
		line := "a " + strings.Repeat("x", tc.n-2)
		c := newConn(line+tc.end, ReaderOptions{Limits: Limits{MaxLine: 100}})
		got, err := c.r.ReadCommand()
		if tc.ok && (err != nil || string(got) != line) {
			t.Errorf("line of %d with %q: %v", tc.n, tc.end, err)
		}
		if !tc.ok && !errors.Is(err, ErrLineTooLong) {
			t.Errorf("line of %d with %q: %v, want ErrLineTooLong", tc.n, tc.end, err)
		}
	}
	// ReadLine is bounded too.
	c = newConn(strings.Repeat("A", 70<<10)+"\r\nDONE\r\n", ReaderOptions{})
	if _, err := c.r.ReadLine(); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("ReadLine: %v", err)
	}
}

func literalError(t *testing.T, err error) *LiteralError {
	t.Helper()
	var le *LiteralError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T), want *LiteralError", err, err)
	}
	return le
}

func TestReadCommandSyncLiteralTooLarge(t *testing.T) {
	// A 10 MiB synchronising literal to LOGIN is refused before "+"; the
	// client, waiting for "+", gets a tagged NO and sends its next command.
	c := newConn("a LOGIN {10485760}\r\nb NOOP\r\n", ReaderOptions{})
	_, err := c.r.ReadCommand()
	le := literalError(t, err)
	if !errors.Is(err, ErrLiteralTooLarge) || le.Fatal || IsFatal(err) || le.Limit != DefaultMaxLiteral {
		t.Fatalf("got %+v", le)
	}
	if le.Literal.Tag != "a" || le.Literal.Name != "LOGIN" || le.Literal.Size != 10<<20 || !le.Literal.Sync {
		t.Errorf("literal info %+v", le.Literal)
	}
	if len(c.asked) != 0 {
		t.Errorf("Continue called for a refused literal: %v", c.asked)
	}
	if got := c.read(t); got != "b NOOP" {
		t.Errorf("next command %q", got)
	}
	if !strings.Contains(err.Error(), "literal too large") {
		t.Errorf("error text %q", err)
	}
}

func TestReadCommandAppendLimits(t *testing.T) {
	opts := ReaderOptions{Limits: Limits{MaxAppendLiteral: 1000}}
	// An APPEND message over MaxAppendLiteral: refused before "+",
	// Message set, so the server answers NO [TOOBIG].
	c := newConn("a APPEND INBOX {1001}\r\nb NOOP\r\n", opts)
	_, err := c.r.ReadCommand()
	le := literalError(t, err)
	if !errors.Is(err, ErrLiteralTooLarge) || !le.Literal.Message || le.Fatal || le.Limit != 1000 || len(c.asked) != 0 {
		t.Fatalf("got %+v, asked %v", le, c.asked)
	}
	if got := c.read(t); got != "b NOOP" {
		t.Errorf("next command %q", got)
	}

	// A message larger than MaxLiteral but within MaxAppendLiteral is read.
	msg := strings.Repeat("m", 100<<10)
	c = newConn("a APPEND INBOX {102400}\r\n"+msg+"\r\n", ReaderOptions{})
	if got := c.read(t); got != "a APPEND INBOX {102400}\r\n"+msg {
		t.Errorf("APPEND of 100 KiB: got %d octets", len(got))
	}

	// The mailbox name of APPEND is not a message: MaxLiteral applies.
	c = newConn("a APPEND {70000}\r\n", ReaderOptions{})
	_, err = c.r.ReadCommand()
	if le := literalError(t, err); le.Literal.Message || le.Limit != DefaultMaxLiteral {
		t.Errorf("mailbox literal: %+v", le)
	}
}

func TestReadCommandNonSyncTooLarge(t *testing.T) {
	// Small enough to skip: thrown away with the rest of the command,
	// including a further LITERAL+; the connection stays in step.
	c := newConn("a LOGIN {100+}\r\n"+strings.Repeat("x", 100)+" {5+}\r\nhello\r\nb NOOP\r\n", ReaderOptions{Limits: Limits{MaxLiteral: 10}})
	_, err := c.r.ReadCommand()
	le := literalError(t, err)
	if !errors.Is(err, ErrLiteralTooLarge) || le.Fatal || le.Literal.Sync {
		t.Fatalf("got %+v", le)
	}
	if got := c.read(t); got != "b NOOP" {
		t.Errorf("next command %q", got)
	}

	// A synchronising literal later in the skipped command ends the skip:
	// the client waits for "+" and will get the tagged response.
	c = newConn("a LOGIN {100+}\r\n"+strings.Repeat("x", 100)+" {5}\r\nb NOOP\r\n", ReaderOptions{Limits: Limits{MaxLiteral: 10}})
	if _, err := c.r.ReadCommand(); IsFatal(err) {
		t.Fatalf("got %v", err)
	}
	if got := c.read(t); got != "b NOOP" || len(c.asked) != 0 {
		t.Errorf("next command %q, asked %v", got, c.asked)
	}

	// Too large to skip: fatal.
	c = newConn("a APPEND x {2000000+}\r\n", ReaderOptions{Limits: Limits{MaxAppendLiteral: 1000}})
	_, err = c.r.ReadCommand()
	if le := literalError(t, err); !le.Fatal || !IsFatal(err) || !le.Literal.Message {
		t.Errorf("2 MB LITERAL+ over the limit: %+v", le)
	}
}

func TestReadCommandContinueRefuses(t *testing.T) {
	refusal := errors.New("unknown command")
	var r *Reader
	r = NewReader(strings.NewReader("a BLURDYBLOOP {10}\r\nb NOOP\r\n"), ReaderOptions{
		Continue: func(info LiteralInfo) error {
			if info.Name == "BLURDYBLOOP" {
				return refusal
			}
			return nil
		},
	})
	_, err := r.ReadCommand()
	if !errors.Is(err, refusal) || IsFatal(err) {
		t.Fatalf("got %v", err)
	}
	if b, err := r.ReadCommand(); err != nil || string(b) != "b NOOP" {
		t.Errorf("next command %q, %v", b, err)
	}
	// Without a Continue hook, synchronising literals are refused.
	r = NewReader(strings.NewReader("a LOGIN {1}\r\n"), ReaderOptions{})
	if _, err := r.ReadCommand(); !errors.Is(err, ErrNoContinue) || IsFatal(err) {
		t.Errorf("no Continue: %v", err)
	}
}

func TestReadCommandTooManyLiterals(t *testing.T) {
	in := "a SEARCH" + strings.Repeat(" TEXT {1}\r\nx", 4) + "\r\nb NOOP\r\n"
	c := newConn(in, ReaderOptions{Limits: Limits{MaxLiterals: 3}})
	_, err := c.r.ReadCommand()
	if le := literalError(t, err); !errors.Is(err, ErrTooManyLiterals) || le.Fatal || le.Literal.Index != 3 {
		t.Fatalf("got %+v", le)
	}
	if len(c.asked) != 3 {
		t.Errorf("Continue called %d times, want 3", len(c.asked))
	}
}

func TestReadCommandTooLarge(t *testing.T) {
	in := "a APPEND x {600}\r\n" + strings.Repeat("y", 600) + " {600}\r\n"
	c := newConn(in, ReaderOptions{Limits: Limits{MaxCommand: 1000}})
	_, err := c.r.ReadCommand()
	if le := literalError(t, err); !errors.Is(err, ErrCommandTooLarge) || le.Fatal || le.Limit != 1000 {
		t.Fatalf("got %+v", le)
	}
}

func TestReadCommandEOF(t *testing.T) {
	for in, want := range map[string]error{
		"":                  io.EOF,
		"a NOOP":            io.ErrUnexpectedEOF,
		"a LOGIN {5}\r\nab": io.ErrUnexpectedEOF,
		"a LOGIN {2}\r\nab": io.ErrUnexpectedEOF,
	} {
		c := newConn(in, ReaderOptions{})
		if _, err := c.r.ReadCommand(); !errors.Is(err, want) || !IsFatal(err) {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
}

// TestReadCommandMemory checks that an announced literal costs memory only
// as its octets arrive.
func TestReadCommandMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := newConn("a APPEND x {60000000+}\r\nonly a few octets", ReaderOptions{})
	if _, err := c.r.ReadCommand(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("reading a truncated 60 MB literal allocated %d octets", d)
	}
}

func TestReadLineAndReset(t *testing.T) {
	c := newConn("a IDLE\r\nDONE\r\nAGZyZWQ=\nb NOOP\r\n", ReaderOptions{})
	c.read(t)
	for _, want := range []string{"DONE", "AGZyZWQ="} {
		if b, err := c.r.ReadLine(); err != nil || string(b) != want {
			t.Errorf("ReadLine = %q, %v; want %q", b, err, want)
		}
	}
	if !IsDone([]byte("done")) || IsDone([]byte("DONE ")) || !IsSASLCancel([]byte("*")) || IsSASLCancel([]byte("**")) {
		t.Error("IsDone/IsSASLCancel")
	}
	if c.r.Buffered() != len("b NOOP\r\n") {
		t.Errorf("Buffered = %d", c.r.Buffered())
	}
	c.r.Reset(strings.NewReader("c NOOP\r\n"))
	if c.r.Buffered() != 0 || c.read(t) != "c NOOP" {
		t.Error("Reset did not drop buffered input")
	}
}

func TestLiteralSuffix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want announcement
	}{
		{"a LOGIN {5}", true, announcement{start: 8, size: 5, sync: true}},
		{"a LOGIN {5+}", true, announcement{start: 8, size: 5}},
		{"a APPEND x ~{5}", true, announcement{start: 11, size: 5, sync: true, binary: true}},
		{"{0}", true, announcement{size: 0, sync: true}},
		{"a {99999999999999999999999}", true, announcement{start: 2, size: 1<<63 - 1, sync: true}},
		{"a LOGIN {}", false, announcement{}},
		{"a LOGIN {+}", false, announcement{}},
		{"a LOGIN 5}", false, announcement{}},
		{"a LOGIN {5", false, announcement{}},
		{"a LOGIN {-5}", false, announcement{}},
		{`a LOGIN "{5}`, false, announcement{}},
		{`a LOGIN "\\" {5}`, true, announcement{start: 13, size: 5, sync: true}},
		{"", false, announcement{}},
	} {
		got, ok := literalSuffix([]byte(tc.in))
		if ok != tc.ok || got != tc.want {
			t.Errorf("literalSuffix(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestReadThenParse runs the Reader's output through ParseCommand, as the
// server does.
func TestReadThenParse(t *testing.T) {
	c := newConn("A001 LOGIN {11}\r\nFRED FOOBAR {7}\r\nfat man\r\n", ReaderOptions{})
	b, err := c.r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := parseCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if a := cmd.Args.(*LoginArgs); a.Username != "FRED FOOBAR" || a.Password != "fat man" {
		t.Errorf("got %+v", a)
	}
	if !bytes.Equal(b, []byte("A001 LOGIN {11}\r\nFRED FOOBAR {7}\r\nfat man")) {
		t.Errorf("raw %q", b)
	}
}

// streamConn is a Reader with StreamMessages over input, and the
// continuation requests it sent.
func streamConn(input string, l Limits) (*Reader, *[]LiteralInfo) {
	asked := &[]LiteralInfo{}
	r := NewReader(strings.NewReader(input), ReaderOptions{Limits: l, StreamMessages: true,
		Continue: func(info LiteralInfo) error {
			*asked = append(*asked, info)
			return nil
		}})
	return r, asked
}

func TestStreamedAppend(t *testing.T) {
	msg := strings.Repeat("0123456789", 10000) // 100,000 octets, over MaxCommand
	r, asked := streamConn("a APPEND INBOX (\\Seen) {100000}\r\n"+msg+"\r\nb NOOP\r\n", Limits{MaxCommand: 1000})
	cmd, err := r.ReadCommand()
	if err != nil || string(cmd) != `a APPEND INBOX (\Seen) {100000}` {
		t.Fatalf("ReadCommand = %q, %v", cmd, err)
	}
	if len(*asked) != 0 {
		t.Fatalf("continuation sent before the handler accepted: %+v", *asked)
	}
	c, err := ParseOptions{Grammar: testGrammar, Streamed: true}.ParseCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Args.(*AppendArgs).Message
	if !m.Streamed || m.Size != 100000 || m.Data != nil {
		t.Fatalf("parsed message %+v", m)
	}
	lit := r.Pending()
	if lit == nil || lit.Info.Size != 100000 || !lit.Info.Message {
		t.Fatalf("Pending = %+v", lit)
	}
	if err := lit.Accept(); err != nil || len(*asked) != 1 {
		t.Fatalf("Accept: %v, continuations %d", err, len(*asked))
	}
	got, err := io.ReadAll(lit)
	if err != nil || string(got) != msg {
		t.Fatalf("read %d octets, %v", len(got), err)
	}
	if r.Pending() != nil {
		t.Fatal("literal still pending after its end")
	}
	if cmd, err := r.ReadCommand(); err != nil || string(cmd) != "b NOOP" {
		t.Fatalf("next command %q, %v", cmd, err)
	}
}

func TestStreamedAppendRefused(t *testing.T) {
	// A refused synchronising literal was never sent.
	r, asked := streamConn("a APPEND INBOX {100}\r\nb NOOP\r\n", Limits{})
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if err := r.Pending().Refuse(); err != nil {
		t.Fatal(err)
	}
	if cmd, err := r.ReadCommand(); err != nil || string(cmd) != "b NOOP" || len(*asked) != 0 {
		t.Fatalf("next command %q, %v, continuations %d", cmd, err, len(*asked))
	}
	// A non-synchronising one is thrown away within MaxDiscard ...
	r, _ = streamConn("a APPEND INBOX {10+}\r\n0123456789\r\nb NOOP\r\n", Limits{MaxDiscard: 100})
	r.ReadCommand()
	if err := r.Pending().Refuse(); err != nil {
		t.Fatal(err)
	}
	if cmd, err := r.ReadCommand(); err != nil || string(cmd) != "b NOOP" {
		t.Fatalf("next command %q, %v", cmd, err)
	}
	// ... and beyond it the connection is out of step, before a single
	// octet of the literal is read.
	r, _ = streamConn("a APPEND INBOX {67108864+}\r\n0123456789", Limits{MaxDiscard: 4096})
	r.ReadCommand()
	if err := r.Pending().Refuse(); !IsFatal(err) {
		t.Fatalf("Refuse of 64 MiB with 4 KiB to discard: %v, want fatal", err)
	}
	// A pending literal left by the caller is refused by ReadCommand.
	r, _ = streamConn("a APPEND INBOX {3+}\r\nabc\r\nb NOOP\r\n", Limits{})
	r.ReadCommand()
	if cmd, err := r.ReadCommand(); err != nil || string(cmd) != "b NOOP" {
		t.Fatalf("next command %q, %v", cmd, err)
	}
}

func TestStreamedAppendTrailing(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"a APPEND INBOX {3}\r\nabc {2+}\r\nde\r\nb NOOP\r\n", ErrSyntax},
		{"a APPEND INBOX {3}\r\nabc junk\r\nb NOOP\r\n", ErrSyntax},
	} {
		r, _ := streamConn(tc.in, Limits{})
		r.ReadCommand()
		lit := r.Pending()
		lit.Accept()
		_, err := io.ReadAll(lit)
		if !errors.Is(err, tc.want) || IsFatal(err) {
			t.Errorf("%q: %v, want %v", tc.in, err, tc.want)
		}
		if cmd, err := r.ReadCommand(); err != nil || string(cmd) != "b NOOP" {
			t.Errorf("%q: next command %q, %v", tc.in, cmd, err)
		}
	}
	// The connection closing inside the literal.
	r, _ := streamConn("a APPEND INBOX {30}\r\nabc", Limits{})
	r.ReadCommand()
	lit := r.Pending()
	lit.Accept()
	if _, err := io.ReadAll(lit); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut literal: %v", err)
	}
}

// TestReaderPushIdle: pushed input comes first, whole, before what was
// buffered and what the connection sends, and Buffered counts it (a
// session waits for the socket only when nothing is buffered); Idle gives
// the buffer back only when nothing is left in it, and reading goes on.
func TestReaderPushIdle(t *testing.T) {
	c := newConn("c NOOP\r\nd NOOP\r\n", ReaderOptions{})
	if got := c.read(t); got != "c NOOP" {
		t.Fatalf("first: %q", got)
	}
	c.r.Push([]byte("a NOOP\r\nb NOOP\r\n"))
	if n := c.r.Buffered(); n != len("a NOOP\r\nb NOOP\r\nd NOOP\r\n") {
		t.Fatalf("Buffered after Push = %d", n)
	}
	c.r.Idle() // holds input: keeps its buffer
	for _, want := range []string{"a NOOP", "b NOOP", "d NOOP"} {
		if got := c.read(t); got != want {
			t.Fatalf("ReadCommand = %q, want %q", got, want)
		}
	}
	if n := c.r.Buffered(); n != 0 {
		t.Fatalf("Buffered at the end = %d", n)
	}
	c.r.Idle()
	if c.r.br != nil {
		t.Fatal("Idle kept an empty buffer")
	}
	if _, err := c.r.ReadCommand(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}
