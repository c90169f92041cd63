package imapd

import (
	"fmt"
	"strings"
	"testing"
)

// TestSearchKeysLimit: a SEARCH of exactly Limits.SearchKeys keys is
// served; one more key gets NO [LIMIT] naming the limit, and the
// connection stays in step. Keys count at every depth.
func TestSearchKeysLimit(t *testing.T) {
	ts := newTestServer(t)
	for i := range 3 {
		ts.deliver("INBOX", fmt.Sprintf("Subject: m%d\n\nbody\n", i))
	}
	c := ts.login()
	c.transactOK("s", "SELECT INBOX")

	// 500 NOT DELETED: 1,000 keys, the default.
	u := c.transactOK("a", "SEARCH"+strings.Repeat(" NOT DELETED", DefaultSearchKeys/2))
	expectUntagged(t, u, "* SEARCH 1 2 3")
	u, tagged := c.transact("b", "SEARCH"+strings.Repeat(" NOT DELETED", DefaultSearchKeys/2)+" ALL")
	expectUntagged(t, u)
	if want := "b NO [LIMIT] Too many search keys (limit 1000)"; tagged != want {
		t.Fatalf("one key over the limit: %q, want %q", tagged, want)
	}
	u = c.transactOK("c", "UID SEARCH 2")
	expectUntagged(t, u, "* SEARCH 2")

	// A configured limit, reached by nesting.
	ts = newTestServer(t, func(o *Options) { o.Limits.SearchKeys = 5 })
	ts.deliver("INBOX", "Subject: x\n\nbody\n")
	c = ts.login()
	c.transactOK("s", "SELECT INBOX")
	u = c.transactOK("a", "SEARCH NOT (OR SEEN DELETED)") // NOT, (, OR, SEEN, DELETED
	expectUntagged(t, u, "* SEARCH 1")
	u, tagged = c.transact("b", "UID SEARCH NOT (OR SEEN (DELETED))")
	expectUntagged(t, u)
	if want := "b NO [LIMIT] Too many search keys (limit 5)"; tagged != want {
		t.Fatalf("six keys, limit 5: %q, want %q", tagged, want)
	}
	c.transactOK("c", "NOOP")
}
