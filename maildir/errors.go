package maildir

import (
	"errors"
	"fmt"
)

// Errors callers tell apart with errors.Is. The IMAP server maps them to
// response codes (NONEXISTENT, ALREADYEXISTS, CANNOT, ...).
var (
	ErrNotFound    = errors.New("no such folder")
	ErrExists      = errors.New("folder already exists")
	ErrInvalidName = errors.New("invalid folder name")
	ErrOutside     = errors.New("folder leads outside the Maildir")
	ErrCannot      = errors.New("operation not permitted on this folder")
	ErrFolderGone  = errors.New("folder was deleted or renamed")
	ErrExpunged    = errors.New("message has been expunged")
	ErrReadOnly    = errors.New("folder is selected read-only")
	ErrClosed      = errors.New("mailbox is closed")
)

// ErrRenameIntoChild is the ErrCannot of a Rename whose new name is the
// old one or lies beneath it ("a" to "a.b"): a folder cannot hold itself.
// errors.Is reports it as ErrCannot too, so callers that know only the
// general refusal still see one.
var ErrRenameIntoChild = fmt.Errorf("cannot rename a folder into its own subtree: %w", ErrCannot)
