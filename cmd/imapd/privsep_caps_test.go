package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
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
	if n := strings.Count(stderr.String(), `msg="too many connections"`); n != 15 {
		t.Errorf("%d warnings of refused connections, want 15:\n%s", n, stderr.String())
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

// TestPAMChildDescriptors: a session process (root until login) holds
// the connection and a pipe for its log, and no descriptor of the
// daemon's (its stderr, a log file, a listener); its log lines still
// reach the daemon's log.
func TestPAMChildDescriptors(t *testing.T) {
	service, users := pamUsers(t, "cat")
	addr, daemon, stderr := startPAMDaemon(t, service, "")
	c := dialRetry(t, addr, stderr)
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	pid := sessionProcess(t, daemon.Process.Pid)

	links := func(pid int) map[int]string {
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
	// shared is whether the two descriptors are one open file (kcmp(2)),
	// which no comparison of names can tell.
	shared := func(pid1, fd1, pid2, fd2 int) bool {
		const kcmpFile = 0
		r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid1), uintptr(pid2), kcmpFile, uintptr(fd1), uintptr(fd2), 0)
		if errno != 0 {
			t.Fatalf("kcmp: %v", errno)
		}
		return r == 0
	}
	parent, child := links(daemon.Process.Pid), links(pid)
	if !strings.HasPrefix(child[0], "socket:") || child[1] != child[0] {
		t.Fatalf("stdin and stdout of the session process are not the connection: %v", child)
	}
	if !strings.HasPrefix(child[2], "pipe:") {
		t.Fatalf("stderr of the session process is not a pipe: %v", child)
	}
	holdsState := false
	for fd, l := range child {
		holdsState = holdsState || l == defaultThrottleState
		for pfd, pl := range parent {
			if shared(pid, fd, daemon.Process.Pid, pfd) {
				t.Errorf("session process %d holds the daemon's fd %d (%s) as fd %d", pid, pfd, pl, fd)
			}
		}
		switch {
		case fd <= 2, l == child[0], strings.HasPrefix(l, "anon_inode:"):
		case strings.HasPrefix(l, "/sys/fs/cgroup/"): // the Go runtime's own, for GOMAXPROCS
		case l == defaultThrottleState: // its own, opened for the login, closed on it
		default:
			t.Errorf("session process %d has fd %d -> %s", pid, fd, l)
		}
	}

	if !holdsState {
		t.Fatalf("the session process does not hold the throttle state before login: %v", child)
	}

	// What the child logs comes out of the daemon, line by line.
	d.ok("l", "LOGIN "+users["cat"].Username+" pw-cat")
	// Logged in, the session (now the user's) holds neither the
	// failed-login counts nor anything else of root's.
	for fd, l := range links(pid) {
		if l == defaultThrottleState {
			t.Errorf("the logged-in session process holds the throttle state as fd %d", fd)
		}
	}
	d.ok("z", "LOGOUT")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "user="+users["cat"].Username) {
		if time.Now().After(deadline) {
			t.Fatalf("the session's login line is not in the daemon's log:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
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
