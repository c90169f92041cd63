package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// setPassword gives user a new password in the backend's file, as
// imapctl user passwd does, and steps past the reload check.
func (b *backend) setPassword(t *testing.T, user, password string) {
	t.Helper()
	if err := Update(b.path, func(f *File) error {
		f.BcryptCost = bcrypt.MinCost
		return f.Set(user, password)
	}); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(reloadCheckInterval)
}

// wantCached fails unless QuickCheck's answer for the pair is want.
func (b *backend) wantCached(t *testing.T, user, password string, want bool) {
	t.Helper()
	id, ok := b.QuickCheck(user, password)
	switch {
	case ok != want:
		t.Fatalf("QuickCheck(%q, %q) = %v, want %v", user, password, ok, want)
	case ok && id.Username != user:
		t.Fatalf("QuickCheck(%q) gave the identity of %q", user, id.Username)
	}
}

func (b *backend) mustLogin(t *testing.T, user, password string) {
	t.Helper()
	if _, err := b.login(user, password); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
}

// Only the exact pair that was verified is confirmed: not a wrong
// password after the right one, not another user's password, not a
// failure. Through the Throttle, every one of those is a failed login.
func TestCacheOnlyTheVerifiedPair(t *testing.T) {
	b := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "a-pw"), "bob@example.org:"+cheapBcrypt(t, "b-pw"))
	r := newThrottleRig(t, b.Htpasswd, ThrottleOptions{})
	ctx := context.Background()
	addr := netip.MustParseAddr("192.0.2.1")
	b.wantCached(t, "alice@example.org", "a-pw", false)
	for _, pair := range [][2]string{{"alice@example.org", "a-pw"}, {"bob@example.org", "b-pw"}} {
		if _, err := r.Authenticate(ctx, addr, pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
	}
	b.wantCached(t, "alice@example.org", "a-pw", true)
	b.wantCached(t, "bob@example.org", "b-pw", true)
	for _, pair := range [][2]string{
		{"alice@example.org", "wrong"},
		{"alice@example.org", "a-pw "},
		{"alice@example.org", "a-p"},
		{"alice@example.org", "b-pw"}, // bob's password
		{"bob@example.org", "a-pw"},   // alice's
		{"carol@example.org", "a-pw"}, // no such user
	} {
		b.wantCached(t, pair[0], pair[1], false)
		if _, err := r.Authenticate(ctx, addr, pair[0], pair[1]); !errors.Is(err, ErrFailed) {
			t.Fatalf("%q: err = %v, want ErrFailed", pair, err)
		}
		// A failure is not remembered either.
		b.wantCached(t, pair[0], pair[1], false)
	}
	if n := b.cache.count(); n != 2 {
		t.Fatalf("%d logins cached, want 2", n)
	}
}

// A changed line for the user (a new password, a new hash of the same
// password, the user removed) ends the use of the user's cached login
// at the next reload check; lines of other users changing do not.
func TestCacheUserLineChanged(t *testing.T) {
	b := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "old"), "bob@example.org:"+cheapBcrypt(t, "b-pw"))
	b.mustLogin(t, "alice@example.org", "old")
	b.mustLogin(t, "bob@example.org", "b-pw")

	b.setPassword(t, "alice@example.org", "new")
	b.wantCached(t, "alice@example.org", "old", false)
	if _, err := b.login("alice@example.org", "old"); !errors.Is(err, ErrFailed) {
		t.Fatalf("the old password after the change: err = %v, want ErrFailed", err)
	}
	b.wantCached(t, "bob@example.org", "b-pw", true) // bob's line is the same
	b.mustLogin(t, "alice@example.org", "new")
	b.wantCached(t, "alice@example.org", "new", true)

	// The same password hashed again (a new salt) is a new line: checked
	// again, and accepted.
	b.setPassword(t, "alice@example.org", "new")
	b.wantCached(t, "alice@example.org", "new", false)
	b.mustLogin(t, "alice@example.org", "new")

	// Another user added: alice's login stays cached.
	b.setPassword(t, "carol@example.org", "c-pw")
	b.wantCached(t, "alice@example.org", "new", true)

	// Alice removed, then back with a line of the same password: the
	// entry made under her old line serves neither.
	if err := Update(b.path, func(f *File) error { f.Delete("alice@example.org"); return nil }); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(reloadCheckInterval)
	b.wantCached(t, "alice@example.org", "new", false)
	b.setPassword(t, "alice@example.org", "new")
	b.wantCached(t, "alice@example.org", "new", false)
}

// A cached login lasts the TTL from its check; a hit does not extend it.
func TestCacheExpires(t *testing.T) {
	const ttl = 10 * time.Minute
	b := newCachedBackend(t, CacheOptions{TTL: ttl}, "alice@example.org:"+cheapBcrypt(t, "a-pw"))
	b.mustLogin(t, "alice@example.org", "a-pw")
	b.clock.Advance(ttl / 2)
	b.wantCached(t, "alice@example.org", "a-pw", true)
	b.clock.Advance(ttl/2 - time.Second)
	b.wantCached(t, "alice@example.org", "a-pw", true)
	b.clock.Advance(time.Second)
	b.wantCached(t, "alice@example.org", "a-pw", false)
	if n := b.cache.count(); n != 0 {
		t.Fatalf("an expired login is still held (%d)", n)
	}
	b.mustLogin(t, "alice@example.org", "a-pw")
	b.wantCached(t, "alice@example.org", "a-pw", true)

	// The default TTL is an hour.
	d := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "a-pw"))
	d.mustLogin(t, "alice@example.org", "a-pw")
	d.clock.Advance(DefaultCacheTTL - time.Second)
	d.wantCached(t, "alice@example.org", "a-pw", true)
	d.clock.Advance(time.Second)
	d.wantCached(t, "alice@example.org", "a-pw", false)
}

// The cache holds at most Size logins, dropping the least recently used.
func TestCacheBounded(t *testing.T) {
	var lines []string
	for i := range 5 {
		lines = append(lines, fmt.Sprintf("u%d@example.org:%s", i, cheapBcrypt(t, fmt.Sprint("pw", i))))
	}
	b := newCachedBackend(t, CacheOptions{Size: 3}, lines...)
	login := func(i int) { b.mustLogin(t, fmt.Sprint("u", i, "@example.org"), fmt.Sprint("pw", i)) }
	cached := func(i int, want bool) { b.wantCached(t, fmt.Sprint("u", i, "@example.org"), fmt.Sprint("pw", i), want) }
	login(0)
	login(1)
	login(2)
	cached(0, true) // u0 used: u1 is now the least recent
	login(3)
	cached(1, false)
	cached(0, true)
	cached(2, true)
	cached(3, true)
	login(4) // drops u0, the least recent after the checks above
	cached(0, false)
	if n := b.cache.count(); n != 3 {
		t.Fatalf("%d logins cached, want 3", n)
	}
}

// A negative TTL or Size turns the cache off; Reload (SIGHUP) flushes it.
func TestCacheOffAndFlush(t *testing.T) {
	line := "alice@example.org:" + cheapBcrypt(t, "a-pw")
	for _, o := range []CacheOptions{{TTL: -1}, {Size: -1}} {
		b := newCachedBackend(t, o, line)
		b.mustLogin(t, "alice@example.org", "a-pw")
		b.wantCached(t, "alice@example.org", "a-pw", false)
	}
	b := newBackend(t, line)
	b.mustLogin(t, "alice@example.org", "a-pw")
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	b.wantCached(t, "alice@example.org", "a-pw", false)
}

// A cached login does not wait for the hashing pool: with every worker
// busy (a storm of logins not in the cache), it is answered at once,
// while one that needs a check waits its turn.
func TestCacheHitSkipsHashPool(t *testing.T) {
	b := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "a-pw"), "bob@example.org:"+cheapBcrypt(t, "b-pw"))
	th := NewThrottle(b.Htpasswd, ThrottleOptions{Concurrency: 1, Logger: discard()})
	addr := netip.MustParseAddr("192.0.2.1")
	ctx := context.Background()
	if _, err := th.Authenticate(ctx, addr, "alice@example.org", "a-pw"); err != nil {
		t.Fatal(err)
	}
	if err := th.pool.acquire(ctx, blockOf(addr)); err != nil {
		t.Fatal(err)
	}
	defer th.pool.release()
	// Were the cached login to wait for the pool, it would wait out
	// the timeout too.
	long, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := th.Authenticate(long, addr, "alice@example.org", "a-pw"); err != nil {
		t.Fatalf("cached login with the pool busy: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := th.Authenticate(short, addr, "bob@example.org", "b-pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("uncached login with the pool busy: err = %v, want it to wait", err)
	}
}

// countingHtpasswd counts the checks that reach an htpasswd backend with
// a login cache.
type countingHtpasswd struct {
	*Htpasswd
	checks atomic.Int32
}

func (c *countingHtpasswd) Authenticate(ctx context.Context, username, password string) (Identity, error) {
	c.checks.Add(1)
	return c.Htpasswd.Authenticate(ctx, username, password)
}

// Logins of one pair that queue for the hashing pool together cost one
// check: those behind the first find its result in the cache.
func TestCacheCollapsesQueuedLogins(t *testing.T) {
	b := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "a-pw"))
	ca := &countingHtpasswd{Htpasswd: b.Htpasswd}
	th := NewThrottle(ca, ThrottleOptions{Concurrency: 1, Logger: discard()})
	ctx := context.Background()
	if err := th.pool.acquire(ctx, blockOf(netip.MustParseAddr("192.0.2.99"))); err != nil {
		t.Fatal(err)
	}
	const logins = 5
	errs := make(chan error, logins)
	for i := range logins {
		go func() {
			addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i)})
			_, err := th.Authenticate(ctx, addr, "alice@example.org", "a-pw")
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them queue (those that do not find the cache anyway)
	th.pool.release()
	for range logins {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := ca.checks.Load(); n != 1 {
		t.Fatalf("%d logins of one pair at once reached the backend %d times, want once", logins, n)
	}
	if _, err := th.Authenticate(ctx, netip.MustParseAddr("192.0.2.1"), "alice@example.org", "wrong"); err == nil {
		t.Fatal("a wrong password was accepted")
	}
}

// BenchmarkLogin is a login through the Throttle over htpasswd at the
// default bcrypt cost: answered from the cache (serially and from
// parallel clients), and checked with the cache off, for comparison.
func BenchmarkLogin(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("a-pw"), DefaultBcryptCost)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, cache CacheOptions, parallel bool) {
		path := b.TempDir() + "/htpasswd"
		if err := os.WriteFile(path, []byte("alice@example.org:"+string(hash)+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		h, err := NewHtpasswd(HtpasswdOptions{Path: path, MailLocation: "/m/%u", Cache: cache, Logger: discard()})
		if err != nil {
			b.Fatal(err)
		}
		th := NewThrottle(h, ThrottleOptions{Logger: discard()})
		addr := netip.MustParseAddr("192.0.2.1")
		login := func() {
			if _, err := th.Authenticate(context.Background(), addr, "alice@example.org", "a-pw"); err != nil {
				b.Fatal(err)
			}
		}
		login()
		b.ResetTimer()
		if !parallel {
			for range b.N {
				login()
			}
			return
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				login()
			}
		})
	}
	b.Run("CacheHit", func(b *testing.B) { run(b, CacheOptions{}, false) })
	b.Run("CacheHitParallel", func(b *testing.B) { run(b, CacheOptions{}, true) })
	b.Run("NoCache", func(b *testing.B) { run(b, CacheOptions{TTL: -1}, false) })
}
