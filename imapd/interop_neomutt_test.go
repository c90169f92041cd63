package imapd

// neomutt (Debian package neomutt) driven through tmux (Debian package
// tmux): keys typed into a detached session, the screen read back with
// capture-pane, every wait bounded.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imapd/maildir"
)

// tmuxSession is a detached tmux session on a server of its own (its
// socket in a t.TempDir()), killed in Cleanup.
type tmuxSession struct {
	t    *testing.T
	tmux string
	sock string
	env  []string
}

// startTmux runs command in a new detached 120x40 session.
func startTmux(t *testing.T, tmux, dir string, env []string, command string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, tmux: tmux, sock: filepath.Join(dir, "tmux.sock"), env: env}
	t.Cleanup(func() {
		// Ends the session and its server; fails harmlessly if
		// the program already quit and took them with it.
		exec.Command(tmux, "-S", s.sock, "kill-server").Run()
	})
	s.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "120", "-y", "40", command)
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, serr, err := interopRun(s.t, s.env, s.tmux, append([]string{"-S", s.sock}, args...)...)
	if err != nil {
		s.t.Fatalf("tmux %q: %v\n%s%s", args, err, out, serr)
	}
	return string(out)
}

// keys types keys (tmux key names, or literal text with -l).
func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	s.run(append([]string{"send-keys", "-t", "t"}, keys...)...)
}

// text types literal text.
func (s *tmuxSession) text(text string) {
	s.t.Helper()
	s.run("send-keys", "-t", "t", "-l", text)
}

func (s *tmuxSession) screen() string {
	s.t.Helper()
	return s.run("capture-pane", "-p", "-t", "t")
}

// waitFor waits up to 20 s until the screen shows every one of want,
// and returns it.
func (s *tmuxSession) waitFor(what string, want ...string) string {
	s.t.Helper()
	return s.waitUntil(what, fmt.Sprintf("the screen shows %q", want), func(scr string) bool {
		for _, w := range want {
			if !strings.Contains(scr, w) {
				return false
			}
		}
		return true
	})
}

// waitLacks waits up to 20 s until the screen no longer shows text.
func (s *tmuxSession) waitLacks(what, text string) string {
	s.t.Helper()
	return s.waitUntil(what, fmt.Sprintf("%q leaves the screen", text), func(scr string) bool {
		return !strings.Contains(scr, text)
	})
}

// waitUntil waits up to 20 s until ok(screen), and returns the screen.
func (s *tmuxSession) waitUntil(what, cond string, ok func(string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		scr := s.screen()
		if ok(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: waited 20s for %s:\n%s", what, cond, scr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitGone waits up to 20 s for the session to end (its program quit).
func (s *tmuxSession) waitGone(what string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for {
		cmd := exec.Command(s.tmux, "-S", s.sock, "capture-pane", "-p", "-t", "t")
		cmd.Env = append(os.Environ(), s.env...)
		out, err := cmd.Output()
		if err != nil {
			return
		}
		last = string(out)
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: still running after 20s:\n%s", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestInteropNeomutt(t *testing.T) {
	neomutt := interopBinary(t, "neomutt", "neomutt")
	tmux := interopBinary(t, "tmux", "tmux")
	ts := newTestServer(t)
	for _, m := range interopFixtures {
		ts.deliver("INBOX", m)
	}
	host, port := ts.hostPort()
	home := t.TempDir()
	muttrc := filepath.Join(home, "muttrc")
	rc := fmt.Sprintf(`set folder="imap://%s:%s/"
set spoolfile="+INBOX"
set imap_user="demo"
set imap_pass="demo"
set ssl_force_tls=no
set ssl_starttls=no
set header_cache=""
set message_cachedir=""
set record=""
set postponed=""
set confirmcreate=no
set confirmappend=no
set wait_key=no
set quit=yes
set move=no
set sort=date
set pager_stop=yes
set resolve=no
set imap_keepalive=60
set mail_check=60
set timeout=60
`, host, port)
	if err := os.WriteFile(muttrc, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "LC_ALL=C.UTF-8", "TERM=xterm"}
	s := startTmux(t, tmux, home, env, neomutt+" -n -F "+muttrc)

	// The index lists INBOX, oldest first.
	s.waitFor("index", "hello world", "status report", "Re: Hello again")
	// Search: the cursor goes to "status report" (message 2).
	s.keys("/")
	s.waitFor("search prompt", "Search for:")
	s.text("status")
	s.keys("Enter")
	// Read it.
	s.keys("Enter")
	s.waitFor("pager", "Subject: status report", "From: Bob")
	// Flag it (resolve=no: the cursor stays on it), back to the index,
	// and copy it to a new folder.
	s.keys("F")
	s.keys("i")
	s.waitFor("index after reading", "hello world", "Re: Hello again")
	s.keys("C")
	s.waitFor("copy prompt", "Copy to mailbox")
	s.text("=Saved")
	s.keys("Enter")
	// Copying is synchronous: the q below is read once it is done.
	s.waitLacks("copy", "Copy to mailbox")
	s.keys("q")
	s.waitGone("neomutt after q")

	msgs, bodies := ts.folderMessages("INBOX")
	if len(bodies) != len(interopFixtures) {
		t.Fatalf("INBOX holds %d messages after neomutt, want %d", len(bodies), len(interopFixtures))
	}
	for i, m := range msgs {
		read := bodies[i] == crlf(interopFixtures[1])
		if got := m.Flags&maildir.FlagFlagged != 0; got != read {
			t.Errorf("INBOX UID %d: \\Flagged %v, want %v", m.UID, got, read)
		}
		if got := m.Flags&maildir.FlagSeen != 0; got != read {
			t.Errorf("INBOX UID %d: \\Seen %v, want %v", m.UID, got, read)
		}
	}
	_, saved := ts.folderMessages("Saved")
	if len(saved) != 1 || saved[0] != crlf(interopFixtures[1]) {
		t.Errorf("Saved after neomutt's copy:\n%q\nwant\n%q", saved, []string{crlf(interopFixtures[1])})
	}
}
