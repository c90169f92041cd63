package maildir

import (
	"os"
	"syscall"
)

// lockFile is the name of the per-folder file that serialises writers of
// the sidecar across processes with flock(2). It is never removed while
// the folder exists, so every process locks the same inode.
const lockFile = "imapd-uidlist.lock"

// flock is an exclusive advisory lock held on an open file. The
// descriptor is taken once: File.Fd costs two fcntl calls each time.
type flock struct {
	f  *os.File
	fd int
}

// openLock opens (creating it if need be) the lock file at path. It never
// opens through a link nor blocks on a FIFO (openRegular): a link planted
// under the name is removed (the link, not what it names) and a regular
// file created in its place; anything else there is an error.
func openLock(path string) (*flock, error) {
	f, err := openRegular(path, os.O_RDWR|os.O_CREATE, 0o600)
	if isNotRegular(err) {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			if uerr := syscall.Unlink(path); uerr != nil && uerr != syscall.ENOENT {
				return nil, &os.PathError{Op: "unlink", Path: path, Err: uerr}
			}
			f, err = openRegular(path, os.O_RDWR|os.O_CREATE, 0o600)
		}
	}
	if err != nil {
		return nil, err
	}
	return &flock{f: f, fd: int(f.Fd())}, nil
}

func (l *flock) lock() error {
	for {
		err := syscall.Flock(l.fd, syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

func (l *flock) unlock() error { return syscall.Flock(l.fd, syscall.LOCK_UN) }

func (l *flock) close() error { return l.f.Close() }
