package imapd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapd/auth"
	"imapd/maildir"
)

// benchMessages is the size of the benchmark INBOX: 20,000, or
// IMAPD_BENCH_N (the figure is 100,000).
var benchMessages = func() int {
	if n, err := strconv.Atoi(os.Getenv("IMAPD_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 20000
}()

// benchClient is a logged-in connection with INBOX selected, and where
// that INBOX is.
type benchClient struct {
	*testConn
	root string
}

// benchConn starts a server whose INBOX holds n generated messages (every
// third a multipart with an attachment and a forwarded message) and
// returns a logged-in connection that has INBOX selected.
func benchConn(b *testing.B, n int, tweak ...func(*Options)) *benchClient {
	b.Helper()
	ts := startTestServer(b, nil, tweak...)
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
	// As if delivered an hour ago: a directory changed within the last 2
	// seconds is listed again on every look (see maildir's dirChanged),
	// which a busy benchmark would then keep doing.
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(ts.root, "cur"), hourAgo, hourAgo); err != nil {
		b.Fatal(err)
	}
	c := &benchClient{testConn: dialBench(b, ts.addr), root: ts.root}
	c.roundTrip(b, "s", "SELECT INBOX")
	return c
}

// dialBench returns a logged-in connection to addr.
func dialBench(b *testing.B, addr string) *testConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	c := &testConn{c: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	if _, err := c.tryReadLine(5 * time.Second); err != nil {
		b.Fatal(err)
	}
	c.roundTrip(b, "l", "LOGIN demo demo")
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

// BenchmarkFetchEnvelopeStructure is a client's listing of a mailbox,
// from the warm cache.
func BenchmarkFetchEnvelopeStructure(b *testing.B) {
	benchFetch(b, "(ENVELOPE BODYSTRUCTURE)")
}

// BenchmarkFetchEnvelopeStructureCold is a client's first listing of a
// mailbox: the cache file is removed before each FETCH, so every message
// is parsed again (from the page cache) and its answer rendered and kept.
func BenchmarkFetchEnvelopeStructureCold(b *testing.B) {
	c := benchConn(b, benchMessages)
	for b.Loop() {
		b.StopTimer()
		c.removeCache(b)
		b.StartTimer()
		if n := c.roundTrip(b, "f", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"); n != benchMessages {
			b.Fatalf("%d responses, want %d", n, benchMessages)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchMessages), "ns/msg")
}

// removeCache removes the folder's metadata cache: the next FETCH or
// SEARCH derives every answer again (from the page cache).
func (c *benchClient) removeCache(b *testing.B) {
	if err := os.Remove(filepath.Join(c.root, "imapd-cache")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.Fatal(err)
	}
}

// benchCold times one command per iteration on a cache that holds what
// a client's first listing kept, a FETCH of ENVELOPE and BODYSTRUCTURE:
// what `imapbench run`'s cold pass meets when its header scan and
// SEARCH FROM run.
func benchCold(b *testing.B, cmd string, lines int) {
	c := benchConn(b, benchMessages)
	for b.Loop() {
		b.StopTimer()
		c.removeCache(b)
		c.roundTrip(b, "p", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
		b.StartTimer()
		if n := c.roundTrip(b, "f", cmd); n != lines {
			b.Fatalf("%s: %d responses, want %d", cmd, n, lines)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchMessages), "ns/msg")
}

// BenchmarkFetchHeaderFieldsCold is the header scan of a message list
// after the first listing, whose header fields were never asked for.
func BenchmarkFetchHeaderFieldsCold(b *testing.B) {
	benchCold(b, "FETCH 1:* BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)]", benchMessages)
}

// BenchmarkSearchHeaderCold is SEARCH FROM after the first listing,
// the first SEARCH of the folder.
func BenchmarkSearchHeaderCold(b *testing.B) {
	benchCold(b, `SEARCH FROM "sender 7"`, 1)
}

// BenchmarkStore is STORE 1:* +FLAGS (\Seen) then -FLAGS (\Seen) on the
// whole folder (non-silent: every message's FETCH comes back): a rename
// of every file, each way. ns/msg is per message and change.
func BenchmarkStore(b *testing.B) {
	c := benchConn(b, benchMessages)
	for b.Loop() {
		for _, op := range []string{"+", "-"} {
			if n := c.roundTrip(b, "s", "STORE 1:* "+op+`FLAGS (\Seen)`); n != benchMessages {
				b.Fatalf("STORE: %d responses, want %d", n, benchMessages)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*benchMessages), "ns/msg")
}

// BenchmarkSelectCold is the first SELECT of a folder nobody indexed: no
// sidecar, no cache, a new process (Hub). It lists cur/, gives every
// file a UID and writes the sidecar.
func BenchmarkSelectCold(b *testing.B) {
	var hub *maildir.Hub
	fresh := func(o *Options) {
		o.OpenStore = func(id auth.Identity) (*maildir.Store, error) { return hub.Open(id.Maildir, true) }
	}
	hub = maildir.NewHub(maildir.Options{NoSync: true})
	c := benchConn(b, benchMessages, fresh)
	c.roundTrip(b, "z", "LOGOUT")
	addr := c.c.RemoteAddr().String()
	for b.Loop() {
		b.StopTimer()
		hub.Close()
		hub = maildir.NewHub(maildir.Options{NoSync: true})
		for _, name := range []string{"imapd-uidlist", "imapd-cache"} {
			if err := os.Remove(filepath.Join(c.root, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				b.Fatal(err)
			}
		}
		s := dialBench(b, addr)
		b.StartTimer()
		if n := s.roundTrip(b, "s", "SELECT INBOX"); n < 5 {
			b.Fatalf("SELECT: %d untagged responses", n)
		}
		b.StopTimer()
		s.roundTrip(b, "z", "LOGOUT")
		s.c.Close()
		b.StartTimer()
	}
	b.StopTimer()
	hub.Close()
}

// BenchmarkFetchHeaderFields is the header scan of a message list (the
// fields Thunderbird-like clients ask for), warm.
func BenchmarkFetchHeaderFields(b *testing.B) {
	benchFetch(b, "(UID BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])")
}

// benchSearch times one SEARCH per iteration after an untimed one, and
// checks the number of hits.
func benchSearch(b *testing.B, criteria string, want int) {
	c := benchConn(b, benchMessages)
	hits := func() int {
		n := 0
		c.c.SetWriteDeadline(time.Now().Add(time.Minute))
		io.WriteString(c.c, "s SEARCH "+criteria+"\r\n")
		for {
			l, err := c.tryReadLine(time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(l, "* SEARCH") {
				n = len(strings.Fields(l)) - 2
				continue
			}
			if strings.HasPrefix(l, "s ") {
				if !strings.HasPrefix(l, "s OK") {
					b.Fatal(l)
				}
				return n
			}
		}
	}
	if n := hits(); n != want {
		b.Fatalf("SEARCH %s: %d hits, want %d", criteria, n, want)
	}
	for b.Loop() {
		hits()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchMessages), "ns/msg")
}

// BenchmarkSearchHeader is SEARCH FROM: one sender of ten (benchMessage
// numbers them), from the kept envelope text.
func BenchmarkSearchHeader(b *testing.B) {
	want := 0
	for i := range benchMessages {
		if strings.Contains(fmt.Sprintf("sender %d <s%d@example.org>", i, i), "sender 7") {
			want++
		}
	}
	benchSearch(b, `FROM "sender 7"`, want)
}

// BenchmarkSearchBody is SEARCH TEXT over every message (no index: each
// file is read and its text parts decoded).
func BenchmarkSearchBody(b *testing.B) {
	benchSearch(b, `BODY "inner body"`, (benchMessages+2)/3)
}

// BenchmarkSearchFlags is a search of metadata only (flags and size),
// which reads no message: every message is unseen, a third are larger.
func BenchmarkSearchFlags(b *testing.B) {
	want := 0
	for i := range benchMessages {
		if len(benchMessage(i)) > 1000 {
			want++
		}
	}
	benchSearch(b, "UNSEEN LARGER 1000", want)
}

// BenchmarkFetchFlags is a client's flag resync: UID and FLAGS only.
func BenchmarkFetchFlags(b *testing.B) {
	benchFetch(b, "(UID FLAGS)")
}

// BenchmarkSession is one short session of `imapbench load` per
// iteration, on a 200-message INBOX: connect, LOGIN, SELECT, FETCH 1:*
// (UID FLAGS), a UID FETCH BODY.PEEK[], a UID STORE, an APPEND of 2 KB,
// NOOP, LOGOUT. The INBOX grows by a message per session.
func BenchmarkSession(b *testing.B) {
	c := benchConn(b, 200)
	c.roundTrip(b, "z", "LOGOUT")
	addr := c.c.RemoteAddr().String()
	body := "From: load@example.org\r\nSubject: load\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 110)
	i := 0
	for b.Loop() {
		i++
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		s := &testConn{c: nc, br: bufio.NewReaderSize(nc, 64<<10)}
		if _, err := s.tryReadLine(5 * time.Second); err != nil {
			b.Fatal(err)
		}
		s.roundTrip(b, "a", "LOGIN demo demo")
		s.roundTrip(b, "b", "SELECT INBOX")
		if n := s.roundTrip(b, "c", "FETCH 1:* (UID FLAGS)"); n < 200 {
			b.Fatalf("FETCH: %d responses", n)
		}
		s.roundTrip(b, "d", fmt.Sprintf("UID FETCH %d BODY.PEEK[]", 1+i%200))
		op := []string{"+", "-"}[i%2]
		s.roundTrip(b, "e", fmt.Sprintf(`UID STORE %d %sFLAGS (\Flagged)`, 1+(i*7)%200, op))
		s.roundTrip(b, "f", fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(body), body))
		s.roundTrip(b, "g", "NOOP")
		s.roundTrip(b, "h", "LOGOUT")
		nc.Close()
	}
}
