package maildir

import (
	"encoding/binary"
	"os"
	"syscall"
	"time"
)

// dirent is one directory entry with its inode number, which identifies a
// message across renames without a stat call.
type dirent struct {
	name string
	ino  uint64
}

// A directory's size over bytesPerEntry guesses its entries from below
// (ext4 holds a Maildir name of 60 bytes in about 100); the guess is
// held to maxExpected, as a directory keeps its size once emptied.
const (
	bytesPerEntry = 128
	maxExpected   = 1 << 16
)

// listDir returns the regular files of dir (not "." and "..", nor names
// starting with a dot). On Linux it reads getdents64 records directly,
// because they carry the inode number and the file type for free.
func listDir(dir string) ([]dirent, error) {
	out, _, err := listDirOdd(dir, 0)
	return out, err
}

// listDirOdd is listDir that also returns the names of what it left out
// for not being a regular file: a symbolic link, FIFO, socket, device or
// directory is never a message. A file system that does not give the
// type (DT_UNKNOWN) costs an lstat of that entry. expect is how many
// entries the caller thinks there are; 0 guesses from the directory's
// size. Sizing the result once spares a large folder's first listing the
// copies of a growing slice, whose pages a fresh process pays for.
func listDirOdd(dir string, expect int) (out []dirent, odd []string, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if expect <= 0 {
		if fi, err := f.Stat(); err == nil {
			expect = int(min(fi.Size()/bytesPerEntry, maxExpected))
		}
	}
	out = make([]dirent, 0, expect)
	buf := make([]byte, 64<<10)
	fd := int(f.Fd())
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return out, odd, nil
		}
		for b := buf[:n]; len(b) >= 19; {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			ino := binary.NativeEndian.Uint64(b[0:8])
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			typ := b[18]
			if reclen < 19 || reclen > len(b) {
				break
			}
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			b = b[reclen:]
			if ino == 0 || len(name) == 0 || name[0] == '.' {
				continue
			}
			if typ == syscall.DT_UNKNOWN {
				var st syscall.Stat_t
				if err := syscall.Lstat(dir+"/"+string(name), &st); err != nil {
					continue // gone meanwhile
				}
				if st.Mode&syscall.S_IFMT == syscall.S_IFREG {
					typ = syscall.DT_REG
				}
			}
			if typ != syscall.DT_REG {
				odd = append(odd, string(name))
				continue
			}
			out = append(out, dirent{name: string(name), ino: ino})
		}
	}
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// changeTime is the inode's ctime (falls back to the mtime).
func changeTime(fi os.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return fi.ModTime()
}
