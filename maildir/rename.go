package maildir

import (
	"os"
	"path/filepath"
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
	if err := renameNoReplace(unix.AT_FDCWD, from, unix.AT_FDCWD, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// renameNoReplace is renameMessage's system calls, for names relative to
// directory descriptors (or AT_FDCWD).
func renameNoReplace(fromDir int, from string, toDir int, to string) error {
	err := unix.Renameat2(fromDir, from, toDir, to, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		var st unix.Stat_t
		if unix.Fstatat(toDir, to, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			err = syscall.EEXIST
		} else {
			err = unix.Renameat(fromDir, from, toDir, to)
		}
	}
	return err
}

// msgDirs holds descriptors of a folder's cur/ and new/, so that a run of
// renames or stats over many messages (a STORE over a whole folder, its
// first listing) looks up the folder's path once, not per file. A
// directory that cannot be opened is reached by path.
type msgDirs struct {
	dir string
	fd  [2]int // cur/, new/; AT_FDCWD when not open
}

// openMsgDirs opens the directories for a run over n files; for a few,
// opening them would cost more than it saves, and files are reached by
// path.
func openMsgDirs(dir string, n int) *msgDirs {
	d := &msgDirs{dir: dir, fd: [2]int{unix.AT_FDCWD, unix.AT_FDCWD}}
	if n < 8 {
		return d
	}
	for i, sub := range [2]string{"cur", "new"} {
		fd, err := unix.Open(filepath.Join(dir, sub), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			fd = unix.AT_FDCWD
		}
		d.fd[i] = fd
	}
	return d
}

func (d *msgDirs) close() {
	for _, fd := range d.fd {
		if fd != unix.AT_FDCWD {
			unix.Close(fd)
		}
	}
}

// at returns the descriptor and name to reach file name of new/ (inNew)
// or cur/.
func (d *msgDirs) at(inNew bool, name string) (int, string) {
	i := 0
	if inNew {
		i = 1
	}
	if d.fd[i] == unix.AT_FDCWD {
		return unix.AT_FDCWD, filepath.Join(d.dir, dirOf(inNew), name)
	}
	return d.fd[i], name
}

// rename is renameMessage between files of new/ or cur/.
func (d *msgDirs) rename(fromNew bool, from string, toNew bool, to string) error {
	ffd, fname := d.at(fromNew, from)
	tfd, tname := d.at(toNew, to)
	if err := renameNoReplace(ffd, fname, tfd, tname); err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(d.dir, dirOf(fromNew), from),
			New: filepath.Join(d.dir, dirOf(toNew), to), Err: err}
	}
	return nil
}
