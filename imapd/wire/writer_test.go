package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWriterStrings(t *testing.T) {
	for _, tc := range []struct {
		in, str, astr string
	}{
		{"INBOX", `"INBOX"`, "INBOX"},
		{"", `""`, `""`},
		{"nil", `"nil"`, `"nil"`},
		{"a b", `"a b"`, `"a b"`},
		{"a]b", `"a]b"`, "a]b"},
		{"a%b", `"a%b"`, `"a%b"`},
		{"a(b", `"a(b"`, `"a(b"`},
		{`a\b`, "{3}\r\na\\b", "{3}\r\na\\b"}, // a backslash always goes as a literal
		{`a"b`, "{3}\r\na\"b", "{3}\r\na\"b"},
		{"a\r\nb", "{4}\r\na\r\nb", "{4}\r\na\r\nb"},
		{"caf\xc3\xa9", "{5}\r\ncaf\xc3\xa9", "{5}\r\ncaf\xc3\xa9"},
		{"a\x00b", "{3}\r\na\x00b", "{3}\r\na\x00b"},
	} {
		var b bytes.Buffer
		w := NewWriter(&b)
		w.String(tc.in).SP().AString(tc.in)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if want := tc.str + " " + tc.astr; b.String() != want {
			t.Errorf("String/AString(%q) = %q, want %q", tc.in, b.String(), want)
		}
	}
}

func TestWriterResponses(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	date := time.Date(1996, 7, 7, 2, 44, 25, 0, time.FixedZone("", -7*3600))
	subject := "IMAP4rev1 WG mtg"
	w.Untagged().Number(12).SP().Atom("FETCH").SP().BeginList().
		Atom("FLAGS").SP().Flags([]string{FlagSeen, "$Forwarded"}).SP().
		Atom("INTERNALDATE").SP().DateTime(date).SP().
		Atom("RFC822.SIZE").SP().Number(4286).SP().
		Atom("MODSEQ").SP().BeginList().Number64(1<<40).EndList().SP().
		Atom("X").SP().NString(nil).SP().NString(&subject).SP().
		Atom("BODY[]<0>").SP().Literal([]byte("abc")).SP().
		Atom("BODY[TEXT]").SP().LiteralFrom(strings.NewReader("hello, extra"), 5).
		EndList()
	if err := w.CRLF(); err != nil {
		t.Fatal(err)
	}
	w.Untagged().Atom("LIST").SP().Flags([]string{`\HasNoChildren`}).SP().String("/").SP().Mailbox("inbox").CRLF()
	w.Untagged().Atom("LIST").SP().Flags(nil).SP().String("/").SP().MailboxUTF8("Entwürfe").CRLF()
	w.Untagged().Atom("LIST").SP().Flags(nil).SP().String("/").SP().Mailbox(`a\b`).CRLF()
	w.Untagged().Atom("SEARCH").SP().SeqSet(SeqSetOf([]uint32{1, 2, 3, 7})).CRLF()
	w.Status("a1", OK, "", "")
	w.Status("", OK, "UIDNEXT 4392", "Predicted next UID")
	w.Status("a2", NO, "TRYCREATE", "no such\r\nmailbox\xff")
	w.Untagged().Raw(OK).SP().Code("COPYUID").SP().Number(38505).SP().SeqSet(SeqSetOf([]uint32{304, 319})).SP().SeqSet(SeqSetOf([]uint32{3956, 3957})).EndCode().Text("Done").CRLF()
	if err := w.Continue("Ready"); err != nil {
		t.Fatal(err)
	}
	if err := w.ContinueSASL(nil); err != nil {
		t.Fatal(err)
	}
	if err := w.ContinueSASL([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	want := "* 12 FETCH (FLAGS (\\Seen $Forwarded) INTERNALDATE \"07-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 MODSEQ (1099511627776) X NIL \"IMAP4rev1 WG mtg\" BODY[]<0> {3}\r\nabc BODY[TEXT] {5}\r\nhello)\r\n" +
		"* LIST (\\HasNoChildren) \"/\" INBOX\r\n" +
		"* LIST () \"/\" Entw&APw-rfe\r\n" +
		"* LIST () \"/\" {3}\r\na\\b\r\n" +
		"* SEARCH 1:3,7\r\n" +
		"a1 OK done\r\n" +
		"* OK [UIDNEXT 4392] Predicted next UID\r\n" +
		"a2 NO [TRYCREATE] no such??mailbox?\r\n" +
		"* OK [COPYUID 38505 304,319 3956:3957] Done\r\n" +
		"+ Ready\r\n" +
		"+ \r\n" +
		"+ aGk=\r\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n--; f.n < 0 {
		return 0, errors.New("broken pipe")
	}
	return len(p), nil
}

func TestWriterStickyError(t *testing.T) {
	f := &failWriter{n: 0}
	w := NewWriter(f)
	// The buffer hides the failure until it fills or is flushed.
	w.Untagged().Raw(strings.Repeat("x", 5000))
	if w.Err() == nil {
		t.Fatal("no error after overflowing the buffer")
	}
	if err := w.SP().Number(1).CRLF(); err == nil || err.Error() != "broken pipe" {
		t.Errorf("CRLF = %v", err)
	}
	if err := w.Flush(); err == nil {
		t.Error("Flush lost the error")
	}
	var b bytes.Buffer
	w.Reset(&b)
	if err := w.Status("a", OK, "", "x"); err != nil || w.Flush() != nil || b.String() != "a OK x\r\n" {
		t.Errorf("after Reset: %v %q", err, b.String())
	}
}

func TestWriterShortLiteral(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	w.LiteralFrom(strings.NewReader("abc"), 10)
	if err := w.CRLF(); !errors.Is(err, ErrShortLiteral) {
		t.Errorf("got %v", err)
	}
}

// TestWriterRoundTrip writes strings the way responses do and reads them
// back with the command parser's astring.
func TestWriterRoundTrip(t *testing.T) {
	for _, s := range []string{"", "x", "NIL", "a b", `a\b`, `"`, "a\r\nb", "\xff\xfe", "]", "{3}", "~{1}"} {
		var b bytes.Buffer
		w := NewWriter(&b)
		w.Raw("a LOGIN ").AString(s).SP().String(s)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		cmd, err := parseCommand(b.Bytes())
		if err != nil {
			t.Errorf("%q written as %q: %v", s, b.String(), err)
			continue
		}
		if a := cmd.Args.(*LoginArgs); a.Username != s || a.Password != s {
			t.Errorf("%q read back as %q, %q", s, a.Username, a.Password)
		}
	}
}
