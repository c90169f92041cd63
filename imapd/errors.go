package imapd

import (
	"context"
	"errors"
	"fmt"

	"imapd/auth"
	"imapd/imapd/wire"
	"imapd/maildir"
)

// respError is a refusal meant for the client: a tagged NO or BAD with an
// optional response code. Its text is written as it is, so it must never
// carry internal details.
type respError struct {
	status string // "NO" or "BAD"
	code   string // response code with its arguments, or ""
	text   string
}

func (e *respError) Error() string { return e.status + " " + e.text }

// no is a refusal the user can act on (RFC 3501 §7.1.2).
func no(code, text string) error { return &respError{status: "NO", code: code, text: text} }

// bad is a protocol error by the client (RFC 3501 §7.1.3).
func bad(text string) error { return &respError{status: "BAD", text: text} }

// classify maps an error to the tagged response it deserves: the one
// place where errors meet the protocol (STYLE.md practice 4). Anything
// not recognised is a server bug: NO [SERVERBUG], details in the log.
// target is true when the error concerns the target of APPEND, COPY or
// MOVE, where a missing mailbox is [TRYCREATE] (RFC 3501 §6.3.11).
func classify(err error, target bool) (re *respError, unexpected bool) {
	var se *wire.SyntaxError
	switch {
	case errors.As(err, &re):
		return re, false
	case errors.As(err, &se):
		return &respError{status: "BAD", text: se.Msg}, false
	case errors.Is(err, maildir.ErrNotFound):
		if target {
			return &respError{"NO", "TRYCREATE", "Mailbox does not exist"}, false
		}
		return &respError{"NO", "NONEXISTENT", "Mailbox does not exist"}, false
	case errors.Is(err, maildir.ErrFolderGone):
		return &respError{"NO", "NONEXISTENT", "Mailbox was deleted or renamed"}, false
	case errors.Is(err, maildir.ErrExists):
		return &respError{"NO", "ALREADYEXISTS", "Mailbox already exists"}, false
	case errors.Is(err, maildir.ErrInvalidName):
		return &respError{"NO", "CANNOT", "Invalid mailbox name"}, false
	case errors.Is(err, maildir.ErrOutside):
		return &respError{"NO", "NOPERM", "Mailbox is not accessible"}, false
	case errors.Is(err, maildir.ErrRenameIntoChild):
		// Before ErrCannot, which it wraps: the reason is one the user
		// can act on, so it is worth saying.
		return &respError{"NO", "CANNOT", "Cannot rename a mailbox into itself or its own child"}, false
	case errors.Is(err, maildir.ErrCannot):
		return &respError{"NO", "CANNOT", "Operation not permitted on this mailbox"}, false
	case errors.Is(err, maildir.ErrExpunged):
		return &respError{"NO", "EXPUNGEISSUED", "Some messages have been expunged"}, false
	case errors.Is(err, maildir.ErrReadOnly):
		return &respError{"NO", "READ-ONLY", "Mailbox is selected read-only"}, false
	case errors.Is(err, maildir.ErrLimit):
		// RFC 5530 [LIMIT]: the user can act (use fewer keywords or
		// folders); the text says which limit, never more.
		text := "Limit exceeded"
		if le := (*maildir.LimitError)(nil); errors.As(err, &le) {
			text = fmt.Sprintf("Too many %s (limit %d)", le.What, le.Max)
		}
		return &respError{"NO", "LIMIT", text}, false
	case errors.Is(err, maildir.ErrTooBig):
		return &respError{"NO", "TOOBIG", "Message too big"}, false
	case errors.Is(err, auth.ErrFailed):
		return &respError{"NO", "AUTHENTICATIONFAILED", "Authentication failed"}, false
	case errors.Is(err, auth.ErrThrottled):
		// Not AUTHENTICATIONFAILED: the password was not checked, and a
		// client that took it for a wrong password would ask its user for
		// another one (RFC 5530 §3: UNAVAILABLE, "try again later").
		return &respError{"NO", "UNAVAILABLE", "Too many failed logins from your address, try later"}, false
	case errors.Is(err, auth.ErrUnavailable), errors.Is(err, context.Canceled):
		return &respError{"NO", "UNAVAILABLE", "Authentication is temporarily unavailable"}, false
	}
	return &respError{"NO", "SERVERBUG", "Internal error, the administrator can find details in the log"}, true
}

// respondError writes the tagged response for a failed command; target
// is the command table's (a missing mailbox is [TRYCREATE]).
func (s *session) respondError(c *wire.Command, target bool, err error) {
	re, unexpected := classify(err, target)
	if unexpected {
		s.log.Error("command failed", "cmd", c.Name, "err", err)
	}
	s.w.Status(c.Tag, re.status, re.code, re.text)
}
