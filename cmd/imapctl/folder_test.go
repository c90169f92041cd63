package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestFolders(t *testing.T) {
	f := newFixture(t, "")
	f.addUser("alice", "pw")
	wantError(t, f.ctl("", "folder", "list", "alice"), 1, `user "alice" has no Maildir yet`)
	wantError(t, f.ctl("", "folder", "create", "nobody", "Sent"), 1, `user "nobody": no such user`)

	f.mustCtl("", "folder", "create", "alice", "Sent")
	f.mustCtl("", "folder", "create", "alice", "Archive.2024")
	f.mustCtl("", "folder", "create", "--subscribe", "alice", "Entwürfe")
	// Stored in modified UTF-7, as Dovecot stores it.
	if _, err := os.Stat(filepath.Join(f.vmail, "alice/Maildir/.Entw&APw-rfe/cur")); err != nil {
		t.Errorf("UTF-8 folder not stored in modified UTF-7: %v", err)
	}

	wantError(t, f.ctl("", "folder", "create", "alice", "Sent"), 1, `folder "Sent" exists`)
	wantError(t, f.ctl("", "folder", "create", "alice", "inbox"), 1, `folder "inbox" exists`)
	wantError(t, f.ctl("", "folder", "create", "alice", "a..b"), 1, `folder name "a..b": invalid folder name`)

	r := f.mustCtl("", "folder", "list", "alice")
	want := "INBOX\t-\nArchive\tnoselect\nArchive.2024\t-\nEntwürfe\tsubscribed\nSent\t-\n"
	if r.stdout != want {
		t.Errorf("folder list =\n%s\nwant\n%s", r.stdout, want)
	}
	r = f.mustCtl("", "folder", "list", "--json", "alice")
	var got []struct {
		Name       string
		NoSelect   bool
		Subscribed bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("folder list --json: %v in %q", err, r.stdout)
	}
	if len(got) != 5 || got[1].Name != "Archive" || !got[1].NoSelect || !got[3].Subscribed {
		t.Errorf("folder list --json = %+v", got)
	}

	f.mustCtl("", "folder", "delete", "alice", "Sent")
	f.mustCtl("", "folder", "delete", "alice", "Entwürfe")
	wantError(t, f.ctl("", "folder", "delete", "alice", "Sent"), 1, `no folder "Sent"`)
	wantError(t, f.ctl("", "folder", "delete", "alice", "INBOX"), 1, `folder "INBOX" cannot be deleted`)
	wantError(t, f.ctl("", "folder", "delete", "alice", "Archive"), 1, `no folder "Archive"`)
	r = f.mustCtl("", "folder", "list", "alice")
	if want := "INBOX\t-\nArchive\tnoselect\nArchive.2024\t-\n"; r.stdout != want {
		t.Errorf("folder list after delete =\n%s\nwant\n%s", r.stdout, want)
	}

	// A folder that is a symbolic link is refused, not followed.
	elsewhere := filepath.Join(f.dir, "elsewhere")
	mkMaildir(t, elsewhere)
	if err := os.Symlink(elsewhere, filepath.Join(f.vmail, "alice/Maildir/.Linked")); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.ctl("", "folder", "delete", "alice", "Linked"), 1, `folder "Linked" is a symbolic link`)
	if _, err := os.Stat(filepath.Join(elsewhere, "cur")); err != nil {
		t.Errorf("linked folder's target touched: %v", err)
	}
}
