package imapd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPlantedFilesNeverServed: the Maildir's user plants, beside a real
// message, a link to a secret file in cur/ and new/, a FIFO and a
// directory named like messages, and a link named dovecot-keywords to a
// victim file (issue 11 item 4). Over IMAP, SELECT, FETCH, SEARCH, STORE
// of a new keyword and CHECK all finish (each answer within the test
// connection's read deadline), show one message, never the secret, and
// the victim is never written.
func TestPlantedFilesNeverServed(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", "Subject: real\n\nthe real body\n")
	dir := t.TempDir()
	secret := filepath.Join(dir, "shadow")
	if err := os.WriteFile(secret, []byte("root:SECRET-HASH:19000::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "victim")
	const was = "victim content\n"
	if err := os.WriteFile(victim, []byte(was), 0o600); err != nil {
		t.Fatal(err)
	}
	root := ts.root
	plant := func(sub, name string) {
		t.Helper()
		if err := os.Symlink(secret, filepath.Join(root, sub, name)); err != nil {
			t.Fatal(err)
		}
	}
	plant("cur", "1796190000.M9P9.evil,S=100:2,S")
	if err := syscall.Mkfifo(filepath.Join(root, "cur", "1796190001.M9P9.fifo:2,S"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "cur", "1796190002.M9P9.dir:2,S"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(root, "dovecot-keywords")); err != nil {
		t.Fatal(err)
	}

	c := ts.login()
	var all []string
	do := func(tag, cmd string) []string {
		t.Helper()
		u := c.transactOK(tag, cmd)
		all = append(all, u...)
		return u
	}
	sel := do("a", "SELECT INBOX")
	if !contains(sel, "* 1 EXISTS") {
		t.Fatalf("SELECT: %q, want 1 EXISTS", sel)
	}
	do("b", "UID FETCH 1:* (FLAGS BODY[])")
	do("c", "FETCH 1:* (RFC822.SIZE BODYSTRUCTURE ENVELOPE)")
	if u := do("d", "SEARCH TEXT SECRET"); !contains(u, "* SEARCH") {
		t.Fatalf("SEARCH: %q, want an empty * SEARCH", u)
	}
	// After the first scan: another link, in new/ this time.
	plant("new", "1796190003.M9P9.evil2")
	do("e", "NOOP")
	do("f", "STORE 1 +FLAGS (project-x)")
	do("g", "CHECK")
	do("h", "UID FETCH 1:* (FLAGS BODY[])")
	if u := do("i", "SEARCH KEYWORD project-x"); !contains(u, "* SEARCH 1") {
		t.Fatalf("SEARCH KEYWORD: %q", u)
	}
	for _, l := range all {
		if strings.Contains(l, "SECRET-HASH") || strings.Contains(l, "victim content") {
			t.Fatalf("served the secret: %q", l)
		}
		if strings.Contains(l, "EXISTS") && l != "* 1 EXISTS" {
			t.Fatalf("a planted file became a message: %q", l)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != was {
		t.Fatalf("victim now %q, %v", b, err)
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
