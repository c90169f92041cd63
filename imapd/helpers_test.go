package imapd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"imapd/auth"
	"imapd/maildir"
)

// testServer is a real Server on 127.0.0.1:0 over a Maildir in a
// t.TempDir(), with user "demo" / password "demo".
type testServer struct {
	t    *testing.T
	srv  *Server
	addr string
	root string // the user's Maildir
	hub  *maildir.Hub
}

func newTestServer(t *testing.T, tweak ...func(*Options)) *testServer {
	t.Helper()
	return newTestServerFrom(t, nil, tweak...)
}

// newTestServerFrom is newTestServer whose connections seem to come from
// remote (if not nil): a non-loopback address loses the loopback
// exemption for plaintext logins.
func newTestServerFrom(t *testing.T, remote net.Addr, tweak ...func(*Options)) *testServer {
	t.Helper()
	ts := startTestServer(t, remote, tweak...)
	ts.t = t
	return ts
}

// startTestServer is newTestServerFrom for benchmarks too; the
// testServer it returns has no t, so its fixture helpers cannot be used.
func startTestServer(t testing.TB, remote net.Addr, tweak ...func(*Options)) *testServer {
	t.Helper()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("demo"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(pw, []byte("demo:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("IMAPD_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ht, err := auth.NewHtpasswd(auth.HtpasswdOptions{Path: pw, MailLocation: dir + "/mail/%u/Maildir", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hub := maildir.NewHub(maildir.Options{Logger: logger, NoSync: true})
	opts := Options{
		Throttle: auth.NewThrottle(ht, auth.ThrottleOptions{Logger: logger,
			Sleep: func(context.Context, time.Duration) error { return nil }}),
		OpenStore: func(id auth.Identity) (*maildir.Store, error) { return hub.Open(id.Maildir, true) },
		Logger:    logger,
	}
	for _, f := range tweak {
		f(&opts)
	}
	srv := New(opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if remote != nil {
		l = remoteListener{l, remote}
	}
	go srv.Serve(l)
	ts := &testServer{srv: srv, addr: l.Addr().String(), root: dir + "/mail/demo/Maildir", hub: hub}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if n := srv.RecoveredPanics(); n != 0 {
			t.Errorf("server recovered %d panics", n)
		}
	})
	return ts
}

// store opens the user's Maildir directly, to set up fixtures.
func (ts *testServer) store() *maildir.Store {
	st, err := ts.hub.Open(ts.root, true)
	if err != nil {
		ts.t.Fatal(err)
	}
	return st
}

// deliver appends a message to a folder behind the server's back.
func (ts *testServer) deliver(folder, msg string) {
	ts.t.Helper()
	msg = strings.ReplaceAll(msg, "\n", "\r\n")
	if _, err := ts.store().Append(folder, strings.NewReader(msg), maildir.AppendOptions{}); err != nil {
		ts.t.Fatal(err)
	}
}

// testConn is a line-level IMAP client.
type testConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial() *testConn {
	ts.t.Helper()
	tc := ts.dialRaw()
	if g := tc.readLine(); !strings.HasPrefix(g, "* OK ") {
		ts.t.Fatalf("greeting: %q", g)
	}
	return tc
}

// dialRaw connects without reading the greeting.
func (ts *testServer) dialRaw() *testConn {
	ts.t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		ts.t.Fatal(err)
	}
	tc := &testConn{t: ts.t, c: c, br: bufio.NewReader(c)}
	ts.t.Cleanup(func() { c.Close() })
	return tc
}

// login dials and logs in as demo.
func (ts *testServer) login() *testConn {
	tc := ts.dial()
	tc.transactOK("l1", "LOGIN demo demo")
	return tc
}

func (tc *testConn) send(s string) {
	tc.t.Helper()
	tc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc.c, s+"\r\n"); err != nil {
		tc.t.Fatalf("send %q: %v", s, err)
	}
}

var literalEnd = regexp.MustCompile(`\{(\d+)\}$`)

// readLine reads one response line with its literals; each literal's
// octets follow its {n} with CRLF written as the 4 characters \r\n.
func (tc *testConn) readLine() string {
	tc.t.Helper()
	line, err := tc.tryReadLine(5 * time.Second)
	if err != nil {
		tc.t.Fatalf("read: %v", err)
	}
	return line
}

func (tc *testConn) tryReadLine(d time.Duration) (string, error) {
	return readResponseLine(tc.c, tc.br, d, literalEnd, escapeCRLF)
}

// readResponseLine reads one response line within d, with every literal
// (a line ending as re matches, its first group the octet count) read
// and put inline through inline.
func readResponseLine(c net.Conn, br *bufio.Reader, d time.Duration, re *regexp.Regexp, inline func(string) string) (string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	var out strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return out.String() + l, err
		}
		l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
		out.WriteString(l)
		m := re.FindStringSubmatch(l)
		if m == nil {
			return out.String(), nil
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			return out.String(), err
		}
		out.WriteString(inline(string(buf)))
	}
}

func escapeCRLF(s string) string { return crlfEscaper.Replace(s) }

var crlfEscaper = strings.NewReplacer("\r", `\r`, "\n", `\n`)

// transact sends "tag cmd" and returns the untagged lines and the
// tagged one.
func (tc *testConn) transact(tag, cmd string) (untagged []string, tagged string) {
	tc.t.Helper()
	tc.send(tag + " " + cmd)
	for {
		l := tc.readLine()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// transactOK is transact that fails the test unless the answer is OK.
func (tc *testConn) transactOK(tag, cmd string) []string {
	tc.t.Helper()
	u, tagged := tc.transact(tag, cmd)
	if !strings.HasPrefix(tagged, tag+" OK") {
		tc.t.Fatalf("%s %s: %s (untagged %q)", tag, cmd, tagged, u)
	}
	return u
}

// expectUntagged fails unless lines holds exactly want, in order.
func expectUntagged(t *testing.T, lines []string, want ...string) {
	t.Helper()
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("untagged responses:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// noMore fails if the server sends anything within d.
func (tc *testConn) noMore(d time.Duration) {
	tc.t.Helper()
	if l, err := tc.tryReadLine(d); err == nil {
		tc.t.Fatalf("unexpected response %q", l)
	}
}

func ok(tag string) string { return fmt.Sprintf("%s OK", tag) }

// remoteListener makes its connections report remote as their peer.
type remoteListener struct {
	net.Listener
	remote net.Addr
}

func (l remoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return remoteConn{c, l.remote}, nil
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }

// copyTree copies a directory tree (a Maildir with its sidecars), keeping file contents, names and
// modification times (Maildir's INTERNALDATE).
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			return err
		}
		return os.Chtimes(to, fi.ModTime(), fi.ModTime())
	})
}
