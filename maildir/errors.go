package maildir

import "errors"

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
