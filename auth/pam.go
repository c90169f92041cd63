//go:build cgo && linux

package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/msteinert/pam/v2"
)

// PAMBuiltIn reports whether this binary can authenticate against PAM.
const PAMBuiltIn = true

// PAM authenticates system users through the PAM stack of a service
// (contrib/pam.d/imapd: pam_unix for auth and account) and finds them in the
// passwd database.
//
// A login is one PAM transaction: pam_start, pam_authenticate, then
// pam_acct_mgmt, so that a locked account (its hash starts with '!'), an
// expired account (shadow's expiry date, chage -E) and an expired password
// that must be changed (chage -d 0) are all refused, then pam_end. No
// session is opened and no credentials are set: the daemon switches to the
// user's uid, gid and groups itself. Both calls pass PAM_SILENT and
// PAM_DISALLOW_NULL_AUTHTOK, so an account with an empty password cannot
// log in.
//
// The conversation answers every PAM_PROMPT_ECHO_OFF prompt with the
// password and refuses any other prompt (a username prompt, a binary
// prompt), so a stack that needs more than a password (a one-time code) is
// reported as ErrUnavailable, not silently failed. Informational and error
// messages from modules are logged at debug level. The password is never
// logged and never put in an error.
//
// Privileges: pam_unix reads /etc/shadow itself only when running as root;
// otherwise it asks its setgid helper unix_chkpwd, which checks only the
// password of the user that runs it. So the process that authenticates
// must keep root (NewPAM logs a warning when it has not).
//
// Concurrency: every login has its own transaction (a PAM handle is never
// shared between goroutines) and the goroutine is locked to its OS thread
// for the whole transaction, since modules may keep per-thread state. Some
// modules are not thread-safe even across handles, so at most
// PAMOptions.Concurrency transactions (default 1) run at once; a login
// waiting for its turn gives up when its context ends. pam_unix delays every
// failure by about two seconds unless given "nodelay"; with a serialised
// backend that delay would hold up every other login, and failures are
// already delayed, per client address, by Throttle, so contrib/pam.d/imapd
// uses nodelay.
//
// Errors: a wrong password, an unknown user, a locked, expired or refused
// account, a password that must be changed, and a uid below MinUID give
// ErrFailed; a PAM error that is not about the user (a missing module, a
// broken stack, a prompt we cannot answer, a user PAM accepts that the
// passwd database does not know) gives ErrUnavailable. Both wrap the PAM
// status (a pam.Error) for the log.
type PAM struct {
	// service is the PAM service name.
	service string
	// mail is the checked mail location template (usually %h/Maildir).
	mail location
	// minUID is the lowest uid allowed to log in (and at least 1).
	minUID int
	// slots holds one token per transaction running; its capacity is the
	// concurrency bound.
	slots chan struct{}
	// cache remembers successful logins when PAMOptions.CacheResults is
	// set; nil otherwise.
	cache *loginCache
	// log receives start-up warnings and PAM's messages; never a password.
	log *slog.Logger
}

// NewPAM checks the options and returns a PAM backend. It logs a warning,
// but does not fail, when the process is not root (pam_unix could then
// check no other user's password) or when the service has no file in
// /etc/pam.d (PAM would then use its "other" service).
func NewPAM(opts PAMOptions) (*PAM, error) {
	opts, loc, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &PAM{
		service: opts.Service,
		mail:    loc,
		minUID:  max(opts.MinUID, 1),
		slots:   make(chan struct{}, opts.Concurrency),
		log:     opts.Logger,
	}
	if opts.CacheResults {
		p.cache = newLoginCache(opts.Cache, nil)
	}
	if os.Geteuid() != 0 {
		p.log.Warn("pam: not running as root; pam_unix can then verify no other user's password",
			"service", p.service)
	}
	if !pamServiceExists(p.service) {
		p.log.Warn("pam: no service file; PAM falls back to its \"other\" service (install contrib/pam.d/imapd)",
			"service", p.service, "path", filepath.Join("/etc/pam.d", p.service))
	}
	return p, nil
}

// pamServiceExists reports whether Linux-PAM will find a file for service,
// in /etc/pam.d or in the distribution's directory.
func pamServiceExists(service string) bool {
	for _, dir := range []string{"/etc/pam.d", "/usr/lib/pam.d", "/lib/pam.d"} {
		if _, err := os.Stat(filepath.Join(dir, service)); err == nil {
			return true
		}
	}
	// Without /etc/pam.d, Linux-PAM reads the single file /etc/pam.conf.
	if _, err := os.Stat("/etc/pam.d"); errors.Is(err, os.ErrNotExist) {
		_, err := os.Stat("/etc/pam.conf")
		return err == nil
	}
	return false
}

// Authenticate checks username and password with PAM (authentication and
// account management) and returns the user's Identity from the passwd
// database, with System set: the session must run as the user.
func (p *PAM) Authenticate(ctx context.Context, username, password string) (Identity, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, err
	}
	if err := ValidUsername(username); err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	pamUser, err := p.transaction(ctx, username, password)
	if err != nil {
		return Identity{}, err
	}
	id, err := p.identity(username, pamUser)
	if err == nil {
		p.cache.put("", username, password, id)
	}
	return id, err
}

// QuickCheck confirms, without a PAM transaction, a pair that
// Authenticate accepted within the cache's TTL (QuickChecker); never
// when PAMOptions.CacheResults is off.
func (p *PAM) QuickCheck(username, password string) (Identity, bool) {
	return p.cache.get("", username, password)
}

// Flush forgets every cached login: what SIGHUP does, so that an
// account locked or a password changed counts at once.
func (p *PAM) Flush() error {
	p.cache.purge()
	return nil
}

// transaction runs one PAM transaction for username and returns the name
// PAM ended with (a module may map the login name to another account). It
// waits for a free slot first, or until ctx ends; once started, a
// transaction runs to its end (a PAM call cannot be interrupted).
func (p *PAM) transaction(ctx context.Context, username, password string) (string, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-p.slots }()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	conv := &pamConversation{password: password, log: p.log, username: username}
	tx, err := pam.Start(p.service, username, conv)
	if err != nil {
		return "", fmt.Errorf("%w: pam_start(%q): %w", ErrUnavailable, p.service, err)
	}
	defer func() {
		if err := tx.End(); err != nil {
			p.log.Debug("pam: pam_end", "err", err)
		}
	}()

	const flags = pam.Silent | pam.DisallowNullAuthtok
	if err := tx.Authenticate(flags); err != nil {
		return "", conv.classify("pam_authenticate", err)
	}
	if err := tx.AcctMgmt(flags); err != nil {
		return "", conv.classify("pam_acct_mgmt", err)
	}
	name, err := tx.GetItem(pam.User)
	if err != nil || name == "" {
		name = username
	}
	return name, nil
}

// identity builds the Identity of the account PAM accepted. PAM knowing a
// user that the passwd database does not (a PAM module with no NSS
// counterpart) is a misconfiguration, not a failed login.
func (p *PAM) identity(given, pamUser string) (Identity, error) {
	id, err := systemIdentity(p.mail, given, pamUser, p.minUID)
	if errors.Is(err, errNoSystemUser) {
		return Identity{}, fmt.Errorf("%w: PAM accepted a user the passwd database does not know", ErrUnavailable)
	}
	return id, err
}

// pamConversation answers PAM's prompts for one transaction.
type pamConversation struct {
	// password answers PAM_PROMPT_ECHO_OFF; never logged.
	password string
	// username is for the log lines of module messages.
	username string
	// log receives module messages at debug level.
	log *slog.Logger
	// refused is the style of the first prompt refused, or 0.
	refused pam.Style
}

// RespondPAM implements pam.ConversationHandler. It runs on the thread of
// the transaction, inside the PAM call, so it needs no lock.
func (c *pamConversation) RespondPAM(style pam.Style, msg string) (string, error) {
	switch style {
	case pam.PromptEchoOff:
		return c.password, nil
	case pam.TextInfo, pam.ErrorMsg:
		c.log.Debug("pam: module message", "user", logUsername(c.username), "msg", msg)
		return "", nil
	default:
		if c.refused == 0 {
			c.refused = style
		}
		return "", fmt.Errorf("pam: prompt style %d refused", style)
	}
}

// classify turns a PAM status from stage into ErrFailed or ErrUnavailable.
func (c *pamConversation) classify(stage string, err error) error {
	if c.refused != 0 {
		return fmt.Errorf("%w: %s: the PAM stack asked for more than a password (prompt style %d): %w",
			ErrUnavailable, stage, c.refused, err)
	}
	var status pam.Error
	if !errors.As(err, &status) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, stage, err)
	}
	switch status {
	case pam.ErrAuth, pam.ErrUserUnknown, pam.ErrMaxtries, pam.ErrPermDenied,
		pam.ErrAcctExpired, pam.ErrNewAuthtokReqd, pam.ErrAuthtokExpired, pam.ErrCredExpired:
		return fmt.Errorf("%w: %s: %w", ErrFailed, stage, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, stage, err)
}
