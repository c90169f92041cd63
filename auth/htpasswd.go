package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	htpasswd "github.com/tg123/go-htpasswd"
	"golang.org/x/crypto/bcrypt"
)

// HtpasswdOptions configure an htpasswd backend.
type HtpasswdOptions struct {
	// Path is the htpasswd file.
	Path string
	// MailLocation is the template for each user's Maildir, for example
	// "/var/vmail/%d/%n/Maildir"; see ExpandMailLocation for the variables.
	MailLocation string
	// Home is an optional template (with %u, %n, %d) for each user's home,
	// which MailLocation may then start with as %h, and which is reported
	// in Identity.Home.
	Home string
	// UID and GID own all virtual users' mail (the daemon runs as them);
	// they are copied into every Identity as they are.
	UID, GID int
	// Logger receives load and reload reports; nil means slog.Default().
	Logger *slog.Logger
	// Cache configures the memory of successful logins (on by default;
	// see CacheOptions and QuickCheck).
	Cache CacheOptions
	// Now is the clock for the once-a-second change check and the
	// cache's TTL; nil means time.Now. Tests use it to step past the
	// interval without sleeping.
	Now func() time.Time
}

// reloadCheckInterval is how often Authenticate looks at the file's stat.
const reloadCheckInterval = time.Second

// Htpasswd authenticates virtual users against an Apache-style htpasswd
// file. It only reads the file; File and Update write it.
type Htpasswd struct {
	// path is the htpasswd file.
	path string
	// mail and home are the checked location templates (home may be zero).
	mail, home location
	// hasHome reports whether a Home template was configured.
	hasHome bool
	// uid and gid are copied into every Identity.
	uid, gid int
	// log gets load reports; never a password or a hash.
	log *slog.Logger
	// now is the clock for the reload check.
	now func() time.Time

	// table is the parsed file, replaced whole on reload; readers never lock.
	table atomic.Pointer[userTable]
	// cache remembers successful logins across reloads, each under the
	// hash of the line it was verified against; nil when off.
	cache *loginCache

	// mu serialises reloads; it guards the fields below.
	mu sync.Mutex
	// lastCheck is when Authenticate last looked at the file's stat.
	lastCheck time.Time
	// lastAutoErr is the last automatic reload failure logged, so a file
	// that stays broken is reported once, not every second.
	lastAutoErr string
	// dummies caches the equalising bcrypt hash by cost.
	dummies map[int][]byte
}

// userTable is one parsed version of the htpasswd file.
type userTable struct {
	// users maps a username to its entry; the first line for a name wins,
	// as with Apache.
	users map[string]userEntry
	// stamp identifies the file version this table was read from.
	stamp fileStamp
	// dummy is a bcrypt hash at the file's highest bcrypt cost, compared
	// against when there is no usable hash.
	dummy []byte
}

// userEntry is one user's usable line.
type userEntry struct {
	// match checks a password; nil for a line whose hash was refused.
	match htpasswd.EncodedPasswd
	// hash is the line's hash as written: the scope of the user's
	// logins in the cache.
	hash string
	// maildir and home are the expanded locations.
	maildir, home string
}

// fileStamp tells one version of a file from another without reading it.
type fileStamp struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func stampOf(fi os.FileInfo) fileStamp {
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), st.Ino
	}
	return s
}

// NewHtpasswd reads the htpasswd file and checks the templates. A missing
// or unreadable file is an error here; later, the last good version is kept.
func NewHtpasswd(opts HtpasswdOptions) (*Htpasswd, error) {
	h := &Htpasswd{
		path:    opts.Path,
		uid:     opts.UID,
		gid:     opts.GID,
		log:     opts.Logger,
		now:     opts.Now,
		dummies: make(map[int][]byte),
	}
	h.cache = newLoginCache(opts.Cache, opts.Now)
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if opts.Path == "" {
		return nil, errors.New("htpasswd: no file given")
	}
	var err error
	if h.mail, err = parseLocation(opts.MailLocation); err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	if opts.Home != "" {
		if h.home, err = parseLocation(opts.Home); err != nil {
			return nil, fmt.Errorf("htpasswd: home: %w", err)
		}
		if h.home.usesHome {
			return nil, fmt.Errorf("htpasswd: home template %q cannot use %%h", opts.Home)
		}
		h.hasHome = true
	} else if h.mail.usesHome {
		return nil, fmt.Errorf("htpasswd: mail location %q uses %%h but no home template is set", opts.MailLocation)
	}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// Authenticate checks username and password against the file, reloading it
// first if it changed (looked at no more than once a second).
//
// Every failure costs at least one bcrypt comparison at the file's highest
// bcrypt cost, so an unknown user cannot be told from a wrong password by
// the time taken (weaker hashes in the file are faster; the Throttle evens
// out what is left).
func (h *Htpasswd) Authenticate(ctx context.Context, username, password string) (Identity, error) {
	if err := ctx.Err(); err != nil {
		return Identity{}, err
	}
	h.maybeReload()
	t := h.table.Load()

	if err := ValidUsername(username); err != nil {
		t.equalise(password)
		return Identity{}, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	e, ok := t.users[username]
	switch {
	case !ok:
		t.equalise(password)
		return Identity{}, fmt.Errorf("%w: unknown user", ErrFailed)
	case e.match == nil:
		t.equalise(password)
		return Identity{}, fmt.Errorf("%w: the user's htpasswd line is refused", ErrFailed)
	case !e.match.MatchesPassword(password):
		return Identity{}, fmt.Errorf("%w: wrong password", ErrFailed)
	}
	id := Identity{
		Username: username,
		Maildir:  e.maildir,
		Home:     e.home,
		UID:      h.uid,
		GID:      h.gid,
	}
	h.cache.put(e.hash, username, password, id)
	return id, nil
}

// QuickCheck confirms, without hashing, a pair that Authenticate
// accepted within the cache's TTL (QuickChecker), as long as the user's
// line still holds the hash it was checked against: a new password, or
// a user removed, is seen within reloadCheckInterval, as by
// Authenticate. Other lines changing leave the user's cached login be.
func (h *Htpasswd) QuickCheck(username, password string) (Identity, bool) {
	h.maybeReload()
	e, ok := h.table.Load().users[username]
	if !ok || e.match == nil {
		return Identity{}, false
	}
	return h.cache.get(e.hash, username, password)
}

// equalise spends the time of a real comparison; the result is ignored.
// The dummy has the highest bcrypt cost found in the file (10 if none).
func (t *userTable) equalise(password string) {
	_ = bcrypt.CompareHashAndPassword(t.dummy, []byte(password))
}

// Reload re-reads the file now and forgets every cached login (SIGHUP:
// the operator's way to flush the cache). On error the previous version
// stays in use, and the cache is flushed all the same.
func (h *Htpasswd) Reload() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cache.purge()
	return h.reloadLocked()
}

// maybeReload reloads the file if its stat changed, looking no more than
// once per reloadCheckInterval. While another goroutine checks or reloads,
// callers go on with the current table instead of waiting.
func (h *Htpasswd) maybeReload() {
	if !h.mu.TryLock() {
		return
	}
	defer h.mu.Unlock()
	now := h.now()
	if d := now.Sub(h.lastCheck); d >= 0 && d < reloadCheckInterval {
		return
	}
	h.lastCheck = now

	fi, err := os.Stat(h.path)
	if err == nil && stampOf(fi) == h.table.Load().stamp {
		return
	}
	if err == nil {
		err = h.reloadLocked()
	}
	if err != nil {
		if msg := err.Error(); msg != h.lastAutoErr {
			h.lastAutoErr = msg
			h.log.Error("htpasswd: cannot reload, keeping the previous version", "path", h.path, "err", err)
		}
		return
	}
	h.lastAutoErr = ""
}

// reloadLocked reads and parses the file; h.mu is held.
func (h *Htpasswd) reloadLocked() error {
	f, err := os.Open(h.path)
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	defer f.Close()
	// The stamp is taken before reading: a write that races with the read
	// changes the stat again, and the next check reloads.
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("htpasswd: %s is not a regular file", h.path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}

	t := &userTable{users: make(map[string]userEntry), stamp: stampOf(fi)}
	usable, refused, maxCost := 0, 0, 0
	for i, raw := range strings.Split(string(data), "\n") {
		user, hash, ok := splitEntry(raw)
		if !ok && isBlankOrComment(raw) {
			continue
		}
		var reason string
		logUser := false
		switch _, dup := t.users[user]; {
		case !ok:
			reason = "no ':'"
		case ValidUsername(user) != nil:
			reason = ValidUsername(user).Error() // the name itself is not logged
		case dup:
			reason, logUser = "duplicate user; the first line is used", true
		default:
			var e userEntry
			var cost int
			e, cost, reason = h.parseLine(user, hash)
			t.users[user] = e
			if e.match != nil {
				usable++
				maxCost = max(maxCost, cost)
			}
			logUser = true
		}
		if reason != "" {
			refused++
			attrs := []any{"path", h.path, "line", i + 1, "reason", reason}
			if logUser {
				attrs = append(attrs, "user", user)
			}
			h.log.Warn("htpasswd: line refused", attrs...)
		}
	}

	if maxCost == 0 {
		maxCost = DefaultBcryptCost
	}
	if t.dummy, err = h.dummy(maxCost); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	h.table.Store(t)
	h.log.Info("htpasswd: loaded", "path", h.path, "users", usable, "refused_lines", refused)
	return nil
}

// parseLine turns the entry for a valid, first-seen user into a userEntry.
// A non-empty reason means the line is refused: the entry then has no
// matcher, so the user cannot log in (and still costs a dummy comparison).
func (h *Htpasswd) parseLine(user, hash string) (e userEntry, bcryptCostOf int, reason string) {
	m, err := parseHash(hash)
	if err != nil {
		return e, 0, err.Error()
	}
	if h.hasHome {
		if e.home, err = h.home.expand(user, ""); err != nil {
			return e, 0, "home: " + err.Error()
		}
	}
	if e.maildir, err = h.mail.expand(user, e.home); err != nil {
		return e, 0, err.Error()
	}
	e.match, e.hash = m, hash
	return e, bcryptCost(hash), ""
}

// dummy returns the cached equalising hash for a cost; h.mu is held.
func (h *Htpasswd) dummy(cost int) ([]byte, error) {
	if d, ok := h.dummies[cost]; ok {
		return d, nil
	}
	d, err := dummyHash(cost)
	if err != nil {
		return nil, err
	}
	h.dummies[cost] = d
	return d, nil
}

// isBlankOrComment reports a line that is not meant as an entry.
func isBlankOrComment(raw string) bool {
	line := strings.TrimSpace(raw)
	return line == "" || line[0] == '#'
}

// splitEntry splits an htpasswd line into user and hash. Blank lines,
// comments ('#' first) and lines without ':' are not entries. Surrounding
// white space (and a CR from a CRLF file) is ignored, as Apache does.
func splitEntry(raw string) (user, hash string, ok bool) {
	if isBlankOrComment(raw) {
		return "", "", false
	}
	return strings.Cut(strings.TrimSpace(raw), ":")
}
