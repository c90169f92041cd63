package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"imapd/auth"
)

// These tests hold the real daemon to issue 9's budget: what a client can
// make the server hold, measured as the peak resident memory (VmHWM) of
// the server process.

// budgetServer is a daemon started for one test.
type budgetServer struct {
	addr  string // where it listens
	pid   int
	vmail string // the mail base (alice's Maildir is vmail/alice/Maildir)
}

// startBudgetServer runs the daemon on a loopback port with user
// alice/secret and the [limits] lines in limits.
func startBudgetServer(t *testing.T, limits string) *budgetServer {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "htpasswd")
	if err := auth.Update(pw, func(f *auth.File) error { f.BcryptCost = 4; return f.Set("alice", "secret") }); err != nil {
		t.Fatal(err)
	}
	vmail := filepath.Join(dir, "vmail")
	cfg := filepath.Join(dir, "imapd.toml")
	body := fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nallow_root = true\n[auth]\nhtpasswd = %q\nmail_location = %q\n[store]\nfsync = false\n[limits]\n%s\n[log]\nlevel = \"info\"\n",
		pw, vmail+"/%u/Maildir", limits)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(imapdBin, "-config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	addrRE := regexp.MustCompile(`msg=listening addr=(\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		return &budgetServer{addr: addr, pid: cmd.Process.Pid, vmail: vmail}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not say where it listens")
	}
	return nil
}

// peakMiB returns the server's peak resident memory so far, in MiB.
func (b *budgetServer) peakMiB(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", b.pid)
	}
	kb, _ := strconv.Atoi(string(m[1]))
	return kb / 1024
}

// budgetConn is a raw client connection.
type budgetConn struct {
	c net.Conn
	r *bufio.Reader
}

func (b *budgetServer) dial(t *testing.T) *budgetConn {
	t.Helper()
	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bc := &budgetConn{c: c, r: bufio.NewReader(c)}
	if l, err := bc.line(); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting %q, %v", l, err)
	}
	return bc
}

func (bc *budgetConn) line() (string, error) {
	bc.c.SetReadDeadline(time.Now().Add(15 * time.Second))
	l, err := bc.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// upTo reads lines until one starts with prefix, returning them all.
func (bc *budgetConn) upTo(prefix string) ([]string, error) {
	var lines []string
	for {
		l, err := bc.line()
		if err != nil {
			return lines, err
		}
		lines = append(lines, l)
		if strings.HasPrefix(l, prefix) {
			return lines, nil
		}
	}
}

// stream writes n octets to c in 256 KiB writes until done or refused,
// and returns how many were written.
func stream(c net.Conn, n int64) int64 {
	chunk := []byte(strings.Repeat(strings.Repeat("x", 1023)+"\n", 256))
	var sent int64
	for sent < n {
		c.SetWriteDeadline(time.Now().Add(15 * time.Second))
		k, err := c.Write(chunk[:min(int64(len(chunk)), n-sent)])
		sent += int64(k)
		if err != nil {
			break
		}
	}
	return sent
}

// Before login, 50 connections each announce a 64 MiB non-synchronising
// APPEND literal and send it: each is refused and closed before its
// octets are read, and the server holds next to nothing (it once held
// 5 GB).
func TestBudgetPreLoginAppend(t *testing.T) {
	srv := startBudgetServer(t, "")
	const conns, size = 50, 64 << 20
	var wg sync.WaitGroup
	replies := make([][]string, conns)
	sent := make([]int64, conns)
	for i := range conns {
		bc := srv.dial(t)
		wg.Add(2)
		go func() {
			defer wg.Done()
			fmt.Fprintf(bc.c, "a APPEND INBOX {%d+}\r\n", size)
			sent[i] = stream(bc.c, size)
		}()
		go func() {
			defer wg.Done()
			replies[i], _ = bc.upTo("* BYE")
			// The server closes the connection after BYE.
			bc.c.SetReadDeadline(time.Now().Add(15 * time.Second))
			io.Copy(io.Discard, bc.r)
		}()
	}
	wg.Wait()
	for i := range conns {
		if got := strings.Join(replies[i], " | "); got != "a BAD APPEND: log in first | * BYE Literal too large to skip, closing connection" {
			t.Fatalf("connection %d got %q", i, got)
		}
		if sent[i] >= size {
			t.Errorf("connection %d could send all %d octets: the server read the literal", i, size)
		}
	}
	peak := srv.peakMiB(t)
	t.Logf("server peak RSS: %d MiB", peak)
	if peak > 100 {
		t.Errorf("server peak RSS %d MiB after 50 pre-login 64 MiB literals, want at most 100", peak)
	}
}

// Logged in, APPEND streams the message to disk: eight 16 MiB messages at
// once cost the server buffers, not 128 MiB, and arrive whole. A LITERAL+
// message over twice max_append is answered NO [TOOBIG], then BYE.
func TestBudgetAppendStreams(t *testing.T) {
	srv := startBudgetServer(t, "max_append = 20000000")
	const conns, size = 8, 16 << 20
	var wg sync.WaitGroup
	tagged := make([]string, conns)
	for i := range conns {
		bc := srv.dial(t)
		fmt.Fprintf(bc.c, "l LOGIN alice secret\r\n")
		if l, err := bc.upTo("l OK"); err != nil {
			t.Fatalf("login: %v %q", err, l)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(bc.c, "a APPEND INBOX {%d}\r\n", size)
			if l, err := bc.line(); err != nil || !strings.HasPrefix(l, "+ ") {
				tagged[i] = fmt.Sprintf("no continuation: %q %v", l, err)
				return
			}
			stream(bc.c, size)
			bc.c.Write([]byte("\r\n"))
			lines, err := bc.upTo("a ")
			tagged[i] = strings.Join(lines, " | ")
			if err != nil {
				tagged[i] += " " + err.Error()
			}
		}()
	}
	wg.Wait()
	for i, l := range tagged {
		if !strings.HasPrefix(l, "a OK [APPENDUID ") {
			t.Fatalf("APPEND %d: %q", i, l)
		}
	}
	files, err := filepath.Glob(filepath.Join(srv.vmail, "alice/Maildir/cur/*"))
	if err != nil || len(files) != conns {
		t.Fatalf("%d messages in cur/, want %d (%v)", len(files), conns, err)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() != size {
			t.Errorf("%s: %v, want %d octets", f, err, size)
		}
	}
	peak := srv.peakMiB(t)
	t.Logf("server peak RSS: %d MiB", peak)
	if peak > 100 {
		t.Errorf("server peak RSS %d MiB after eight 16 MiB APPENDs, want at most 100", peak)
	}

	bc := srv.dial(t)
	fmt.Fprintf(bc.c, "l LOGIN alice secret\r\n")
	bc.upTo("l OK")
	fmt.Fprintf(bc.c, "b APPEND INBOX {50000000+}\r\nSubject: too big\r\n")
	lines, _ := bc.upTo("* BYE")
	if got := strings.Join(lines, " | "); got != "b NO [TOOBIG] Message too big (limit 20000000 octets) | * BYE Literal too large to skip, closing connection" {
		t.Errorf("LITERAL+ APPEND of 50 MB: %q", got)
	}
}
