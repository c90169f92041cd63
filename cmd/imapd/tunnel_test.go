package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"imapd/maildir"
)

// TestMbsyncTunnel syncs with mbsync's Tunnel running "imapd --preauth",
// as a user does over ssh: a folder tree comes down, a local message goes
// up, and a second run has nothing to do.
func TestMbsyncTunnel(t *testing.T) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync not installed (Debian package isync)")
	}
	home := t.TempDir()
	remoteRoot := filepath.Join(home, "server", "Maildir")
	cfg := filepath.Join(home, "imapd.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listen = []\n[auth]\nmail_location = %q\n[log]\nlevel = \"warn\"\n", remoteRoot)), 0o600)

	hub := maildir.NewHub(maildir.Options{NoSync: true})
	defer hub.Close()
	st, err := hub.Open(remoteRoot, true)
	if err != nil {
		t.Fatal(err)
	}
	st.Create("Lists")
	st.Create("Lists.Go")
	msgs := map[string]string{
		"INBOX":    "From: a@example.org\nSubject: one\nMessage-ID: <1@t>\n\nfirst\n",
		"Lists":    "From: b@example.org\nSubject: two\nMessage-ID: <2@t>\n\nsecond\n",
		"Lists.Go": "From: c@example.org\nSubject: three\nMessage-ID: <3@t>\n\nthird\n",
	}
	for name, body := range msgs {
		if _, err := st.Append(name, strings.NewReader(body), maildir.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	hub.Close()

	local := filepath.Join(home, "local")
	os.MkdirAll(local, 0o700)
	rc := filepath.Join(home, "mbsyncrc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPStore remote
Tunnel "%s -preauth -config %s"

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Create Both
SyncState *
`, imapdBin, cfg, local, local)), 0o600)
	run := func(what string) string {
		t.Helper()
		cmd := exec.Command(mbsync, "-V", "-c", rc, "-a")
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
		return string(out)
	}
	run("first sync")
	for name, body := range msgs {
		dir := filepath.Join(local, strings.ReplaceAll(name, ".", "/"))
		if got := maildirBodies(t, dir); len(got) != 1 || !strings.HasSuffix(got[0], strings.SplitN(body, "\n\n", 2)[1]) {
			t.Fatalf("local %s: %q", name, got)
		}
	}
	// Up: a message written locally into Lists.
	up := "From: me@example.org\nSubject: from the laptop\nMessage-ID: <up@t>\n\nupward\n"
	os.WriteFile(filepath.Join(local, "Lists", "new", "1700000000.P1Q1.laptop"), []byte(up), 0o600)
	run("second sync")
	hub2 := maildir.NewHub(maildir.Options{})
	defer hub2.Close()
	st2, err := hub2.Open(remoteRoot, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st2.Status("Lists")
	if err != nil || s.Messages != 2 {
		t.Fatalf("server Lists after upload: %+v %v", s, err)
	}
	// Nothing left to do: a third run changes no file on either side.
	before := treeNames(t, home)
	out := run("third sync")
	if after := treeNames(t, home); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatalf("third sync changed files:\n%s", out)
	}
}

// maildirBodies returns the contents of a local Maildir's messages.
func maildirBodies(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"cur", "new"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

// treeNames lists every message file name under root (both trees),
// skipping sync state and our sidecars, whose bookkeeping may change.
func treeNames(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && (strings.Contains(p, "/cur/") || strings.Contains(p, "/new/")) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}
