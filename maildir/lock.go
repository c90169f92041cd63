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

func openLock(path string) (*flock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
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
