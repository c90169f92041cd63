package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startInetd runs the binary with -inetd on one accepted TCP connection,
// as inetd would, and returns the client's side of it.
func startInetd(t *testing.T, cfg string) (*dialog, *exec.Cmd, *lockedBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	srvSide, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := srvSide.(*net.TCPConn).File()
	srvSide.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(imapdBin, "-inetd", "-config", cfg)
	cmd.Stdin, cmd.Stdout = f, f
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &dialog{t: t, c: client, r: bufio.NewReader(client)}, cmd, stderr
}

// TestInetdThrottleShared: two -inetd processes, one after the other,
// share the failed-login count of their client's address through the
// throttle_state file: the second one's failure is the second (delay=2s),
// not a fresh first. Each process is stopped as soon as it has logged its
// failure, so the test waits for no delay but the gate's one slot.
func TestInetdThrottleShared(t *testing.T) {
	cfg, _ := deployConfig(t, "")
	state := filepath.Join(t.TempDir(), "run", "throttle")
	body, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(body), "[auth]\n", "[auth]\nthrottle_state = \""+state+"\"\n", 1)), 0o600)

	failOnce := func() string {
		t.Helper()
		d, cmd, stderr := startInetd(t, cfg)
		if g := d.line(); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("greeting %q\n%s", g, stderr.String())
		}
		d.c.Write([]byte("a LOGIN alice wrong\r\n"))
		re := regexp.MustCompile(`msg="login failed".* failures=(\d+) delay=(\S+)`)
		deadline := time.Now().Add(20 * time.Second)
		for {
			if m := re.FindStringSubmatch(stderr.String()); m != nil {
				cmd.Process.Kill()
				return m[1] + " " + m[2]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed login logged:\n%s", stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if got := failOnce(); got != "1 1s" {
		t.Fatalf("first process: failures and delay %q, want \"1 1s\"", got)
	}
	if got := failOnce(); got != "2 2s" {
		t.Fatalf("second process: failures and delay %q, want \"2 2s\" (the count did not carry over)", got)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", fi, err)
	}
}
