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
