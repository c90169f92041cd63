package maildir

import (
	"errors"
	"io/fs"
	"path/filepath"
)

// This file finds a message's file when the name recorded for it is
// stale. A message file is renamed whenever its flags change or it moves
// from new/ to cur/, by this process or by a program that does not take
// our lock (mutt, Dovecot, a script), so any open by the recorded name can
// meet ENOENT while the message is still there under another name. Only
// its base (the unique part before ":2,") stays; the info suffix and the
// directory may change at any moment.
//
// The recorded name can also stay stale after a refresh: a rename by
// another program between the two stat calls of ownChange, or in the same
// mtime tick as our own change, leaves the directory's mtime where
// ownChange recorded it, and the quick check (quietLocked, used by every
// refresh without a full check, the watcher's included) then reports
// nothing changed. So a lookup that finds the file under another name also
// makes the next refresh list the directories (relist).

// openTries bounds how often a file that keeps being renamed between its
// lookup and its use is looked up again. Dovecot's maildir_file_do tries
// 10 times; against a program renaming the file in a tight loop (the
// test's), under the race detector on two busy cores, a MOVE gave up on
// 1 run in 4 at 10 and on none of 60 at 50. Each try is a listing of
// new/ and cur/, and only a file being renamed at that moment costs one.
const openTries = 50

// withFile calls do with the path of uid's file. When do fails because
// the file is not there, the file is looked for by its base name in new/
// and cur/ (it may have been renamed), and do is called again with what
// was found; when the base is in neither directory, a refresh (listing
// both) decides: if the message is gone from the folder, the answer is
// ErrExpunged. A do that keeps meeting renames is retried openTries
// times, then its error is returned.
func (m *Mailbox) withFile(uid uint32, do func(path string) error) error {
	var err error
	for try := 0; try < openTries; try++ {
		p, base, perr := m.path(uid)
		if perr != nil {
			return perr
		}
		if err = do(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		m.f.relist()
		found, ferr := findBase(m.f.dir, base)
		if ferr != nil {
			return ferr
		}
		if found != "" {
			if err = do(found); err == nil || !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue // renamed once more: look again
		}
		if uerr := m.f.update(false, nil); uerr != nil {
			return uerr
		}
	}
	return err
}

// relist makes the next refresh list new/ and cur/ whatever their mtimes
// say: a file was not where its record says, so a change on disk hid from
// the quick check.
func (f *folder) relist() {
	f.mu.Lock()
	f.side.newScan, f.side.curScan = 0, 0
	f.mu.Unlock()
}

// findBase returns the path of the file in new/ or cur/ of dir whose base
// name is base, or "" when there is none. new/ is listed before cur/, so
// a file moved from new/ to cur/ meanwhile is found (as in scanLocked).
func findBase(dir, base string) (string, error) {
	for _, sub := range []string{"new", "cur"} {
		ents, err := listDir(filepath.Join(dir, sub))
		if err != nil {
			return "", err
		}
		for _, e := range ents {
			if b, _, _ := splitName(e.name); b == base {
				return filepath.Join(dir, sub, e.name), nil
			}
		}
	}
	return "", nil
}
