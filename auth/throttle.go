package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// ThrottleOptions configure a Throttle. Zero fields take the defaults.
type ThrottleOptions struct {
	// Base is the delay after a first failure from an address; each further
	// failure doubles it. Default 1s.
	Base time.Duration
	// Max caps the delay. Default 16s.
	Max time.Duration
	// Window is how long an address's failures are remembered after its
	// last one; after a quiet Window it starts again at Base. Default 15m.
	Window time.Duration
	// MaxAddrs bounds the number of addresses remembered; when full, the
	// forgotten and then the oldest are dropped. Default 65536.
	MaxAddrs int
	// Logger receives a line per failed login; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() then; nil
	// means a timer. Tests pass a recorder so that they need not wait.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Throttle wraps an Authenticator: it delays and logs every failed login,
// with a delay that grows with the failures from the same address.
//
// The answer to a failed login goes out Delay after the attempt started,
// however long the backend took, so the timing of a failure says nothing
// about why it failed. Success is answered at once and does not clear the
// address's count: an attacker holding one valid account cannot use it to
// reset the delay for guessing others.
//
// Addresses are counted by IPv4 address and by IPv6 /64, the block one
// client usually holds. Logins without an address (stdin, a pipe) share
// one count. Backend trouble (ErrUnavailable) is logged but neither counted
// nor delayed: it is not the client's doing.
type Throttle struct {
	// auth is the backend.
	auth Authenticator
	// opts are the options with defaults filled in.
	opts ThrottleOptions

	// mu guards failures; it is never held while sleeping or in auth.
	mu sync.Mutex
	// failures is the recent failure count per address block.
	failures map[netip.Prefix]*failureCount
}

// failureCount is one address block's recent failures.
type failureCount struct {
	// n is the number of failures since the count last started.
	n int
	// last is the time of the latest failure.
	last time.Time
}

// NewThrottle wraps a with the given options.
func NewThrottle(a Authenticator, opts ThrottleOptions) *Throttle {
	if opts.Base <= 0 {
		opts.Base = time.Second
	}
	if opts.Max <= 0 {
		opts.Max = 16 * time.Second
	}
	opts.Max = max(opts.Max, opts.Base)
	if opts.Window <= 0 {
		opts.Window = 15 * time.Minute
	}
	if opts.MaxAddrs <= 0 {
		opts.MaxAddrs = 65536
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	return &Throttle{auth: a, opts: opts, failures: make(map[netip.Prefix]*failureCount)}
}

// Authenticate asks the backend and, on failure, logs the attempt and waits
// out the address's delay before returning. If ctx ends during the wait it
// returns at once, with an error that matches both the failure and
// ctx.Err(). The password is never logged.
func (t *Throttle) Authenticate(ctx context.Context, remote netip.Addr, username, password string) (Identity, error) {
	start := t.opts.Now()
	id, err := t.auth.Authenticate(ctx, username, password)
	if err == nil {
		return id, nil
	}
	log := t.opts.Logger.With("remote", addrString(remote), "user", logUsername(username))
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		log.Info("login abandoned", "err", err)
		return Identity{}, err
	}
	if !errors.Is(err, ErrFailed) {
		log.Error("login not checked: authentication backend unavailable", "err", err)
		if !errors.Is(err, ErrUnavailable) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return Identity{}, err
	}

	n, delay := t.fail(remote, start)
	log.Warn("login failed", "reason", err.Error(), "failures", n, "delay", delay)
	if wait := delay - t.opts.Now().Sub(start); wait > 0 {
		if serr := t.opts.Sleep(ctx, wait); serr != nil {
			return Identity{}, fmt.Errorf("%w (delay cut short: %w)", err, serr)
		}
	}
	return Identity{}, err
}

// fail counts a failure from remote at now and returns the count and delay.
func (t *Throttle) fail(remote netip.Addr, now time.Time) (int, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := blockOf(remote)
	c := t.failures[key]
	if c != nil && now.Sub(c.last) >= t.opts.Window {
		c.n = 0
	}
	if c == nil {
		if len(t.failures) >= t.opts.MaxAddrs {
			t.pruneLocked(now)
		}
		c = &failureCount{}
		t.failures[key] = c
	}
	c.n++
	c.last = now
	return c.n, t.delayFor(c.n)
}

// delayFor is Base doubled for each failure after the first, capped at Max.
func (t *Throttle) delayFor(n int) time.Duration {
	d := t.opts.Base
	for i := 1; i < n && d < t.opts.Max; i++ {
		d *= 2
	}
	return min(d, t.opts.Max)
}

// pruneLocked makes room in a full table: it drops the counts whose Window
// has passed and, if none has, the one with the oldest failure.
func (t *Throttle) pruneLocked(now time.Time) {
	var oldest netip.Prefix
	var oldestAt time.Time
	for k, c := range t.failures {
		if now.Sub(c.last) >= t.opts.Window {
			delete(t.failures, k)
			continue
		}
		if oldestAt.IsZero() || c.last.Before(oldestAt) {
			oldest, oldestAt = k, c.last
		}
	}
	if len(t.failures) >= t.opts.MaxAddrs {
		delete(t.failures, oldest)
	}
}

// AddrBlock is the address block one client is counted by: an IPv4
// address, an IPv6 /64; the zero Prefix for an invalid address.
func AddrBlock(a netip.Addr) netip.Prefix { return blockOf(a) }

// blockOf is the address block failures are counted by.
func blockOf(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}

// logUsername bounds what a client can put in the log; slog quotes the rest.
func logUsername(u string) string {
	if len(u) > MaxUsernameLen {
		return u[:MaxUsernameLen] + "..."
	}
	return u
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
