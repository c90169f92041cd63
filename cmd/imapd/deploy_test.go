package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"imapd/auth"
)

// These tests run the real binary the three ways a mail administrator
// does: under systemd socket activation, under inetd (a socket on
// stdin/stdout) and with --preauth over a pipe, as mutt's tunnel does.

var imapdBin string

func TestMain(m *testing.M) {
	if os.Getenv("IMAPD_HOSTILE_PROBE_ADDR") != "" {
		// The hostile benchmark's probe process needs no daemon.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "imapd-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // PAM mode execs it as the users
	imapdBin = filepath.Join(dir, "imapd")
	if out, err := exec.Command("go", "build", "-o", imapdBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// deployConfig writes a config with one htpasswd user (alice/secret) and
// returns its path and the mail base. The tests run as root (CI does) and
// keep the daemon there, hence allow_root.
func deployConfig(t *testing.T, extra string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "htpasswd")
	if err := auth.Update(pw, func(f *auth.File) error { f.BcryptCost = 4; return f.Set("alice", "secret") }); err != nil {
		t.Fatal(err)
	}
	vmail := filepath.Join(dir, "vmail")
	cfg := filepath.Join(dir, "imapd.toml")
	body := fmt.Sprintf("listen = []\nallow_root = true\n%s\n[auth]\nhtpasswd = %q\nmail_location = %q\n[log]\nlevel = \"info\"\n", extra, pw, vmail+"/%u/Maildir")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, vmail
}

// dialog sends commands and returns the server's lines up to each tagged
// reply, failing on a timeout.
type dialog struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (d *dialog) line() string {
	d.t.Helper()
	d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := d.r.ReadString('\n')
	if err != nil {
		d.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (d *dialog) cmd(tag, cmd string) []string {
	d.t.Helper()
	fmt.Fprintf(d.c, "%s %s\r\n", tag, cmd)
	var out []string
	for {
		l := d.line()
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

func (d *dialog) ok(tag, cmd string) []string {
	d.t.Helper()
	out := d.cmd(tag, cmd)
	if !strings.HasPrefix(out[len(out)-1], tag+" OK") {
		d.t.Fatalf("%s: %q", cmd, out)
	}
	return out
}

func TestSocketActivation(t *testing.T) {
	sa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	cfg, vmail := deployConfig(t, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(sa, "-l", addr, "--fdname=imap", imapdBin, "-config", cfg)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
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
		t.Fatalf("greeting %q\n%s", g, stderr.String())
	}
	d.ok("a", "LOGIN alice secret")
	d.ok("b", "SELECT INBOX")
	d.ok("c", "LOGOUT")
	if _, err := os.Stat(filepath.Join(vmail, "alice", "Maildir", "cur")); err != nil {
		t.Fatalf("Maildir not created on first login: %v", err)
	}
	if !strings.Contains(stderr.String(), "socket activation") {
		t.Fatalf("the daemon did not use the passed socket:\n%s", stderr.String())
	}
}

// TestSocketActivationTLS passes two sockets the systemd way
// (LISTEN_FDS, LISTEN_FDNAMES=imap:imaps), as imapd.socket and
// imapd-tls.socket do: the one named "imaps" speaks TLS from the first
// byte, the other plain IMAP.
func TestSocketActivationTLS(t *testing.T) {
	sa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := demoCert(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("no certificate made")
	}
	cfg, _ := deployConfig(t, fmt.Sprintf("[tls]\ncert = %q\nkey = %q\n", certPath, keyPath))
	plain, secure := freeAddr(t), freeAddr(t)
	cmd := exec.Command(sa, "-l", plain, "-l", secure, "--fdname=imap:imaps", imapdBin, "-config", cfg)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	c := dialRetry(t, plain, &stderr)
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("plain socket: greeting %q\n%s", g, stderr.String())
	}
	d.ok("a", "LOGOUT")

	tc := tls.Client(dialRetry(t, secure, &stderr), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS on the imaps socket: %v\n%s", err, stderr.String())
	}
	d = &dialog{t: t, c: tc, r: bufio.NewReader(tc)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("imaps socket: greeting %q", g)
	}
	d.ok("a", "LOGIN alice secret")
	d.ok("b", "SELECT INBOX")
	d.ok("c", "LOGOUT")
	if !strings.Contains(stderr.String(), "socket activation") || !strings.Contains(stderr.String(), "tls=true") {
		t.Fatalf("the daemon did not serve the passed imaps socket with TLS:\n%s", stderr.String())
	}
}

// TestInetd gives the daemon an accepted TCP socket as stdin and stdout.
func TestInetd(t *testing.T) {
	cfg, _ := deployConfig(t, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	srvSide, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := srvSide.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	srvSide.Close()
	cmd := exec.Command(imapdBin, "-inetd", "-config", cfg)
	cmd.Stdin, cmd.Stdout = f, f
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d := &dialog{t: t, c: client, r: bufio.NewReader(client)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	d.ok("a", "LOGIN alice secret")
	d.ok("b", "APPEND INBOX {5+}\r\nhello")
	out := d.ok("c", "STATUS INBOX (MESSAGES)")
	if !strings.Contains(out[0], "MESSAGES 1") {
		t.Fatalf("status %q", out)
	}
	d.ok("d", "LOGOUT")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the inetd child did not exit after LOGOUT")
	}
}

// TestPreauth runs --preauth over pipes: the invoking user's Maildir with
// a PREAUTH greeting.
func TestPreauth(t *testing.T) {
	home := t.TempDir()
	cfg, _ := deployConfig(t, "")
	// The invoking user's mail: %h from $HOME is not used; the config's
	// mail location with %u names it. Point it into the temp dir.
	body, _ := os.ReadFile(cfg)
	body = []byte(strings.Replace(string(body), "mail_location = ", "mail_location = \""+home+"/%u/Maildir\"\n#", 1))
	os.WriteFile(cfg, body, 0o600)
	cmd := exec.Command(imapdBin, "-preauth", "-config", cfg)
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(outPipe)
	g, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(g, "* PREAUTH") {
		t.Fatalf("greeting %q %v", g, err)
	}
	fmt.Fprintf(in, "a SELECT INBOX\r\nb LOGOUT\r\n")
	var got []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		got = append(got, strings.TrimSpace(l))
	}
	cmd.Wait()
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, "a OK [READ-WRITE]") || !strings.Contains(joined, "b OK") {
		t.Fatalf("preauth session:\n%s", joined)
	}
}

// lockedBuffer collects a child's stderr; the test may read it while the
// child still writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoCgoBinary: a binary built without cgo has no PAM. Configured for
// PAM it says so in one line and exits non-zero; with htpasswd it serves.
func TestNoCgoBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "imapd-nocgo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build without cgo: %v\n%s", err, out)
	}
	cfg, _ := deployConfig(t, "")
	body, _ := os.ReadFile(cfg)
	pamCfg := filepath.Join(filepath.Dir(cfg), "pam.toml")
	os.WriteFile(pamCfg, []byte(strings.Replace(string(body), "[auth]\n", "[auth]\nbackend = \"pam\"\n", 1)), 0o600)
	out, err := exec.Command(bin, "-config", pamCfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "PAM support not built in") {
		t.Fatalf("PAM config on a cgo-less binary: err %v, output %q", err, out)
	}
	if lines := strings.Count(strings.TrimSpace(string(out)), "\n"); lines != 0 {
		t.Fatalf("want one line, got:\n%s", out)
	}
	// The htpasswd backend still works: a preauth-free login over inetd.
	cmd := exec.Command(bin, "-inetd", "-config", cfg)
	cmd.Stdin = strings.NewReader("a LOGIN alice secret\r\nb LOGOUT\r\n")
	got, err := cmd.Output()
	if err != nil || !strings.Contains(string(got), "a OK") {
		t.Fatalf("htpasswd login on a cgo-less binary: %v\n%s", err, got)
	}
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		// The kernel may give a port just closed again: TestListenFlag
		// once had its daemon listen twice on one (1 run in many).
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
}

// handedOut holds the addresses freeAddr gave, never given twice.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// startListening runs the binary with args, which make it listen on
// addr, and returns a connection to it (killed at cleanup) and its stderr.
func startListening(t *testing.T, addr string, args ...string) (net.Conn, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(imapdBin, args...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return dialRetry(t, addr, stderr), stderr
}

// dialRetry dials addr until the daemon listens there, for up to 5 s.
func dialRetry(t *testing.T, addr string, stderr *lockedBuffer) net.Conn {
	t.Helper()
	var err error
	for i := 0; i < 100; i++ {
		var c net.Conn
		if c, err = net.Dial("tcp", addr); err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dial %s: %v\n%s", addr, err, stderr.String())
	return nil
}

// TestListenFlag: -listen replaces the config's listen addresses, given
// twice or comma-separated, as `make run PORT=...` uses it.
func TestListenFlag(t *testing.T) {
	cfgAddr := freeAddr(t)
	cfg, _ := deployConfig(t, "")
	body, _ := os.ReadFile(cfg)
	body = []byte(strings.Replace(string(body), "listen = []", fmt.Sprintf("listen = [%q]", cfgAddr), 1))
	if err := os.WriteFile(cfg, body, 0o600); err != nil {
		t.Fatal(err)
	}
	a1, a2, a3 := freeAddr(t), freeAddr(t), freeAddr(t)
	cmd := exec.Command(imapdBin, "-config", cfg, "-listen", a1+","+a2, "-listen", a3)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for _, addr := range []string{a1, a2, a3} {
		c := dialRetry(t, addr, &stderr)
		d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
		if g := d.line(); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("%s: greeting %q", addr, g)
		}
		d.ok("a", "LOGIN alice secret")
		d.ok("b", "LOGOUT")
	}
	if c, err := net.Dial("tcp", cfgAddr); err == nil {
		c.Close()
		t.Fatalf("the config's address %s still listens; -listen must replace it", cfgAddr)
	}
}
