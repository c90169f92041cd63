package imapd

// offlineimap3 (Debian package offlineimap3) against the server: a
// folder pulled to a local Maildir, and a flag set on the local copy
// pushed back on the next run.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"imapd/maildir"
)

func TestInteropOfflineimap(t *testing.T) {
	oi := interopBinary(t, "offlineimap", "offlineimap3")
	ts := newTestServer(t)
	for _, m := range interopFixtures {
		ts.deliver("INBOX", m)
	}
	host, port := ts.hostPort()
	home := t.TempDir()
	local := filepath.Join(home, "local")
	cfg := filepath.Join(home, "offlineimaprc")
	cfgText := fmt.Sprintf(`[general]
accounts = test
metadata = %s/meta
ui = quiet

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %s

[Repository remote]
type = IMAP
remotehost = %s
remoteport = %s
remoteuser = demo
remotepass = demo
ssl = no
starttls = no
folderfilter = lambda f: f == 'INBOX'
createfolders = False
`, home, local, host, port)
	if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "LC_ALL=C.UTF-8"}
	sync := func(what string) string {
		t.Helper()
		o, e, err := interopRun(t, env, oi, "-c", cfg, "-o", "-u", "quiet")
		log := string(o) + string(e)
		if err != nil {
			t.Fatalf("%s: offlineimap -c %s -o -u quiet: %v\nconfig:\n%s\nfull output:\n%s", what, cfg, err, cfgText, log)
		}
		return log
	}

	// 1. The folder arrives, every message exactly.
	log1 := sync("first run")
	inbox := filepath.Join(local, "INBOX")
	got := localMessages(t, inbox)
	want := slices.Clone(interopFixtures)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("local INBOX after the first run:\n%q\nwant\n%q\noutput:\n%s", got, want, log1)
	}

	// 2. \Flagged on the local copy of "status report" (the F in the
	// Maildir info) reaches the server on the next run.
	flagged := ""
	for _, sub := range []string{"cur", "new"} {
		d := filepath.Join(inbox, sub)
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "Subject: status report") {
				continue
			}
			name, info, _ := strings.Cut(e.Name(), ":2,")
			letters := []byte(info + "F")
			slices.Sort(letters)
			flagged = name + ":2," + string(letters)
			if err := os.Rename(filepath.Join(d, e.Name()), filepath.Join(inbox, "cur", flagged)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if flagged == "" {
		t.Fatalf("no local copy of \"status report\" to flag; first run:\n%s", log1)
	}
	log2 := sync("second run")
	msgs, bodies := ts.folderMessages("INBOX")
	if len(bodies) != len(interopFixtures) {
		t.Fatalf("server's INBOX holds %d messages after the second run, want %d\noutput:\n%s", len(bodies), len(interopFixtures), log2)
	}
	for i, m := range msgs {
		wantFlagged := bodies[i] == crlf(interopFixtures[1])
		if got := m.Flags&maildir.FlagFlagged != 0; got != wantFlagged {
			t.Errorf("server's INBOX UID %d: \\Flagged %v, want %v\noutput:\n%s", m.UID, got, wantFlagged, log2)
		}
	}
	if got := localMessages(t, inbox); !slices.Equal(got, want) {
		t.Errorf("local INBOX after the second run:\n%q\nwant\n%q", got, want)
	}
}
