package maildir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckReport says what Check found and repaired in one folder.
type CheckReport struct {
	Folder      string
	Messages    int  // messages after the check
	Added       int  // files that had no UID (delivered while no server ran, or lost records)
	Expunged    int  // UIDs whose file is gone
	Changed     int  // flag renames found
	SidecarNew  bool // the sidecar was missing and created (or adopted from Dovecot/Courier)
	SidecarBad  bool // the sidecar had unreadable lines and was rewritten
	UIDValidity uint32
}

// CheckFolder verifies a folder against its files, as imapctl check does:
// every file listed and stat'ed, the sidecar reconciled and rewritten when
// damaged, and the folder's files made durable. It reports what changed.
func (s *Store) CheckFolder(name string) (CheckReport, error) {
	name, dir, err := s.dir(name)
	if err != nil {
		return CheckReport{}, err
	}
	f, err := s.hub.acquire(s.root, dir)
	if err != nil {
		return CheckReport{}, err
	}
	defer s.hub.release(f)
	rep := CheckReport{Folder: name}
	f.mu.Lock()
	rep.SidecarNew = f.side.ino == 0 && !fileExists(f.side.path)
	f.mu.Unlock()
	err = f.update(true, func() error {
		for _, e := range f.events {
			switch e.kind {
			case evAdd:
				rep.Added++
			case evExpunge:
				rep.Expunged++
			case evFlags:
				rep.Changed++
			}
		}
		rep.Messages = len(f.side.recs)
		rep.UIDValidity = f.side.uidValidity
		return nil
	})
	if err != nil {
		return rep, err
	}
	f.mu.Lock()
	rep.SidecarBad = f.side.repaired
	f.side.repaired = false
	f.mu.Unlock()
	if rep.SidecarNew {
		rep.Added = 0 // a new sidecar gives every file a UID: not a repair
	}
	return rep, nil
}

// FolderDir returns the directory that holds a folder (INBOX: the root).
func (s *Store) FolderDir(name string) (string, error) {
	_, dir, err := s.dir(name)
	return dir, err
}

// HasUIDs reports whether a folder has our UID sidecar (so its UIDs are
// in use and another server's UID list would not be adopted).
func (s *Store) HasUIDs(name string) (bool, error) {
	_, dir, err := s.dir(name)
	if err != nil {
		return false, err
	}
	_, err = os.Lstat(filepath.Join(dir, sidecarFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// DiscardUIDs removes a folder's sidecar and cache, under the folder
// lock, so that its next open adopts the UIDs of a Dovecot or Courier
// list again (imapctl import-uids --force). No server may have the folder
// open: its clients would see UIDVALIDITY change.
func (s *Store) DiscardUIDs(name string) error {
	_, dir, err := s.dir(name)
	if err != nil {
		return err
	}
	l, err := openLock(filepath.Join(dir, lockFile))
	if err != nil {
		return err
	}
	defer l.close()
	if err := l.lock(); err != nil {
		return err
	}
	for _, f := range []string{sidecarFile, cacheFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	s.hub.forget(dir)
	return nil
}
