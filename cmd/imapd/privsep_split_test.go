package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"imapd/auth"
	"imapd/imapd"
)

// pamTLSDaemon starts a PAM daemon with a plain (STARTTLS) and an
// implicit-TLS listener, and returns the latter's address too.
func pamTLSDaemon(t *testing.T, service string) (plain, implicit string, daemon *exec.Cmd, stderr *lockedBuffer) {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := demoCert(cert, key); err != nil {
		t.Fatal(err)
	}
	os.Chmod(key, 0o600) // root's alone: the login processes get it from the daemon
	implicit = freeAddr(t)
	plain, daemon, stderr = startPAMDaemon(t, service,
		fmt.Sprintf("listen_tls = [%q]\n[tls]\ncert = %q\nkey = %q", implicit, cert, key))
	return plain, implicit, daemon, stderr
}

// dialTLS dials the implicit-TLS listener until it is up.
func dialTLS(t *testing.T, addr string, stderr *lockedBuffer) *dialog {
	t.Helper()
	c := dialRetry(t, addr, stderr)
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	d := &dialog{t: t, c: tc, r: bufio.NewReader(tc)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return d
}

// TestPAMLoginOverTLS: over implicit TLS and over STARTTLS, the login
// process (login_user) stays as the relay between the client's TLS and
// the user's session process; commands pipelined behind LOGIN are served
// by the session process, in order; a message of 1 MiB goes through the
// relay both ways unaltered; LOGOUT ends both processes.
func TestPAMLoginOverTLS(t *testing.T) {
	service, users := pamUsers(t, "tim")
	u := users["tim"]
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	plain, implicit, daemon, stderr := pamTLSDaemon(t, service)

	starttls := func() *dialog {
		c := dialRetry(t, plain, stderr)
		d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
		d.line()
		d.ok("s", "STARTTLS")
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		return &dialog{t: t, c: tc, r: bufio.NewReader(tc)}
	}
	for name, dial := range map[string]func() *dialog{
		"implicit": func() *dialog { return dialTLS(t, implicit, stderr) },
		"starttls": starttls,
	} {
		t.Run(name, func(t *testing.T) {
			d := dial()
			d.t = t
			body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 16<<10)
			// LOGIN, then SELECT and APPEND in the same write.
			fmt.Fprintf(d.c, "l LOGIN %s pw-tim\r\nb SELECT INBOX\r\na APPEND INBOX {%d+}\r\n%s\r\n", u.Username, len(body), body)
			var out []string
			for !strings.HasPrefix(lastOf(out), "a ") {
				out = append(out, d.line())
			}
			joined := strings.Join(out, "\n")
			if !strings.Contains(joined, "l OK [CAPABILITY") || !strings.Contains(joined, "b OK [READ-WRITE]") || !strings.HasPrefix(lastOf(out), "a OK") {
				t.Fatalf("pipelined LOGIN, SELECT, APPEND: %q", out)
			}
			kids := childProcesses(daemon.Process.Pid)
			if len(kids) != 2 {
				t.Fatalf("want a login process (relay) and a session process, have %v", kids)
			}
			var relays, sessions int
			for _, pid := range kids {
				switch st := procStatus(t, pid); {
				case strings.Contains(st, "Uid:\t"+nobody.Uid+"\t"):
					relays++
				case strings.Contains(st, "Uid:\t"+u.Uid+"\t"+u.Uid+"\t"+u.Uid+"\t"+u.Uid):
					sessions++
				default:
					t.Errorf("process %d is neither the login user's nor the user's:\n%s", pid, st)
				}
			}
			if relays != 1 || sessions != 1 {
				t.Fatalf("relays %d, sessions %d", relays, sessions)
			}
			// The message comes back through the relay as it went.
			fmt.Fprintf(d.c, "f FETCH * BODY.PEEK[]\r\n")
			head := d.line()
			if !strings.Contains(head, fmt.Sprintf("{%d}", len(body))) {
				t.Fatalf("FETCH: %q", head)
			}
			got := make([]byte, len(body))
			if _, err := io.ReadFull(d.r, got); err != nil || string(got) != body {
				t.Fatalf("the message came back altered (%v)", err)
			}
			for l := d.line(); !strings.HasPrefix(l, "f "); l = d.line() {
			}
			d.ok("e", "EXPUNGE")
			d.cmd("z", "LOGOUT")
			waitChildren(t, daemon.Process.Pid, 0)
		})
	}
}

func lastOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// waitChildren waits until pid has n children.
func waitChildren(t *testing.T, pid, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(childProcesses(pid)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("process %d has children %v, want %d", pid, childProcesses(pid), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPAMPipelinedAfterLogin: on a plain connection (handed over as it
// is) the commands a client sends in the same packet as LOGIN are
// answered by the session process, none lost, and a wrong password first
// leaves the connection with the login process, which still hands it
// over at the right one.
func TestPAMPipelinedAfterLogin(t *testing.T) {
	service, users := pamUsers(t, "pip")
	addr, daemon, stderr := startPAMDaemon(t, service, "")
	c := dialRetry(t, addr, stderr)
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	d.line()
	if out := d.cmd("w", "LOGIN "+users["pip"].Username+" wrong"); !strings.HasPrefix(lastOf(out), "w NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("wrong password: %q", out)
	}
	fmt.Fprintf(c, "l LOGIN %s pw-pip\r\na CREATE Box\r\nb LIST \"\" *\r\nc LOGOUT\r\n", users["pip"].Username)
	var out []string
	for !strings.HasPrefix(lastOf(out), "c ") {
		out = append(out, d.line())
	}
	joined := strings.Join(out, "\n")
	for _, want := range []string{"l OK [CAPABILITY", "a OK", `"." Box`, "b OK", "* BYE", "c OK"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("missing %q in %q", want, out)
		}
	}
	waitChildren(t, daemon.Process.Pid, 0)
}

// TestPAMInetdSplit: under inetd, the process started for the connection
// plays the daemon's part: it stays root and starts a login process (the
// login user's) and then the user's session process.
func TestPAMInetdSplit(t *testing.T) {
	service, users := pamUsers(t, "ine")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "imapd.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[auth]\nbackend = \"pam\"\npam_service = %q\npam_mail_location = \"~/Maildir\"\nthrottle_state = %q\n[log]\nlevel = \"info\"\n",
		service, filepath.Join(dir, "throttle"))), 0o600)
	d, cmd, stderr := startInetd(t, cfg)
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q\n%s", g, stderr.String())
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	kids := childProcesses(cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("children of the inetd process: %v", kids)
	}
	wantIDs(t, kids[0], nobody.Uid, nobody.Gid)
	d.ok("l", "LOGIN "+users["ine"].Username+" pw-ine")
	waitChildren(t, cmd.Process.Pid, 1)
	wantIDs(t, childProcesses(cmd.Process.Pid)[0], users["ine"].Uid, users["ine"].Gid)
	d.ok("n", "NOOP")
	d.cmd("z", "LOGOUT")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("inetd process: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the inetd process did not exit after LOGOUT")
	}
	if !strings.Contains(stderr.String(), "msg=login") {
		t.Fatalf("the session's log did not reach the inetd process's log:\n%s", stderr.String())
	}
}

// TestLoginProcessCannotSkipPassword: the daemon's side of the channel
// gives a login process nothing it has not earned: a handoff before any
// password check, or after a wrong one, ends the login process and starts
// no session, and so does anything else it was not asked (a descriptor
// riding with a password check).
func TestLoginProcessCannotSkipPassword(t *testing.T) {
	dir := t.TempDir()
	ht := filepath.Join(dir, "htpasswd")
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ht, []byte("ann:"+string(hash)+"\n"), 0o600)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	authn, err := auth.NewHtpasswd(auth.HtpasswdOptions{Path: ht, MailLocation: filepath.Join(dir, "%u"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		steps []loginRequest
	}{
		{"handoff first", []loginRequest{{Op: "handoff"}}},
		{"handoff after a wrong password", []loginRequest{{Op: "auth", Username: "ann", Password: "wrong"}, {Op: "handoff"}}},
		{"unknown request", []loginRequest{{Op: "shell"}}},
		{"descriptor with a password", []loginRequest{{Op: "auth", Username: "ann", Password: "right", Tag: "fd"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := &childServer{log: quiet, running: map[*exec.Cmd]struct{}{},
				throttle:  auth.NewThrottle(authn, auth.ThrottleOptions{Base: time.Millisecond, Logger: quiet}),
				conns:     imapd.NewConnCounter(imapd.Limits{}),
				userConns: map[userBlock]int{}, maxUserConns: 20, logOut: io.Discard}
			cs.ctx, cs.cancel = context.WithCancel(context.Background())
			login := exec.Command("sleep", "30")
			login.Stderr = &lineRelay{out: io.Discard, mu: &cs.logMu}
			if err := cs.run(login); err != nil {
				t.Fatal(err)
			}
			ours, theirs, err := ctlPair()
			if err != nil {
				t.Fatal(err)
			}
			peer, err := fileUnixConn(theirs)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				cs.converse(ours, login, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1})
				close(done)
			}()
			r, w, _ := os.Pipe()
			defer r.Close()
			defer w.Close()
			for _, req := range tc.steps {
				fd := -1
				if req.Op == "handoff" || req.Tag == "fd" {
					fd = int(r.Fd())
				}
				if err := sendMsg(peer, req, fd); err != nil {
					break
				}
				var rep loginReply
				if _, err := recvMsg(peer, &rep); err != nil {
					break
				}
				if req.Op == "auth" && req.Password == "wrong" && rep.Err != replyFailed {
					t.Fatalf("wrong password answered %+v", rep)
				}
			}
			peer.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the daemon's side did not end")
			}
			if login.ProcessState == nil || login.ProcessState.Success() {
				t.Fatalf("the login process was not ended: %v", login.ProcessState)
			}
			if len(cs.running) != 0 {
				t.Fatalf("processes left running: %d", len(cs.running))
			}
		})
	}
}

// TestPAMThrottleAcrossConnections: in PAM mode the daemon checks every
// password, so one address's failures count across its connections: the
// second connection's wrong password is the address's second failure
// (delay 2s), not a fresh first.
func TestPAMThrottleAcrossConnections(t *testing.T) {
	service, users := pamUsers(t, "thr")
	addr, _, stderr := startPAMDaemon(t, service, "")
	for i, want := range []string{"failures=1 delay=1s", "failures=2 delay=2s"} {
		c := dialRetry(t, addr, stderr)
		d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
		d.line()
		if out := d.cmd("w", "LOGIN "+users["thr"].Username+" wrong"); !strings.HasPrefix(lastOf(out), "w NO [AUTHENTICATIONFAILED]") {
			t.Fatalf("connection %d, wrong password: %q", i, out)
		}
		c.Close()
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("connection %d: no %q in the log:\n%s", i, want, stderr.String())
		}
	}
}
