package imapd

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"imapd/auth"
)

// countingAuth counts the password checks that reach the backend and the
// most that ran at once.
type countingAuth struct {
	auth.Authenticator
	checks, running, peak atomic.Int64
}

func (c *countingAuth) Authenticate(ctx context.Context, user, pw string) (auth.Identity, error) {
	c.checks.Add(1)
	n := c.running.Add(1)
	defer c.running.Add(-1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	return c.Authenticator.Authenticate(ctx, user, pw)
}

// guessingServer is a real server whose htpasswd backend (bcrypt at cost)
// is wrapped in a countingAuth; throttle (nil: the server's own, made
// from the Authenticator) sits in front of it.
func guessingServer(t *testing.T, cost int, throttle func(auth.Authenticator) *auth.Throttle) (*testServer, *countingAuth) {
	t.Helper()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("demo"), cost)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(pw, []byte("demo:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var counter *countingAuth
	ts := newTestServer(t, func(o *Options) {
		ht, err := auth.NewHtpasswd(auth.HtpasswdOptions{Path: pw, MailLocation: dir + "/mail/%u/Maildir", Logger: o.Logger})
		if err != nil {
			t.Fatal(err)
		}
		counter = &countingAuth{Authenticator: ht}
		o.Throttle, o.Authenticator = nil, counter
		if throttle != nil {
			o.Throttle = throttle(counter)
		}
		// The connection caps are not what is measured here.
		o.Limits.MaxConnections, o.Limits.MaxConnectionsPerIP = 10000, 10000
	})
	return ts, counter
}

// guessResult is what parallel password guessers saw.
type guessResult struct {
	failed  int64 // NO [AUTHENTICATIONFAILED]: a password was checked
	refused int64 // NO [UNAVAILABLE]: refused unchecked
}

// guess runs conns connections from 127.0.0.1 that send wrong LOGINs for
// d, reconnecting after each BYE; each waits for its answer before
// guessing again, as a brute-force client must, and pauses after a
// refusal.
func guess(addr string, conns int, d, pause time.Duration) guessResult {
	var res guessResult
	var failed, refused atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return
				}
				c.SetDeadline(deadline)
				br := bufio.NewReader(c)
				if _, err := br.ReadString('\n'); err != nil { // greeting
					c.Close()
					continue
				}
				for time.Now().Before(deadline) {
					n++
					fmt.Fprintf(c, "g%d LOGIN demo wrong-%d-%d\r\n", n, i, n)
					line, err := readTagged(br, fmt.Sprintf("g%d ", n))
					if err != nil {
						break
					}
					switch {
					case strings.Contains(line, "[AUTHENTICATIONFAILED]"):
						failed.Add(1)
					case strings.Contains(line, "[UNAVAILABLE]"):
						refused.Add(1)
						time.Sleep(pause)
					}
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	res.failed, res.refused = failed.Load(), refused.Load()
	return res
}

// readTagged reads up to the line tagged tag, or an error (a BYE then
// EOF ends the connection).
func readTagged(br *bufio.Reader, tag string) (string, error) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(line, tag) {
			return line, nil
		}
	}
}

// TestMeasureGuessing measures the password checks per second that many
// parallel connections from one address get, with the daemon's default
// throttle and bcrypt at the default cost. It is a measurement, not a
// check: IMAPD_MEASURE_GUESSING=300 (connections) runs it, for
// IMAPD_MEASURE_SECONDS (30).
func TestMeasureGuessing(t *testing.T) {
	var conns int
	if _, err := fmt.Sscan(os.Getenv("IMAPD_MEASURE_GUESSING"), &conns); err != nil || conns <= 0 {
		t.Skip("IMAPD_MEASURE_GUESSING=<connections> runs it")
	}
	d := 30 * time.Second
	if s := os.Getenv("IMAPD_MEASURE_SECONDS"); s != "" {
		var n int
		fmt.Sscan(s, &n)
		d = time.Duration(n) * time.Second
	}
	ts, counter := guessingServer(t, bcrypt.DefaultCost, nil)
	start := time.Now()
	var half atomic.Int64
	time.AfterFunc(d/2, func() { half.Store(counter.checks.Load()) })
	res := guess(ts.addr, conns, d, 0)
	el := time.Since(start)
	all := counter.checks.Load()
	t.Logf("%d connections for %v: %d checks (%.2f/s; second half %.2f/s), peak %d at once; client saw %d failed, %d refused",
		conns, el.Round(time.Second), all, float64(all)/el.Seconds(), float64(all-half.Load())/(el-d/2).Seconds(),
		counter.peak.Load(), res.failed, res.refused)
}

// Many parallel connections from one address sending wrong LOGINs share
// the address's delay: the server checks about one password per delay
// between them, answers the rest NO [UNAVAILABLE] unchecked, and never
// runs more checks at once than the pool allows.
func TestLoginThrottleSharedAcrossConnections(t *testing.T) {
	const (
		base    = 40 * time.Millisecond
		maxD    = 160 * time.Millisecond
		maxWait = 2 * maxD
		conc    = 2
		run     = 1600 * time.Millisecond
	)
	ts, counter := guessingServer(t, bcrypt.MinCost, func(a auth.Authenticator) *auth.Throttle {
		return auth.NewThrottle(a, auth.ThrottleOptions{Base: base, Max: maxD, Concurrency: conc,
			Logger: slog.New(slog.DiscardHandler)})
	})
	done := make(chan guessResult)
	go func() { done <- guess(ts.addr, 50, run, base) }()

	// The refusal, as a client sees it while the guessers fill the queue.
	time.Sleep(run / 2)
	refusal := ""
	for range 5 {
		tc := ts.dial()
		_, tagged := tc.transact("r1", "LOGIN demo wrong")
		tc.c.Close()
		if strings.Contains(tagged, "[UNAVAILABLE]") {
			refusal = tagged
			break
		}
	}
	if want := "r1 NO [UNAVAILABLE] Too many failed logins from your address, try later"; refusal != want {
		t.Errorf("LOGIN while others guess from the same address: %q, want %q", refusal, want)
	}

	res := <-done
	// Let the attempts still queued (at most maxWait) be checked.
	time.Sleep(maxWait + maxD)
	checks, peak := counter.checks.Load(), counter.peak.Load()
	t.Logf("%d checks, peak %d; clients saw %d failed, %d refused", checks, peak, res.failed, res.refused)
	// The first burst is at most the pool; then slots at most maxWait
	// ahead, maxWait/base of them at lower delays while the count climbs,
	// then one per max delay (auth's TestThrottleGateParallelGuessing has
	// the reasoning); the probes above took a few slots. Each connection
	// on its own would make hundreds.
	if limit := int64(conc + maxWait/base + (run+maxWait)/maxD + 2); checks > limit {
		t.Errorf("%d password checks from one address in %v, want at most %d", checks, run, limit)
	}
	if peak > conc {
		t.Errorf("%d checks ran at once, want at most %d", peak, conc)
	}
	if res.refused == 0 || res.failed == 0 {
		t.Errorf("clients saw %d failed and %d refused, want both", res.failed, res.refused)
	}
}
