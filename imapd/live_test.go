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
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapd/maildir"
)

// ---- an in-process server with chosen store options ----

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
			wait := func(what string) []maildir.Change {
				t.Helper()
				deadline := time.After(2 * time.Second)
				for {
					select {
					case <-mb.Wake():
						if u := mb.Changes(); len(u) > 0 {
							return u
						}
					case <-deadline:
						t.Fatalf("%s: no wake-up within 2 s", what)
					}
				}
			}
			// cur/ is not watched with MaxWatches 1 (new/ is).
			os.Rename(liveFindFile(t, root, b), filepath.Join(root, "cur", b+":2,S"))
			if u := wait("flag rename in cur/"); u[0].Kind != maildir.FlagsChanged || u[0].UID != 1 {
				t.Fatalf("updates %+v", u)
			}
			livePostfixDeliver(t, root, "Subject: n\n\nn\n")
			if u := wait("delivery"); u[0].Kind != maildir.Added || u[0].UID != 2 {
				t.Fatalf("updates %+v", u)
			}
			os.Remove(liveFindFile(t, root, b))
			if u := wait("delete"); u[0].Kind != maildir.Expunged || u[0].UID != 1 {
				t.Fatalf("updates %+v", u)
			}
		})
	}
}

// ---- server processes ----
