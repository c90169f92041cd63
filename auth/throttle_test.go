package auth

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// stubAuth accepts alice/right, reports the backend down for user "down",
// fails with a bare error for "broken", and otherwise fails; each call
// advances the clock by work.
type stubAuth struct {
	clock *fakeClock
	work  time.Duration
}

func (s stubAuth) Authenticate(ctx context.Context, user, pw string) (Identity, error) {
	if s.clock != nil {
		s.clock.Advance(s.work)
	}
	switch {
	case user == "down":
		return Identity{}, ErrUnavailable
	case user == "broken":
		return Identity{}, errors.New("socket gone")
	case user == "alice" && pw == "right":
		return Identity{Username: user}, nil
	}
	return Identity{}, ErrFailed
}

// sleepRecorder records the waits asked for, moves its clock (if any) on
// by each, and honours a done context.
type sleepRecorder struct {
	clock *fakeClock
	mu    sync.Mutex
	waits []time.Duration
}

func (r *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.clock != nil {
		r.clock.Advance(d)
	}
	return nil
}

func (r *sleepRecorder) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.waits
	r.waits = nil
	return w
}

type throttleRig struct {
	*Throttle
	clock *fakeClock
	sleep *sleepRecorder
	log   *logBuffer
}

func newThrottleRig(t *testing.T, a Authenticator, opts ThrottleOptions) *throttleRig {
	t.Helper()
	clock := newFakeClock()
	r := &throttleRig{clock: clock, sleep: &sleepRecorder{clock: clock}, log: &logBuffer{}}
	if s, ok := a.(stubAuth); ok {
		s.clock = r.clock
		a = s
	}
	opts.Now, opts.Sleep, opts.Logger = r.clock.Now, r.sleep.Sleep, r.log.logger()
	r.Throttle = NewThrottle(a, opts)
	return r
}

func (r *throttleRig) fail(t *testing.T, remote string) time.Duration {
	t.Helper()
	_, err := r.Authenticate(context.Background(), netip.MustParseAddr(remote), "mallory", "guess")
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Authenticate: %v, want ErrFailed", err)
	}
	w := r.sleep.take()
	if len(w) != 1 {
		t.Fatalf("slept %v, want one wait", w)
	}
	return w[0]
}

func TestThrottleDelaysGrowAndCap(t *testing.T) {
	r := newThrottleRig(t, stubAuth{}, ThrottleOptions{})
	var got []time.Duration
	for range 7 {
		got = append(got, r.fail(t, "192.0.2.1"))
	}
	s := time.Second
	if want := []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 16 * s, 16 * s}; !slices.Equal(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
	// Another address starts afresh; an IPv4-mapped IPv6 address is the same
	// address; one IPv6 /64 is one client.
	if d := r.fail(t, "192.0.2.2"); d != s {
		t.Errorf("another address: %v", d)
	}
	if d := r.fail(t, "::ffff:192.0.2.2"); d != 2*s {
		t.Errorf("mapped address: %v", d)
	}
	r.fail(t, "2001:db8::1")
	if d := r.fail(t, "2001:db8::ffff:2"); d != 2*s {
		t.Errorf("same /64: %v", d)
	}
	if d := r.fail(t, "2001:db8:0:1::1"); d != s {
		t.Errorf("another /64: %v", d)
	}
}

func TestThrottleDecays(t *testing.T) {
	r := newThrottleRig(t, stubAuth{}, ThrottleOptions{Base: 100 * time.Millisecond, Max: time.Second, Window: time.Minute})
	for range 3 {
		r.fail(t, "198.51.100.7")
	}
	r.clock.Advance(59 * time.Second)
	if d := r.fail(t, "198.51.100.7"); d != 800*time.Millisecond {
		t.Fatalf("within the window: %v, want 800ms", d)
	}
	r.clock.Advance(time.Minute)
	if d := r.fail(t, "198.51.100.7"); d != 100*time.Millisecond {
		t.Fatalf("after a quiet window: %v, want the base 100ms", d)
	}
}

func TestThrottleSuccess(t *testing.T) {
	r := newThrottleRig(t, stubAuth{}, ThrottleOptions{})
	r.fail(t, "192.0.2.9")
	r.fail(t, "192.0.2.9")
	id, err := r.Authenticate(context.Background(), netip.MustParseAddr("192.0.2.9"), "alice", "right")
	if err != nil || id.Username != "alice" {
		t.Fatalf("good login: %+v, %v", id, err)
	}
	if w := r.sleep.take(); len(w) != 0 {
		t.Fatalf("a good login waited %v", w)
	}
	if d := r.fail(t, "192.0.2.9"); d != 4*time.Second {
		t.Fatalf("a success reset the count: next delay %v, want 4s", d)
	}
}

func TestThrottleUnavailableIsNotCounted(t *testing.T) {
	r := newThrottleRig(t, stubAuth{}, ThrottleOptions{})
	for _, user := range []string{"down", "broken"} {
		_, err := r.Authenticate(context.Background(), netip.MustParseAddr("192.0.2.3"), user, "pw")
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrFailed) {
			t.Errorf("%s: %v, want ErrUnavailable", user, err)
		}
	}
	if w := r.sleep.take(); len(w) != 0 {
		t.Fatalf("backend trouble was delayed: %v", w)
	}
	if d := r.fail(t, "192.0.2.3"); d != time.Second {
		t.Fatalf("backend trouble was counted: %v", d)
	}
	if !strings.Contains(r.log.String(), "socket gone") {
		t.Errorf("the backend error is not logged:\n%s", r.log.String())
	}
}

// The answer to a failure comes the same delay after the attempt began,
// however long the backend took.
func TestThrottleEqualisesBackendTime(t *testing.T) {
	r := newThrottleRig(t, stubAuth{work: 300 * time.Millisecond}, ThrottleOptions{})
	if d := r.fail(t, "192.0.2.4"); d != 700*time.Millisecond {
		t.Fatalf("waited %v after 300ms of backend work, want 700ms", d)
	}
	slow := newThrottleRig(t, stubAuth{work: 3 * time.Second}, ThrottleOptions{})
	_, err := slow.Authenticate(context.Background(), netip.MustParseAddr("192.0.2.4"), "x", "y")
	if !errors.Is(err, ErrFailed) {
		t.Fatal(err)
	}
	if w := slow.sleep.take(); len(w) != 0 {
		t.Fatalf("a backend slower than the delay still waited %v", w)
	}
}

func TestThrottleLogs(t *testing.T) {
	r := newThrottleRig(t, stubAuth{}, ThrottleOptions{})
	_, _ = r.Authenticate(context.Background(), netip.MustParseAddr("203.0.113.5"), "mallory", "hunter2-secret")
	_, _ = r.Authenticate(context.Background(), netip.Addr{}, strings.Repeat("u", 1000), "hunter2-secret")
	logs := r.log.String()
	for _, want := range []string{"login failed", "remote=203.0.113.5", "user=mallory", "reason=\"authentication failed\"", "failures=1", "delay=1s", "remote=unknown"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "hunter2") {
		t.Errorf("the password was logged:\n%s", logs)
	}
	if strings.Contains(logs, strings.Repeat("u", MaxUsernameLen+1)) {
		t.Error("an overlong username was logged whole")
	}
}

func TestThrottleBoundsAddresses(t *testing.T) {
	r := newThrottleRig(t, stubAuth{}, ThrottleOptions{MaxAddrs: 2})
	r.fail(t, "192.0.2.1")
	r.clock.Advance(time.Second)
	r.fail(t, "192.0.2.2")
	r.clock.Advance(time.Second)
	r.fail(t, "192.0.2.3") // drops 192.0.2.1, the oldest
	if n := len(r.table.addrs); n != 2 {
		t.Fatalf("%d addresses remembered, want 2", n)
	}
	if d := r.fail(t, "192.0.2.2"); d != 2*time.Second {
		t.Fatalf("a recent address was dropped: %v", d)
	}
	if d := r.fail(t, "192.0.2.1"); d != time.Second {
		t.Fatalf("the oldest address was kept: %v", d)
	}
}

func TestThrottleConcurrentFailures(t *testing.T) {
	r := newThrottleRig(t, stubAuth{}, ThrottleOptions{Base: time.Millisecond, Max: time.Hour})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := r.Authenticate(context.Background(), netip.MustParseAddr("192.0.2.8"), "x", "y")
			if !errors.Is(err, ErrFailed) {
				t.Errorf("Authenticate: %v, want ErrFailed", err)
			}
		})
	}
	wg.Wait()
	if c := r.table.addrs[blockOf(netip.MustParseAddr("192.0.2.8"))]; c == nil || c.n != 20 || c.queued != 0 {
		t.Fatalf("count %+v, want 20 failures and none queued", c)
	}
}

// The real clock and timer: a failure waits, and a cancelled context ends
// the wait at once, in the gate or after a failure.
func TestThrottleRealSleep(t *testing.T) {
	th := NewThrottle(stubAuth{}, ThrottleOptions{Base: 50 * time.Millisecond, Max: 10 * time.Second, Logger: discard()})
	addr := netip.MustParseAddr("192.0.2.10")
	start := time.Now()
	if _, err := th.Authenticate(context.Background(), addr, "x", "y"); !errors.Is(err, ErrFailed) {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Fatalf("a failure returned after %v, before its 50ms delay", el)
	}

	// Push the delay up to the 10s cap, then cancel while the next attempt
	// waits for its slot: it returns unchecked and uncounted.
	for range 8 {
		th.table.fail(&pass{key: blockOf(addr)}, time.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	_, err := th.Authenticate(ctx, addr, "x", "y")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrFailed) {
		t.Fatalf("cancelled wait for a slot: %v, want context.Canceled alone", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a cancelled wait took %v", el)
	}
	if c := th.table.addrs[blockOf(addr)]; c.n != 9 || c.queued != 0 {
		t.Fatalf("after a cancelled wait: %+v, want 9 failures, none queued", c)
	}

	// A fresh address with a 10s delay: cancel during the delay after the
	// failure.
	th = NewThrottle(stubAuth{}, ThrottleOptions{Base: 10 * time.Second, Logger: discard()})
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	_, err = th.Authenticate(ctx, addr, "x", "y")
	if !errors.Is(err, ErrFailed) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled delay: %v, want ErrFailed and context.Canceled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a cancelled delay took %v", el)
	}

	// A context already done before the check: no count, no wait.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	h := NewThrottle(ctxAuth{}, ThrottleOptions{Base: time.Hour, Logger: discard()})
	if _, err := h.Authenticate(ctx, addr, "x", "y"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrFailed) {
		t.Fatalf("abandoned login: %v", err)
	}
	if len(h.table.addrs) != 0 {
		t.Fatal("an abandoned login was counted")
	}
}

// ctxAuth fails only with its context's error, as a backend that was
// interrupted does.
type ctxAuth struct{}

func (ctxAuth) Authenticate(ctx context.Context, _, _ string) (Identity, error) {
	return Identity{}, ctx.Err()
}

// The whole chain: Throttle over Htpasswd logs why a login failed.
func TestThrottleOverHtpasswd(t *testing.T) {
	b := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "right"))
	r := newThrottleRig(t, b.Htpasswd, ThrottleOptions{})
	ctx := context.Background()
	addr := netip.MustParseAddr("192.0.2.20")
	if _, err := r.Authenticate(ctx, addr, "alice@example.org", "right"); err != nil {
		t.Fatal(err)
	}
	_, _ = r.Authenticate(ctx, addr, "alice@example.org", "pw-Wr0ng")
	_, _ = r.Authenticate(ctx, addr, "bob@example.org", "pw-Wr0ng")
	logs := r.log.String()
	for _, want := range []string{"reason=\"authentication failed: wrong password\"", "reason=\"authentication failed: unknown user\"", "failures=2"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "pw-Wr0ng") {
		t.Error("a password was logged")
	}
}
