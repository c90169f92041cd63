package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure a Hub.
type Options struct {
	// Logger receives warnings about damaged files; nil discards them.
	Logger *slog.Logger
	// NoSync skips the fsync of sidecar appends and delivered messages.
	// Only for tests and benchmarks: a power cut may then reuse a UID.
	NoSync bool
	// DirPerm and FilePerm are used for what the store creates
	// (defaults 0700 and 0600, as Dovecot and Postfix use).
	DirPerm, FilePerm fs.FileMode

	// NoWatch disables inotify: changes by others are then found by a
	// periodic check of the directories' mtimes (every PollInterval).
	NoWatch bool
	// MaxWatches simulates the kernel's watch limit (0: the kernel's own),
	// to test the fallback to periodic checks.
	MaxWatches int
	// PollInterval is the period of those checks (default 1s).
	PollInterval time.Duration
}

// Hub holds the state one process shares between all sessions: one
// folder object per open Maildir folder, so that a change made by one
// session reaches every other at once, and the files are read once.
type Hub struct {
	watch     watch
	watchOnce sync.Once
	stats     Stats
	opts      Options
	log       *slog.Logger
	mu        sync.Mutex
	folders   map[string]*folder // by directory path
	roots     map[string]*rootState
	idle      []*folder // folders no one holds, kept a while (oldest first)
}

// Stats counts the file-system work a Hub did, so tests and benchmarks
// can show what an operation costs (an open of a current folder lists no
// directory and reads no message).
type Stats struct {
	Listings     atomic.Int64 // directory listings of new/ or cur/
	Settles      atomic.Int64 // listings that first waited for a directory's mtime to leave the fine window (settleLocked)
	MessageReads atomic.Int64 // message files opened for reading
	Lookups      atomic.Int64 // lstat calls that look for a folder's directory by name
	RootListings atomic.Int64 // listings of a Maildir root (LIST, a folder count)
	Fingerprints atomic.Int64 // message files hashed to tell a rewrite from a copy
	FileStats    atomic.Int64 // message files stat'ed after a listing (new files without ",S=", internal dates)
}

// Stats returns the Hub's counters.
func (h *Hub) Stats() *Stats { return &h.stats }

// NewHub returns a Hub. A process needs one.
func NewHub(opts Options) *Hub {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DirPerm == 0 {
		opts.DirPerm = 0o700
	}
	if opts.FilePerm == 0 {
		opts.FilePerm = 0o600
	}
	return &Hub{opts: opts, log: opts.Logger, folders: map[string]*folder{}}
}

// Store is one user's Maildir: the root is INBOX, sub-folders are
// Maildir++ directories beside cur/, new/ and tmp/.
type Store struct {
	hub    *Hub
	root   string
	limits Limits // see SetLimits
}

// Open returns the Store rooted at root, creating the Maildir when create
// is set. The root itself may be a symbolic link (an administrator's
// choice); nothing below it is followed.
func (h *Hub) Open(root string, create bool) (*Store, error) {
	root = filepath.Clean(root)
	err := checkFolderDir(root)
	if err != nil && create {
		// Created on first login; at every later one, only checked.
		if err := os.MkdirAll(root, h.opts.DirPerm); err != nil {
			return nil, err
		}
		if err := h.initDirs(root); err != nil {
			return nil, err
		}
		err = checkFolderDir(root)
	}
	if err != nil {
		return nil, err
	}
	return &Store{hub: h, root: root}, nil
}

// Root returns the Maildir's root directory.
func (s *Store) Root() string { return s.root }

func (h *Hub) initDirs(dir string) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, sub), h.opts.DirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// checkFolderDir verifies that dir holds real (not symlinked) cur, new
// and tmp directories.
func checkFolderDir(dir string) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		fi, err := os.Lstat(filepath.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", dir, ErrNotFound)
		} else if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
			return fmt.Errorf("%s/%s: %w", dir, sub, ErrOutside)
		}
	}
	return nil
}

// FolderInfo describes one folder in a listing.
type FolderInfo struct {
	Name     string // canonical IMAP name
	NoSelect bool   // only implied by a child (".A.B" without ".A"): \Noselect
}

// List returns every folder, INBOX first, then by name; a parent that
// exists only because a child does is listed with NoSelect.
func (s *Store) List() ([]FolderInfo, error) {
	dirs, err := s.folderDirs()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{Inbox: true}
	out := []FolderInfo{{Name: Inbox}}
	for name := range dirs {
		seen[name] = true
	}
	for name := range dirs {
		if name != Inbox {
			out = append(out, FolderInfo{Name: name})
		}
		for i := strings.LastIndexByte(name, Delimiter); i > 0; i = strings.LastIndexByte(name[:i], Delimiter) {
			if p := name[:i]; !seen[p] {
				seen[p] = true
				out = append(out, FolderInfo{Name: p, NoSelect: true})
			}
		}
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].Name < out[1+j].Name })
	return out, nil
}

// folderDirs maps the names of the real folders to their directories.
// Symbolic links and entries without cur/new/tmp are left out.
func (s *Store) folderDirs() (map[string]string, error) {
	s.hub.stats.RootListings.Add(1)
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range ents {
		if !e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
			continue // not followed, whatever it points at
		}
		name, ok := folderName(e.Name())
		if !ok || name == Inbox {
			continue
		}
		dir := filepath.Join(s.root, e.Name())
		if checkFolderDir(dir) != nil {
			continue
		}
		out[name] = dir
	}
	s.noteListing(out)
	return out, nil
}

// dir resolves a folder name to its directory; the folder must exist.
func (s *Store) dir(name string) (string, string, error) {
	name, err := CanonicalName(name)
	if err != nil {
		return "", "", err
	}
	if name == Inbox {
		return name, s.root, nil
	}
	dir, err := s.lookup(name)
	if err != nil {
		return "", "", err
	}
	return name, dir, nil
}

// Exists reports whether a selectable folder of that name exists.
func (s *Store) Exists(name string) bool {
	_, _, err := s.dir(name)
	return err == nil
}

// Create makes a folder (and no parents: Maildir++ parents are implied).
func (s *Store) Create(name string) error {
	name, err := CanonicalName(name)
	if err != nil {
		return err
	}
	if name == Inbox {
		return fmt.Errorf("%s: %w", name, ErrExists)
	}
	if _, _, err := s.dir(name); err == nil {
		return fmt.Errorf("%s: %w", name, ErrExists)
	}
	// Parents are implied in Maildir++ (they list as \Noselect), so one
	// CREATE makes one folder, whatever its depth.
	rs := s.hub.rootState(s.root)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if max := s.limits.MaxFolders; max > 0 {
		n, err := s.folderCountLocked(rs)
		if err != nil {
			return err
		}
		if n+1 > max {
			return &LimitError{What: "folders", Max: max}
		}
	}
	dir := filepath.Join(s.root, dirName(name))
	err = os.Mkdir(dir, s.hub.opts.DirPerm)
	if err == nil && rs.counted {
		rs.count++
	}
	if errors.Is(err, fs.ErrExist) {
		if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s: %w", name, ErrOutside)
		}
		// A leftover without cur/new/tmp: complete it.
	} else if err != nil {
		return err
	}
	if err := s.hub.initDirs(dir); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_CREATE|os.O_WRONLY, s.hub.opts.FilePerm)
	if err != nil {
		return err
	}
	return f.Close()
}

// Delete removes a folder and its messages. Its children stay; the name
// then lives on as a \Noselect parent. INBOX cannot be deleted.
func (s *Store) Delete(name string) error {
	name, dir, err := s.dir(name)
	if err != nil {
		return err
	}
	if name == Inbox {
		return fmt.Errorf("INBOX: %w", ErrCannot)
	}
	// Rename first, so that the folder vanishes at once for everybody,
	// then remove at leisure; a crash leaves only a hidden trash dir.
	trash := filepath.Join(s.root, ".."+"imapd-deleted."+filepath.Base(dir)[1:])
	if len(filepath.Base(trash)) > maxDirName {
		trash = filepath.Join(s.root, "..imapd-deleted")
	}
	_ = os.RemoveAll(trash)
	if err := os.Rename(dir, trash); err != nil {
		return err
	}
	s.hub.forget(dir)
	rs := s.hub.rootState(s.root)
	rs.mu.Lock()
	if rs.counted && rs.count > 0 {
		rs.count--
	}
	rs.mu.Unlock()
	if err := s.moveSpecialUse(name, ""); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// Rename renames a folder and all its children. Renaming INBOX moves its
// messages into a new folder and leaves INBOX empty, as RFC 3501 §6.3.5
// asks.
func (s *Store) Rename(oldName, newName string) error {
	oldCanon, err := CanonicalName(oldName)
	if err != nil {
		return err
	}
	_, oldDir, err := s.dir(oldCanon)
	if err != nil && !(errors.Is(err, ErrNotFound) && s.hasChildren(oldCanon)) {
		return err
	}
	oldName = oldCanon
	newName, err = CanonicalName(newName)
	if err != nil {
		return err
	}
	if newName == Inbox || s.Exists(newName) {
		return fmt.Errorf("%s: %w", newName, ErrExists)
	}
	if oldName == newName || isParent(oldName, newName) {
		return fmt.Errorf("%s: %w", newName, ErrRenameIntoChild)
	}
	if oldName == Inbox {
		return s.renameInbox(newName)
	}
	dirs, err := s.folderDirs()
	if err != nil {
		return err
	}
	for name := range dirs {
		if isParent(oldName, name) {
			if s.Exists(newName + name[len(oldName):]) {
				return fmt.Errorf("%s: %w", newName+name[len(oldName):], ErrExists)
			}
		}
	}
	if oldDir != "" {
		if err := s.renameDir(oldDir, newName); err != nil {
			return err
		}
	}
	for name, dir := range dirs {
		if isParent(oldName, name) {
			if err := s.renameDir(dir, newName+name[len(oldName):]); err != nil {
				return err
			}
		}
	}
	return s.moveSpecialUse(oldName, newName)
}

func (s *Store) hasChildren(name string) bool {
	name, err := CanonicalName(name)
	if err != nil {
		return false
	}
	dirs, err := s.folderDirs()
	if err != nil {
		return false
	}
	for n := range dirs {
		if isParent(name, n) {
			return true
		}
	}
	return false
}

func (s *Store) renameDir(dir, newName string) error {
	target := filepath.Join(s.root, dirName(newName))
	// renameat2(RENAME_NOREPLACE) would be ideal; Rename refuses a
	// non-empty target directory, which is what we need here.
	if err := os.Rename(dir, target); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			return fmt.Errorf("%s: %w", newName, ErrExists)
		}
		return err
	}
	s.hub.forget(dir)
	return nil
}

// renameInbox moves every message of INBOX into a new folder.
func (s *Store) renameInbox(newName string) error {
	if err := s.Create(newName); err != nil {
		return err
	}
	src, err := s.Select(Inbox, SelectOptions{})
	if err != nil {
		return err
	}
	defer src.Close()
	uids := src.UIDs()
	if len(uids) == 0 {
		return nil
	}
	_, err = src.Move(uids, newName)
	return err
}
