//go:build cgo && linux

package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msteinert/pam/v2"
)

// The PAM tests need root and the shadow tools: they create real system
// users and a PAM service file, the setting the backend runs in.

// pamTestServicePrefix starts the name of the PAM service each test writes
// to /etc/pam.d; a random suffix keeps test binaries of other packages,
// running at the same time, out of each other's way.
const pamTestServicePrefix = "imapd-test-"

// pamTestStack is the test service: the stack of contrib/pam.d/imapd.
const pamTestStack = `# written by imapd's auth tests; removed when they end
auth    required pam_unix.so nodelay
account required pam_unix.so
`

// pamRig is a PAM service file and a set of system users, all removed at
// the end of the test.
type pamRig struct {
	t *testing.T
	// suffix makes the names of this run's service, users and group
	// unique.
	suffix string
	// service is the PAM service name; its file is servicePath.
	service, servicePath string
}

// newPAMRig skips the test unless it runs as root with the shadow tools,
// and writes the test service file.
func newPAMRig(t *testing.T) *pamRig {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("PAM tests need root: they create system users and a service in /etc/pam.d (CI runs as root)")
	}
	for _, tool := range []string{"useradd", "userdel", "usermod", "chpasswd", "chage", "groupadd", "groupdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("PAM tests need %s (Debian package passwd): %v", tool, err)
		}
	}
	if _, err := os.Stat("/etc/pam.d"); err != nil {
		t.Skipf("PAM tests need /etc/pam.d: %v", err)
	}
	b := make([]byte, 3)
	rand.Read(b)
	r := &pamRig{t: t, suffix: hex.EncodeToString(b)}
	r.service = pamTestServicePrefix + r.suffix
	r.servicePath = filepath.Join("/etc/pam.d", r.service)
	r.writeService(pamTestStack)
	t.Cleanup(func() { os.Remove(r.servicePath) })
	return r
}

// writeService replaces the test service's PAM stack.
func (r *pamRig) writeService(stack string) {
	r.t.Helper()
	if err := os.WriteFile(r.servicePath, []byte(stack), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// run runs a command, failing the test with its output on error.
func (r *pamRig) run(stdin string, name string, args ...string) {
	r.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// group creates a group and returns its name.
func (r *pamRig) group(base string) string {
	r.t.Helper()
	name := "it" + base + r.suffix
	r.run("", "groupadd", name)
	r.t.Cleanup(func() { exec.Command("groupdel", name).Run() })
	return name
}

// user creates a system user with a home directory and password, in the
// given supplementary groups, and returns its name. The user and its home
// are removed at cleanup (registered after any group's, so it runs first).
func (r *pamRig) user(base, password string, groups ...string) string {
	r.t.Helper()
	name := "it" + base + r.suffix
	args := []string{"-m", "-s", "/bin/sh"}
	if len(groups) > 0 {
		args = append(args, "-G", strings.Join(groups, ","))
	}
	r.run("", "useradd", append(args, name)...)
	r.t.Cleanup(func() {
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			r.t.Logf("userdel -r %s: %v\n%s", name, err, out)
		}
	})
	r.run(name+":"+password+"\n", "chpasswd")
	return name
}

// backend returns a PAM backend on the test service.
func (r *pamRig) backend(opts PAMOptions) *PAM {
	r.t.Helper()
	opts.Service = r.service
	if opts.Logger == nil {
		opts.Logger = discard()
	}
	p, err := NewPAM(opts)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// wantFailed checks that err is ErrFailed (not ErrUnavailable) wrapping the
// PAM status want (if not nil).
func wantFailed(t *testing.T, what string, err error, want error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: logged in", what)
	case !errors.Is(err, ErrFailed) || errors.Is(err, ErrUnavailable):
		t.Errorf("%s: err = %v, want ErrFailed only", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: err = %v, want it to wrap %v", what, err, want)
	}
}

func TestPAM(t *testing.T) {
	r := newPAMRig(t)
	grp := r.group("g")
	alice := r.user("a", "alice secret ü")
	bob := r.user("b", "bob:pw", grp)
	locked := r.user("l", "locked-pw")
	expired := r.user("e", "expired-pw")
	mustChange := r.user("c", "change-pw")
	r.run("", "usermod", "-L", locked)
	r.run("", "chage", "-E", "0", expired)
	r.run("", "chage", "-d", "0", mustChange)

	p := r.backend(PAMOptions{})
	ctx := context.Background()

	t.Run("success", func(t *testing.T) {
		id, err := p.Authenticate(ctx, alice, "alice secret ü")
		if err != nil {
			t.Fatal(err)
		}
		wantIdentity(t, id, alice, "")
		id, err = p.Authenticate(ctx, bob, "bob:pw")
		if err != nil {
			t.Fatal(err)
		}
		wantIdentity(t, id, bob, "")
		g, err := user.LookupGroup(grp)
		if err != nil {
			t.Fatal(err)
		}
		if gid, _ := strconv.Atoi(g.Gid); !slices.Contains(id.Groups, gid) {
			t.Errorf("bob's groups %v lack the supplementary group %s (%d)", id.Groups, grp, gid)
		}
	})

	t.Run("refused", func(t *testing.T) {
		_, err := p.Authenticate(ctx, alice, "bob:pw")
		wantFailed(t, "wrong password", err, pam.ErrAuth)
		_, err = p.Authenticate(ctx, alice, "")
		wantFailed(t, "empty password", err, nil)
		_, err = p.Authenticate(ctx, "itnosuchuser"+r.suffix, "alice secret ü")
		wantFailed(t, "unknown user", err, pam.ErrUserUnknown)
		_, err = p.Authenticate(ctx, "../"+alice, "alice secret ü")
		wantFailed(t, "invalid name", err, ErrInvalidUsername)
		// usermod -L puts '!' before the hash: pam_authenticate fails.
		_, err = p.Authenticate(ctx, locked, "locked-pw")
		wantFailed(t, "locked account", err, pam.ErrAuth)
		// chage -E 0: the password is right, pam_acct_mgmt refuses.
		_, err = p.Authenticate(ctx, expired, "expired-pw")
		wantFailed(t, "expired account", err, pam.ErrAcctExpired)
		// chage -d 0: the password must be changed first, which IMAP cannot.
		_, err = p.Authenticate(ctx, mustChange, "change-pw")
		wantFailed(t, "password to change", err, pam.ErrNewAuthtokReqd)
		_, err = p.Authenticate(ctx, "root", "whatever")
		wantFailed(t, "root, wrong password", err, nil)
	})

	t.Run("min uid", func(t *testing.T) {
		q := r.backend(PAMOptions{MinUID: 1 << 30})
		_, err := q.Authenticate(ctx, alice, "alice secret ü")
		wantFailed(t, "uid below MinUID", err, nil)
		if err != nil && !strings.Contains(err.Error(), "uid") {
			t.Errorf("err = %v, want the uid named", err)
		}
	})

	t.Run("mail location", func(t *testing.T) {
		q := r.backend(PAMOptions{MailLocation: "/var/mail/%u/Maildir"})
		id, err := q.Authenticate(ctx, alice, "alice secret ü")
		if err != nil {
			t.Fatal(err)
		}
		wantIdentity(t, id, alice, "/var/mail/"+alice+"/Maildir")
		q = r.backend(PAMOptions{MailLocation: "%h/Mail/box"})
		id, err = q.Authenticate(ctx, alice, "alice secret ü")
		if err != nil {
			t.Fatal(err)
		}
		wantIdentity(t, id, alice, filepath.Join(id.Home, "Mail/box"))
	})

	t.Run("concurrent", func(t *testing.T) {
		q := r.backend(PAMOptions{Concurrency: 4})
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				for _, b := range []*PAM{p, q} {
					user, pw := alice, "alice secret ü"
					if i%2 == 1 {
						user, pw = bob, "bob:pw"
					}
					if i%3 == 0 {
						pw += "x"
					}
					id, err := b.Authenticate(ctx, user, pw)
					switch {
					case i%3 == 0:
						wantFailed(t, "concurrent wrong password", err, pam.ErrAuth)
					case err != nil:
						t.Errorf("concurrent login %s: %v", user, err)
					case id.Username != user:
						t.Errorf("concurrent login %s: got identity of %s", user, id.Username)
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := p.Authenticate(cctx, alice, "alice secret ü"); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: err = %v", err)
		}
		// A login waiting for the one slot gives up when its context ends.
		p.slots <- struct{}{}
		cctx, cancel = context.WithCancel(ctx)
		done := make(chan error)
		go func() {
			_, err := p.Authenticate(cctx, alice, "alice secret ü")
			done <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled while waiting: err = %v", err)
		}
		<-p.slots
	})
}

// TestPAMUnavailable: a stack that cannot run is ErrUnavailable, not a
// failed login.
func TestPAMUnavailable(t *testing.T) {
	r := newPAMRig(t)
	alice := r.user("u", "pw")
	r.writeService("auth required pam_imapd_no_such_module.so\naccount required pam_unix.so\n")
	p := r.backend(PAMOptions{})
	_, err := p.Authenticate(context.Background(), alice, "pw")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrFailed) {
		t.Errorf("missing module: err = %v, want ErrUnavailable", err)
	}

}

// TestPAMConversation: only the password prompt is answered; any other
// prompt makes the login ErrUnavailable (the stack wants more than a
// password), whatever status the module then returns.
func TestPAMConversation(t *testing.T) {
	c := &pamConversation{password: "pw", username: "u", log: discard()}
	if got, err := c.RespondPAM(pam.PromptEchoOff, "Password: "); got != "pw" || err != nil {
		t.Errorf("password prompt: %q, %v", got, err)
	}
	if _, err := c.RespondPAM(pam.TextInfo, "hello"); err != nil {
		t.Errorf("info message: %v", err)
	}
	if err := c.classify("pam_authenticate", pam.ErrAuth); !errors.Is(err, ErrFailed) {
		t.Errorf("auth error before any refusal: %v", err)
	}
	for _, style := range []pam.Style{pam.PromptEchoOn, pam.BinaryPrompt} {
		if _, err := c.RespondPAM(style, "Code: "); err == nil {
			t.Errorf("style %d answered", style)
		}
	}
	if err := c.classify("pam_authenticate", pam.ErrAuth); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrFailed) {
		t.Errorf("after a refused prompt: %v", err)
	}
	for status, want := range map[pam.Error]error{
		pam.ErrUserUnknown: ErrFailed, pam.ErrAcctExpired: ErrFailed, pam.ErrPermDenied: ErrFailed,
		pam.ErrNewAuthtokReqd: ErrFailed, pam.ErrOpen: ErrUnavailable, pam.ErrService: ErrUnavailable,
		pam.ErrSystem: ErrUnavailable, pam.ErrAuthinfoUnavail: ErrUnavailable, pam.ErrCredInsufficient: ErrUnavailable,
	} {
		c := &pamConversation{log: discard()}
		if err := c.classify("x", status); !errors.Is(err, want) || !errors.Is(err, status) {
			t.Errorf("%v: %v, want %v", status, err, want)
		}
	}
}

func TestNewPAMChecksOptions(t *testing.T) {
	for _, opts := range []PAMOptions{
		{Service: "../passwd"},
		{MailLocation: "Maildir"},
		{MailLocation: "~/../Maildir"},
		{MailLocation: "/var/mail/%h"},
		{MinUID: -1},
		{Concurrency: -1},
	} {
		opts.Logger = discard()
		if _, err := NewPAM(opts); err == nil {
			t.Errorf("NewPAM(%+v) succeeded", opts)
		}
	}
	p, err := NewPAM(PAMOptions{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if p.service != DefaultPAMService || p.mail.template != "%h/Maildir" || p.minUID != DefaultPAMMinUID || cap(p.slots) != 1 {
		t.Errorf("defaults: %+v", p)
	}
}

// PAM results are cached only when configured: by default a password
// changed (or an account locked) counts at the next login; with
// CacheResults the old password keeps working, from the cache, until the
// TTL runs out or Flush (SIGHUP).
func TestPAMCache(t *testing.T) {
	r := newPAMRig(t)
	alice := r.user("a", "old-pw")
	ctx := context.Background()
	plain := r.backend(PAMOptions{})
	cached := r.backend(PAMOptions{CacheResults: true, Cache: CacheOptions{TTL: time.Hour}})
	for _, p := range []*PAM{plain, cached} {
		if _, err := p.Authenticate(ctx, alice, "old-pw"); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := plain.QuickCheck(alice, "old-pw"); ok {
		t.Fatal("a PAM result was cached without CacheResults")
	}
	if id, ok := cached.QuickCheck(alice, "old-pw"); !ok || id.Username != alice || !id.System {
		t.Fatalf("with CacheResults: %+v %v", id, ok)
	}
	if _, ok := cached.QuickCheck(alice, "old-pw "); ok {
		t.Fatal("a wrong password confirmed")
	}

	r.run(alice+":new-pw\n", "chpasswd")
	_, err := plain.Authenticate(ctx, alice, "old-pw")
	wantFailed(t, "old password, no cache", err, pam.ErrAuth)
	if _, ok := cached.QuickCheck(alice, "old-pw"); !ok {
		t.Fatal("the cached login was dropped by itself; the documented trade-off says it stays until the TTL")
	}
	if err := cached.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, ok := cached.QuickCheck(alice, "old-pw"); ok {
		t.Fatal("confirmed after Flush")
	}
	_, err = cached.Authenticate(ctx, alice, "old-pw")
	wantFailed(t, "old password after Flush", err, pam.ErrAuth)
}
