package imapd

import (
	"strings"
	"testing"
	"time"
)

// TestCrossSession: one connection changes the mailbox, the other hears
// of it only where RFC 3501 §7.4.1 allows (no EXPUNGE during FETCH,
// STORE or SEARCH by sequence number).
func TestCrossSession(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", "Subject: one\n\nx\n")
	ts.deliver("INBOX", "Subject: two\n\ny\n")
	a, b := ts.login(), ts.login()
	a.transactOK("a1", "SELECT INBOX")
	b.transactOK("b1", "SELECT INBOX")

	a.transactOK("a2", "APPEND INBOX {14+}\r\nSubject: new\r\n")
	u := b.transactOK("b2", "NOOP")
	expectUntagged(t, u, "* 3 EXISTS", "* 0 RECENT")

	a.transactOK("a3", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	u = b.transactOK("b3", "NOOP")
	expectUntagged(t, u, `* 1 FETCH (FLAGS (\Deleted))`)

	u = a.transactOK("a4", "EXPUNGE")
	expectUntagged(t, u, "* 1 EXPUNGE")
	// FETCH by sequence number must not see the EXPUNGE: the expunged
	// message is answered from its last metadata (issue 10) ...
	u, tagged := b.transact("b4", "FETCH 1:2 (FLAGS)")
	expectUntagged(t, u, `* 1 FETCH (FLAGS (\Deleted))`, `* 2 FETCH (FLAGS ())`)
	if tagged != "b4 OK FETCH completed" {
		t.Fatal(tagged)
	}
	// ... or, for what needs its content, skipped, with [EXPUNGEISSUED]
	// on the OK (RFC 5530).
	u, tagged = b.transact("b41", "FETCH 1:2 (BODY.PEEK[TEXT])")
	expectUntagged(t, u, `* 2 FETCH (BODY[TEXT] {3}y\r\n)`)
	if !strings.HasPrefix(tagged, "b41 OK [EXPUNGEISSUED]") {
		t.Fatal(tagged)
	}
	u = b.transactOK("b5", "SEARCH ALL")
	expectUntagged(t, u, "* SEARCH 1 2 3")
	// Its flags are searched as they were when it went.
	u = b.transactOK("b51", `SEARCH DELETED`)
	expectUntagged(t, u, "* SEARCH 1")
	// ... but NOOP and UID commands do.
	u = b.transactOK("b6", "NOOP")
	expectUntagged(t, u, "* 1 EXPUNGE")
	u = b.transactOK("b7", "UID SEARCH ALL")
	expectUntagged(t, u, "* SEARCH 2 3")
}

// TestIdle: changes by another session reach an idling client at once,
// and DONE ends IDLE.
func TestIdle(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", "Subject: one\n\nx\n")
	a, b := ts.login(), ts.login()
	a.transactOK("a1", "SELECT INBOX")
	b.transactOK("b0", "SELECT INBOX")
	b.send("b1 IDLE")
	if l := b.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	a.transactOK("a2", "APPEND INBOX {14+}\r\nSubject: new\r\n")
	expectUntagged(t, []string{b.readLine(), b.readLine()}, "* 2 EXISTS", "* 0 RECENT")
	// A delivery through the store (as imapctl or LMTP would) arrives
	// without any command.
	start := time.Now()
	ts.deliver("INBOX", "Subject: external\n\nz\n")
	expectUntagged(t, []string{b.readLine(), b.readLine()}, "* 3 EXISTS", "* 0 RECENT")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("external delivery seen after %v", d)
	}
	b.send("DONE")
	if l := b.readLine(); l != "b1 OK IDLE completed" {
		t.Fatalf("after DONE: %q", l)
	}
}

// Issue 10, class 2: a keyword another session stored first reaches this
// one in a new FLAGS (and PERMANENTFLAGS) before the FETCH that carries
// it (RFC 3501 §7.2.6), whether the FETCH is an update or asked for.
func TestCrossSessionNewKeyword(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", "Subject: one\n\nx\n")
	ts.deliver("INBOX", "Subject: two\n\ny\n")
	a, b := ts.login(), ts.login()
	a.transactOK("a1", "SELECT INBOX")
	b.transactOK("b1", "SELECT INBOX")
	a.transactOK("a2", `STORE 1 +FLAGS.SILENT ($Label5)`)
	u := b.transactOK("b2", "NOOP")
	expectUntagged(t, u,
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Label5)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Label5 \*)] Flags permitted`,
		`* 1 FETCH (FLAGS ($Label5))`)
	a.transactOK("a3", `STORE 2 +FLAGS.SILENT ($Label6)`)
	u = b.transactOK("b3", "FETCH 2 (FLAGS)")
	expectUntagged(t, u,
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Label5 $Label6)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Label5 $Label6 \*)] Flags permitted`,
		`* 2 FETCH (FLAGS ($Label6))`)
}
