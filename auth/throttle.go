package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
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
	// MaxWait bounds how long an attempt from an address with recent
	// failures may wait for the address's next slot; one that would wait
	// longer is refused unchecked (ErrThrottled). Default 2×Max.
	MaxWait time.Duration
	// Concurrency bounds the password checks (the backend's Authenticate:
	// bcrypt, SHA-crypt, PAM) that run at once, so logins never take more
	// than that many CPUs. Default half the CPUs, at least 1.
	Concurrency int
	// MaxAddrs bounds the number of addresses remembered; when full, the
	// forgotten and then the oldest are dropped. Default 65536.
	MaxAddrs int
	// State, if not nil, holds the per-address counts for all the
	// processes that open it, instead of this process's memory: for a
	// process that serves one connection. See ThrottleState.
	State *ThrottleState
	// Logger receives a line per failed login; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() then; nil
	// means a timer. Tests pass a recorder so that they need not wait.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Throttle wraps an Authenticator: it spaces out, delays and logs failed
// logins, per address and across all of the address's connections, and
// bounds the password checks that run at once.
//
// The gate: once an address has failed, its attempts take turns. Each
// waits for the address's next slot before its password is checked, and
// the slots are a delay apart, the delay doubling with the failures (Base
// to Max). However many connections an address opens, it gets about one
// check per current delay; an attempt that would wait more than MaxWait is
// refused at once, unchecked, with ErrThrottled. Slots handed out while
// the count was low keep their shorter spacing, so a burst from an address
// gets at most about MaxWait/Base checks before the spacing reaches Max
// (with the defaults, 32 in the first half-minute, then one per 16s, until
// the address is quiet for a Window). Attempts from an address
// with no recent failure pass the gate without waiting, so a user who
// types the right password is never delayed. A burst of parallel attempts
// from a fresh address is checked at most Concurrency at a time, and once
// one of them fails the rest must take slots too.
//
// The answer to a failed check goes out the delay after the check started,
// however long the backend took, so the timing of a failure says nothing
// about why it failed; it is also the time the address's next slot opens,
// so one connection guessing in turn sees no extra wait from the gate. A
// success is answered at once and does not clear the address's count: an
// attacker holding one valid account cannot use it to reset the delay for
// guessing others.
//
// Addresses are counted by IPv4 address and by IPv6 /64, the block one
// client usually holds. Logins without an address (stdin, a pipe) share
// one count. Backend trouble (ErrUnavailable) is logged but neither counted
// nor delayed: it is not the client's doing. If ctx ends while an attempt
// waits (for its slot, for a check to run, or after a failure), it returns
// at once.
//
// The trade-off: the count belongs to the address, not to the user, so a
// legitimate user behind the same address as an attacker (a NAT, a shared
// proxy, a campus) waits for the same slots and, while the attacker keeps
// the queue full, is refused with ErrThrottled until the attacker stops
// and the queue drains (at most MaxWait). Counting per user as well would
// not help: the attacker chooses the usernames. The user keeps the answer
// "too many failed logins from your address", not "wrong password", and
// the attacker keeps about one guess per Max delay.
//
// The state shared by all attempts is one addrTable (addrstate.go), in
// memory or, with State, in a file shared by processes; the hashing pool
// is per Throttle, hence per process.
type Throttle struct {
	// auth is the backend.
	auth Authenticator
	// opts are the options with defaults filled in.
	opts ThrottleOptions
	// table is the per-address failure counts and gates.
	table *addrTable
	// pool holds a token per password check running, opts.Concurrency
	// in all, served round-robin by address block (fairpool.go).
	pool *fairPool
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
	if opts.MaxWait <= 0 {
		opts.MaxWait = 2 * opts.Max
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = max(1, runtime.NumCPU()/2)
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
	table := newAddrTable(opts.Base, opts.Max, opts.Window, opts.MaxWait, opts.MaxAddrs)
	table.now = opts.Now
	if opts.State != nil {
		table.file = opts.State
		log := opts.Logger
		table.onError = func(err error) {
			log.Error("failed-login counts not shared with other processes", "err", err)
		}
	}
	return &Throttle{auth: a, opts: opts, table: table, pool: newFairPool(opts.Concurrency)}
}

// CloseState closes the State file, if any: a process calls it when its
// connection has logged in and it has no more passwords to check, before
// it runs the session, which then cannot touch the counts. Further
// attempts would count in this process's memory.
func (t *Throttle) CloseState() error { return t.table.closeFile() }

// Authenticate waits for the address's turn and a free place in the
// hashing pool, asks the backend and, on failure, logs the attempt and
// waits out the address's delay before returning. An attempt the gate
// refuses returns ErrThrottled without asking the backend. If ctx ends
// during a wait it returns at once: before the check with ctx.Err(),
// after a failure with an error that matches both the failure and
// ctx.Err(). The password is never logged.
func (t *Throttle) Authenticate(ctx context.Context, remote netip.Addr, username, password string) (Identity, error) {
	if q, ok := t.auth.(QuickChecker); ok {
		// A pair verified within the cache's TTL: no hashing, no
		// queue. Only the exact right password gets here, so the gate,
		// which is there to slow guessing, has nothing to slow.
		if id, ok := q.QuickCheck(username, password); ok {
			return id, nil
		}
	}
	log := t.opts.Logger.With("remote", addrString(remote), "user", logUsername(username))
	p := pass{key: blockOf(remote)}
	if err := t.enter(ctx, &p); err != nil {
		t.table.done(&p)
		if errors.Is(err, ErrThrottled) {
			// Counted, and reported with the address's next failure.
			log.Debug("login refused unchecked", "err", err)
		} else {
			log.Info("login abandoned", "err", err)
		}
		return Identity{}, err
	}
	if q, ok := t.auth.(QuickChecker); ok {
		// The same pair may have been verified while this login waited
		// for a worker (a phone's connections, all at once after a
		// network blip): the cache has it now, and no hashing is due.
		if id, ok := q.QuickCheck(username, password); ok {
			t.pool.release()
			t.table.done(&p)
			return id, nil
		}
	}
	start := t.opts.Now()
	id, err := t.auth.Authenticate(ctx, username, password)
	if err == nil || !errors.Is(err, ErrFailed) {
		t.pool.release()
		t.table.done(&p)
	}
	if err == nil {
		return id, nil
	}
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

	// Counted before the pool's token goes back, so that an attempt from
	// the same address that takes the token sees the failure.
	n, delay, refused := t.table.fail(&p, start)
	t.pool.release()
	attrs := []any{"reason", err.Error(), "failures", n, "delay", delay}
	if refused > 0 {
		attrs = append(attrs, "refused", refused)
	}
	log.Warn("login failed", attrs...)
	if wait := delay - t.opts.Now().Sub(start); wait > 0 {
		if serr := t.opts.Sleep(ctx, wait); serr != nil {
			return Identity{}, fmt.Errorf("%w (delay cut short: %w)", err, serr)
		}
	}
	return Identity{}, err
}

// enter takes p through the gate and into the hashing pool: on success the
// caller holds a token of t.pool. An attempt that entered the pool without
// a slot, from an address that failed while it waited for the token, gives
// the token back and takes a slot first: a burst of parallel attempts from
// a fresh address is gated as soon as one of them fails.
func (t *Throttle) enter(ctx context.Context, p *pass) error {
	for {
		wait, err := t.table.admit(p, t.opts.Now())
		if err != nil {
			return err
		}
		if wait > 0 {
			if err := t.opts.Sleep(ctx, wait); err != nil {
				return err
			}
		}
		if err := t.pool.acquire(ctx, p.key); err != nil {
			return err
		}
		if p.slotted() || !t.table.gated(p.key, t.opts.Now()) {
			return nil
		}
		t.pool.release()
	}
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
