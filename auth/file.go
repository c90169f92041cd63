package auth

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"imapd/internal/atomicfile"
)

// ErrModified is returned by Save when the file changed on disk after it
// was loaded (someone wrote it without taking the lock); load it again.
var ErrModified = errors.New("htpasswd file changed since it was loaded")

// File is an htpasswd file being edited, for the admin CLI. Comment lines,
// blank lines and lines it does not understand are written back untouched,
// in their place.
//
// A File is not safe for concurrent use. To change a file that others may
// change at the same time, use Update, which holds the lock from load to
// save.
type File struct {
	// Scheme is the hash Set writes; Bcrypt unless set.
	Scheme Scheme
	// BcryptCost is the cost Set uses for Bcrypt; 0 means DefaultBcryptCost.
	BcryptCost int

	// path is the file's name.
	path string
	// lines are the file's lines without their '\n', in order.
	lines []fileLine
	// mode is the permission Save writes: the loaded file's, or 0640.
	mode os.FileMode
	// exists and stamp describe the file as loaded, for Save's check.
	exists bool
	stamp  fileStamp
	// locked is true inside Update, which already holds the lock.
	locked bool
}

// fileLine is one line of the file.
type fileLine struct {
	// text is the line as read or written, without '\n'.
	text string
	// user is the entry's username, or "" for any other line.
	user string
}

// LoadFile reads an htpasswd file for editing. A missing file is an error
// wrapping fs.ErrNotExist (Update starts a new file instead).
func LoadFile(path string) (*File, error) {
	return loadFile(path, false)
}

func loadFile(path string, allowMissing bool) (*File, error) {
	f := &File{path: path, mode: 0o640}
	fh, err := os.Open(path)
	if allowMissing && errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	defer fh.Close()
	// The stamp comes from the open file before reading it: a change made
	// after it changes the stat, and Save then refuses (ErrModified) rather
	// than lose that change.
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	data, err := io.ReadAll(fh)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	f.exists, f.stamp, f.mode = true, stampOf(fi), fi.Mode().Perm()

	text := strings.TrimSuffix(string(data), "\n")
	if text == "" && len(data) <= 1 {
		return f, nil
	}
	for _, raw := range strings.Split(text, "\n") {
		l := fileLine{text: raw}
		if user, _, ok := splitEntry(raw); ok && ValidUsername(user) == nil {
			l.user = user
		}
		f.lines = append(f.lines, l)
	}
	return f, nil
}

// Users lists the users in file order, each once.
func (f *File) Users() []string {
	var users []string
	seen := make(map[string]bool)
	for _, l := range f.lines {
		if l.user != "" && !seen[l.user] {
			seen[l.user] = true
			users = append(users, l.user)
		}
	}
	return users
}

// Set adds user, or replaces the user's password, hashing it with f.Scheme.
// The user's line keeps its place (any later duplicate lines are dropped);
// a new user is appended. The username must pass ValidUsername and must not
// hold ':' or white space at its ends; the password must not be empty.
func (f *File) Set(user, password string) error {
	if err := ValidUsername(user); err != nil {
		return err
	}
	if strings.ContainsRune(user, ':') || strings.TrimSpace(user) != user {
		return fmt.Errorf("%w: ':' or surrounding white space cannot stand in an htpasswd file", ErrInvalidUsername)
	}
	hash, err := hashPassword(password, f.Scheme, f.BcryptCost)
	if err != nil {
		return err
	}
	entry := fileLine{text: user + ":" + hash, user: user}
	out := f.lines[:0]
	done := false
	for _, l := range f.lines {
		if l.user == user {
			if done {
				continue
			}
			l, done = entry, true
		}
		out = append(out, l)
	}
	if !done {
		out = append(out, entry)
	}
	f.lines = out
	return nil
}

// Delete removes every line for user and reports whether there was one.
func (f *File) Delete(user string) bool {
	out := f.lines[:0]
	found := false
	for _, l := range f.lines {
		if user != "" && l.user == user {
			found = true
			continue
		}
		out = append(out, l)
	}
	f.lines = out
	return found
}

// Save writes the file back atomically (internal/atomicfile), keeping its
// permissions (0640 for a new file) and, when run as root, its owner. It
// takes the lock on path+".lock" unless called inside Update, and returns
// ErrModified if the file changed since it was loaded.
func (f *File) Save() error {
	if !f.locked {
		unlock, err := lockFile(f.path)
		if err != nil {
			return err
		}
		defer unlock()
	}

	fi, err := os.Stat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if f.exists {
			return fmt.Errorf("htpasswd: %s: %w", f.path, ErrModified)
		}
	case err != nil:
		return fmt.Errorf("htpasswd: %w", err)
	case !f.exists || stampOf(fi) != f.stamp:
		return fmt.Errorf("htpasswd: %s: %w", f.path, ErrModified)
	}

	var b strings.Builder
	for _, l := range f.lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	if err := atomicfile.WriteFile(f.path, []byte(b.String()), f.mode); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	if fi, err = os.Stat(f.path); err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	f.exists, f.stamp = true, stampOf(fi)
	return nil
}

// Update edits the htpasswd file at path under its lock: it locks, loads
// (a missing file starts empty), calls fn, and saves if fn returns nil.
// Concurrent Updates, from goroutines or processes, are applied one after
// the other, so none is lost.
func Update(path string, fn func(*File) error) error {
	unlock, err := lockFile(path)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := loadFile(path, true)
	if err != nil {
		return err
	}
	f.locked = true
	defer func() { f.locked = false }()
	if err := fn(f); err != nil {
		return err
	}
	return f.Save()
}

// lockFile takes an exclusive flock on path+".lock", creating it if need
// be, and waits for it. The lock file is never removed: removing it would
// let two writers lock two different files. A flock belongs to the open
// file, so goroutines of one process exclude each other as processes do.
func lockFile(path string) (unlock func(), err error) {
	name := path + ".lock"
	lf, err := os.OpenFile(name, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: lock: %w", err)
	}
	for {
		err = unix.Flock(int(lf.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("htpasswd: lock %s: %w", name, err)
	}
	return func() { lf.Close() }, nil // closing the file releases the lock
}
