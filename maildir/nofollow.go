package maildir

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// This file opens the files of a Maildir without trusting what stands
// under their names. The Maildir belongs to its user, who (through a shell,
// a .forward script or a mail filter) can put anything there: a symbolic
// link to a file only the daemon may read, a FIFO that blocks whoever
// opens it, a directory. None of these is a message, a sidecar or a
// keyword file. Every file here is opened with O_NOFOLLOW|O_NONBLOCK and
// checked with fstat to be a regular file before it is read or written;
// whatever is not is treated as missing (errNotRegular is fs.ErrNotExist
// to errors.Is), so that a message file turns into an expunge, and a
// sidecar or keyword file is rebuilt and replaced by an atomic rename
// (atomicfile.WriteFileNoFollow) that swaps the link, never its target.

// errNotRegular says a path names something other than a regular file.
var errNotRegular error = notRegularError{}

type notRegularError struct{}

func (notRegularError) Error() string {
	return "not a regular file (a link, FIFO, device or directory)"
}

// Is makes the file count as missing for every caller that handles a
// missing file already.
func (notRegularError) Is(target error) bool { return target == fs.ErrNotExist }

// isNotRegular tells errNotRegular apart from a file truly missing.
func isNotRegular(err error) bool { return errors.As(err, new(notRegularError)) }

// openRegular opens name like os.OpenFile, but never follows a symbolic
// link at name, never blocks on a FIFO, and refuses anything but a
// regular file (checked on the descriptor, so nothing can be swapped in
// between) with a *fs.PathError wrapping errNotRegular. The descriptor
// returned is in blocking mode, as atomicfile.OpenFile's.
func openRegular(name string, flag int, perm os.FileMode) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.ELOOP || err == syscall.EISDIR || err == syscall.ENXIO {
		// ELOOP: a link (O_NOFOLLOW); EISDIR: a directory opened for
		// writing; ENXIO: a FIFO without a reader, opened for writing.
		return nil, &fs.PathError{Op: "open", Path: name, Err: errNotRegular}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "fstat", Path: name, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: name, Err: errNotRegular}
	}
	// Back to blocking mode with one fcntl: the status flags are the ones
	// we opened with (F_SETFL ignores the access mode, creation and
	// descriptor flags among them).
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flag&^syscall.O_NONBLOCK); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// readRegular is os.ReadFile through openRegular.
func readRegular(name string) ([]byte, error) {
	f, err := openRegular(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// lstatRegular is os.Lstat that reports anything but a regular file as
// errNotRegular.
func lstatRegular(name string) (os.FileInfo, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: errNotRegular}
	}
	return fi, nil
}
