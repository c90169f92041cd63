package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"imapd/internal/atomicfile"
)

// logBuffer collects log output; safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// cheapBcrypt is a bcrypt hash at the lowest cost, so that the file's
// equalising dummy is cheap too.
func cheapBcrypt(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := atomicfile.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
}

type backend struct {
	*Htpasswd
	path  string
	log   *logBuffer
	clock *fakeClock
}

func newBackend(t *testing.T, lines ...string) *backend {
	t.Helper()
	return newCachedBackend(t, CacheOptions{}, lines...)
}

// newCachedBackend is newBackend with the given login cache options.
func newCachedBackend(t *testing.T, cache CacheOptions, lines ...string) *backend {
	t.Helper()
	b := &backend{path: filepath.Join(t.TempDir(), "htpasswd"), log: &logBuffer{}, clock: newFakeClock()}
	writeLines(t, b.path, lines...)
	h, err := NewHtpasswd(HtpasswdOptions{
		Path:         b.path,
		MailLocation: "/var/vmail/%d/%n/Maildir",
		UID:          5000,
		GID:          8,
		Logger:       b.log.logger(),
		Cache:        cache,
		Now:          b.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Htpasswd = h
	return b
}

func (b *backend) login(user, pw string) (Identity, error) {
	return b.Authenticate(context.Background(), user, pw)
}

func TestHtpasswdEveryFormat(t *testing.T) {
	const pw = "Tr0ub4dor&3"
	var lines []string
	users := make(map[string]string)
	for format, hash := range generated(t, pw) {
		u := format + "@example.org"
		users[u] = format
		lines = append(lines, u+":"+hash)
	}
	for i, ka := range knownAnswers {
		u := fmt.Sprintf("vector%d@example.org", i)
		lines = append(lines, u+":"+ka.hash)
		defer func() { users[u] = ka.source }()
	}
	b := newBackend(t, lines...)

	for u, format := range users {
		if _, err := b.login(u, pw); err != nil {
			t.Errorf("%s (%s): %v", u, format, err)
		}
		if _, err := b.login(u, pw+"x"); !errors.Is(err, ErrFailed) {
			t.Errorf("%s (%s) with a wrong password: %v, want ErrFailed", u, format, err)
		}
	}
	for i, ka := range knownAnswers {
		u := fmt.Sprintf("vector%d@example.org", i)
		id, err := b.login(u, ka.password)
		if err != nil {
			t.Errorf("%s (%s): %v", u, ka.source, err)
			continue
		}
		want := Identity{Username: u, Maildir: fmt.Sprintf("/var/vmail/example.org/vector%d/Maildir", i), UID: 5000, GID: 8}
		if fmt.Sprint(id) != fmt.Sprint(want) {
			t.Errorf("identity %+v, want %+v", id, want)
		}
	}
}

func TestHtpasswdFailures(t *testing.T) {
	b := newBackend(t,
		"alice@example.org:"+cheapBcrypt(t, "right"),
		"nodomain:"+cheapBcrypt(t, "right"),
	)
	for _, tc := range []struct{ user, pw, reason string }{
		{"alice@example.org", "pw-Wr0ng", "wrong password"},
		{"alice@example.org", "", "wrong password"},
		{"bob@example.org", "right", "unknown user"},
		{"ALICE@example.org", "right", "unknown user"},
		{"nodomain", "right", "refused"}, // %d cannot be filled in
		{"", "right", "invalid username"},
		{"../alice@example.org", "right", "invalid username"},
		{"alice@example.org\x00", "right", "invalid username"},
	} {
		_, err := b.login(tc.user, tc.pw)
		if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("login(%q, %q) = %v, want ErrFailed for %q", tc.user, tc.pw, err, tc.reason)
		}
		if err != nil && tc.pw != "" && strings.Contains(err.Error(), tc.pw) {
			t.Errorf("error %q holds the password", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Authenticate(ctx, "alice@example.org", "right"); !errors.Is(err, context.Canceled) {
		t.Errorf("with a cancelled context: %v", err)
	}
}

// Lines that are not a recognised hash are refused and logged once per load
// with their line number, and never with the hash.
func TestHtpasswdRefusesPlaintext(t *testing.T) {
	b := newBackend(t,
		"# a comment: with a colon",
		"",
		"alice@example.org:"+cheapBcrypt(t, "right"),
		"carol@example.org:secret",
		"dave@example.org:{PLAIN}secret",
		"erin@example.org:rqXexS6ZhobKA",
		"frank@example.org:$6$rounds=10$x$pwhashpwhash",
		".evil@example.org:secret",
		"no colon at all",
		"alice@example.org:"+cheapBcrypt(t, "second"),
	)
	for _, u := range []string{"carol@example.org", "dave@example.org"} {
		if _, err := b.login(u, "secret"); !errors.Is(err, ErrFailed) {
			t.Errorf("%s logged in with a plaintext line: %v", u, err)
		}
	}
	if _, err := b.login("erin@example.org", "myPassword"); !errors.Is(err, ErrFailed) {
		t.Errorf("DES crypt line accepted: %v", err)
	}
	if _, err := b.login("alice@example.org", "second"); !errors.Is(err, ErrFailed) {
		t.Errorf("the second line for a user was used: %v", err)
	}
	if _, err := b.login("alice@example.org", "right"); err != nil {
		t.Errorf("the first line for a user: %v", err)
	}

	logs := b.log.String()
	for _, want := range []string{
		"line=4 reason=\"unrecognised", "user=carol@example.org",
		"line=5 ", "line=6 ", "line=7 reason=\"malformed",
		"line=8 reason=\"invalid username",
		"line=9 reason=\"no ':'\"",
		"line=10 reason=\"duplicate user",
		"users=1 refused_lines=7",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{"secret", "rqXexS6ZhobKA", "pwhash", "$2a$", ".evil", "no colon"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q:\n%s", secret, logs)
		}
	}
	if n := strings.Count(logs, "line=4 "); n != 1 {
		t.Errorf("line 4 logged %d times, want once", n)
	}
}

func TestHtpasswdReloadsOnChange(t *testing.T) {
	b := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "a"))
	if _, err := b.login("alice@example.org", "a"); err != nil {
		t.Fatal(err)
	}

	// A new file renamed into place (new inode), as imapctl writes it.
	if err := Update(b.path, func(f *File) error {
		f.BcryptCost = bcrypt.MinCost
		return f.Set("bob@example.org", "b")
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.login("bob@example.org", "b"); !errors.Is(err, ErrFailed) {
		t.Fatalf("the file was read again within a second: %v", err)
	}
	b.clock.Advance(reloadCheckInterval)
	if _, err := b.login("bob@example.org", "b"); err != nil {
		t.Fatalf("after the change and a second: %v", err)
	}

	// Rewritten in place (same inode), as an editor may do.
	if err := os.WriteFile(b.path, []byte("bob@example.org:"+cheapBcrypt(t, "b2")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(reloadCheckInterval)
	if _, err := b.login("bob@example.org", "b2"); err != nil {
		t.Fatalf("after an in-place rewrite: %v", err)
	}
	if _, err := b.login("alice@example.org", "a"); !errors.Is(err, ErrFailed) {
		t.Fatalf("a removed user still logs in: %v", err)
	}

	// A file that goes away: the last good version stays, the error is
	// logged once, and Reload reports it.
	if err := os.Remove(b.path); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b.clock.Advance(reloadCheckInterval)
		if _, err := b.login("bob@example.org", "b2"); err != nil {
			t.Fatalf("with the file gone: %v", err)
		}
	}
	if n := strings.Count(b.log.String(), "cannot reload"); n != 1 {
		t.Errorf("a missing file was reported %d times, want once", n)
	}
	if err := b.Reload(); err == nil {
		t.Error("Reload of a missing file succeeded")
	}
	writeLines(t, b.path, "carol@example.org:"+cheapBcrypt(t, "c"))
	b.clock.Advance(reloadCheckInterval)
	if _, err := b.login("carol@example.org", "c"); err != nil {
		t.Fatalf("after the file came back: %v", err)
	}
}

// Logins running while the file is rewritten see the old or the new file.
func TestHtpasswdConcurrentReload(t *testing.T) {
	b := newBackend(t, "alice@example.org:"+cheapBcrypt(t, "a"))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				b.clock.Advance(reloadCheckInterval)
				if _, err := b.login("alice@example.org", "a"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 20 {
		writeLines(t, b.path, "alice@example.org:"+cheapBcrypt(t, "a"), fmt.Sprintf("u%d@example.org:%s", i, cheapBcrypt(t, "x")))
	}
	wg.Wait()
}

// An unknown user costs a bcrypt comparison at the file's bcrypt cost, as a
// wrong password does.
func TestHtpasswdUnknownUserTiming(t *testing.T) {
	const cost = 8
	h, err := bcrypt.GenerateFromPassword([]byte("right"), cost)
	if err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, "alice@example.org:"+string(h), "sha@example.org:{SHA}VBPuJHI7uixaa6LQGWx4s+5GKNE=")
	if c, err := bcrypt.Cost(b.table.Load().dummy); err != nil || c != cost {
		t.Fatalf("dummy cost %d (%v), want the file's %d", c, err, cost)
	}
	fastest := func(user string) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			if _, err := b.login(user, "wrong"); !errors.Is(err, ErrFailed) {
				t.Fatal(err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	wrong, unknown, invalid := fastest("alice@example.org"), fastest("nobody@example.org"), fastest(".bad")
	if unknown < wrong/2 || invalid < wrong/2 {
		t.Errorf("wrong password %v, unknown user %v, invalid name %v: not equalised", wrong, unknown, invalid)
	}
}

func TestNewHtpasswdChecksOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeLines(t, path, "alice:"+cheapBcrypt(t, "a"))
	for _, opts := range []HtpasswdOptions{
		{Path: path},
		{Path: path, MailLocation: "relative/%u"},
		{Path: path, MailLocation: "%h/Maildir"}, // %h without a Home template
		{Path: path, MailLocation: "%h/Maildir", Home: "%h/x"},
		{Path: filepath.Join(t.TempDir(), "missing"), MailLocation: "/m/%u"},
		{MailLocation: "/m/%u"},
	} {
		if _, err := NewHtpasswd(opts); err == nil {
			t.Errorf("NewHtpasswd(%+v) succeeded", opts)
		}
	}

	h, err := NewHtpasswd(HtpasswdOptions{Path: path, Home: "/home/vmail/%u", MailLocation: "%h/Maildir", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.Authenticate(context.Background(), "alice", "a")
	if err != nil {
		t.Fatal(err)
	}
	if id.Home != "/home/vmail/alice" || id.Maildir != "/home/vmail/alice/Maildir" || id.System {
		t.Errorf("identity %+v", id)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
