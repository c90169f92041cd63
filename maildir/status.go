package maildir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"imapd/internal/atomicfile"
)

// Status is what RFC 3501 STATUS (and CONDSTORE) report; STATUS=SIZE's
// size comes from Size, which may have to read files.
type Status struct {
	Messages      uint32
	Recent        uint32
	UIDNext       uint32
	UIDValidity   uint32
	Unseen        uint32
	HighestModSeq uint64
}

// Status reports on a folder without selecting it. It brings the folder
// up to date with the disk first, so new deliveries count.
func (s *Store) Status(name string) (Status, error) {
	_, dir, err := s.dir(name)
	if err != nil {
		return Status{}, err
	}
	f, err := s.hub.acquire(s.root, dir)
	if err != nil {
		return Status{}, err
	}
	defer s.hub.release(f)
	var st Status
	err = f.update(false, func() error {
		st = Status{Messages: uint32(len(f.side.recs)), UIDNext: f.side.uidNext,
			UIDValidity: f.side.uidValidity, HighestModSeq: f.side.highestModSeq}
		for _, r := range f.side.recs {
			if r.inf.flags&FlagSeen == 0 {
				st.Unseen++
			}
		}
		st.Recent = f.recentCountLocked()
		return nil
	})
	return st, err
}

// uidValidityFile in the Maildir root remembers the last UIDVALIDITY
// handed out, so that a folder whose sidecar was lost gets a value never
// used before, even within one second.
const uidValidityFile = "imapd-uidvalidity"

func nextUIDValidity(root string, perm fs.FileMode) (uint32, error) {
	path := filepath.Join(root, uidValidityFile)
	l, err := openLock(path + ".lock")
	if err != nil {
		return 0, err
	}
	defer l.close()
	if err := l.lock(); err != nil {
		return 0, err
	}
	last := uint64(0)
	if data, err := readRegular(path); err == nil {
		last, _ = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 32)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	v := uint64(time.Now().Unix())
	if v <= last {
		v = last + 1
	}
	if v > 1<<32-1 {
		return 0, fmt.Errorf("UIDVALIDITY space exhausted in %s", root)
	}
	if err := atomicfile.WriteFileNoFollow(path, []byte(strconv.FormatUint(v, 10)+"\n"), perm); err != nil {
		return 0, err
	}
	return uint32(v), nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Marked reports whether a folder has \Recent messages, for LIST's
// \Marked and \Unmarked (RFC 3501 §7.2.2), as Status's Recent would, but
// without loading a folder that has no sidecar yet: there every message
// is recent, so one entry in new/ or cur/ answers. The first LIST of a
// tree of 10,000 folders nobody opened then reads two directories per
// folder instead of creating 10,000 sidecars. A loaded folder that
// nobody changed since is answered from memory, without the file lock
// (the quick check of a refresh) and without counting its messages: the
// last UID tells.
func (s *Store) Marked(name string) (bool, error) {
	_, dir, err := s.dir(name)
	if err != nil {
		return false, err
	}
	s.hub.mu.Lock()
	_, loaded := s.hub.folders[dir]
	s.hub.mu.Unlock()
	if _, err := os.Lstat(filepath.Join(dir, sidecarFile)); !loaded && errors.Is(err, fs.ErrNotExist) {
		for _, sub := range []string{"new", "cur"} {
			if has, err := hasMessageFile(filepath.Join(dir, sub)); has || err != nil {
				return has, err
			}
		}
		return false, nil
	}
	f, err := s.hub.acquire(s.root, dir)
	if err != nil {
		return false, err
	}
	defer s.hub.release(f)
	if err := f.update(false, nil); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.side.sortRecs()
	recs := f.side.recs
	return len(recs) > 0 && recs[len(recs)-1].uid >= f.side.firstRecent, nil
}

// hasMessageFile reports whether dir holds a regular file whose name does
// not start with a dot (a link, FIFO or directory is never a message),
// reading it a few entries at a time. The type comes with the entry
// (d_type; an lstat where the file system does not give it).
func hasMessageFile(dir string) (bool, error) {
	fh, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	for {
		ents, err := fh.ReadDir(16)
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") && e.Type().IsRegular() {
				return true, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
}
