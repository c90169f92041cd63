package imapd

import (
	"bufio"
	"context"
	"fmt"
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
// guessing again, as a brute-force client must.
func guess(addr string, conns int, d time.Duration) guessResult {
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
// check: IMAPD_MEASURE_GUESSING=300 (connections) runs it.
func TestMeasureGuessing(t *testing.T) {
	var conns int
	if _, err := fmt.Sscan(os.Getenv("IMAPD_MEASURE_GUESSING"), &conns); err != nil || conns <= 0 {
		t.Skip("IMAPD_MEASURE_GUESSING=<connections> runs it")
	}
	const d = 30 * time.Second
	ts, counter := guessingServer(t, bcrypt.DefaultCost, nil)
	start := time.Now()
	res := guess(ts.addr, conns, d)
	el := time.Since(start)
	t.Logf("%d connections for %v: %d checks (%.1f/s), peak %d at once; client saw %d failed, %d refused",
		conns, el.Round(time.Second), counter.checks.Load(), float64(counter.checks.Load())/el.Seconds(),
		counter.peak.Load(), res.failed, res.refused)
}
