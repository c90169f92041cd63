package imapd

import (
	"fmt"
	"strings"
	"testing"
)

func keywordList(prefix string, n int) string {
	var kws []string
	for i := 0; i < n; i++ {
		kws = append(kws, fmt.Sprintf("%s%05d", prefix, i))
	}
	return strings.Join(kws, " ")
}

// Issue 9: the keywords of a folder and the folders of a user are
// bounded; beyond, NO [LIMIT] says which limit, and nothing changed.
func TestLimitKeywordsAndFoldersOverIMAP(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Limits.MaxKeywords = 30; o.Limits.MaxFolders = 3 })
	for i := 0; i < 3; i++ {
		ts.deliver("INBOX", "Subject: x\n\nbody\n")
	}
	c := ts.login()
	c.transactOK("a1", "SELECT INBOX")
	c.transactOK("a2", "STORE 1:* +FLAGS.SILENT ("+keywordList("K", 30)+")")
	const kwNo = "NO [LIMIT] Too many keywords in a folder (limit 30)"
	if _, tagged := c.transact("a3", "STORE 1:* +FLAGS ("+keywordList("K", 9000)+")"); tagged != "a3 "+kwNo {
		t.Fatalf("STORE past the limit: %q", tagged)
	}
	u := c.transactOK("a4", "FETCH 3 (FLAGS)")
	if len(u) == 0 || strings.Count(u[len(u)-1], "K000") != 30 {
		t.Fatalf("after a refused STORE: %q", u)
	}
	if _, tagged := c.transact("a5", "APPEND INBOX (New) {14+}\r\nSubject: new\r\n"); tagged != "a5 "+kwNo {
		t.Fatalf("APPEND past the limit: %q", tagged)
	}

	c.transactOK("b1", "CREATE Full")
	other := ts.login()
	other.transactOK("b2", "SELECT Full")
	other.transactOK("b3", "APPEND Full (Other) {14+}\r\nSubject: new\r\n")
	// Full knows Other; 30 more would be 31.
	if _, tagged := c.transact("b4", "COPY 1 Full"); tagged != "b4 "+kwNo {
		t.Fatalf("COPY past the limit: %q", tagged)
	}
	if _, tagged := c.transact("b5", "MOVE 1 Full"); tagged != "b5 "+kwNo {
		t.Fatalf("MOVE past the limit: %q", tagged)
	}
	u = other.transactOK("b6", "STATUS Full (MESSAGES)")
	expectUntagged(t, u, `* STATUS Full (MESSAGES 1)`)

	c.transactOK("c1", "CREATE A.B.C")
	c.transactOK("c2", "CREATE D")
	const folderNo = "NO [LIMIT] Too many folders (limit 3)"
	if _, tagged := c.transact("c3", "CREATE E.F"); tagged != "c3 "+folderNo {
		t.Fatalf("CREATE past the limit: %q", tagged)
	}
	if _, tagged := c.transact("c4", "RENAME INBOX Old"); tagged != "c4 "+folderNo {
		t.Fatalf("RENAME INBOX past the limit: %q", tagged)
	}
	c.transactOK("c5", "RENAME D E")
	c.transactOK("c6", "DELETE E")
	c.transactOK("c7", "CREATE E.F")
}
