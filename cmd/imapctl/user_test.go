package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestUserAddVerifyPasswd(t *testing.T) {
	f := newFixture(t, "")
	if r := f.mustCtl("s3cret\n", "user", "add", "--password-stdin", "alice"); r.stdout != "" {
		t.Errorf("add printed %q", r.stdout)
	}
	data, err := os.ReadFile(f.passwd)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "alice:$2") || strings.Contains(string(data), "s3cret") {
		t.Errorf("htpasswd holds %q, want a bcrypt line for alice", data)
	}

	// A second add of the same user is refused before any password is read.
	wantError(t, f.ctl("other\n", "user", "add", "--password-stdin", "alice"), 1, `user "alice" already exists`)

	verify := func(pw, want string, code int) {
		t.Helper()
		r := f.ctl(pw+"\n", "user", "verify", "alice", "--password-stdin")
		if r.stdout != want+"\n" || r.code != code || r.stderr != "" {
			t.Errorf("verify %q: stdout %q exit %d stderr %q; want %q exit %d", pw, r.stdout, r.code, r.stderr, want, code)
		}
	}
	verify("s3cret", "ok", 0)
	verify("wrong", "mismatch", 1)

	f.mustCtl("n3w\n", "user", "passwd", "--password-stdin", "alice")
	verify("s3cret", "mismatch", 1)
	verify("n3w", "ok", 0)

	// --update lets add change the password; a CRLF line ending is no part of it.
	f.mustCtl("upd\r\n", "user", "add", "--password-stdin", "--update", "alice")
	verify("upd", "ok", 0)

	wantError(t, f.ctl("x\n", "user", "passwd", "--password-stdin", "bob"), 1, `user "bob": no such user`)
	wantError(t, f.ctl("x\n", "user", "verify", "--password-stdin", "bob"), 1, `user "bob": no such user`)
	wantError(t, f.ctl("\n", "user", "add", "--password-stdin", "bob"), 1, "empty")
	wantError(t, f.ctl("", "user", "add", "--password-stdin", "bob"), 1, "no password given")
	wantError(t, f.ctl("x\n", "user", "add", "--password-stdin", "a:b"), 1, "invalid username")
	wantError(t, f.ctl("x\n", "user", "add", "--password-stdin", ".hidden"), 1, "invalid username")
	wantError(t, f.ctl(strings.Repeat("x", 5000)+"\n", "user", "add", "--password-stdin", "bob"), 1, "longer than 4096 bytes")
}

func TestUserAddRefusesNameWithoutMailLocation(t *testing.T) {
	f := newFixture(t, "%d/%n/Maildir")
	wantError(t, f.ctl("x\n", "user", "add", "--password-stdin", "nodomain"), 1, `user "nodomain" cannot have mail`)
	f.addUser("a@example.org", "pw")
}

func TestUserList(t *testing.T) {
	f := newFixture(t, "")
	wantError(t, f.ctl("", "user", "list"), 1, "does not exist")
	for _, u := range []string{"carol", "alice", "bob@example.org", "Jürgen"} {
		f.addUser(u, "pw-"+u)
	}
	r := f.mustCtl("", "user", "list")
	if want := "carol\nalice\nbob@example.org\nJürgen\n"; r.stdout != want {
		t.Errorf("user list = %q, want %q", r.stdout, want)
	}
	r = f.mustCtl("", "user", "list", "--json")
	var got []struct{ User, Maildir string }
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("user list --json: %v in %q", err, r.stdout)
	}
	if len(got) != 4 || got[3].User != "Jürgen" || got[3].Maildir != filepath.Join(f.vmail, "Jürgen/Maildir") {
		t.Errorf("user list --json = %+v", got)
	}
}

func TestUserDel(t *testing.T) {
	f := newFixture(t, "")
	f.addUser("alice", "pw")
	f.addUser("bob", "pw")
	f.mustCtl("", "folder", "create", "alice", "Sent")
	f.mustCtl("", "folder", "create", "bob", "Sent")

	// Without --purge the mail stays.
	if r := f.mustCtl("", "user", "del", "alice"); r.stdout != "" {
		t.Errorf("del printed %q", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(f.vmail, "alice/Maildir/.Sent/cur")); err != nil {
		t.Errorf("mail of alice gone without --purge: %v", err)
	}
	wantError(t, f.ctl("", "user", "del", "alice"), 1, `user "alice": no such user`)

	// With --purge the Maildir goes, and the user directory it leaves empty.
	bobMail := filepath.Join(f.vmail, "bob/Maildir")
	if r := f.mustCtl("", "user", "del", "--purge", "bob"); r.stdout != bobMail+"\n" {
		t.Errorf("del --purge printed %q, want %q", r.stdout, bobMail+"\n")
	}
	if _, err := os.Lstat(filepath.Join(f.vmail, "bob")); !os.IsNotExist(err) {
		t.Errorf("vmail/bob still there after --purge: %v", err)
	}
	if _, err := os.Stat(f.vmail); err != nil {
		t.Errorf("the base went too: %v", err)
	}
	if r := f.mustCtl("", "user", "list"); r.stdout != "" {
		t.Errorf("users left: %q", r.stdout)
	}

	// A user who never logged in has no Maildir: --purge just removes the user.
	f.addUser("carol", "pw")
	if r := f.mustCtl("", "user", "del", "--purge", "carol"); r.stdout != "" {
		t.Errorf("del --purge without a Maildir printed %q", r.stdout)
	}
}

func TestPurgeRefusesOutsideBase(t *testing.T) {
	f := newFixture(t, "")
	f.addUser("bob", "pw")
	// vmail/bob is a link to a directory outside the base.
	outside := filepath.Join(f.dir, "outside")
	mkMaildir(t, filepath.Join(outside, "Maildir"))
	writeFile(t, filepath.Join(outside, "Maildir/cur/1.host:2,S"), "Subject: keep\r\n\r\nme\r\n")
	if err := os.Symlink(outside, filepath.Join(f.vmail, "bob")); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.ctl("", "user", "del", "--purge", "bob"), 1, "is a symbolic link: refusing to remove mail outside "+f.vmail)
	if _, err := os.Stat(filepath.Join(outside, "Maildir/cur/1.host:2,S")); err != nil {
		t.Errorf("mail outside the base was touched: %v", err)
	}
	if r := f.mustCtl("", "user", "list"); r.stdout != "bob\n" {
		t.Errorf("refused purge still removed the user: list = %q", r.stdout)
	}

	// The Maildir itself a link: refused as well.
	os.Remove(filepath.Join(f.vmail, "bob"))
	os.Mkdir(filepath.Join(f.vmail, "bob"), 0o700)
	if err := os.Symlink(filepath.Join(outside, "Maildir"), filepath.Join(f.vmail, "bob/Maildir")); err != nil {
		t.Fatal(err)
	}
	wantError(t, f.ctl("", "user", "del", "--purge", "bob"), 1, "is a symbolic link")

	// Something that is not a Maildir is left alone.
	os.Remove(filepath.Join(f.vmail, "bob/Maildir"))
	os.MkdirAll(filepath.Join(f.vmail, "bob/Maildir/important"), 0o700)
	wantError(t, f.ctl("", "user", "del", "--purge", "bob"), 1, "does not look like a Maildir")
	if _, err := os.Stat(filepath.Join(f.vmail, "bob/Maildir/important")); err != nil {
		t.Errorf("non-Maildir removed: %v", err)
	}
}

func TestPurgeRefusesSharedMaildir(t *testing.T) {
	// One Maildir per domain: purging one user would take the other's mail.
	f := newFixture(t, "%d/Maildir")
	f.addUser("a@example.org", "pw")
	f.addUser("b@example.org", "pw")
	mkMaildir(t, filepath.Join(f.vmail, "example.org/Maildir"))
	wantError(t, f.ctl("", "user", "del", "--purge", "a@example.org"), 1, `also holds the mail of user "b@example.org"`)
	if _, err := os.Stat(filepath.Join(f.vmail, "example.org/Maildir/cur")); err != nil {
		t.Errorf("shared Maildir touched: %v", err)
	}
}

func TestConcurrentUserAdd(t *testing.T) {
	f := newFixture(t, "")
	const n = 20
	cmds := make([]*exec.Cmd, n)
	outs := make([]*strings.Builder, n)
	for i := range cmds {
		c := exec.Command(imapctlBin, "-config", f.config, "user", "add", "--password-stdin", fmt.Sprintf("user%02d", i))
		c.Stdin = strings.NewReader(fmt.Sprintf("pw%d\n", i))
		outs[i] = &strings.Builder{}
		c.Stderr = outs[i]
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = c
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("user%02d: %v: %s", i, err, outs[i])
		}
	}
	r := f.mustCtl("", "user", "list")
	got := strings.Fields(r.stdout)
	slices.Sort(got)
	if len(got) != n {
		t.Fatalf("%d users in the file, want %d: %q", len(got), n, got)
	}
	for i, u := range got {
		if want := fmt.Sprintf("user%02d", i); u != want {
			t.Errorf("user %d is %q, want %q", i, u, want)
		}
	}
	r = f.ctl("pw7\n", "user", "verify", "--password-stdin", "user07")
	if r.stdout != "ok\n" {
		t.Errorf("verify user07 after the race: %q %q", r.stdout, r.stderr)
	}
}
