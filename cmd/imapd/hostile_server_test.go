//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"imapd/auth"
)

// The hostile run's server side: the real daemon with a temp config,
// htpasswd users and seeded Maildirs; the probe, a normal client; and the
// sampler of the daemon's memory.

// hostileBinary is the daemon TestMain built; built here if there is none.
func hostileBinary(tb testing.TB) string {
	tb.Helper()
	if imapdBin != "" {
		return imapdBin
	}
	bin := filepath.Join(tb.TempDir(), "imapd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		tb.Skipf("cannot build the daemon: %v\n%s", err, out)
	}
	return bin
}

func hostileUserNames() []string {
	var u []string
	for i := range hostileUsers {
		u = append(u, fmt.Sprintf("hostile%d", i+1))
	}
	return u
}

// hostileServer is the daemon under attack.
type hostileServer struct {
	cmd    *exec.Cmd
	addr   string
	log    *serverLog
	exited chan struct{} // closed when the process has ended
	err    error         // its exit status, once exited is closed
	killed atomic.Bool   // we killed or stopped it
	once   sync.Once
}

// startHostileServer writes the users, their Maildirs and a config that
// keeps every default limit but max_connections (2,000: the hostile
// thousand must not starve the probe by that cap alone), starts the
// daemon on a free port and waits for it to listen.
func startHostileServer(tb testing.TB, bin string, messages int) *hostileServer {
	tb.Helper()
	dir := tb.TempDir()
	pw := filepath.Join(dir, "htpasswd")
	// Cost 4: logins are part of the load, not the thing measured.
	err := auth.Update(pw, func(f *auth.File) error {
		f.BcryptCost = 4
		for _, u := range hostileUserNames() {
			if err := f.Set(u, "hostile"); err != nil {
				return err
			}
		}
		return f.Set("probe", "probe")
	})
	if err != nil {
		tb.Fatal(err)
	}
	seed := filepath.Join(dir, "seed")
	names, err := seedMessages(seed, messages)
	if err != nil {
		tb.Fatal(err)
	}
	vmail := filepath.Join(dir, "vmail")
	for _, u := range append(hostileUserNames(), "probe") {
		if err := seedMaildir(filepath.Join(vmail, u, "Maildir"), seed, names); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "imapd.toml")
	body := fmt.Sprintf("listen = [\"127.0.0.1:0\"]\nallow_root = true\n[auth]\nhtpasswd = %q\nmail_location = %q\n[limits]\nmax_connections = 2000\n[log]\nlevel = \"info\"\n",
		pw, vmail+"/%u/Maildir")
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}

	s := &hostileServer{log: newServerLog(), exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "-config", cfg)
	s.cmd.Stderr = s.log
	// Should the test binary die (go test's -timeout), the daemon goes too.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.addr = <-s.log.addr:
	case <-s.exited:
		tb.Fatalf("the daemon exited at start: %v\n%s", s.err, s.log.tail())
	case <-time.After(15 * time.Second):
		s.stop()
		tb.Fatalf("the daemon did not listen within 15 s\n%s", s.log.tail())
	}
	return s
}

func (s *hostileServer) pid() int { return s.cmd.Process.Pid }

func (s *hostileServer) kill() {
	s.killed.Store(true)
	s.cmd.Process.Kill()
}

// stop kills the daemon and returns once it is gone. Its graceful
// shutdown is not what this measures, and would wait for the hostile
// commands still running.
func (s *hostileServer) stop() {
	s.once.Do(func() {
		s.kill()
		<-s.exited
	})
}

// exitedEarly is the exit status of a daemon that ended by itself.
func (s *hostileServer) exitedEarly() error {
	select {
	case <-s.exited:
		if !s.killed.Load() {
			return fmt.Errorf("%v", s.err)
		}
	default:
	}
	return nil
}

// seedMessages writes n small messages into dir, named and flagged as
// a delivery agent and a client would leave them in cur/, and returns
// their names.
func seedMessages(dir string, n int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	names := make([]string, n)
	for i := range n {
		date := base.Add(time.Duration(i) * time.Hour)
		msg := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: user@example.org\r\nSubject: Seeded message %d\r\n"+
			"Date: %s\r\nMessage-ID: <%d@seed.example.org>\r\n\r\nA small body, line one of message %d.\r\nalpha beta gamma delta\r\n",
			i%97, i%97, i, date.Format(time.RFC1123Z), i, i)
		flags := ""
		if i%3 == 0 {
			flags = "S"
		}
		names[i] = fmt.Sprintf("%d.M%dP1.seed,S=%d:2,%s", date.Unix(), i, len(msg), flags)
		if err := os.WriteFile(filepath.Join(dir, names[i]), []byte(msg), 0o600); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// seedMaildir makes the Maildir root with the seeded messages in cur/,
// hard links of those in seed: a file written takes about a millisecond
// here, a link a hundredth of that. Links are what a COPY by hard link
// leaves too; flag changes rename only this Maildir's link.
func seedMaildir(root, seed string, names []string) error {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := os.Link(filepath.Join(seed, n), filepath.Join(root, "cur", n)); err != nil {
			return err
		}
	}
	return nil
}

// serverLog takes the daemon's stderr: it finds the listening address,
// counts lines by level and keeps the last few WARN and ERROR lines,
// holding no more than that however much the daemon logs.
type serverLog struct {
	addr    chan string // the listening address, once
	partial []byte

	lines, warns, errors, panics atomic.Int64

	mu   sync.Mutex
	last []string
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

func newServerLog() *serverLog { return &serverLog{addr: make(chan string, 1)} }

func (l *serverLog) Write(p []byte) (int, error) {
	l.partial = append(l.partial, p...)
	rest := l.partial
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		l.take(string(rest[:i]))
		rest = rest[i+1:]
	}
	if len(rest) > 64<<10 {
		rest = nil // a line this long says nothing we look for
	}
	l.partial = append(l.partial[:0], rest...)
	return len(p), nil
}

func (l *serverLog) take(line string) {
	l.lines.Add(1)
	if m := listeningRE.FindStringSubmatch(line); m != nil {
		select {
		case l.addr <- m[1]:
		default:
		}
	}
	keep := false
	switch {
	case strings.Contains(line, "level=WARN"):
		l.warns.Add(1)
		keep = true
	case strings.Contains(line, "level=ERROR"):
		l.errors.Add(1)
		keep = true
	case strings.HasPrefix(line, "panic:"), strings.HasPrefix(line, "fatal error:"):
		l.panics.Add(1)
		keep = true
	}
	if keep || l.lines.Load() < 20 {
		l.mu.Lock()
		l.last = append(l.last, line)
		if len(l.last) > 20 {
			l.last = l.last[len(l.last)-20:]
		}
		l.mu.Unlock()
	}
}

// tail is the kept lines, for a failure message.
func (l *serverLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, "\n")
}

// warmUp logs in as user and selects INBOX once, so that the first UID
// assignment of the seeded folder is not part of the measurement.
func warmUp(addr, user string) error {
	pass := "hostile"
	if user == "probe" {
		pass = "probe"
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	p := &probeConn{r: bufio.NewReader(c), c: c}
	if _, err := p.line(); err != nil {
		return err
	}
	for _, cmd := range []string{"LOGIN " + user + " " + pass, "SELECT INBOX", "LOGOUT"} {
		if _, err := p.ok(cmd); err != nil {
			return err
		}
	}
	return nil
}

// probeResult is one normal client's session.
type probeResult struct {
	at   time.Duration // since the attack started
	took time.Duration // connect to the FETCH's tagged OK
	err  error
}

// probeLog collects the probes' results; read while the probe may still
// run if the teardown timed out.
type probeLog struct {
	mu  sync.Mutex
	all []probeResult
}

func (l *probeLog) add(p probeResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, p)
}

func (l *probeLog) results() []probeResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]probeResult(nil), l.all...)
}

// probeLoop runs a probe every hostileProbeGap (one at a time) until ctx
// ends, in a process of its own (TestHostileProbeChild): in this one it
// would wait for the processor behind the harness's own thousand
// goroutines, and measure the harness, not the server. (Seen: 650 ms
// in-process while a separate client got its answers in 30 ms.) The
// child runs at a higher priority than the harness, as a client on
// another machine would not share its processors.
func probeLoop(ctx context.Context, addr string, out *probeLog) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHostileProbeChild$")
	cmd.Env = append(os.Environ(), "IMAPD_HOSTILE_PROBE_ADDR="+addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		out.add(probeResult{err: err})
		return
	}
	if err := cmd.Start(); err != nil {
		out.add(probeResult{err: err})
		return
	}
	syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, -10) // root only; else as it is
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		// "probe <at ns> <took ns> <error or ok>"
		f := strings.SplitN(sc.Text(), " ", 4)
		if len(f) != 4 || f[0] != "probe" {
			continue
		}
		at, _ := strconv.ParseInt(f[1], 10, 64)
		took, _ := strconv.ParseInt(f[2], 10, 64)
		r := probeResult{at: time.Duration(at), took: time.Duration(took)}
		if f[3] != "ok" {
			r.err = fmt.Errorf("%s", f[3])
		}
		out.add(r)
	}
	cmd.Wait()
}

// TestHostileProbeChild is the probe's process (see probeLoop); it does
// nothing unless started by it.
func TestHostileProbeChild(t *testing.T) {
	addr := os.Getenv("IMAPD_HOSTILE_PROBE_ADDR")
	if addr == "" {
		t.Skip("the hostile benchmark's probe process; started by probeLoop")
	}
	start := time.Now()
	for {
		t0 := time.Now()
		took, err := probeOnce(addr)
		res := "ok"
		if err != nil {
			res = strings.ReplaceAll(err.Error(), "\n", " ")
		}
		fmt.Printf("probe %d %d %s\n", t0.Sub(start), took, res)
		time.Sleep(time.Until(t0.Add(hostileProbeGap)))
	}
}

// probeOnce is a normal client from its own address: LOGIN, SELECT
// INBOX, FETCH 1:10 (FLAGS), LOGOUT on a fresh connection. It returns
// the time from connecting to the FETCH's tagged OK.
func probeOnce(addr string) (time.Duration, error) {
	start := time.Now()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: hostileProbeAddr}, Timeout: hostileProbeWait}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return time.Since(start), err
	}
	defer c.Close()
	c.SetDeadline(start.Add(hostileProbeWait))
	p := &probeConn{r: bufio.NewReader(c), c: c}
	g, err := p.line()
	if err == nil && !strings.HasPrefix(g, "* OK") {
		err = fmt.Errorf("greeting %q", g)
	}
	if err != nil {
		return time.Since(start), err
	}
	for _, cmd := range []string{"LOGIN probe probe", "SELECT INBOX"} {
		if _, err := p.ok(cmd); err != nil {
			return time.Since(start), err
		}
	}
	lines, err := p.ok("FETCH 1:10 (FLAGS)")
	took := time.Since(start)
	if err != nil {
		return took, err
	}
	fetched := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "* ") && strings.Contains(l, " FETCH (") {
			fetched++
		}
	}
	if fetched != 10 {
		return took, fmt.Errorf("FETCH 1:10 gave %d FETCH replies", fetched)
	}
	_, err = p.ok("LOGOUT")
	return took, err
}

// probeConn is the probe's side of a connection.
type probeConn struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func (p *probeConn) line() (string, error) {
	l, err := readLineHead(p.r)
	if err != nil {
		return l, fmt.Errorf("read after %q: %w", l, err)
	}
	return l, nil
}

// ok sends cmd and returns the lines up to its tagged reply, an error
// unless that is OK.
func (p *probeConn) ok(cmd string) ([]string, error) {
	p.tag++
	tag := "p" + strconv.Itoa(p.tag)
	if _, err := fmt.Fprintf(p.c, "%s %s\r\n", tag, cmd); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	var lines []string
	for {
		l, err := p.line()
		if err != nil {
			return lines, fmt.Errorf("%s: %w", cmd, err)
		}
		lines = append(lines, l)
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return lines, fmt.Errorf("%s: %s", cmd, l)
			}
			return lines, nil
		}
	}
}

// memStats is the daemon's memory as /proc/<pid>/status tells it.
type memStats struct {
	maxRSS     int64 // octets, the largest VmRSS sampled
	hwm        int64 // octets, VmHWM: the kernel's own peak
	maxThreads int
	timeline   []int64 // VmRSS in MB, one a second
}

// memSampler reads the daemon's status every 100 ms; past abortAt it
// calls abort, once.
type memSampler struct {
	pid     int
	abortAt int64
	abort   func()
	aborted atomic.Bool

	mu sync.Mutex
	st memStats
}

func newMemSampler(pid int, abortAt int64, abort func()) *memSampler {
	return &memSampler{pid: pid, abortAt: abortAt, abort: abort}
}

func (m *memSampler) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	next := time.Now()
	for {
		rss := m.sample()
		if now := time.Now(); !now.Before(next) {
			m.mu.Lock()
			m.st.timeline = append(m.st.timeline, rss>>20)
			m.mu.Unlock()
			next = next.Add(time.Second)
		}
		if rss > m.abortAt && !m.aborted.Swap(true) {
			m.abort()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample reads the status once and returns VmRSS.
func (m *memSampler) sample() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.pid))
	if err != nil {
		return 0 // gone
	}
	var rss, hwm int64
	threads := 0
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		case "Threads":
			threads = int(n)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.maxRSS = max(m.st.maxRSS, rss)
	m.st.hwm = max(m.st.hwm, hwm)
	m.st.maxThreads = max(m.st.maxThreads, threads)
	return rss
}

// final samples once more (VmHWM covers what the samples missed) and
// returns the figures.
func (m *memSampler) final() memStats {
	m.sample()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	st.timeline = append([]int64(nil), st.timeline...)
	return st
}
