// Package atomicfile replaces small files so that a reader, or a crash,
// never sees a half-written one.
//
// WriteFile writes the new content to a temporary file in the same directory
// (created with O_EXCL under a unique name), flushes it to disk, renames it
// over the target and then flushes the directory, so that after a crash the
// file holds either the old content or the new content, never a mixture and
// never nothing. On any error the temporary file is removed and the old file
// is left as it was.
//
// The temporary name is the target's name with ".tmp" and a random suffix,
// with no leading dot: in a Maildir++ root a dot-name would look like a folder
// to other programs.
//
// Only one writer at a time should replace a given file; callers that need
// read-modify-write must hold a lock of their own (see auth.Update).
//
// WriteFile follows a symbolic link at the target (an admin's htpasswd may
// be one). WriteFileNoFollow never does: it is for files inside a tree
// that a less trusted user controls (a Maildir), where a link planted
// under the target's name must be replaced, never written through.
package atomicfile

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile atomically replaces the file at path with data.
//
// The new file gets exactly the permission bits perm (the umask is not
// applied). When the process runs as root and the file already exists, the
// new file keeps the old file's owner and group, so that a root-run admin
// tool does not take a file away from the daemon that reads it.
//
// If path is a symbolic link, the file it points to is replaced and the link
// is kept.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	target, err := resolve(path)
	if err != nil {
		return err
	}
	return write(target, perm, true, whole(data))
}

// WriteFileNoFollow atomically replaces the file at path with data, as
// WriteFile does, but never follows a symbolic link: a link at path is
// itself replaced by the new regular file and whatever it pointed to is
// left untouched; the temporary file is created with O_EXCL|O_NOFOLLOW,
// and the owner kept is that of a regular file at path only.
func WriteFileNoFollow(path string, data []byte, perm os.FileMode) error {
	return write(path, perm, false, whole(data))
}

// StreamNoFollow is WriteFileNoFollow for content made piece by piece:
// fill writes it through a 64 KiB buffer straight into the temporary
// file, so a large file (a sidecar of 100,000 records) never sits whole
// in memory. An error from fill leaves the old file as it was.
func StreamNoFollow(path string, perm os.FileMode, fill func(w *bufio.Writer) error) error {
	return write(path, perm, false, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 64<<10)
		if err := fill(w); err != nil {
			return err
		}
		return w.Flush()
	})
}

func whole(data []byte) func(io.Writer) error {
	return func(f io.Writer) error {
		_, err := f.Write(data)
		return err
	}
}

// write replaces target; follow says whether keepOwner may look through
// a link at target (WriteFile resolved it already).
func write(target string, perm os.FileMode, follow bool, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}

	f, tmp, err := createTemp(dir, base+".tmp")
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close() // already closed on most paths; a second Close is harmless
			os.Remove(tmp)
		}
	}()

	// Permissions and owner are set before any data goes in, so the content
	// is never readable by someone who may not read the final file.
	// Chown first: it may clear set-id bits that Chmod then restores.
	if err := keepOwner(f, target, follow); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := fill(f); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	// The rename is done: from here on the temp name no longer exists, and a
	// failed directory sync is reported without removing anything.
	if err := SyncDir(dir); err != nil {
		return err
	}
	return nil
}

// SyncDir flushes a directory's entries (creations, renames, removals) to
// disk. File systems that cannot sync a directory (EINVAL) are not an error.
func SyncDir(dir string) error {
	d, err := OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	err = d.Sync()
	cerr := d.Close()
	if err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("atomicfile: sync %s: %w", dir, err)
	}
	if cerr != nil {
		return fmt.Errorf("atomicfile: %w", cerr)
	}
	return nil
}

// resolve follows path if it is a symbolic link; a path that does not exist
// yet is returned as it is.
func resolve(path string) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return path, nil
	}
	if err != nil {
		return "", fmt.Errorf("atomicfile: %w", err)
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		return path, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, os.ErrNotExist) {
		// A dangling link: create the file it names.
		link, lerr := os.Readlink(path)
		if lerr != nil {
			return "", fmt.Errorf("atomicfile: %w", lerr)
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		return link, nil
	}
	if err != nil {
		return "", fmt.Errorf("atomicfile: %w", err)
	}
	return target, nil
}

// createTemp creates a new file in dir named prefix and a random suffix,
// with O_EXCL|O_NOFOLLOW: it is always a new regular file of ours, never
// a name someone placed there before.
func createTemp(dir, prefix string) (*os.File, string, error) {
	var rnd [8]byte
	for try := 0; ; try++ {
		rand.Read(rnd[:])
		name := filepath.Join(dir, prefix+hex.EncodeToString(rnd[:]))
		f, err := OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, name, nil
	}
}

// keepOwner gives f the owner and group of the existing file at target, when
// running as root. Other users cannot give a file away, and a file they
// create is theirs, which is what they expect. Without follow, only a
// regular file at target lends its owner (a planted link lends nothing).
func keepOwner(f *os.File, target string, follow bool) error {
	if os.Geteuid() != 0 {
		return nil
	}
	stat := os.Stat
	if !follow {
		stat = os.Lstat
	}
	fi, err := stat(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	if !follow && !fi.Mode().IsRegular() {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return nil
}

// OpenFile is os.OpenFile for regular files and directories, in fewer
// system calls: os.OpenFile offers every descriptor to the runtime's
// network poller, which refuses regular files only after an epoll_ctl and
// four fcntl calls; a file opened here is in blocking mode from the start
// (one fcntl, by os.NewFile). Errors are *fs.PathError, as os.OpenFile's.
func OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}
