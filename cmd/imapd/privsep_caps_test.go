package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPAMConnectionCaps: in PAM mode the daemon counts max_connections in
// the parent, so 20 connections against a cap of 5 make 5 session
// processes (each root until login), and the other 15 get BYE
// [UNAVAILABLE] from the parent; a slot comes back when its child exits.
func TestPAMConnectionCaps(t *testing.T) {
	service, _ := pamUsers(t)
	addr, daemon, stderr := startPAMDaemon(t, service, "[limits]\nmax_connections = 5")
	var admitted []net.Conn
	byes := 0
	for i := 0; i < 20; i++ {
		c := dialRetry(t, addr, stderr)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		g, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case strings.HasPrefix(g, "* OK"):
			admitted = append(admitted, c)
		case g == "* BYE [UNAVAILABLE] Too many connections, try again later\r\n":
			byes++
		default:
			t.Fatalf("connection %d: %q, %v\n%s", i, g, err, stderr.String())
		}
	}
	if len(admitted) != 5 || byes != 15 {
		t.Fatalf("%d admitted, %d refused with BYE; want 5 and 15", len(admitted), byes)
	}
	if kids := childProcesses(daemon.Process.Pid); len(kids) > 5 {
		t.Fatalf("%d session processes under a cap of 5: %v", len(kids), kids)
	}
	// The warning is written after the BYE: wait for the last one.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := strings.Count(stderr.String(), `msg="too many connections"`)
		if n == 15 {
			break
		}
		if n > 15 || time.Now().After(deadline) {
			t.Fatalf("%d warnings of refused connections, want 15:\n%s", n, stderr.String())
		}
	}

	// One session ends: its slot is free once its process has exited.
	admitted[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialRetry(t, addr, stderr)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		g, _ := bufio.NewReader(c).ReadString('\n')
		if strings.HasPrefix(g, "* OK") {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a session ended: %q", g)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPAMChildDescriptors: before login the connection is served by a
// login process that is not root (login_user, chrooted to an empty
// directory, no new privileges) and holds the connection, a log pipe and
// its channel to the daemon, and no descriptor of the daemon's (its
// stderr, the throttle state, a listener). After login the session
// process is the user's and holds the connection and a log pipe only;
// the log lines of both reach the daemon's log.
func TestPAMChildDescriptors(t *testing.T) {
	service, users := pamUsers(t, "cat")
	addr, daemon, stderr := startPAMDaemon(t, service, "")
	c := dialRetry(t, addr, stderr)
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}

	login := sessionProcess(t, daemon.Process.Pid)
	wantIDs(t, login, nobody.Uid, nobody.Gid)
	if status := procStatus(t, login); !strings.Contains(status, "NoNewPrivs:\t1") {
		t.Errorf("login process %d may gain privileges:\n%s", login, status)
	}
	if root, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", login)); root != "/run/imapd/login" {
		t.Errorf("login process %d has root directory %q, not /run/imapd/login", login, root)
	}
	parent := fdLinks(t, daemon.Process.Pid)
	fds := fdLinks(t, login)
	checkOwnFDs(t, login, fds, daemon.Process.Pid, parent)
	sockets := 0
	for fd, l := range fds {
		switch {
		case fd <= 2, strings.HasPrefix(l, "anon_inode:"):
		case strings.HasPrefix(l, "/sys/fs/cgroup/"): // the Go runtime's own, for GOMAXPROCS, opened before the chroot
		case strings.HasPrefix(l, "socket:"):
			sockets++ // the connection (Go's dup of stdin) and the channel to the daemon
		default:
			t.Errorf("login process %d has fd %d -> %s", login, fd, l)
		}
	}
	if !strings.HasPrefix(fds[0], "socket:") || fds[1] != fds[0] || !strings.HasPrefix(fds[2], "pipe:") || sockets != 2 {
		t.Fatalf("login process %d: want the connection on 0 and 1, a pipe on 2, two sockets more: %v", login, fds)
	}

	d.ok("l", "LOGIN "+users["cat"].Username+" pw-cat")
	deadline := time.Now().Add(10 * time.Second)
	var session int
	for {
		kids := childProcesses(daemon.Process.Pid)
		if len(kids) == 1 && kids[0] != login {
			session = kids[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after login the daemon's children are %v (login process was %d)", kids, login)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantIDs(t, session, users["cat"].Uid, users["cat"].Gid)
	if status := procStatus(t, session); !strings.Contains(status, "NoNewPrivs:\t1") {
		t.Errorf("session process %d may gain privileges:\n%s", session, status)
	}
	fds = fdLinks(t, session)
	checkOwnFDs(t, session, fds, daemon.Process.Pid, fdLinks(t, daemon.Process.Pid))
	for fd, l := range fds {
		if fd > 2 && l != fds[0] && !strings.HasPrefix(l, "anon_inode:") && !strings.HasPrefix(l, "/sys/fs/cgroup/") {
			t.Errorf("session process %d has fd %d -> %s", session, fd, l)
		}
	}
	d.ok("n", "NOOP")
	d.ok("z", "LOGOUT")
	for _, want := range []string{"msg=login", "user=" + users["cat"].Username} {
		for !strings.Contains(stderr.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%q is not in the daemon's log:\n%s", want, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// wantIDs fails unless process pid has uid and gid in all four fields.
func wantIDs(t *testing.T, pid int, uid, gid string) {
	t.Helper()
	status := procStatus(t, pid)
	for _, want := range []string{"Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid, "Gid:\t" + gid + "\t" + gid + "\t" + gid + "\t" + gid} {
		if !strings.Contains(status, want) {
			t.Fatalf("process %d is not %s:%s:\n%s", pid, uid, gid, status)
		}
	}
}

func procStatus(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fdLinks maps each descriptor of pid to what it is.
func fdLinks(t *testing.T, pid int) map[int]string {
	t.Helper()
	fds := map[int]string{}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); err == nil {
			fds[fd] = l
		}
	}
	return fds
}

// checkOwnFDs fails for each descriptor of pid that is one open file with
// one of the daemon's (kcmp(2): no comparison of names can tell).
func checkOwnFDs(t *testing.T, pid int, fds map[int]string, daemon int, daemonFDs map[int]string) {
	t.Helper()
	const kcmpFile = 0
	for fd := range fds {
		for pfd, pl := range daemonFDs {
			r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid), uintptr(daemon), kcmpFile, uintptr(fd), uintptr(pfd), 0)
			if errno != 0 {
				t.Fatalf("kcmp: %v", errno)
			}
			if r == 0 {
				t.Errorf("process %d holds the daemon's fd %d (%s) as fd %d", pid, pfd, pl, fd)
			}
		}
	}
}

// TestLineRelay: a child's output reaches the log in whole lines, however
// it is split into writes; a line past maxRelayLine is cut into pieces of
// that length; an unfinished last line is written at the end.
func TestLineRelay(t *testing.T) {
	var out strings.Builder
	var mu sync.Mutex
	r := &lineRelay{out: &out, mu: &mu}
	long := strings.Repeat("x", maxRelayLine+10)
	for _, w := range []string{"a=1 ", "b=2\nc=", "3\n", long + "\n", "tail"} {
		r.Write([]byte(w))
	}
	r.flush()
	want := "a=1 b=2\nc=3\n" + long[:maxRelayLine] + "\n" + long[maxRelayLine:] + "\ntail\n"
	if out.String() != want {
		t.Fatalf("relayed %q\nwant %q", out.String(), want)
	}
}
