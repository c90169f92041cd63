//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The run: every hostile slot is a goroutine that connects, does its
// kind's act until the server closes the connection (or it hangs up),
// and connects again, until the attack's time is up. Then a
// context.AfterFunc per connection closes its socket, so every blocked
// read and write returns and every goroutine ends; runHostile waits for
// them, with a bound, and says so if any is left.

// Source addresses: hostile clients spread over 127.0.0.2-40 so that
// max_connections_per_ip (50) does not refuse them all; the one-address
// kinds use 127.0.0.41; the probe has 127.0.0.99 to itself.
var (
	hostileSpreadFirst = net.IPv4(127, 0, 0, 2)
	hostileSpreadCount = 39
	hostileOneAddr     = net.IPv4(127, 0, 0, 41)
	hostileProbeAddr   = net.IPv4(127, 0, 0, 99)
)

const (
	hostileUsers     = 4 // hostile1..hostile4, password "hostile"
	hostileProbeGap  = 200 * time.Millisecond
	hostileProbeWait = 5 * time.Second  // a probe slower than this fails
	hostileTeardown  = 20 * time.Second // for every goroutine to end
	// hostileAbortRSS: past this, the server is killed and the run
	// fails, so that a server with no limits cannot take the memory of a
	// machine shared with others.
	hostileAbortRSS = 4 << 30
)

// hostileOptions size a run.
type hostileOptions struct {
	conns    int           // hostile connections at once
	duration time.Duration // of the attack
	messages int           // seeded in each user's INBOX
}

// kindStats count what happened to one kind's connections.
type kindStats struct {
	slots      int
	dials      atomic.Int64 // connections attempted
	dialFailed atomic.Int64 // connect failed
	refused    atomic.Int64 // greeted with BYE, or closed before a greeting
	loginNo    atomic.Int64 // login not accepted (login kinds)
	closed     atomic.Int64 // closed by the server during act
	closedBye  atomic.Int64 // ... after a BYE
	hungUp     atomic.Int64 // the script ended and the client hung up
	openAtEnd  atomic.Int64 // still served when the attack ended
	sent       atomic.Int64 // octets written

	mu    sync.Mutex
	heard map[string]string // the first dial error, refusal, failed login, BYE
}

// note keeps the first thing heard of what (dial, greeting, login, BYE).
func (st *kindStats) note(what, format string, args ...any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.heard == nil {
		st.heard = map[string]string{}
	}
	if _, ok := st.heard[what]; !ok {
		st.heard[what] = fmt.Sprintf(format, args...)
	}
}

// hostileResult is what a run measured.
type hostileResult struct {
	opts      hostileOptions
	kinds     []*kindStats
	mem       memStats
	probes    []probeResult
	serverLog *serverLog
	// setup is the time to seed, start and warm up the server; teardown
	// from the attack's end to every goroutine's.
	setup, teardown time.Duration
	// baseline is a probe before the attack, on a quiet server.
	baseline    time.Duration
	baselineErr error
	// failures found by the harness itself (server died, goroutines
	// left, safety abort).
	problems []string
}

// hostileRun is the state shared by the goroutines of one run.
type hostileRun struct {
	addr    string
	scripts *hostileScripts
	wg      sync.WaitGroup
	live    atomic.Int64 // harness goroutines running
}

// spawn runs f in a goroutine the run waits for and counts.
func (run *hostileRun) spawn(f func()) {
	run.live.Add(1)
	run.wg.Go(func() {
		defer run.live.Add(-1)
		f()
	})
}

func runHostile(tb testing.TB, o hostileOptions) *hostileResult {
	tb.Helper()
	raiseNofile(tb, uint64(o.conns)+1024)
	res := &hostileResult{opts: o}
	t0 := time.Now()
	srv := startHostileServer(tb, hostileBinary(tb), o.messages)
	res.serverLog = srv.log
	defer srv.stop()
	for _, u := range append(hostileUserNames(), "probe") {
		if err := warmUp(srv.addr, u); err != nil {
			tb.Fatalf("warm-up as %s: %v\n%s", u, err, srv.log.tail())
		}
	}

	// One probe with no attack: what the machine itself allows.
	res.baseline, res.baselineErr = probeOnce(srv.addr)
	run := &hostileRun{addr: srv.addr, scripts: newHostileScripts()}
	res.setup = time.Since(t0)
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	// The server's death ends the attack early.
	go func() {
		select {
		case <-srv.exited:
			cancel()
		case <-ctx.Done():
		}
	}()

	if b, ok := tb.(*testing.B); ok {
		b.ResetTimer()
	}
	fdsBefore := openFiles()
	sampler := newMemSampler(srv.pid(), hostileAbortRSS, func() {
		srv.kill()
		cancel()
	})
	run.spawn(func() { sampler.run(ctx) })
	probes := &probeLog{}
	run.spawn(func() { probeLoop(ctx, srv.addr, probes) })
	res.kinds = run.startSlots(ctx, o.conns)
	<-ctx.Done()
	if b, ok := tb.(*testing.B); ok {
		b.StopTimer()
	}
	t1 := time.Now()

	done := make(chan struct{})
	go func() { run.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(hostileTeardown):
		res.problems = append(res.problems, fmt.Sprintf("%d harness goroutines still running %v after the attack", run.live.Load(), hostileTeardown))
	}
	res.teardown = time.Since(t1)
	if n := openFiles(); n > fdsBefore+8 {
		res.problems = append(res.problems, fmt.Sprintf("the harness holds %d descriptors after the attack, %d before", n, fdsBefore))
	}
	res.mem = sampler.final()
	res.probes = probes.results()
	if sampler.aborted.Load() {
		res.problems = append(res.problems, fmt.Sprintf("server killed: RSS passed the safety limit of %d MB", hostileAbortRSS>>20))
	} else if err := srv.exitedEarly(); err != nil {
		res.problems = append(res.problems, fmt.Sprintf("server exited during the attack: %v", err))
	}
	if n := srv.log.panics.Load(); n > 0 {
		res.problems = append(res.problems, fmt.Sprintf("server printed %d panics", n))
	}
	return res
}

// startSlots starts the hostile slots, spread over the kinds by their
// shares and over the source addresses, ramped over half a second.
func (run *hostileRun) startSlots(ctx context.Context, conns int) []*kindStats {
	counts := hostileCounts(conns)
	stats := make([]*kindStats, len(hostileMix))
	spread, users, slot := 0, 0, 0
	for i := range hostileMix {
		k := &hostileMix[i]
		st := &kindStats{slots: counts[i]}
		stats[i] = st
		for range counts[i] {
			src := hostileOneAddr
			if !k.oneAddr {
				src = ipAdd(hostileSpreadFirst, spread%hostileSpreadCount)
				spread++
			}
			user := ""
			if k.login {
				user = fmt.Sprintf("hostile%d", users%hostileUsers+1)
				users++
			}
			delay := time.Duration(slot) * 500 * time.Millisecond / time.Duration(conns)
			s := slot
			run.spawn(func() { run.slot(ctx, k, st, s, src, user, delay) })
			slot++
		}
	}
	return stats
}

// hostileCounts shares conns out over hostileMix by per1000, each kind at
// least one, the rounding taken by the largest.
func hostileCounts(conns int) []int {
	counts := make([]int, len(hostileMix))
	total, largest := 0, 0
	only := os.Getenv("IMAPD_HOSTILE_ONLY")
	for i, k := range hostileMix {
		counts[i] = max(1, (k.per1000*conns+500)/1000)
		if only != "" && !slices.ContainsFunc(strings.Split(only, ","), func(p string) bool { return strings.HasPrefix(k.name, p) }) {
			counts[i] = 0
		}
		total += counts[i]
		if k.per1000 > hostileMix[largest].per1000 {
			largest = i
		}
	}
	if only == "" {
		counts[largest] = max(1, counts[largest]+conns-total)
	}
	return counts
}

func ipAdd(ip net.IP, n int) net.IP {
	v4 := slices.Clone(ip.To4())
	v4[3] += byte(n)
	return v4
}

// slot connects again and again until ctx ends: at once after its
// script ended, a little later after the server refused or closed it.
func (run *hostileRun) slot(ctx context.Context, k *hostileKind, st *kindStats, slot int, src net.IP, user string, delay time.Duration) {
	for seq := 0; ctx.Err() == nil; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = run.connect(ctx, k, st, slot, seq, src, user)
	}
}

// connect serves one connection of a slot and returns the pause before
// the next.
func (run *hostileRun) connect(ctx context.Context, k *hostileKind, st *kindStats, slot, seq int, src net.IP, user string) time.Duration {
	const again, backOff = 20 * time.Millisecond, 300 * time.Millisecond
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", run.addr)
	if err == nil || ctx.Err() == nil {
		st.dials.Add(1) // a dial the end cut short is not counted
	}
	if err != nil {
		if ctx.Err() == nil {
			st.dialFailed.Add(1)
			st.note("dial", "%v", err)
		}
		return backOff
	}
	h := &hostileConn{c: c, r: bufio.NewReaderSize(c, 4096), run: run, scripts: run.scripts, stats: st, slot: slot, seq: seq}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		stop()
		c.Close()
		h.drains.Wait()
	}()
	g, err := h.line()
	if ctx.Err() != nil {
		st.openAtEnd.Add(1)
		return 0
	}
	if err != nil || !strings.HasPrefix(g, "* OK") {
		st.refused.Add(1)
		st.note("greeting", "%q, %v", g, err)
		return backOff
	}
	if user != "" {
		if err := h.send("l LOGIN " + user + " hostile\r\n"); err == nil {
			g, err = h.untilTagged("l")
		}
		if ctx.Err() != nil {
			st.openAtEnd.Add(1)
			return 0
		}
		if err != nil || !strings.HasPrefix(g, "l OK") {
			st.loginNo.Add(1)
			st.note("login", "%q, %v", g, err)
			return backOff
		}
	}
	err = k.act(ctx, h)
	switch {
	case ctx.Err() != nil:
		st.openAtEnd.Add(1)
	case err == nil:
		st.hungUp.Add(1)
		return again
	default:
		st.closed.Add(1)
		if h.bye.Load() {
			st.closedBye.Add(1)
		}
	}
	return backOff
}

// hostileConn is one hostile client's connection.
type hostileConn struct {
	c       net.Conn
	r       *bufio.Reader
	run     *hostileRun
	scripts *hostileScripts
	stats   *kindStats
	slot    int // the slot's number, for unique folder names
	seq     int // the slot's connection number
	// bye is set when the server sent "* BYE".
	bye atomic.Bool
	// drains is the drain goroutine, if started; after drain only it
	// reads.
	drains sync.WaitGroup
}

func (h *hostileConn) send(s string) error {
	n, err := io.WriteString(h.c, s)
	h.stats.sent.Add(int64(n))
	return err
}

// stream writes n octets of literal data.
func (h *hostileConn) stream(n int64) error {
	for n > 0 {
		p := h.scripts.chunk[:min(n, int64(len(h.scripts.chunk)))]
		k, err := h.c.Write(p)
		h.stats.sent.Add(int64(k))
		if err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

// line reads one line of the server's, of any length, and keeps its
// beginning: a hostile client's replies can be long (a FETCH of 9,000
// keywords).
func (h *hostileConn) line() (string, error) {
	l, err := readLineHead(h.r)
	if strings.HasPrefix(l, "* BYE") {
		h.bye.Store(true)
		h.stats.note("BYE", "%s", l)
	}
	return l, err
}

// readLineHead reads a line of any length and returns its first 256
// octets without the CRLF.
func readLineHead(r *bufio.Reader) (string, error) {
	var head []byte
	for {
		frag, err := r.ReadSlice('\n')
		if room := 256 - len(head); room > 0 {
			head = append(head, frag[:min(room, len(frag))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return strings.TrimRight(string(head), "\r\n"), err
	}
}

// untilTagged reads up to the reply tagged tag and returns it.
func (h *hostileConn) untilTagged(tag string) (string, error) {
	for {
		l, err := h.line()
		if err != nil {
			return l, err
		}
		if strings.HasPrefix(l, tag+" ") {
			return l, nil
		}
	}
}

func (h *hostileConn) selectInbox() error {
	if err := h.send("x SELECT INBOX\r\n"); err != nil {
		return err
	}
	l, err := h.untilTagged("x")
	if err == nil && !strings.HasPrefix(l, "x OK") {
		err = fmt.Errorf("SELECT: %s", l)
	}
	return err
}

// drain reads and drops the server's replies in a goroutine, for the
// kinds that only write; when the server closes, it closes the socket,
// so that a writer asleep or blocked notices.
func (h *hostileConn) drain() {
	h.run.live.Add(1)
	h.drains.Go(func() {
		defer h.run.live.Add(-1)
		for {
			if _, err := h.line(); err != nil {
				h.c.Close()
				return
			}
		}
	})
}

// openFiles counts this process's descriptors.
func openFiles() int {
	fds, _ := os.ReadDir("/proc/self/fd")
	return len(fds)
}

// raiseNofile makes room for need descriptors: the server, started by
// us, inherits the limit.
func raiseNofile(tb testing.TB, need uint64) {
	tb.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatal(err)
	}
	if rl.Cur >= need {
		return
	}
	if rl.Max < need {
		tb.Skipf("RLIMIT_NOFILE hard limit %d is below the %d descriptors this run needs (ulimit -Hn)", rl.Max, need)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatal(err)
	}
}

// report logs the per-kind table and the probe's latencies, and for a
// benchmark reports the metrics.
func (r *hostileResult) report(tb testing.TB) {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "hostile run: %d connections for %v, %d messages per INBOX (setup %v, teardown %v)\n",
		r.opts.conns, r.opts.duration, r.opts.messages, r.setup.Round(time.Millisecond), r.teardown.Round(time.Millisecond))
	fmt.Fprintf(&b, "%-28s %5s %6s %6s %7s %7s %6s %6s %6s %6s %9s\n",
		"kind", "slots", "dials", "dialNo", "refused", "loginNo", "closed", "w/BYE", "hungUp", "atEnd", "KiB sent")
	for i, st := range r.kinds {
		fmt.Fprintf(&b, "%-28s %5d %6d %6d %7d %7d %6d %6d %6d %6d %9d\n", hostileMix[i].name, st.slots,
			st.dials.Load(), st.dialFailed.Load(), st.refused.Load(), st.loginNo.Load(), st.closed.Load(),
			st.closedBye.Load(), st.hungUp.Load(), st.openAtEnd.Load(), st.sent.Load()>>10)
	}
	for i, st := range r.kinds {
		st.mu.Lock()
		for _, what := range slices.Sorted(maps.Keys(st.heard)) {
			fmt.Fprintf(&b, "  %s, first %s: %.150s\n", hostileMix[i].name, what, st.heard[what])
		}
		st.mu.Unlock()
	}
	lat, failed := r.probeStats()
	fmt.Fprintf(&b, "server: max VmRSS %d MB, VmHWM %d MB, max threads %d; RSS by second (MB): %v\n",
		r.mem.maxRSS>>20, r.mem.hwm>>20, r.mem.maxThreads, r.mem.timeline)
	fmt.Fprintf(&b, "probe before the attack: %v (err %v)\n", ms(r.baseline), r.baselineErr)
	fmt.Fprintf(&b, "probe: %d runs, %d failed, %d over %v; latency (failed ones until they failed) p50 %v p90 %v max %v\n",
		len(r.probes), len(failed), countOver(lat, hostileMaxProbe), hostileMaxProbe,
		ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 100)))
	for i, p := range failed {
		if i == 5 {
			fmt.Fprintf(&b, "  ... and %d more\n", len(failed)-5)
			break
		}
		fmt.Fprintf(&b, "  probe at %v failed after %v: %v\n", ms(p.at), ms(p.took), p.err)
	}
	fmt.Fprintf(&b, "server log: %d lines, %d WARN, %d ERROR", r.serverLog.lines.Load(), r.serverLog.warns.Load(), r.serverLog.errors.Load())
	tb.Log(b.String())
	if b, ok := tb.(*testing.B); ok {
		b.ReportMetric(float64(r.mem.maxRSS)/(1<<20), "maxRSS-MB")
		b.ReportMetric(float64(r.mem.hwm)/(1<<20), "VmHWM-MB")
		b.ReportMetric(float64(percentile(lat, 50))/1e6, "probe-p50-ms")
		b.ReportMetric(float64(percentile(lat, 100))/1e6, "probe-max-ms")
		b.ReportMetric(float64(len(failed)), "probe-failures")
		b.ReportMetric(float64(len(r.probes)), "probes")
		b.ReportMetric(0, "ns/op")
	}
}

// check fails tb when the run broke issue 9's bounds.
func (r *hostileResult) check(tb testing.TB) {
	tb.Helper()
	for _, p := range r.problems {
		tb.Errorf("%s\nlast server log lines:\n%s", p, r.serverLog.tail())
	}
	if r.mem.hwm >= hostileMaxHWM {
		tb.Errorf("server peak RSS (VmHWM) %d MB, want under %d MB", r.mem.hwm>>20, hostileMaxHWM>>20)
	}
	lat, failed := r.probeStats()
	if len(r.probes) == 0 {
		tb.Errorf("no probe ran")
	}
	if len(failed) > 0 {
		tb.Errorf("%d of %d probes failed; first: %v", len(failed), len(r.probes), failed[0].err)
	}
	if n := countOver(lat, hostileMaxProbe); n > 0 {
		tb.Errorf("%d of %d probes took over %v (max %v)", n, len(lat), hostileMaxProbe, ms(percentile(lat, 100)))
	}
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// probeStats returns the latencies of all probes, sorted, and the probes
// that failed. A failed probe counts with the time it had taken when it
// failed (up to hostileProbeWait): when every probe times out, the
// maximum says so rather than showing nothing.
func (r *hostileResult) probeStats() ([]time.Duration, []probeResult) {
	var lat []time.Duration
	var failed []probeResult
	for _, p := range r.probes {
		lat = append(lat, p.took)
		if p.err != nil {
			failed = append(failed, p)
		}
	}
	slices.Sort(lat)
	return lat, failed
}

func countOver(sorted []time.Duration, d time.Duration) int {
	i, _ := slices.BinarySearch(sorted, d+1)
	return len(sorted) - i
}

// percentile of sorted durations (100: the maximum); 0 when there are none.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}
