package imapd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"imapd/auth"
	"imapd/maildir"
)

// Helpers of the live-folder tests: a server with its own Hub options, a
// line client that can IDLE, and Postfix-style deliveries.

// liveLockedBuffer collects log output from many goroutines.
type liveLockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *liveLockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *liveLockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newLiveServer is newTestServer with the Hub made from hubOpts (its
// Logger is set here) and the log kept in a buffer.
func newLiveServer(tb testing.TB, hubOpts maildir.Options) (*testServer, *liveLockedBuffer) {
	tb.Helper()
	return newLiveServerIn(tb, tb.TempDir(), hubOpts)
}

// newLiveServerIn is newLiveServer on the mail under dir: two servers
// made on one dir are two processes (two Hubs) on one Maildir.
func newLiveServerIn(tb testing.TB, dir string, hubOpts maildir.Options) (*testServer, *liveLockedBuffer) {
	tb.Helper()
	return newLiveServerUsers(tb, dir, map[string]string{"demo": "demo"}, hubOpts)
}

// newLiveServerUsers is newLiveServerIn with the given users (name →
// password); the Maildir of user demo is made at once if demo is one.
func newLiveServerUsers(tb testing.TB, dir string, users map[string]string, hubOpts maildir.Options) (*testServer, *liveLockedBuffer) {
	tb.Helper()
	pw := liveWriteHtpasswd(tb, dir, users)
	logs := &liveLockedBuffer{}
	var w io.Writer = logs
	if os.Getenv("IMAPD_TEST_LOG") != "" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ht, err := auth.NewHtpasswd(auth.HtpasswdOptions{Path: pw, MailLocation: dir + "/mail/%u/Maildir", Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	hubOpts.Logger = logger
	hub := maildir.NewHub(hubOpts)
	srv := New(Options{
		Throttle: auth.NewThrottle(ht, auth.ThrottleOptions{Logger: logger,
			Sleep: func(context.Context, time.Duration) error { return nil }}),
		OpenStore: func(id auth.Identity) (*maildir.Store, error) { return hub.Open(id.Maildir, true) },
		Logger:    logger,
		// Benchmarks hold 1,000 connections from 127.0.0.1.
		Limits: Limits{MaxConnections: 100000, MaxConnectionsPerIP: 100000, MaxUserConnectionsPerIP: 100000},
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(l)
	ts := &testServer{srv: srv, addr: l.Addr().String(), root: dir + "/mail/demo/Maildir", hub: hub}
	if t, ok := tb.(*testing.T); ok {
		ts.t = t
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hub.Close()
		if n := srv.RecoveredPanics(); n != 0 {
			tb.Errorf("server recovered %d panics", n)
		}
	})
	// The Maildir exists before any login, so tests can fill it.
	if _, ok := users["demo"]; ok {
		if _, err := hub.Open(ts.root, true); err != nil {
			tb.Fatal(err)
		}
	}
	return ts, logs
}

func liveWriteHtpasswd(tb testing.TB, dir string, users map[string]string) string {
	tb.Helper()
	var b strings.Builder
	for u, p := range users {
		hash, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, hash)
	}
	pw := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(pw, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return pw
}

// ---- a client that reports errors instead of failing (goroutine-safe) ----

type liveClient struct {
	c   net.Conn
	br  *bufio.Reader
	tag int
}

func dialLive(addr string) (*liveClient, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	lc := &liveClient{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	g, err := lc.readLine(10 * time.Second)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(g, "* OK") {
		c.Close()
		return nil, fmt.Errorf("greeting %q", g)
	}
	return lc, nil
}

// liveDialLogin connects, logs in and selects folder (if not "").
func liveDialLogin(addr, user, pass, folder string) (*liveClient, error) {
	lc, err := dialLive(addr)
	if err != nil {
		return nil, err
	}
	if _, err := lc.ok("LOGIN " + user + " " + pass); err != nil {
		lc.Close()
		return nil, err
	}
	if folder != "" {
		if _, err := lc.ok("SELECT " + folder); err != nil {
			lc.Close()
			return nil, err
		}
	}
	return lc, nil
}

func (lc *liveClient) Close() error { return lc.c.Close() }

func (lc *liveClient) send(line string) error {
	lc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(lc.c, line+"\r\n")
	return err
}

var liveLiteral = regexp.MustCompile(`\{(\d+)\+?\}$`)

// readLine reads one response line; literals are kept raw, inline.
func (lc *liveClient) readLine(d time.Duration) (string, error) {
	return readResponseLine(lc.c, lc.br, d, liveLiteral, rawLiteral)
}

func rawLiteral(s string) string { return s }

// cmd sends a tagged command and returns the untagged lines and the
// tagged one.
func (lc *liveClient) cmd(line string) (untagged []string, tagged string, err error) {
	lc.tag++
	tag := "t" + strconv.Itoa(lc.tag)
	if err := lc.send(tag + " " + line); err != nil {
		return nil, "", err
	}
	for {
		l, err := lc.readLine(60 * time.Second)
		if err != nil {
			return untagged, "", fmt.Errorf("%s: %w (after %q)", line, err, untagged)
		}
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" "), nil
		}
		untagged = append(untagged, l)
	}
}

// ok is cmd that wants a tagged OK.
func (lc *liveClient) ok(line string) ([]string, error) {
	u, tagged, err := lc.cmd(line)
	if err != nil {
		return u, err
	}
	if !strings.HasPrefix(tagged, "OK") {
		return u, fmt.Errorf("%s: %s", liveShort(line), tagged)
	}
	return u, nil
}

func liveShort(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// idle starts IDLE and waits for the continuation.
func (lc *liveClient) idle() error {
	lc.tag++
	if err := lc.send("t" + strconv.Itoa(lc.tag) + " IDLE"); err != nil {
		return err
	}
	l, err := lc.readLine(10 * time.Second)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(l, "+") {
		return fmt.Errorf("IDLE: %q", l)
	}
	return nil
}

// done ends IDLE and returns the untagged lines that came before the
// tagged OK.
func (lc *liveClient) done() ([]string, error) {
	if err := lc.send("DONE"); err != nil {
		return nil, err
	}
	tag := "t" + strconv.Itoa(lc.tag) + " "
	var u []string
	for {
		l, err := lc.readLine(10 * time.Second)
		if err != nil {
			return u, err
		}
		if strings.HasPrefix(l, tag) {
			if !strings.HasPrefix(l, tag+"OK") {
				return u, fmt.Errorf("DONE: %q", l)
			}
			return u, nil
		}
		u = append(u, l)
	}
}

// expect reads lines until want are seen (in order, other lines
// allowed only if they match allow) or the deadline passes.
func (lc *liveClient) expect(t *testing.T, within time.Duration, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	var got []string
	i := 0
	for i < len(want) {
		d := time.Until(deadline)
		if d <= 0 {
			t.Fatalf("after %v got %q, still waiting for %q", within, got, want[i:])
		}
		l, err := lc.readLine(d)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("after %v got %q, still waiting for %q", within, got, want[i:])
			}
			t.Fatalf("read: %v (got %q)", err, got)
		}
		got = append(got, l)
		if liveNoRecent(l) == want[i] {
			i++
		}
	}
	return got
}

// liveNoRecent drops \Recent from the FLAGS lists of a response line:
// whether a message found by a listing is recent in this session is the
// \Recent rule's business, not what the live tests check.
func liveNoRecent(l string) string {
	l = strings.ReplaceAll(l, `(\Recent)`, "()")
	l = strings.ReplaceAll(l, ` \Recent`, "")
	return strings.ReplaceAll(l, `\Recent `, "")
}

// liveExpectUntagged is expectUntagged, \Recent aside.
func liveExpectUntagged(t *testing.T, lines []string, want ...string) {
	t.Helper()
	var norm []string
	for _, l := range lines {
		norm = append(norm, liveNoRecent(l))
	}
	expectUntagged(t, norm, want...)
}

// quiet fails if anything arrives within d.
func (lc *liveClient) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	if l, err := lc.readLine(d); err == nil {
		t.Fatalf("unexpected %q", l)
	}
}

func liveMustLogin(t testing.TB, addr, folder string) *liveClient {
	t.Helper()
	lc, err := liveDialLogin(addr, "demo", "demo", folder)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	return lc
}

func liveMustOK(t testing.TB, lc *liveClient, line string) []string {
	t.Helper()
	u, err := lc.ok(line)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func liveMustIdle(t testing.TB, lc *liveClient) {
	t.Helper()
	if err := lc.idle(); err != nil {
		t.Fatal(err)
	}
}

// ---- changing the Maildir the way other programs do ----

var liveDeliverSeq atomic.Int64

// liveNewBaseName is a Maildir base name in the usual time.Mpid.host form.
func liveNewBaseName() string {
	now := time.Now()
	return fmt.Sprintf("%d.M%dP%dQ%d.livetest", now.Unix(), now.Nanosecond()/1000, os.Getpid(), liveDeliverSeq.Add(1))
}

// livePostfixDeliver writes msg into dir/tmp and renames it into dir/new, as
// Postfix's local(8) and virtual(8) do. It returns the base name.
func livePostfixDeliver(tb testing.TB, dir, msg string) string {
	tb.Helper()
	base := liveNewBaseName()
	tmp := filepath.Join(dir, "tmp", base)
	if err := os.WriteFile(tmp, []byte(msg), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "new", base)); err != nil {
		tb.Fatal(err)
	}
	return base
}

// livePutCur places a message straight into cur/ with the given info, as
// a client reading the Maildir directly (mutt) would leave it.
func livePutCur(t testing.TB, dir, info, msg string) string {
	t.Helper()
	base := liveNewBaseName()
	tmp := filepath.Join(dir, "tmp", base)
	if err := os.WriteFile(tmp, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "cur", base+":2,"+info)); err != nil {
		t.Fatal(err)
	}
	return base
}

// liveFindFile returns the current path of the message file with base name
// base, in new/ or cur/.
func liveFindFile(t testing.TB, dir, base string) string {
	t.Helper()
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() == base || strings.HasPrefix(e.Name(), base+":") {
				return filepath.Join(dir, sub, e.Name())
			}
		}
	}
	t.Fatalf("no file for %s", base)
	return ""
}

func liveCrlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// ---- (a) delivery → EXISTS ----
