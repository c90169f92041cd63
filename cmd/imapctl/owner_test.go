package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Run as root, imapctl works on a Maildir as its owner, so that a folder
// or sidecar it creates is the mail user's, not root's.
func TestActsAsMaildirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const uid, gid = 65534, 65534 // nobody, nogroup
	f := newFixture(t, "")
	f.addUser("alice", "pw")
	// The mail user must reach the tree: open up the temporary parents.
	for d := f.dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(f.vmail, uid, gid); err != nil {
		t.Fatal(err)
	}

	f.mustCtl("", "folder", "create", "alice", "Sent")
	f.mustCtl("", "check", filepath.Join(f.vmail, "alice/Maildir"))
	err := filepath.WalkDir(filepath.Join(f.vmail, "alice"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The htpasswd file stays root's: it was written before, and never as the mail user.
	var st syscall.Stat_t
	if err := syscall.Stat(f.passwd, &st); err != nil || st.Uid != 0 {
		t.Errorf("htpasswd owner %d (%v)", st.Uid, err)
	}
}
