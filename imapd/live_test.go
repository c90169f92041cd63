package imapd

// Live folders (issue 4): every change on disk, by anybody, reaches every
// session that has the folder selected, during IDLE within a second.
//
// The tests here change the Maildir the way other programs do (a Postfix
// delivery is a write into tmp/ and a rename into new/; mutt renames for
// flags; a tool rewrites or replaces a file; rm deletes), and watch what
// an idling client hears. TestLiveTwoProcesses and TestLiveBurst run the
// real daemon (cmd/imapd) as child processes.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"imapd/auth"
	"imapd/maildir"
)

// ---- an in-process server with chosen store options ----

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
		OpenStore:      func(id auth.Identity) (*maildir.Store, error) { return hub.Open(id.Maildir, true) },
		Logger:         logger,
		MaxConnections: 100000,
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
	lc.c.SetReadDeadline(time.Now().Add(d))
	var out strings.Builder
	for {
		l, err := lc.br.ReadString('\n')
		if err != nil {
			return out.String() + l, err
		}
		l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
		out.WriteString(l)
		m := liveLiteral.FindStringSubmatch(l)
		if m == nil {
			return out.String(), nil
		}
		n, _ := strconv.Atoi(m[1])
		buf := make([]byte, n)
		if _, err := io.ReadFull(lc.br, buf); err != nil {
			return out.String(), err
		}
		out.Write(buf)
	}
}

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

// TestLiveDeliveryIdle: a message Postfix delivers (tmp/ → new/) reaches
// an idling client as EXISTS within a second, and FETCH then returns the
// message exactly, in CRLF form.
func TestLiveDeliveryIdle(t *testing.T) {
	ts, _ := newLiveServer(t, maildir.Options{NoSync: true})
	c := liveMustLogin(t, ts.addr, "INBOX")
	liveMustIdle(t, c)
	msg := "Return-Path: <a@example.org>\nFrom: A <a@example.org>\nTo: demo@example.org\n" +
		"Subject: live delivery\nMessage-ID: <live-a@example.org>\n\nfirst line\n\n.dot line\ntrailing spaces   \nlast line\n"
	start := time.Now()
	livePostfixDeliver(t, ts.root, msg)
	c.expect(t, time.Second, "* 1 EXISTS")
	t.Logf("delivery to EXISTS: %v", time.Since(start))
	rest, err := c.done()
	if err != nil {
		t.Fatal(err)
	}
	// The session selected read-write claims the message from new/: it
	// is \Recent here (RECENT 1 follows EXISTS, possibly as a second
	// EXISTS/RECENT pair once the move to cur/ is recorded).
	for _, l := range rest {
		if !strings.HasSuffix(l, " RECENT") && !strings.HasSuffix(l, " EXISTS") {
			t.Errorf("unexpected response after EXISTS: %q", l)
		}
	}
	want := liveCrlf(msg)
	u := liveMustOK(t, c, "UID FETCH 1:* (RFC822.SIZE BODY.PEEK[])")
	wantLine := fmt.Sprintf("* 1 FETCH (UID 1 RFC822.SIZE %d BODY[] {%d}%s)", len(want), len(want), want)
	if len(u) != 1 || u[0] != wantLine {
		t.Fatalf("FETCH:\n%q\nwant\n%q", u, wantLine)
	}
	// And the partial body by octets, on the CRLF form too.
	u = liveMustOK(t, c, "FETCH 1 (BODY.PEEK[TEXT])")
	body := want[strings.Index(want, "\r\n\r\n")+4:]
	if wantLine := fmt.Sprintf("* 1 FETCH (BODY[TEXT] {%d}%s)", len(body), body); len(u) != 1 || u[0] != wantLine {
		t.Fatalf("FETCH TEXT:\n%q\nwant\n%q", u, wantLine)
	}
}

// ---- (b) flags changed by another program ----

// TestLiveFlagsRename: mutt (or Dovecot) renames a file to change its
// flags; the idling client hears FETCH FLAGS, and the UID is kept.
func TestLiveFlagsRename(t *testing.T) {
	ts, _ := newLiveServer(t, maildir.Options{NoSync: true})
	b1 := livePutCur(t, ts.root, "", "Subject: one\n\n1\n")
	b2 := livePutCur(t, ts.root, "S", "Subject: two\n\n2\n")
	c := liveMustLogin(t, ts.addr, "INBOX")
	u := liveMustOK(t, c, "UID FETCH 1:* (FLAGS)")
	liveExpectUntagged(t, u, `* 1 FETCH (UID 1 FLAGS ())`, `* 2 FETCH (UID 2 FLAGS (\Seen))`)
	liveMustIdle(t, c)

	old := liveFindFile(t, ts.root, b1)
	if err := os.Rename(old, filepath.Join(ts.root, "cur", b1+":2,FRS")); err != nil {
		t.Fatal(err)
	}
	c.expect(t, time.Second, `* 1 FETCH (FLAGS (\Flagged \Answered \Seen))`)
	// Removing flags too, and a rename of the second message.
	p2 := liveFindFile(t, ts.root, b2)
	if err := os.Rename(filepath.Join(ts.root, "cur", b1+":2,FRS"), filepath.Join(ts.root, "cur", b1+":2,T")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p2, filepath.Join(ts.root, "cur", b2+":2,DS")); err != nil {
		t.Fatal(err)
	}
	got := c.expect(t, time.Second, `* 1 FETCH (FLAGS (\Deleted))`, `* 2 FETCH (FLAGS (\Draft \Seen))`)
	if len(got) != 2 {
		// The two renames may be seen by one refresh or two: never anything else.
		t.Logf("responses: %q", got)
	}
	if _, err := c.done(); err != nil {
		t.Fatal(err)
	}
	u = liveMustOK(t, c, "UID FETCH 1:* (FLAGS)")
	liveExpectUntagged(t, u, `* 1 FETCH (UID 1 FLAGS (\Deleted))`, `* 2 FETCH (UID 2 FLAGS (\Draft \Seen))`)
}

// ---- (c) content rewritten or replaced ----

// TestLiveRewrite: a file rewritten in place, and a file replaced under
// the same base name (a new inode), are new messages: the idling client
// hears EXPUNGE of the old UID and EXISTS of a new one.
func TestLiveRewrite(t *testing.T) {
	ts, _ := newLiveServer(t, maildir.Options{NoSync: true})
	b1 := livePutCur(t, ts.root, "S", "Subject: one\n\noriginal\n")
	b2 := livePutCur(t, ts.root, "", "Subject: two\n\noriginal\n")
	c := liveMustLogin(t, ts.addr, "INBOX")
	liveMustIdle(t, c)

	// In place: same inode, new content (a longer file).
	p1 := liveFindFile(t, ts.root, b1)
	ino := liveInodeOfPath(t, p1)
	if err := os.WriteFile(p1, []byte("Subject: one\n\nrewritten in place\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if liveInodeOfPath(t, p1) != ino {
		t.Fatal("WriteFile made a new inode")
	}
	c.expect(t, time.Second, "* 1 EXPUNGE", "* 2 EXISTS")
	if _, err := c.done(); err != nil {
		t.Fatal(err)
	}
	u := liveMustOK(t, c, "UID FETCH 1:* (FLAGS BODY.PEEK[TEXT])")
	liveExpectUntagged(t, u,
		"* 1 FETCH (UID 2 FLAGS () BODY[TEXT] {10}original\r\n)",
		"* 2 FETCH (UID 3 FLAGS (\\Seen) BODY[TEXT] {20}rewritten in place\r\n)")

	// Same size, same second: only the mtime tells (set it explicitly).
	liveMustIdle(t, c)
	p1 = liveFindFile(t, ts.root, b1)
	st, _ := os.Stat(p1)
	if err := os.WriteFile(p1, []byte("Subject: one\n\nREWRITTEN IN PLACE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p1, st.ModTime().Add(time.Second), st.ModTime().Add(time.Second))
	c.expect(t, time.Second, "* 2 EXPUNGE", "* 2 EXISTS")
	if _, err := c.done(); err != nil {
		t.Fatal(err)
	}
	u = liveMustOK(t, c, "UID FETCH 1:* (BODY.PEEK[TEXT])")
	liveExpectUntagged(t, u,
		"* 1 FETCH (UID 2 BODY[TEXT] {10}original\r\n)",
		"* 2 FETCH (UID 4 BODY[TEXT] {20}REWRITTEN IN PLACE\r\n)")

	// Replaced: a new file renamed over the old name (a new inode), with
	// content of the same size.
	liveMustIdle(t, c)
	p2 := liveFindFile(t, ts.root, b2)
	tmp := filepath.Join(ts.root, "tmp", b2)
	if err := os.WriteFile(tmp, []byte("Subject: two\n\nreplaced\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p2); err != nil {
		t.Fatal(err)
	}
	c.expect(t, time.Second, "* 1 EXPUNGE", "* 2 EXISTS")
	if _, err := c.done(); err != nil {
		t.Fatal(err)
	}
	u = liveMustOK(t, c, "UID FETCH 1:* (BODY.PEEK[TEXT])")
	liveExpectUntagged(t, u,
		"* 1 FETCH (UID 4 BODY[TEXT] {20}REWRITTEN IN PLACE\r\n)",
		"* 2 FETCH (UID 5 BODY[TEXT] {10}replaced\r\n)")
}

func liveInodeOfPath(t testing.TB, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// ---- (d) deleted by another program ----

// TestLiveOutsideDelete: rm of a message file → EXPUNGE during IDLE,
// several at once numbered right.
func TestLiveOutsideDelete(t *testing.T) {
	ts, _ := newLiveServer(t, maildir.Options{NoSync: true})
	var bases []string
	for i := 1; i <= 5; i++ {
		bases = append(bases, livePutCur(t, ts.root, "", fmt.Sprintf("Subject: %d\n\n%d\n", i, i)))
	}
	c := liveMustLogin(t, ts.addr, "INBOX")
	liveMustIdle(t, c)
	if err := os.Remove(liveFindFile(t, ts.root, bases[2])); err != nil {
		t.Fatal(err)
	}
	c.expect(t, time.Second, "* 3 EXPUNGE")
	c.quiet(t, 100*time.Millisecond)
	// Two at once: UIDs 2 and 5 are sequence numbers 2 and 4 now; after
	// the first EXPUNGE the second is 3.
	os.Remove(liveFindFile(t, ts.root, bases[1]))
	os.Remove(liveFindFile(t, ts.root, bases[4]))
	got := c.expect(t, time.Second, "* 2 EXPUNGE")
	if len(got) == 1 {
		got = append(got, c.expect(t, time.Second, "* 3 EXPUNGE")...)
	}
	if !slices.Equal(got, []string{"* 2 EXPUNGE", "* 3 EXPUNGE"}) {
		t.Fatalf("got %q", got)
	}
	if _, err := c.done(); err != nil {
		t.Fatal(err)
	}
	u := liveMustOK(t, c, "UID SEARCH ALL")
	expectUntagged(t, u, "* SEARCH 1 4")
}

// ---- a folder deleted by another process ----

// TestLiveSelectedFolderDeleted: the folder a session has selected is
// removed by another program (or another server process). The issue
// wants a clear answer, "* BYE" or NO with a response code, as Dovecot
// gives ("* BYE Selected mailbox was deleted, have to disconnect."). An
// idling client sends no command for up to 30 minutes, so it must hear
// it during IDLE; a client that sends a command must get NO [code] or BYE.
func TestLiveSelectedFolderDeleted(t *testing.T) {
	ts, logs := newLiveServer(t, maildir.Options{NoSync: true})
	c := liveMustLogin(t, ts.addr, "")
	liveMustOK(t, c, "CREATE Doomed")
	liveMustOK(t, c, `APPEND Doomed {12+}`+"\r\nSubject: x\r\n")
	liveMustOK(t, c, "SELECT Doomed")
	liveMustIdle(t, c)
	dir := filepath.Join(ts.root, ".Doomed")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	var during []string
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		l, err := c.readLine(time.Until(deadline))
		if err != nil {
			break
		}
		during = append(during, l)
	}
	t.Logf("during IDLE, 2.5 s after the folder was removed: %q", during)
	t.Logf("log lines about it meanwhile: %d", strings.Count(logs.String(), "refresh during IDLE"))
	for _, l := range during {
		if strings.HasPrefix(l, "* BYE") {
			return // the documented answer, possibility 1
		}
	}
	if len(during) == 0 {
		t.Errorf("IDLE stayed silent for 2.5 s after the selected folder was removed; want * BYE (or IDLE ended and NO [code])")
	}
	after, err := c.done()
	t.Logf("DONE: %q, err %v", after, err)
	u, tagged, err := c.cmd("NOOP")
	t.Logf("NOOP: %q %q %v", u, tagged, err)
	u2, tagged2, err2 := c.cmd("FETCH 1 (FLAGS)")
	t.Logf("FETCH: %q %q %v", u2, tagged2, err2)
	clear := regexp.MustCompile(`^NO \[[A-Z]+`)
	if !clear.MatchString(tagged) && !strings.Contains(strings.Join(u, "\n"), "* BYE") {
		t.Errorf("the selected folder was removed: NOOP answered %q %q; want * BYE or NO [CODE]", u, tagged)
	}
}

// TestLiveTwoHubs is (e) in miniature and in one process: two Hubs (as
// two server processes have) on one Maildir. What a session of one
// does must reach the sessions of the other through the filesystem.
func TestLiveTwoHubs(t *testing.T) {
	dir := t.TempDir()
	s1, _ := newLiveServerIn(t, dir, maildir.Options{NoSync: true})
	s2, _ := newLiveServerIn(t, dir, maildir.Options{NoSync: true})
	a := liveMustLogin(t, s1.addr, "INBOX")
	b := liveMustLogin(t, s2.addr, "INBOX")

	liveMustOK(t, b, "APPEND INBOX {12+}\r\nSubject: b\r\n")
	got := liveMustOK(t, a, "NOOP")
	if !slices.Contains(got, "* 1 EXISTS") {
		t.Errorf("APPEND by the other process: NOOP said %q, want * 1 EXISTS", got)
	}
	liveMustIdle(t, a)
	liveMustOK(t, b, "APPEND INBOX {12+}\r\nSubject: c\r\n")
	if l, err := a.readLine(1500 * time.Millisecond); err != nil || l != "* 2 EXISTS" {
		t.Errorf("APPEND by the other process during IDLE: %q %v, want * 2 EXISTS", l, err)
	}
	a.done()
	liveMustOK(t, b, `STORE 1 +FLAGS.SILENT (\Flagged)`)
	got = liveMustOK(t, a, "NOOP")
	if !slices.Contains(got, `* 1 FETCH (FLAGS (\Flagged))`) {
		t.Errorf("STORE by the other process: NOOP said %q, want * 1 FETCH (FLAGS (\\Flagged))", got)
	}
	liveMustOK(t, b, `UID STORE 1:* +FLAGS.SILENT (\Deleted)`)
	liveMustOK(t, b, "EXPUNGE")
	got = liveMustOK(t, a, "NOOP")
	if c := strings.Count(strings.Join(got, "\n"), "EXPUNGE"); c == 0 {
		t.Errorf("EXPUNGE by the other process: NOOP said %q, want EXPUNGEs", got)
	}
	u, _ := a.ok("UID SEARCH ALL")
	t.Logf("after all that, the first process's UID SEARCH ALL: %q", u)
	// A fresh selection in the first process sees the truth.
	c := liveMustLogin(t, s1.addr, "")
	u = liveMustOK(t, c, "SELECT INBOX")
	t.Logf("a new SELECT in the first process: %q", u)
}

// ---- (g) watch limit ----

// TestLiveWatchLimitFallback: with the store's simulated watch limit
// (maildir.Options.MaxWatches) the Hub falls back to periodic checks,
// logs it once, and changes still reach idling sessions: deliveries,
// flag renames and deletes, in a folder that is not watched at all.
func TestLiveWatchLimitFallback(t *testing.T) {
	ts, logs := newLiveServer(t, maildir.Options{NoSync: true, MaxWatches: 2, PollInterval: 200 * time.Millisecond})
	st := ts.store()
	if err := st.Create("Other"); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(ts.root, ".Other")
	b := livePutCur(t, other, "", "Subject: o\n\no\n")
	a := liveMustLogin(t, ts.addr, "INBOX") // takes both watches (new/, cur/)
	c := liveMustLogin(t, ts.addr, "Other") // over the limit: polled
	if n := strings.Count(logs.String(), "falling back to periodic folder checks"); n != 1 {
		t.Fatalf("fallback logged %d times:\n%s", n, logs.String())
	}
	liveMustIdle(t, a)
	liveMustIdle(t, c)
	start := time.Now()
	livePostfixDeliver(t, other, "Subject: p\n\np\n")
	c.expect(t, 2*time.Second, "* 2 EXISTS")
	t.Logf("delivery seen after %v without a watch", time.Since(start))
	os.Rename(liveFindFile(t, other, b), filepath.Join(other, "cur", b+":2,F"))
	c.expect(t, 2*time.Second, `* 1 FETCH (FLAGS (\Flagged))`)
	os.Remove(liveFindFile(t, other, b))
	c.expect(t, 2*time.Second, "* 1 EXPUNGE")
	// The watched folder keeps working as before.
	start = time.Now()
	livePostfixDeliver(t, ts.root, "Subject: q\n\nq\n")
	a.expect(t, time.Second, "* 1 EXISTS")
	t.Logf("delivery to the watched folder seen after %v", time.Since(start))
	// A second unwatched selection does not log again.
	d := liveMustLogin(t, ts.addr, "")
	liveMustOK(t, d, "CREATE Third")
	liveMustOK(t, d, "SELECT Third")
	if n := strings.Count(logs.String(), "falling back to periodic folder checks"); n != 1 {
		t.Fatalf("fallback logged %d times:\n%s", n, logs.String())
	}
}

// TestLiveWatchLimitStore is (g) at the store level, without IDLE's own
// once-a-second refresh: the fallback alone wakes the Mailbox.
func TestLiveWatchLimitStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts maildir.Options
	}{
		{"MaxWatches1", maildir.Options{NoSync: true, MaxWatches: 1, PollInterval: 100 * time.Millisecond}},
		{"NoWatch", maildir.Options{NoSync: true, NoWatch: true, PollInterval: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir() + "/Maildir"
			hub := maildir.NewHub(tc.opts)
			defer hub.Close()
			st, err := hub.Open(root, true)
			if err != nil {
				t.Fatal(err)
			}
			b := livePutCur(t, root, "", "Subject: o\n\no\n")
			mb, err := st.Select("INBOX", maildir.SelectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer mb.Close()
			wait := func(what string) []maildir.Update {
				t.Helper()
				deadline := time.After(2 * time.Second)
				for {
					select {
					case <-mb.Wake():
						if u := mb.Poll(true); len(u) > 0 {
							return u
						}
					case <-deadline:
						t.Fatalf("%s: no wake-up within 2 s", what)
					}
				}
			}
			// cur/ is not watched with MaxWatches 1 (new/ is).
			os.Rename(liveFindFile(t, root, b), filepath.Join(root, "cur", b+":2,S"))
			if u := wait("flag rename in cur/"); u[0].Kind != maildir.UpdateFlags || u[0].UID != 1 {
				t.Fatalf("updates %+v", u)
			}
			livePostfixDeliver(t, root, "Subject: n\n\nn\n")
			if u := wait("delivery"); u[0].Kind != maildir.UpdateExists || u[0].Count != 2 {
				t.Fatalf("updates %+v", u)
			}
			os.Remove(liveFindFile(t, root, b))
			if u := wait("delete"); u[0].Kind != maildir.UpdateExpunge || u[0].UID != 1 {
				t.Fatalf("updates %+v", u)
			}
		})
	}
}

// ---- server processes ----

// liveBuildDaemon builds cmd/imapd into a temporary directory.
func liveBuildDaemon(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "imapd")
	cmd := exec.Command("go", "build", "-o", bin, "imapd/cmd/imapd")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// liveDaemon is a running cmd/imapd.
type liveDaemon struct {
	cmd  *exec.Cmd
	addr string
	log  string
}

func liveFreePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// liveStartDaemon writes a config into dir (its own name) and starts bin
// with it; the process is stopped when the test ends.
func liveStartDaemon(tb testing.TB, bin, dir, name, htpasswd, mailLocation string) *liveDaemon {
	tb.Helper()
	addr := liveFreePort(tb)
	cfg := filepath.Join(dir, name+".toml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen = [%q]
[auth]
htpasswd = %q
mail_location = %q
[limits]
max_connections = 5000
[log]
level = "warn"
`, addr, htpasswd, mailLocation)), 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited); lf.Close() }()
	d := &liveDaemon{cmd: cmd, addr: addr, log: logPath}
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if tb.Failed() {
			b, _ := os.ReadFile(logPath)
			tb.Logf("%s log:\n%s", name, b)
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return d
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			tb.Fatalf("%s exited: %s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s does not listen on %s", name, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveCpuTime is the CPU time (user+system) the process used so far.
func liveCpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// ---- the sidecar, as read by a third party ----

type liveSidecarView struct {
	uidValidity, uidNext uint32
	locs                 map[uint32]string // UID → loc
	reused               []uint32          // UIDs added twice
}

// liveReadSidecar replays the UID list of the folder at dir.
func liveReadSidecar(t testing.TB, dir string) liveSidecarView {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "imapd-uidlist"))
	if err != nil {
		t.Fatal(err)
	}
	v := liveSidecarView{locs: map[uint32]string{}}
	added := map[uint32]bool{}
	lines := strings.Split(string(b), "\n")
	lines = lines[:len(lines)-1] // after the last newline: torn
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		num := func(i int) uint32 { n, _ := strconv.ParseUint(f[i], 10, 32); return uint32(n) }
		switch f[0] {
		case "imapd-uidlist":
			v.uidValidity, v.uidNext = num(2), num(3)
		case "a":
			u := num(1)
			if added[u] {
				v.reused = append(v.reused, u)
			}
			added[u] = true
			v.locs[u] = f[7]
			if u >= v.uidNext {
				v.uidNext = u + 1
			}
		case "x":
			delete(v.locs, num(1))
		case "f":
			if _, ok := v.locs[num(1)]; ok {
				v.locs[num(1)] = f[3]
			}
		}
	}
	return v
}

// liveFlagsOfLoc turns a sidecar loc into IMAP system flag names, sorted.
func liveFlagsOfLoc(loc string) []string {
	var out []string
	if len(loc) < 2 || loc[1] != ',' {
		return nil
	}
	for _, ch := range loc[2:] {
		switch ch {
		case 'D':
			out = append(out, `\Draft`)
		case 'F':
			out = append(out, `\Flagged`)
		case 'P':
			out = append(out, `$Forwarded`)
		case 'R':
			out = append(out, `\Answered`)
		case 'S':
			out = append(out, `\Seen`)
		case 'T':
			out = append(out, `\Deleted`)
		}
	}
	sort.Strings(out)
	return out
}

// ---- (e) two processes ----

var (
	liveFetchUID   = regexp.MustCompile(`\bUID (\d+)`)
	liveFetchFlags = regexp.MustCompile(`\bFLAGS \(([^)]*)\)`)
	liveFetchMsgID = regexp.MustCompile(`(?i)Message-ID: (<[^>]+>)`)
	liveAppendUID  = regexp.MustCompile(`\[APPENDUID (\d+) (\d+)\]`)
)

// liveFolderState is a client's view: UID → (Message-ID, flags).
type liveFolderState map[uint32]struct {
	msgID string
	flags string
}

func liveFetchState(lc *liveClient) (liveFolderState, []uint32, error) {
	u, err := lc.ok("UID SEARCH ALL")
	if err != nil {
		return nil, nil, err
	}
	var search []uint32
	for _, l := range u {
		if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
			for _, f := range strings.Fields(rest) {
				n, _ := strconv.ParseUint(f, 10, 32)
				search = append(search, uint32(n))
			}
		}
	}
	st := liveFolderState{}
	if len(search) == 0 {
		return st, nil, nil
	}
	u, err = lc.ok("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
	if err != nil {
		return nil, nil, err
	}
	for _, l := range u {
		if !strings.Contains(l, " FETCH ") {
			continue
		}
		mu, mf, mi := liveFetchUID.FindStringSubmatch(l), liveFetchFlags.FindStringSubmatch(l), liveFetchMsgID.FindStringSubmatch(l)
		if mu == nil || mf == nil || mi == nil {
			return nil, nil, fmt.Errorf("FETCH line %q", l)
		}
		uid, _ := strconv.ParseUint(mu[1], 10, 32)
		fl := strings.Fields(mf[1])
		fl = slices.DeleteFunc(fl, func(s string) bool { return s == `\Recent` })
		sort.Strings(fl)
		st[uint32(uid)] = struct {
			msgID string
			flags string
		}{mi[1], strings.Join(fl, " ")}
	}
	return st, search, nil
}

// TestLiveTwoProcesses is (e): two daemons on one Maildir, clients of
// both with INBOX selected, 1,000 interleaved APPENDs, STOREs and
// EXPUNGEs. At the end both servers' views and the sidecar agree with
// what the clients were told, and no UID was ever given to two messages.
func TestLiveTwoProcesses(t *testing.T) {
	bin := liveBuildDaemon(t)
	dir := t.TempDir()
	pw := liveWriteHtpasswd(t, dir, map[string]string{"demo": "demo"})
	loc := dir + "/mail/%u/Maildir"
	root := dir + "/mail/demo/Maildir"
	d1 := liveStartDaemon(t, bin, dir, "one", pw, loc)
	d2 := liveStartDaemon(t, bin, dir, "two", pw, loc)

	ops := 1000
	perServer := 3
	if testing.Short() {
		ops = 200
	}
	var clients []*liveClient
	for i := 0; i < 2*perServer; i++ {
		addr := d1.addr
		if i%2 == 1 {
			addr = d2.addr
		}
		clients = append(clients, liveMustLogin(t, addr, "INBOX"))
	}

	var (
		mu       sync.Mutex
		uidMsg   = map[uint32]string{} // every UID ever announced by APPENDUID
		reuse    []string
		pool     []uint32                       // UIDs appended, not yet expunged (for STOREs)
		flagsOf  = map[uint32]map[string]bool{} // flags confirmed by STORE responses
		expunged = map[uint32]bool{}
		opsDone  atomic.Int64
		counts   [3]atomic.Int64
	)
	storeFlags := []string{`\Seen`, `\Flagged`, `\Answered`, `\Draft`, `$Forwarded`}
	start := time.Now()
	errs := make(chan error, len(clients))
	var wg sync.WaitGroup
	for ci, lc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(ci) + 1))
			var mine []uint32
			for n := 0; ; n++ {
				if opsDone.Add(1) > int64(ops) {
					errs <- nil
					return
				}
				op := rng.Intn(100)
				switch {
				case op < 45 || len(mine) == 0: // APPEND
					id := fmt.Sprintf("<c%d.%d@live.test>", ci, n)
					msg := fmt.Sprintf("Message-ID: %s\r\nSubject: op %d of client %d\r\n\r\nbody %d\r\n", id, n, ci, n)
					_, tagged, err := lc.cmd(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg))
					if err != nil || !strings.HasPrefix(tagged, "OK") {
						errs <- fmt.Errorf("client %d APPEND: %q %v", ci, tagged, err)
						return
					}
					m := liveAppendUID.FindStringSubmatch(tagged)
					if m == nil {
						errs <- fmt.Errorf("client %d APPEND without APPENDUID: %q", ci, tagged)
						return
					}
					uid64, _ := strconv.ParseUint(m[2], 10, 32)
					uid := uint32(uid64)
					mu.Lock()
					if prev, ok := uidMsg[uid]; ok {
						reuse = append(reuse, fmt.Sprintf("UID %d: %s and %s", uid, prev, id))
					}
					uidMsg[uid] = id
					pool = append(pool, uid)
					mu.Unlock()
					mine = append(mine, uid)
					counts[0].Add(1)
				case op < 80: // STORE on anybody's message
					mu.Lock()
					uid := pool[rng.Intn(len(pool))]
					mu.Unlock()
					fl := storeFlags[rng.Intn(len(storeFlags))]
					u, tagged, err := lc.cmd(fmt.Sprintf("UID STORE %d +FLAGS (%s)", uid, fl))
					if err != nil || !(strings.HasPrefix(tagged, "OK") || strings.HasPrefix(tagged, "NO [EXPUNGEISSUED]")) {
						errs <- fmt.Errorf("client %d STORE: %q %v", ci, tagged, err)
						return
					}
					for _, l := range u {
						if strings.Contains(l, " FETCH (") && strings.Contains(l, fmt.Sprintf(" UID %d)", uid)) {
							mu.Lock()
							if flagsOf[uid] == nil {
								flagsOf[uid] = map[string]bool{}
							}
							flagsOf[uid][fl] = true
							mu.Unlock()
						}
					}
					counts[1].Add(1)
				default: // EXPUNGE one of ours
					i := rng.Intn(len(mine))
					uid := mine[i]
					mine = append(mine[:i], mine[i+1:]...)
					u, err := lc.ok(fmt.Sprintf(`UID STORE %d +FLAGS (\Deleted)`, uid))
					if err != nil {
						errs <- fmt.Errorf("client %d: %v", ci, err)
						return
					}
					hit := false
					for _, l := range u {
						hit = hit || strings.Contains(l, fmt.Sprintf(" UID %d)", uid))
					}
					if !hit {
						errs <- fmt.Errorf("client %d: own UID %d not in its view: %q", ci, uid, u)
						return
					}
					if _, err := lc.ok(fmt.Sprintf("UID EXPUNGE %d", uid)); err != nil {
						errs <- fmt.Errorf("client %d: %v", ci, err)
						return
					}
					mu.Lock()
					expunged[uid] = true
					pool = slices.DeleteFunc(pool, func(u uint32) bool { return u == uid })
					if len(pool) == 0 {
						pool = append(pool, uid) // a STORE on a gone UID is fine
					}
					mu.Unlock()
					counts[2].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d operations (%d APPEND, %d STORE, %d EXPUNGE) from %d clients of 2 processes in %v",
		ops, counts[0].Load(), counts[1].Load(), counts[2].Load(), len(clients), time.Since(start))
	if len(reuse) > 0 {
		t.Fatalf("UIDs reused: %q", reuse)
	}

	// What should be there: every appended UID not expunged, with the
	// flags the STOREs confirmed.
	want := map[uint32]string{}
	for uid, id := range uidMsg {
		if !expunged[uid] {
			var fl []string
			for f := range flagsOf[uid] {
				fl = append(fl, f)
			}
			sort.Strings(fl)
			want[uid] = id + " " + strings.Join(fl, " ")
		}
	}
	describe := func(st liveFolderState) map[uint32]string {
		out := map[uint32]string{}
		for uid, m := range st {
			out[uid] = m.msgID + " " + m.flags
		}
		return out
	}
	// Both views, once each server has caught up (bounded wait).
	for i, lc := range clients[:2] {
		var got map[uint32]string
		var search []uint32
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := lc.ok("NOOP"); err != nil {
				t.Fatal(err)
			}
			st, s, err := liveFetchState(lc)
			if err != nil {
				t.Fatal(err)
			}
			got, search = describe(st), s
			if liveMapsEqual(got, want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !liveMapsEqual(got, want) {
			t.Errorf("server %d's view differs from what the clients were told:\n%s", i+1, liveMapDiff(want, got))
		}
		if len(search) != len(want) {
			t.Errorf("server %d: UID SEARCH ALL has %d UIDs, want %d", i+1, len(search), len(want))
		}
	}
	// Every client's own view agrees too (their sequence numbers were
	// kept right all along, or the FETCHes above would not parse).
	for i, lc := range clients[2:] {
		st, _, err := liveFetchState(lc)
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(st); !liveMapsEqual(got, want) {
			t.Errorf("client %d's view differs:\n%s", i+3, liveMapDiff(want, got))
		}
	}
	// The sidecar, as a third party reads it.
	sc := liveReadSidecar(t, root)
	if len(sc.reused) > 0 {
		t.Errorf("sidecar adds UIDs twice: %v", sc.reused)
	}
	var maxUID uint32
	for uid := range uidMsg {
		maxUID = max(maxUID, uid)
	}
	if sc.uidNext <= maxUID {
		t.Errorf("sidecar UIDNEXT %d, but UID %d was given", sc.uidNext, maxUID)
	}
	if len(sc.locs) != len(want) {
		t.Errorf("sidecar holds %d messages, want %d", len(sc.locs), len(want))
	}
	for uid, w := range want {
		loc, ok := sc.locs[uid]
		if !ok {
			t.Errorf("sidecar lacks UID %d", uid)
			continue
		}
		fl := strings.Join(liveFlagsOfLoc(loc), " ")
		if _, wantFl, _ := strings.Cut(w, " "); fl != wantFl {
			t.Errorf("sidecar: UID %d has flags %q (loc %q), want %q", uid, fl, loc, wantFl)
		}
	}
	for _, d := range []*liveDaemon{d1, d2} {
		if b, _ := os.ReadFile(d.log); bytes.Contains(b, []byte("level=ERROR")) {
			t.Errorf("%s logged errors:\n%s", d.log, b)
		}
	}
}

func liveMapsEqual(a, b map[uint32]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func liveMapDiff(want, got map[uint32]string) string {
	var b strings.Builder
	n := 0
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			if n++; n <= 20 {
				fmt.Fprintf(&b, "  UID %d: got %q, want %q\n", k, g, v)
			}
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			if n++; n <= 20 {
				fmt.Fprintf(&b, "  UID %d: got %q, not expected\n", k, v)
			}
		}
	}
	fmt.Fprintf(&b, "  (%d differences)", n)
	return b.String()
}

// ---- (f) a burst of deliveries ----

// liveIdleWatcher reads an idling connection in the background and keeps
// the last EXISTS.
type liveIdleWatcher struct {
	lc        *liveClient
	last      atomic.Int64
	expunges  atomic.Int64
	existsN   atomic.Int64
	other     atomic.Int64
	stopped   chan struct{}
	err       error
	doneLines []string
}

func liveWatchIdle(lc *liveClient) *liveIdleWatcher {
	w := &liveIdleWatcher{lc: lc, stopped: make(chan struct{})}
	tag := "t" + strconv.Itoa(lc.tag) + " "
	go func() {
		defer close(w.stopped)
		for {
			l, err := lc.readLine(10 * time.Minute)
			if err != nil {
				w.err = err
				return
			}
			switch {
			case strings.HasPrefix(l, tag):
				if !strings.HasPrefix(l, tag+"OK") {
					w.err = fmt.Errorf("IDLE ended with %q", l)
				}
				return
			case strings.HasSuffix(l, " EXISTS"):
				n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
				w.last.Store(n)
				w.existsN.Add(1)
			case strings.HasSuffix(l, " EXPUNGE"):
				w.expunges.Add(1)
			case strings.HasSuffix(l, " RECENT"):
			default:
				w.other.Add(1)
				w.doneLines = append(w.doneLines, l)
			}
		}
	}()
	return w
}

// TestLiveBurst is (f): 10,000 deliveries written tmp/ → new/ in a burst
// while 20 sessions of a daemon IDLE. Every session's last EXISTS is the
// folder's count, the UIDs are distinct, and the server's CPU time for
// the burst is reported.
func TestLiveBurst(t *testing.T) {
	bin := liveBuildDaemon(t)
	dir := t.TempDir()
	pw := liveWriteHtpasswd(t, dir, map[string]string{"demo": "demo"})
	root := dir + "/mail/demo/Maildir"
	d := liveStartDaemon(t, bin, dir, "burst", pw, dir+"/mail/%u/Maildir")
	n, sessions := 10000, 20
	if testing.Short() {
		n = 1000
	}
	var ws []*liveIdleWatcher
	for i := 0; i < sessions; i++ {
		lc := liveMustLogin(t, d.addr, "INBOX")
		liveMustIdle(t, lc)
		ws = append(ws, liveWatchIdle(lc))
	}
	time.Sleep(100 * time.Millisecond) // let the server settle into IDLE (not needed for correctness)
	cpu0, err := liveCpuTime(d.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n", 20)
	for i := 0; i < n; i++ {
		livePostfixDeliver(t, root, fmt.Sprintf("Message-ID: <burst%d@live.test>\nSubject: burst %d\n\n%s", i, i, body))
	}
	written := time.Since(start)
	deadline := time.Now().Add(60 * time.Second)
	for {
		all := true
		for _, w := range ws {
			all = all && w.last.Load() == int64(n)
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			var lasts []int64
			for _, w := range ws {
				lasts = append(lasts, w.last.Load())
			}
			t.Fatalf("after 60 s the sessions' last EXISTS are %v, want %d", lasts, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	seen := time.Since(start)
	// Quiet: nothing more (an EXISTS beyond n would be a bug).
	time.Sleep(1500 * time.Millisecond)
	cpu1, _ := liveCpuTime(d.cmd.Process.Pid)
	var existsLines int64
	for i, w := range ws {
		if got := w.last.Load(); got != int64(n) {
			t.Errorf("session %d: last EXISTS %d, want %d", i, got, n)
		}
		if w.expunges.Load() != 0 || w.other.Load() != 0 {
			t.Errorf("session %d: %d EXPUNGEs and %d other lines: %q", i, w.expunges.Load(), w.other.Load(), w.doneLines)
		}
		existsLines += w.existsN.Load()
	}
	t.Logf("%d deliveries written in %v; all %d sessions saw EXISTS %d after %v; %.1f EXISTS per session (coalescing)",
		n, written.Round(time.Millisecond), sessions, n, seen.Round(time.Millisecond), float64(existsLines)/float64(sessions))
	t.Logf("server CPU time for the burst: %v (user+system, /proc/%d/stat; includes 1.5 s of quiet), %.1f µs per delivery",
		cpu1-cpu0, d.cmd.Process.Pid, float64((cpu1-cpu0).Microseconds())/float64(n))

	for _, w := range ws {
		w.lc.send("DONE")
	}
	for i, w := range ws {
		select {
		case <-w.stopped:
		case <-time.After(10 * time.Second):
			t.Fatalf("session %d: no answer to DONE", i)
		}
		if w.err != nil {
			t.Fatalf("session %d: %v", i, w.err)
		}
	}
	u, err := ws[0].lc.ok("UID SEARCH ALL")
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, l := range u {
		if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
			uids = append(uids, strings.Fields(rest)...)
		}
	}
	set := map[string]bool{}
	for _, x := range uids {
		if set[x] {
			t.Errorf("UID %s twice in UID SEARCH ALL", x)
		}
		set[x] = true
	}
	if len(uids) != n {
		t.Errorf("UID SEARCH ALL: %d UIDs, want %d", len(uids), n)
	}
	sc := liveReadSidecar(t, root)
	if len(sc.locs) != n || len(sc.reused) != 0 {
		t.Errorf("sidecar: %d messages (want %d), UIDs added twice: %v", len(sc.locs), n, sc.reused)
	}
	// Every message is in cur/ now (claimed by the read-write sessions) and
	// has its own UID; the Message-IDs are all there.
	u, err = ws[1].lc.ok("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, l := range u {
		if m := liveFetchMsgID.FindStringSubmatch(l); m != nil {
			ids[m[1]] = true
		}
	}
	if len(ids) != n {
		t.Errorf("%d distinct Message-IDs fetched, want %d", len(ids), n)
	}
}
