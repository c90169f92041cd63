package imapd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchMessages is the size of the benchmark INBOX.
const benchMessages = 20000

// benchConn starts a server whose INBOX holds n generated messages (every
// third a multipart with an attachment and a forwarded message) and
// returns a logged-in connection that has INBOX selected.
func benchConn(b *testing.B, n int) *testConn {
	b.Helper()
	ts := startTestServer(b, nil)
	// The messages are written as a delivery agent would (maildir's
	// Append costs grow with the folder when nobody holds it open:
	// reported), and indexed by the first SELECT.
	if _, err := ts.hub.Open(ts.root, true); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		name := filepath.Join(ts.root, "cur", fmt.Sprintf("%d.M%dP1.bench:2,", 1700000000+i, i))
		if err := os.WriteFile(name, []byte(benchMessage(i)), 0o600); err != nil {
			b.Fatal(err)
		}
		d := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(name, d, d); err != nil {
			b.Fatal(err)
		}
	}
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	c := &testConn{c: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	if _, err := c.tryReadLine(5 * time.Second); err != nil {
		b.Fatal(err)
	}
	c.roundTrip(b, "l", "LOGIN demo demo")
	c.roundTrip(b, "s", "SELECT INBOX")
	return c
}

func benchMessage(i int) string {
	h := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: r@example.org, Team: a@example.org, b@example.org;\r\n"+
		"Subject: =?UTF-8?Q?message_n=C2=B0_%d?=\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <%d@example.org>\r\n", i, i, i, i)
	if i%3 != 0 {
		return h + "\r\n" + strings.Repeat("Some text of the message body.\r\n", 1+i%20)
	}
	return h + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n" +
		"--b\r\nContent-Type: application/pdf; name=x.pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n" +
		"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n"
}

// roundTrip sends a command and reads the whole answer; it returns the
// number of untagged lines. It needs no *testing.T, only b.
func (tc *testConn) roundTrip(b *testing.B, tag, cmd string) int {
	tc.c.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(tc.c, tag+" "+cmd+"\r\n"); err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		l, err := tc.tryReadLine(time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				b.Fatalf("%s: %s", cmd, l)
			}
			return n
		}
		n++
	}
}

// benchFetch times one FETCH 1:* of items per iteration; the first,
// untimed, warms the metadata cache.
func benchFetch(b *testing.B, items string) {
	c := benchConn(b, benchMessages)
	cmd := "FETCH 1:* " + items
	if n := c.roundTrip(b, "w", cmd); n != benchMessages {
		b.Fatalf("%d responses, want %d", n, benchMessages)
	}
	b.ResetTimer()
	for b.Loop() {
		c.roundTrip(b, "f", cmd)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchMessages), "ns/msg")
}

// BenchmarkFetchFast is what a client syncing flags sends on a large
// mailbox: per message one look at the folder's metadata, no file read.
func BenchmarkFetchFast(b *testing.B) {
	benchFetch(b, "(UID FLAGS RFC822.SIZE INTERNALDATE)")
}

// BenchmarkFetchEnvelopeStructure is a client's first listing of a
// mailbox, from the warm structure cache.
func BenchmarkFetchEnvelopeStructure(b *testing.B) {
	benchFetch(b, "(ENVELOPE BODYSTRUCTURE)")
}
