package auth

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingAuth counts the checks that reach its backend, when each
// started and for whom, and the most that ran at once; each check also
// takes hold.
type countingAuth struct {
	Authenticator
	hold time.Duration

	mu            sync.Mutex
	started       []time.Time
	users         []string
	running, peak int
}

func (c *countingAuth) Authenticate(ctx context.Context, user, pw string) (Identity, error) {
	c.mu.Lock()
	c.started = append(c.started, time.Now())
	c.users = append(c.users, user)
	c.running++
	c.peak = max(c.peak, c.running)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
	}()
	if c.hold > 0 {
		time.Sleep(c.hold)
	}
	return c.Authenticator.Authenticate(ctx, user, pw)
}

// checksIn counts the checks for user that started in [from, to).
func (c *countingAuth) checksIn(user string, from, to time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for i, s := range c.started {
		if c.users[i] == user && !s.Before(from) && s.Before(to) {
			n++
		}
	}
	return n
}

func (c *countingAuth) stats() (checks, peak int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.started), c.peak
}

// 50 connections from one address guessing in parallel get about one
// check per current delay between them, not one each; another address
// is not held up.
func TestThrottleGateParallelGuessing(t *testing.T) {
	const (
		base    = 40 * time.Millisecond
		maxD    = 160 * time.Millisecond
		maxWait = 2 * maxD
		conc    = 2
		run     = 1600 * time.Millisecond
	)
	b := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "right"), "bob@example.org:"+cheapBcrypt(t, "right"))
	ca := &countingAuth{Authenticator: b.Htpasswd}
	th := NewThrottle(ca, ThrottleOptions{Base: base, Max: maxD, Concurrency: conc, Logger: discard()})
	attacker := netip.MustParseAddr("192.0.2.66")

	start := time.Now()
	deadline := start.Add(run)
	var failed, refused atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				_, err := th.Authenticate(context.Background(), attacker, "alice@example.org", "guess")
				switch {
				case errors.Is(err, ErrFailed):
					failed.Add(1)
				case errors.Is(err, ErrThrottled):
					refused.Add(1)
					time.Sleep(maxD / 2) // as a reconnecting client would
				default:
					t.Errorf("attacker's attempt: %v", err)
					return
				}
			}
		})
	}

	// Meanwhile, another address logs in: it has no gate, so no slot to
	// wait for (its time depends only on the pool and on how busy the
	// machine is), and its wrong password is checked, not refused, and
	// counted on its own.
	time.Sleep(run / 2)
	other := netip.MustParseAddr("198.51.100.1")
	if th.table.gated(blockOf(other), time.Now()) {
		t.Error("another address is gated")
	}
	t0 := time.Now()
	if _, err := th.Authenticate(context.Background(), other, "bob@example.org", "right"); err != nil {
		t.Errorf("another address's good login: %v", err)
	}
	t.Logf("another address's good login took %v", time.Since(t0))
	if _, err := th.Authenticate(context.Background(), other, "bob@example.org", "typo"); !errors.Is(err, ErrFailed) {
		t.Errorf("another address's wrong password: %v, want ErrFailed", err)
	}
	if st := th.table.addrs[blockOf(other)]; st == nil || st.n != 1 {
		t.Errorf("another address's count: %+v, want 1", st)
	}
	wg.Wait()

	checks, peak := ca.stats()
	checks -= 2 // the other address's
	// The first checks run before any has failed: at most the pool's
	// size start before the first failure gates the rest.
	if n := ca.checksIn("alice@example.org", start, start.Add(base/2)); n > conc {
		t.Errorf("%d checks in the first %v, want at most %d (the pool)", n, base/2, conc)
	}
	// Then slots are handed out at most maxWait ahead, at the delay of
	// their time: at worst maxWait/base slots at the base delay while the
	// count climbs, then one per max delay, until maxWait after the last
	// attempt began. (A check starts at its slot or
	// later, when the pool and the scheduler let it: a busy machine bunches
	// checks, it does not add any.) Without the gate each of the 50 would
	// check once per its own delay: hundreds.
	limit := conc + int(maxWait/base) + int((run+maxWait)/maxD) + 2
	if checks > limit {
		t.Errorf("%d checks in %v from one address, want at most %d", checks, run, limit)
	}
	// Once the delay is at its cap and the slots handed out at lower
	// delays are used up, about one check per max delay (give or take the
	// pool's size, for checks a busy machine started late).
	from := start.Add(run / 2)
	if n, want := ca.checksIn("alice@example.org", from, deadline), int(deadline.Sub(from)/maxD)+conc+1; n > want {
		t.Errorf("%d checks in the last %v, want at most %d", n, deadline.Sub(from), want)
	}
	if peak > conc {
		t.Errorf("%d checks ran at once, want at most %d", peak, conc)
	}
	if refused.Load() == 0 {
		t.Error("no attempt was refused: the queue is not bounded")
	}
	if int64(checks) != failed.Load() {
		t.Errorf("%d checks but %d failures answered", checks, failed.Load())
	}
	t.Logf("%d checks, %d failed, %d refused in %v", checks, failed.Load(), refused.Load(), run)
}

// The hashing pool never runs more than Concurrency checks at once, even
// from many addresses, and uses all of it.
func TestThrottleHashPool(t *testing.T) {
	b := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "right"))
	ca := &countingAuth{Authenticator: b.Htpasswd, hold: 10 * time.Millisecond}
	th := NewThrottle(ca, ThrottleOptions{Base: time.Millisecond, Concurrency: 3, Logger: discard()})
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
			pw := "right"
			if i%2 == 0 {
				pw = "wrong"
			}
			_, _ = th.Authenticate(context.Background(), addr, "alice@example.org", pw)
		})
	}
	wg.Wait()
	checks, peak := ca.stats()
	if checks != 30 || peak != 3 {
		t.Fatalf("%d checks, at most %d at once; want 30 and 3", checks, peak)
	}
}

// blockingAuth holds every check until release is closed.
type blockingAuth struct {
	entered chan struct{}
	release chan struct{}
}

func (a blockingAuth) Authenticate(ctx context.Context, _, _ string) (Identity, error) {
	a.entered <- struct{}{}
	<-a.release
	return Identity{Username: "alice"}, nil
}

// A cancelled context frees an attempt waiting for the hashing pool at
// once, without a check or a count.
func TestThrottlePoolWaitCancelled(t *testing.T) {
	a := blockingAuth{entered: make(chan struct{}, 2), release: make(chan struct{})}
	th := NewThrottle(a, ThrottleOptions{Concurrency: 1, Logger: discard()})
	addr := netip.MustParseAddr("192.0.2.30")
	first := make(chan error, 1)
	go func() {
		_, err := th.Authenticate(context.Background(), addr, "alice", "pw")
		first <- err
	}()
	<-a.entered // the first holds the only place

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := th.Authenticate(ctx, netip.MustParseAddr("198.51.100.30"), "alice", "pw")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrFailed) {
		t.Fatalf("cancelled wait for the pool: %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("the cancelled wait took %v", el)
	}
	close(a.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if len(a.entered) != 0 {
		t.Fatal("the cancelled attempt reached the backend")
	}
	if len(th.table.addrs) != 0 {
		t.Fatal("a cancelled attempt was counted")
	}
}

// An attempt whose slot would be more than MaxWait away is refused at
// once, unchecked and uncounted; the refusals are reported on the
// address's next failure line, not one line each.
func TestThrottleRefusesBeyondMaxWait(t *testing.T) {
	r := newThrottleRig(t, stubAuth{}, ThrottleOptions{Base: time.Second, Max: 4 * time.Second, MaxWait: 8 * time.Second})
	addr := netip.MustParseAddr("192.0.2.40")
	for range 3 {
		r.fail(t, addr.String()) // delay now 4s
	}
	// Attempts queued on other connections hold the next slots: now, +4s,
	// +8s; the next would be +12s.
	var held []*pass
	for i := range 3 {
		p := &pass{key: blockOf(addr)}
		if _, err := r.table.admit(p, r.clock.Now()); err != nil {
			t.Fatalf("queued attempt %d: %v", i, err)
		}
		held = append(held, p)
	}
	for range 2 {
		_, err := r.Authenticate(context.Background(), addr, "alice", "right")
		if !errors.Is(err, ErrThrottled) || errors.Is(err, ErrFailed) {
			t.Fatalf("attempt beyond MaxWait: %v, want ErrThrottled", err)
		}
	}
	if w := r.sleep.take(); len(w) != 0 {
		t.Fatalf("a refused attempt waited %v", w)
	}
	st := r.table.addrs[blockOf(addr)]
	if st.n != 3 || st.queued != 3 {
		t.Fatalf("after refusals: %+v, want 3 failures and 3 queued", st)
	}
	for _, p := range slices.Backward(held) {
		r.table.done(p)
	}
	// The queue drained (the held slots were given back, as successes do):
	// the next attempt is checked, and its failure line counts the refusals.
	if d := r.fail(t, addr.String()); d != 4*time.Second {
		t.Fatalf("after the queue drained: %v", d)
	}
	if logs := r.log.String(); !strings.Contains(logs, "refused=2") {
		t.Errorf("the refusals are not reported:\n%s", logs)
	}
}

// One client guessing in turn waits only its delays, as before the gate:
// its answer comes when the address's next slot opens.
func TestThrottleSequentialClientSeesNoGateWait(t *testing.T) {
	r := newThrottleRig(t, stubAuth{work: 50 * time.Millisecond}, ThrottleOptions{})
	var got []time.Duration
	for range 4 {
		got = append(got, r.fail(t, "192.0.2.50"))
	}
	ms := time.Millisecond
	want := []time.Duration{950 * ms, 1950 * ms, 3950 * ms, 7950 * ms}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v (the delays less the backend's time, and no wait for a slot)", got, want)
		}
	}
}
