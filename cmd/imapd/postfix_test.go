package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapd/auth"
)

// These tests pair the real binary with a real Postfix, the way mail
// administrators deploy it (contrib/postfix/main.cf.snippet): Postfix
// delivers into a Maildir and an IMAP session idling on INBOX sees the
// message arrive, then fetches it byte for byte. They need root (to run
// Postfix and to create users) and Debian's postfix package. Postfix runs
// as a private instance (postfix -c DIR) with its own configuration,
// queue and data directories under the test's temporary directory; the
// system's Postfix configuration is only read, never changed.

// pfDeliveryWait bounds how long Postfix may take from sendmail to the
// file in the Maildir (pickup, cleanup, qmgr, local or virtual).
const pfDeliveryWait = 30 * time.Second

// pfRequire skips unless the test runs as root with Postfix installed,
// and returns the paths of the tools it uses.
func pfRequire(t *testing.T) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("Postfix end-to-end test needs root (to run a Postfix instance and create users)")
	}
	tools := map[string]string{}
	for _, name := range []string{"postfix", "postconf", "sendmail", "postqueue", "useradd", "userdel", "runuser"} {
		p, err := exec.LookPath(name)
		if err != nil {
			for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/lib"} {
				if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
					p, err = filepath.Join(dir, name), nil
					break
				}
			}
		}
		if err != nil {
			t.Skipf("Postfix end-to-end test needs %s (apt-get install postfix; useradd/userdel from passwd, runuser from util-linux): %v", name, err)
		}
		tools[name] = p
	}
	if _, err := os.Stat("/etc/postfix/main.cf"); err != nil {
		t.Skipf("Postfix end-to-end test needs /etc/postfix/main.cf and master.cf to copy: %v", err)
	}
	return tools
}

// pfTempDir is a temporary directory that other users can traverse:
// Postfix delivers as the recipient (or the mail user) and the daemon
// drops to that user, and both walk down to the mail below it.
func pfTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pfRun runs a command and returns its combined output.
func pfRun(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// pfToken is a random lower-case word for unique names.
func pfToken() string { return strings.ToLower(rand.Text()[:10]) }

// pfUser is a system user the test created (or found).
type pfUser struct {
	name     string
	uid, gid int
	home     string
}

func pfLookup(t *testing.T, name string) pfUser {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return pfUser{name: name, uid: uid, gid: gid, home: u.HomeDir}
}

// pfVmailUser returns the "vmail" system user, creating it (and removing it
// at cleanup) when the system has none.
func pfVmailUser(t *testing.T, tools map[string]string) pfUser {
	t.Helper()
	const name = "vmail"
	if _, err := user.Lookup(name); err != nil {
		out, err := pfRun(tools["useradd"], "--system", "--user-group", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name)
		if err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
		t.Cleanup(func() {
			if out, err := pfRun(tools["userdel"], name); err != nil {
				t.Errorf("userdel %s: %v\n%s", name, err, out)
			}
		})
	}
	return pfLookup(t, name)
}

// pfSystemUser creates a login user with a home directory, removed (with
// its home) at cleanup.
func pfSystemUser(t *testing.T, tools map[string]string) pfUser {
	t.Helper()
	name := "imapdpf" + pfToken()
	if out, err := pfRun(tools["useradd"], "--create-home", "--user-group", "--shell", "/bin/sh", name); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		out, err := pfRun(tools["userdel"], "--remove", name)
		if err != nil {
			t.Errorf("userdel --remove %s: %v\n%s", name, err, out)
		}
	})
	u := pfLookup(t, name)
	if u.home == "" || u.home == "/" {
		t.Fatalf("user %s has home %q", name, u.home)
	}
	return u
}

// pfPostfix is a private Postfix instance: postfix -c conf.
type pfPostfix struct {
	t     *testing.T
	tools map[string]string
	conf  string // configuration directory (main.cf, master.cf)
	queue string // queue_directory
	log   string // maillog_file
}

// pfMasterCF turns the system's master.cf into one for a private test
// instance: no inet listeners (nothing but sendmail feeds it) and no
// chroot (a chroot would need copies of /etc files in the queue
// directory, which Debian's init script makes, not "postfix start").
func pfMasterCF(src string) string {
	var out []string
	skipping := false
	for _, l := range strings.Split(src, "\n") {
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			// A continuation (-o options) of the entry above.
			if !skipping {
				out = append(out, l)
			}
			continue
		}
		skipping = false
		f := strings.Fields(l)
		if len(f) < 8 || strings.HasPrefix(l, "#") {
			out = append(out, l)
			continue
		}
		if f[1] == "inet" || f[1] == "pass" {
			skipping = true
			out = append(out, "#pf-test# "+l)
			continue
		}
		f[4] = "n"
		out = append(out, strings.Join(f[:7], "\t")+"\t"+strings.Join(f[7:], " "))
	}
	return strings.Join(out, "\n")
}

// pfStartPostfix sets up the instance in base/postfix with the given
// main.cf settings (on top of the common ones), checks it and starts it;
// it is stopped at cleanup, leaving no process behind.
func pfStartPostfix(t *testing.T, tools map[string]string, base string, settings ...string) *pfPostfix {
	t.Helper()
	p := &pfPostfix{t: t, tools: tools,
		conf:  filepath.Join(base, "postfix"),
		queue: filepath.Join(base, "spool"),
		log:   filepath.Join(base, "maillog"),
	}
	// Postfix wants the queue directory to exist, root-owned; "postfix
	// check" makes what is inside it.
	for _, d := range []string{p.conf, p.queue} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mainCF, err := os.ReadFile("/etc/postfix/main.cf")
	if err != nil {
		t.Fatal(err)
	}
	masterCF, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.conf, "main.cf"), mainCF, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.conf, "master.cf"), []byte(pfMasterCF(string(masterCF))), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{
		"queue_directory = " + p.queue,
		"data_directory = " + filepath.Join(base, "postfix-data"),
		"syslog_name = postfix-imapd-test",
		"maillog_file = " + p.log,
		"maillog_file_prefixes = " + base,
		"inet_interfaces = loopback-only",
		"inet_protocols = ipv4",
		"myhostname = imapd-test.localdomain",
		"mydomain = localdomain",
		"myorigin = localhost",
		"mydestination = localhost",
		"alias_maps =",
		"alias_database =",
		"home_mailbox = Maildir/",
		"mailbox_command =",
		"relayhost =",
		// Nothing leaves this instance, and it mails no postmaster.
		"default_transport = error:outside mail is disabled in this test",
		"relay_transport = error:outside mail is disabled in this test",
		"notify_classes =",
	}
	args := append([]string{"-c", p.conf, "-e"}, append(common, settings...)...)
	if out, err := pfRun(tools["postconf"], args...); err != nil {
		t.Fatalf("postconf -e: %v\n%s", err, out)
	}
	// "postfix check" creates the queue and data directories with the
	// ownership Postfix insists on (post-install create-missing).
	if out, err := pfRun(tools["postfix"], "-c", p.conf, "check"); err != nil {
		t.Fatalf("postfix -c %s check: %v\n%s%s", p.conf, err, out, p.maillog())
	} else if strings.TrimSpace(out) != "" {
		t.Logf("postfix check:\n%s", out)
	}
	t.Cleanup(p.stop)
	if out, err := pfRun(tools["postfix"], "-c", p.conf, "start"); err != nil {
		t.Fatalf("postfix -c %s start: %v\n%s%s", p.conf, err, out, p.maillog())
	}
	if p.masterPID() == 0 {
		t.Fatalf("postfix started but wrote no master.pid\n%s", p.maillog())
	}
	return p
}

// masterPID is the running master's pid, 0 if none.
func (p *pfPostfix) masterPID() int {
	b, err := os.ReadFile(filepath.Join(p.queue, "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// pfGroup lists the processes in process group pgid (the master is a
// session leader; its children stay in its group).
func pfGroup(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stop runs "postfix stop" and makes sure the master and all its
// children are gone.
func (p *pfPostfix) stop() {
	t := p.t
	pid := p.masterPID()
	if pid == 0 {
		return
	}
	if out, err := pfRun(p.tools["postfix"], "-c", p.conf, "stop"); err != nil {
		t.Errorf("postfix -c %s stop: %v\n%s", p.conf, err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(pfGroup(pid)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if left := pfGroup(pid); len(left) > 0 {
		t.Errorf("postfix processes %v still running after postfix stop; killing them", left)
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// maillog is the instance's log, for failure messages.
func (p *pfPostfix) maillog() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	return "\n--- " + p.log + " ---\n" + string(b)
}

// queue is what "postqueue -p" says, for failure messages.
func (p *pfPostfix) queueListing() string {
	out, _ := pfRun(p.tools["postqueue"], "-c", p.conf, "-p")
	return "\n--- postqueue -p ---\n" + out
}

// sendmail submits msg (LF line ends, as a local program writes it) from
// sender@localhost to rcpt.
func (p *pfPostfix) sendmail(rcpt string, msg []byte) {
	p.t.Helper()
	cmd := exec.Command(p.tools["sendmail"], "-C", p.conf, "-i", "-f", "sender@localhost", rcpt)
	cmd.Stdin = bytes.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("sendmail -C %s %s: %v\n%s%s", p.conf, rcpt, err, out, p.maillog())
	}
}

// pfMessage is a message with a unique Message-ID; it returns the
// message, its Message-ID header line and a line of its body.
func pfMessage(to string) (msg []byte, msgID, bodyLine string) {
	tok := pfToken()
	msgID = "Message-ID: <" + tok + ".pf@imapd-test.localdomain>"
	bodyLine = "The token of this message is " + tok + "; Postfix delivered it."
	msg = []byte("From: Sender <sender@localhost>\n" +
		"To: <" + to + ">\n" +
		"Subject: Postfix end to end " + tok + "\n" +
		msgID + "\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=us-ascii\n" +
		"\n" +
		bodyLine + "\n" +
		"\n" +
		"A second paragraph, and a line with a dot:\n" +
		".\n" +
		"-- \nimapd test\n")
	return msg, msgID, bodyLine
}

var pfExistsRE = regexp.MustCompile(`^\* ([0-9]+) EXISTS$`)

// pfIdleForMail starts IDLE (tag "i"), calls send, and waits (bounded
// by pfDeliveryWait) for an EXISTS of at least one message; it ends the
// IDLE and returns that count. onTimeout describes the state for the
// failure message.
func pfIdleForMail(d *dialog, send func(), onTimeout func() string) int {
	t := d.t
	t.Helper()
	fmt.Fprintf(d.c, "i IDLE\r\n")
	if l := d.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	send()
	deadline := time.Now().Add(pfDeliveryWait)
	n := 0
	var seen []string
	for n == 0 {
		d.c.SetReadDeadline(deadline)
		l, err := d.r.ReadString('\n')
		if err != nil {
			t.Fatalf("no EXISTS within %v of sendmail (%v); the session said %q%s", pfDeliveryWait, err, seen, onTimeout())
		}
		l = strings.TrimRight(l, "\r\n")
		seen = append(seen, l)
		if m := pfExistsRE.FindStringSubmatch(l); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
	}
	fmt.Fprintf(d.c, "DONE\r\n")
	for {
		l := d.line()
		if strings.HasPrefix(l, "i ") {
			if !strings.HasPrefix(l, "i OK") {
				t.Fatalf("IDLE ended with %q", l)
			}
			break
		}
	}
	return n
}

var pfLiteralRE = regexp.MustCompile(`BODY\[\] \{([0-9]+)\}\r\n$`)

// pfFetchBody fetches BODY[] of message seq and returns the literal.
func pfFetchBody(d *dialog, seq int) []byte {
	t := d.t
	t.Helper()
	fmt.Fprintf(d.c, "f FETCH %d BODY[]\r\n", seq)
	var body []byte
	var lines []string
	for {
		d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := d.r.ReadString('\n')
		if err != nil {
			t.Fatalf("FETCH: %v after %q", err, lines)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
		if m := pfLiteralRE.FindStringSubmatch(l); m != nil && strings.HasPrefix(l, fmt.Sprintf("* %d FETCH ", seq)) {
			n, _ := strconv.Atoi(m[1])
			body = make([]byte, n)
			if _, err := io.ReadFull(d.r, body); err != nil {
				t.Fatalf("FETCH literal: %v", err)
			}
			continue // the rest of the response line follows
		}
		if strings.HasPrefix(l, "f ") {
			if !strings.HasPrefix(l, "f OK") {
				t.Fatalf("FETCH: %q", lines)
			}
			break
		}
	}
	if body == nil {
		t.Fatalf("FETCH returned no BODY[]: %q", lines)
	}
	return body
}

// pfDelivered returns the one message file in maildir's new/ or cur/.
func pfDelivered(t *testing.T, maildir string) (string, []byte) {
	t.Helper()
	var files []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(maildir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(maildir, sub, e.Name()))
			}
		}
	}
	if len(files) != 1 {
		t.Fatalf("%s: want one delivered message, have %q", maildir, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return files[0], b
}

// pfCheckMessage compares what FETCH returned with the file Postfix
// wrote (LF line ends on disk, CRLF over IMAP).
func pfCheckMessage(t *testing.T, got []byte, maildir, msgID, bodyLine, rcpt string) {
	t.Helper()
	path, disk := pfDelivered(t, maildir)
	want := bytes.ReplaceAll(bytes.ReplaceAll(disk, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	if !bytes.Equal(got, want) {
		t.Fatalf("FETCH BODY[] differs from %s (CRLF-converted):\n--- fetched (%d octets) ---\n%q\n--- on disk (%d octets) ---\n%q",
			path, len(got), got, len(want), want)
	}
	for _, s := range []string{msgID + "\r\n", "\r\n\r\n" + bodyLine + "\r\n", "Delivered-To: " + rcpt + "\r\n"} {
		if !bytes.Contains(got, []byte(s)) {
			t.Fatalf("fetched message lacks %q:\n%s", s, got)
		}
	}
}

// pfCheckOwner fails unless everything under dir belongs to u.
func pfCheckOwner(t *testing.T, dir string, u pfUser, want ...string) {
	t.Helper()
	have := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != u.uid || int(st.Gid) != u.gid {
			t.Errorf("%s belongs to %d:%d, not to %s (%d:%d)", path, st.Uid, st.Gid, u.name, u.uid, u.gid)
		}
		rel, _ := filepath.Rel(dir, path)
		have[rel] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("%s: no %s", dir, w)
		}
	}
}

// TestPostfixVirtualUser: Postfix's virtual(8) delivers into the vmail
// tree for an htpasswd user, while the daemon, started as root and
// running as the mail user, has a session idling on that user's INBOX.
func TestPostfixVirtualUser(t *testing.T) {
	tools := pfRequire(t)
	vmail := pfVmailUser(t, tools)
	base := pfTempDir(t)

	vbase := filepath.Join(base, "vmail")
	if err := os.Mkdir(vbase, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(vbase, vmail.uid, vmail.gid); err != nil {
		t.Fatal(err)
	}
	const rcpt = "bob@virtual.test"
	vmailbox := filepath.Join(base, "vmailbox")
	if err := os.WriteFile(vmailbox, []byte(rcpt+"\tvirtual.test/bob/Maildir/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pf := pfStartPostfix(t, tools, base,
		"virtual_mailbox_domains = virtual.test",
		"virtual_mailbox_base = "+vbase,
		"virtual_mailbox_maps = texthash:"+vmailbox,
		fmt.Sprintf("virtual_uid_maps = static:%d", vmail.uid),
		fmt.Sprintf("virtual_gid_maps = static:%d", vmail.gid),
		fmt.Sprintf("virtual_minimum_uid = %d", vmail.uid),
	)

	// The htpasswd file as an administrator keeps it: root:vmail 0640.
	pw := filepath.Join(base, "htpasswd")
	if err := auth.Update(pw, func(f *auth.File) error { f.BcryptCost = 4; return f.Set(rcpt, "secret") }); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(pw, 0, vmail.gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(pw, 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(base, "imapd.toml")
	body := fmt.Sprintf("listen = [%q]\nuser = %q\n[auth]\nbackend = \"htpasswd\"\nhtpasswd = %q\nmail_location = %q\n[log]\nlevel = \"debug\"\n",
		addr, vmail.name, pw, vbase+"/%d/%n/Maildir")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(imapdBin, "-config", cfg)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("imapd log:\n%s", stderr.String())
		}
	})
	var c net.Conn
	for i := 0; i < 100; i++ {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, stderr.String())
	}
	defer c.Close()
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	d.ok("a", `LOGIN "`+rcpt+`" "secret"`)
	d.ok("b", "SELECT INBOX")
	pfCheckRunsAs(t, cmd.Process.Pid, vmail)

	msg, msgID, bodyLine := pfMessage(rcpt)
	n := pfIdleForMail(d, func() { pf.sendmail(rcpt, msg) }, func() string { return pf.queueListing() + pf.maillog() })
	got := pfFetchBody(d, n)
	maildir := filepath.Join(vbase, "virtual.test", "bob", "Maildir")
	pfCheckMessage(t, got, maildir, msgID, bodyLine, rcpt)
	d.ok("z", "LOGOUT")
	pfCheckOwner(t, vbase, vmail, "virtual.test/bob/Maildir/imapd-uidlist")
}

// pfCheckRunsAs fails unless process pid runs with u's uid and gid
// (real, effective, saved and filesystem) and no other groups.
func pfCheckRunsAs(t *testing.T, pid int, u pfUser) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Uid:":    strings.Repeat(strconv.Itoa(u.uid)+" ", 4),
		"Gid:":    strings.Repeat(strconv.Itoa(u.gid)+" ", 4),
		"Groups:": strconv.Itoa(u.gid) + " ",
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || want[f[0]] == "" {
			continue
		}
		if got := strings.Join(f[1:], " ") + " "; got != want[f[0]] {
			t.Errorf("imapd runs with %s %s, want %s (user %s)", f[0], got, want[f[0]], u.name)
		}
		delete(want, f[0])
	}
	for k := range want {
		t.Errorf("/proc/%d/status has no %s line", pid, k)
	}
}

// pfPipeConn is a net.Conn over the two pipes of a child's stdin and
// stdout (as mutt's tunnel and mbsync's Tunnel talk to imapd --preauth).
type pfPipeConn struct{ r, w *os.File }

type pfPipeAddr struct{}

func (pfPipeAddr) Network() string { return "pipe" }
func (pfPipeAddr) String() string  { return "pipe" }

func (p *pfPipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pfPipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pfPipeConn) Close() error {
	p.w.Close()
	return p.r.Close()
}
func (p *pfPipeConn) LocalAddr() net.Addr                { return pfPipeAddr{} }
func (p *pfPipeConn) RemoteAddr() net.Addr               { return pfPipeAddr{} }
func (p *pfPipeConn) SetDeadline(t time.Time) error      { return p.r.SetDeadline(t) }
func (p *pfPipeConn) SetReadDeadline(t time.Time) error  { return p.r.SetReadDeadline(t) }
func (p *pfPipeConn) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }

// TestPostfixSystemUser: Postfix's local(8) delivers to ~/Maildir/ of a
// system user, whose own imapd --preauth session (run as that user over
// pipes, as mutt's tunnel does) is idling on INBOX.
func TestPostfixSystemUser(t *testing.T) {
	tools := pfRequire(t)
	u := pfSystemUser(t, tools)
	base := pfTempDir(t)
	pf := pfStartPostfix(t, tools, base)

	// TestMain's binary sits in a directory only root may enter: the
	// user runs a copy.
	bin := filepath.Join(base, "imapd")
	b, err := os.ReadFile(imapdBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(base, "preauth.toml")
	if err := os.WriteFile(cfg, []byte("listen = []\n[auth]\nmail_location = \"%h/Maildir\"\n[log]\nlevel = \"debug\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tools["runuser"], "-u", u.name, "--", bin, "-preauth", "-config", cfg)
	cmd.Stdin, cmd.Stdout = inR, outW
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	outW.Close()
	conn := &pfPipeConn{r: outR, w: inW}
	exited := false
	t.Cleanup(func() {
		conn.Close()
		if !exited {
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
		if t.Failed() {
			t.Logf("imapd log:\n%s", stderr.String())
		}
	})
	d := &dialog{t: t, c: conn, r: bufio.NewReader(conn)}
	if g := d.line(); !strings.HasPrefix(g, "* PREAUTH") {
		t.Fatalf("greeting %q\n%s", g, stderr.String())
	}
	d.ok("b", "SELECT INBOX")

	rcpt := u.name + "@localhost"
	msg, msgID, bodyLine := pfMessage(rcpt)
	n := pfIdleForMail(d, func() { pf.sendmail(rcpt, msg) }, func() string { return pf.queueListing() + pf.maillog() })
	got := pfFetchBody(d, n)
	maildir := filepath.Join(u.home, "Maildir")
	pfCheckMessage(t, got, maildir, msgID, bodyLine, rcpt)
	d.ok("z", "LOGOUT")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Fatalf("imapd --preauth exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("imapd --preauth did not exit after LOGOUT")
	}
	// Postfix (as the user) and imapd (as the user) both wrote here: all
	// of it is the user's.
	pfCheckOwner(t, maildir, u, "cur", "new", "tmp", "imapd-uidlist")
}
