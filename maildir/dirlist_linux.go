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

// listDir returns the regular-looking entries of dir (not "." and "..",
// nor names starting with a dot). On Linux it reads getdents64 records
// directly, because they carry the inode number for free.
func listDir(dir string) ([]dirent, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []dirent
	buf := make([]byte, 64<<10)
	fd := int(f.Fd())
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return out, nil
		}
		for b := buf[:n]; len(b) >= 19; {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			ino := binary.NativeEndian.Uint64(b[0:8])
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
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
