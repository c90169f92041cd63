package maildir

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// renameMessage gives a message file its new name without ever replacing
// a file already there: renameat2 with RENAME_NOREPLACE, which fails with
// EEXIST instead. Two files under one name can only come from another
// program (or a clock gone back); replacing one would lose a message.
//
// It also saves the Lstat of the target that os.Rename spends on every
// call. Where the file system lacks RENAME_NOREPLACE (EINVAL), a Lstat
// check and a plain rename do the same, with a window another program
// could slip into.
func renameMessage(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		if _, lerr := os.Lstat(to); lerr == nil {
			err = syscall.EEXIST
		} else {
			err = syscall.Rename(from, to)
		}
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
