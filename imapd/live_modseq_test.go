package imapd

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"imapd/maildir"
)

// TestLiveModSeqIdle: changes other programs make on disk reach a
// client that enabled QRESYNC during IDLE as RFC 7162 wants them: a flag
// rename by mutt as FETCH with UID and a MODSEQ above every one before,
// a file removed by rm as VANISHED, a Postfix delivery as EXISTS with a
// still higher MODSEQ; and a QRESYNC from before them names exactly
// those changes.
func TestLiveModSeqIdle(t *testing.T) {
	ts, _ := newLiveServer(t, maildir.Options{NoSync: true})
	var bases []string
	for i := 1; i <= 3; i++ {
		bases = append(bases, livePutCur(t, ts.root, "", fmt.Sprintf("Subject: %d\n\n%d\n", i, i)))
	}
	c := liveMustLogin(t, ts.addr, "INBOX")
	h0 := liveHighestModSeq(t, c)
	liveMustIdle(t, c)

	if err := os.Rename(liveFindFile(t, ts.root, bases[0]), filepath.Join(ts.root, "cur", bases[0]+":2,F")); err != nil {
		t.Fatal(err)
	}
	got := c.expect(t, time.Second, fmt.Sprintf(`* 1 FETCH (FLAGS (\Flagged) UID 1 MODSEQ (%d))`, h0+1))
	if len(got) != 1 {
		t.Fatalf("responses to a rename: %q", got)
	}
	if err := os.Remove(liveFindFile(t, ts.root, bases[1])); err != nil {
		t.Fatal(err)
	}
	c.expect(t, time.Second, "* VANISHED 2")
	livePostfixDeliver(t, ts.root, "Subject: 4\n\n4\n")
	c.expect(t, time.Second, "* 3 EXISTS")
	if _, err := c.done(); err != nil {
		t.Fatal(err)
	}
	if m := liveMustOK(t, c, "FETCH 3 (UID MODSEQ)"); len(m) != 1 || m[0] != fmt.Sprintf("* 3 FETCH (UID 4 MODSEQ (%d))", h0+3) {
		t.Fatalf("the delivery: %q, want UID 4 with MODSEQ %d", m, h0+3)
	}
	uidv := liveUIDValidity(t, c)
	u := liveMustOK(t, c, fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", uidv, h0))
	var changes []string
	for _, l := range u {
		if regexp.MustCompile(`^\* (VANISHED|\d+ FETCH)`).MatchString(l) {
			changes = append(changes, liveNoRecent(l))
		}
	}
	want := []string{"* VANISHED (EARLIER) 2",
		fmt.Sprintf(`* 1 FETCH (UID 1 FLAGS (\Flagged) MODSEQ (%d))`, h0+1),
		fmt.Sprintf(`* 3 FETCH (UID 4 FLAGS () MODSEQ (%d))`, h0+3)}
	liveExpectUntagged(t, changes, want...)
}

var (
	liveHighestRe  = regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`)
	liveValidityRe = regexp.MustCompile(`UIDVALIDITY (\d+)`)
)

// liveHighestModSeq enables QRESYNC with a folder selected, which tells
// the folder's HIGHESTMODSEQ first (RFC 7162 §3.1), and returns it.
func liveHighestModSeq(t *testing.T, c *liveClient) uint64 {
	t.Helper()
	for _, l := range liveMustOK(t, c, "ENABLE QRESYNC") {
		if m := liveHighestRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 64)
			return n
		}
	}
	t.Fatal("no HIGHESTMODSEQ at ENABLE QRESYNC with a folder selected")
	return 0
}

func liveUIDValidity(t *testing.T, c *liveClient) uint64 {
	t.Helper()
	for _, l := range liveMustOK(t, c, "STATUS INBOX (UIDVALIDITY)") {
		if m := liveValidityRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 32)
			return n
		}
	}
	t.Fatal("no UIDVALIDITY")
	return 0
}
