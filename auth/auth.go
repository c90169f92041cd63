package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Identity says who logged in and where the mail lives.
type Identity struct {
	// Username is the name the user logged in with, exactly as given.
	Username string
	// Maildir is the absolute, cleaned path of the user's Maildir root.
	Maildir string
	// Home is the user's home directory, or "" when the backend has none.
	Home string
	// UID and GID own the user's mail: the mail owner configured for
	// virtual users, the user's own for system users.
	UID, GID int
	// Groups are the supplementary groups the session runs with; nil for
	// virtual users.
	Groups []int
	// System is true for a system (PAM/passwd) user whose session must run
	// with the user's own uid, gid and groups.
	System bool
}

// Authentication errors. A backend wraps them with a reason for the log
// (errors.Is still matches); the error text is for operators only and must
// never reach a client.
var (
	// ErrFailed means a wrong username or password; it never tells which.
	// The server answers NO [AUTHENTICATIONFAILED].
	ErrFailed = errors.New("authentication failed")
	// ErrUnavailable means the backend is down or misconfigured, so the
	// credentials could not be checked. The server answers NO [UNAVAILABLE].
	ErrUnavailable = errors.New("authentication backend unavailable")
	// ErrThrottled means the attempt was refused without a check: its
	// address has failed so often lately that its queue of attempts is
	// full (see Throttle). It is not a failure (no count, no delay) and
	// says nothing about the credentials. The server answers
	// NO [UNAVAILABLE] with a text that asks to try later.
	ErrThrottled = errors.New("too many failed logins from this address")
	// ErrInvalidUsername is wrapped by ValidUsername's errors (and, together
	// with ErrFailed, by a backend asked about such a name).
	ErrInvalidUsername = errors.New("invalid username")
)

// Authenticator checks a username and password.
//
// Authenticate returns the user's Identity, or an error for which
// errors.Is(err, ErrFailed) or errors.Is(err, ErrUnavailable) holds (or the
// context's error); ErrThrottled is the Throttle's, never a backend's. Implementations must be safe for concurrent use. Delays
// and failure logging are not their job: wrap them in a Throttle.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (Identity, error)
}

// MaxUsernameLen is the longest username accepted, in bytes.
const MaxUsernameLen = 256

// ValidUsername reports whether name may be a login name: not empty, at most
// MaxUsernameLen bytes of valid UTF-8, not starting with '.', and holding no
// '/', NUL or other control character. These rules make every accepted name
// a safe single path element. The error wraps ErrInvalidUsername and never
// quotes the name.
func ValidUsername(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidUsername)
	case len(name) > MaxUsernameLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidUsername, MaxUsernameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidUsername)
	case name[0] == '.':
		return fmt.Errorf("%w: starts with '.'", ErrInvalidUsername)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("%w: contains '/'", ErrInvalidUsername)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("%w: contains a control character", ErrInvalidUsername)
	}
	return nil
}
