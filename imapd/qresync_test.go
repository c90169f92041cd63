package imapd

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// TestQResyncBeyondRememberedExpunges: a client resyncing from a MODSEQ
// older than the expunges its folder remembers (here: a UID list last
// rewritten by an imapd that kept none) gets VANISHED (EARLIER) for
// every UID of its known set that is not in the folder, the full answer
// RFC 7162 §3.2.5.2 allows: more than was expunged since its MODSEQ,
// never a UID still there. From a MODSEQ the folder remembers, it gets
// exactly the expunges since.
func TestQResyncBeyondRememberedExpunges(t *testing.T) {
	ts := newTestServer(t)
	for i := 1; i <= 6; i++ {
		ts.deliver("INBOX", fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i))
	}
	c := ts.login()
	c.transactOK("a1", "ENABLE QRESYNC")
	c.transactOK("a2", "SELECT INBOX")
	c.transactOK("a3", `UID STORE 6 +FLAGS.SILENT (\Deleted)`)
	c.transactOK("a4", "EXPUNGE")
	uidv, h0 := qresyncSelectState(t, c.transactOK("a5", "SELECT INBOX"))
	c.transactOK("a6", `UID STORE 2,4 +FLAGS.SILENT (\Deleted)`)
	c.transactOK("a7", "EXPUNGE")
	c.transactOK("a8", "UNSELECT")

	// Remembered: exactly 2 and 4, though 6 is in the known set too.
	qresync := fmt.Sprintf("SELECT INBOX (QRESYNC (%s %s 1:6))", uidv, h0)
	if got := vanishedEarlierIn(c.transactOK("b1", qresync)); got != "2,4" {
		t.Fatalf("from a remembered MODSEQ: VANISHED (EARLIER) %q, want 2,4", got)
	}
	c.transactOK("b2", "UNSELECT")

	st := c.transactOK("b3", "STATUS INBOX (UIDNEXT HIGHESTMODSEQ)")
	next := regexp.MustCompile(`UIDNEXT (\d+)`).FindStringSubmatch(strings.Join(st, ""))
	highest := regexp.MustCompile(`HIGHESTMODSEQ (\d+)`).FindStringSubmatch(strings.Join(st, ""))
	if next == nil || highest == nil {
		t.Fatalf("STATUS: %q", st)
	}
	forgetExpunges(t, filepath.Join(ts.root, "imapd-uidlist"), next[1], highest[1])
	if got := vanishedEarlierIn(c.transactOK("b4", qresync)); got != "2,4,6" {
		t.Fatalf("from before what is remembered: VANISHED (EARLIER) %q, want 2,4,6", got)
	}
}

// forgetExpunges rewrites a sidecar as an imapd that remembered no
// expunges wrote it: its first line carries the present UIDNEXT and
// HIGHESTMODSEQ, next and highest, and no 'x', 'v' or 'e' record
// follows, nor any record of an expunged UID (a rewrite holds the
// messages there are, and its 'd' records say its listings were
// complete: with fine mtimes they are trusted a few ms later, so no
// listing comes to find the files gone). It replaces the file by a
// rename, as every writer does, so the server reads it afresh.
func forgetExpunges(t *testing.T, path, next, highest string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	expunged := map[string]bool{}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); f[0] == "x" {
			expunged[f[1]] = true
		}
	}
	var kept []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		perUID := f[0] != "r" && f[0] != "v" && f[0] != "e" && f[0] != "d"
		if f[0] != "x" && f[0] != "v" && f[0] != "e" && !(perUID && expunged[f[1]]) {
			kept = append(kept, l)
		}
	}
	head := strings.Fields(lines[0])
	head[3], head[4] = next, highest
	out := strings.Join(append([]string{strings.Join(head, " ")}, kept...), "\n") + "\n"
	tmp := path + ".test"
	if err := os.WriteFile(tmp, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var (
	qresyncUIDValidity = regexp.MustCompile(`^\* OK \[UIDVALIDITY (\d+)\]`)
	qresyncHighestMod  = regexp.MustCompile(`^\* OK \[HIGHESTMODSEQ (\d+)\]`)
)

// qresyncSelectState reads UIDVALIDITY and HIGHESTMODSEQ from SELECT's
// untagged responses.
func qresyncSelectState(t *testing.T, lines []string) (uidv, highest string) {
	t.Helper()
	for _, l := range lines {
		if m := qresyncUIDValidity.FindStringSubmatch(l); m != nil {
			uidv = m[1]
		}
		if m := qresyncHighestMod.FindStringSubmatch(l); m != nil {
			highest = m[1]
		}
	}
	if uidv == "" || highest == "" {
		t.Fatalf("SELECT without UIDVALIDITY or HIGHESTMODSEQ: %q", lines)
	}
	return uidv, highest
}

// vanishedEarlierIn returns the set of the VANISHED (EARLIER) among
// lines, "" if there is none.
func vanishedEarlierIn(lines []string) string {
	for _, l := range lines {
		if set, ok := strings.CutPrefix(l, "* VANISHED (EARLIER) "); ok {
			return set
		}
	}
	return ""
}

// TestMissingUIDs: the UIDs of the wanted ranges not in the folder, as
// runs.
func TestMissingUIDs(t *testing.T) {
	for _, tc := range []struct {
		want []wire.SeqRange
		have []uint32
		out  []maildir.UIDRange
	}{
		{[]wire.SeqRange{{Start: 1, Stop: 10}}, []uint32{2, 3, 7}, []maildir.UIDRange{{Lo: 1, Hi: 1}, {Lo: 4, Hi: 6}, {Lo: 8, Hi: 10}}},
		{[]wire.SeqRange{{Start: 2, Stop: 3}, {Start: 7, Stop: 9}}, []uint32{1, 2, 3, 9, 12}, []maildir.UIDRange{{Lo: 7, Hi: 8}}},
		{[]wire.SeqRange{{Start: 1, Stop: 4294967295}}, []uint32{4294967295}, []maildir.UIDRange{{Lo: 1, Hi: 4294967294}}},
		{[]wire.SeqRange{{Start: 5, Stop: 6}}, nil, []maildir.UIDRange{{Lo: 5, Hi: 6}}},
		{nil, []uint32{1}, nil},
	} {
		if got := missingUIDs(tc.want, tc.have); !slices.Equal(got, tc.out) {
			t.Errorf("missingUIDs(%v, %v) = %v, want %v", tc.want, tc.have, got, tc.out)
		}
	}
}
