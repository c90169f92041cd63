package imapd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imapd/maildir"
)

// TestSelectedFolderDeletedElsewhere: another process removes the folder a
// session has selected; the session's next command gets * BYE, as Dovecot
// answers (README: "a selected folder deleted by someone else").
func TestSelectedFolderDeletedElsewhere(t *testing.T) {
	ts := newTestServer(t)
	if err := ts.store().Create("Doomed"); err != nil {
		t.Fatal(err)
	}
	ts.deliver("Doomed", "Subject: x\n\nbody\n")
	c := ts.login()
	c.transactOK("a", "SELECT Doomed")
	// Another process (its own Hub) deletes the folder.
	h := maildir.NewHub(maildir.Options{})
	defer h.Close()
	other, err := h.Open(ts.store().Root(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Delete("Doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ts.store().Root(), ".Doomed")); err == nil {
		t.Fatal("folder still on disk")
	}
	// The watcher notices within milliseconds; allow it a moment.
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.send("b NOOP")
		line := c.readLine()
		if strings.HasPrefix(line, "* BYE") {
			return
		}
		for !strings.HasPrefix(line, "b ") {
			line = c.readLine()
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving a deleted folder after 2s: last answer %q", line)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFoldersMadeElsewhereListed: folders another program creates,
// renames or deletes on disk show in the next LIST of every session.
func TestFoldersMadeElsewhereListed(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login()
	c.transactOK("a", "SELECT INBOX")
	root := ts.store().Root()
	mk := func(dir string) {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(root, dir, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	list := func(tag string) string {
		return strings.Join(c.transactOK(tag, `LIST "" *`), "\n")
	}
	mk(".Made-By-Mutt")
	if l := list("b"); !strings.Contains(l, "Made-By-Mutt") {
		t.Fatalf("a folder created on disk is not listed:\n%s", l)
	}
	if err := os.Rename(filepath.Join(root, ".Made-By-Mutt"), filepath.Join(root, ".Renamed")); err != nil {
		t.Fatal(err)
	}
	if l := list("c"); strings.Contains(l, "Made-By-Mutt") || !strings.Contains(l, "Renamed") {
		t.Fatalf("a folder renamed on disk:\n%s", l)
	}
	os.RemoveAll(filepath.Join(root, ".Renamed"))
	if l := list("d"); strings.Contains(l, "Renamed") {
		t.Fatalf("a folder removed on disk is still listed:\n%s", l)
	}
}
