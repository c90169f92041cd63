package imapd

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStatusSizeExact: STATUS=SIZE (RFC 8438) is the sum of RFC822.SIZE,
// also for a message another program put in new/ with bare LF line
// endings and no size in its name, whose size must be read from the file.
func TestStatusSizeExact(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", "Subject: appended\n\nknown size\n")
	raw := "Subject: dropped in\n\nby procmail\nwith LF only\n"
	if err := os.WriteFile(filepath.Join(ts.store().Root(), "new", "1700000000.P1Q1.host"), []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	c := ts.login()
	u := c.transactOK("a", "STATUS INBOX (MESSAGES SIZE)")
	want := len("Subject: appended\r\n\r\nknown size\r\n") + len(strings.ReplaceAll(raw, "\n", "\r\n"))
	expectUntagged(t, u, fmt.Sprintf("* STATUS INBOX (MESSAGES 2 SIZE %d)", want))

	c.transactOK("b", "SELECT INBOX")
	sum := 0
	for _, l := range c.transactOK("c", "FETCH 1:* RFC822.SIZE") {
		f := strings.Fields(strings.TrimSuffix(l, ")"))
		n, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		sum += n
	}
	if sum != want {
		t.Errorf("RFC822.SIZE adds up to %d, STATUS said %d", sum, want)
	}
}
