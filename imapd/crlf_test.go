package imapd

import (
	"strconv"
	"strings"
	"testing"

	"imapd/maildir"
)

// TestBareCRSizeMatchesBody: a message with bare CRs and bare LFs (as some
// tools write them) has BODY[] of exactly RFC822.SIZE octets.
func TestBareCRSizeMatchesBody(t *testing.T) {
	ts := newTestServer(t)
	raw := "Subject: odd\rX-A: 1\n\nline one\rline two\r\nline three\nend"
	if err := writeRaw(ts, raw); err != nil {
		t.Fatal(err)
	}
	c := ts.login()
	c.transactOK("a", "SELECT INBOX")
	c.send("b FETCH 1 (RFC822.SIZE BODY.PEEK[])")
	first := c.readLine()
	i := strings.Index(first, "RFC822.SIZE ")
	j := strings.Index(first, "{")
	if i < 0 || j < 0 {
		t.Fatalf("response %q", first)
	}
	size, _ := strconv.Atoi(strings.Fields(first[i+len("RFC822.SIZE "):])[0])
	k := strings.Index(first[j:], "}")
	lit, _ := strconv.Atoi(first[j+1 : j+k])
	if size != lit {
		t.Fatalf("RFC822.SIZE %d but BODY[] literal of %d octets: %q", size, lit, first)
	}
	want := strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n").Replace(raw)
	if size != len(want) {
		t.Fatalf("size %d, want %d (every line ending CRLF)", size, len(want))
	}
}

// writeRaw appends raw bytes to INBOX as they are.
func writeRaw(ts *testServer, raw string) error {
	_, err := ts.store().Append("INBOX", strings.NewReader(raw), maildir.AppendOptions{})
	return err
}
