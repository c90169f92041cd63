package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"imapd/maildir"
)

// openStore opens the Maildir at dir (creating it when create is set),
// first taking on the identity of its owner when run as root, so that what
// the store creates (sidecars, caches, folders) belongs to the mail user.
// The caller closes the Hub.
func openStore(dir string, create bool) (*maildir.Hub, *maildir.Store, error) {
	if err := becomeOwner(dir); err != nil {
		return nil, nil, err
	}
	hub := maildir.NewHub(maildir.Options{})
	st, err := hub.Open(dir, create)
	if err != nil {
		hub.Close()
		if errors.Is(err, maildir.ErrNotFound) {
			return nil, nil, fmt.Errorf("%s is not a Maildir (no cur/, new/ and tmp/)", dir)
		}
		if errors.Is(err, maildir.ErrOutside) {
			return nil, nil, fmt.Errorf("%s: cur/, new/ or tmp/ is a symbolic link or not a directory", dir)
		}
		return nil, nil, err
	}
	return hub, st, nil
}

// becomeOwner switches a process running as root to the owner (uid, gid,
// no supplementary groups) of path, or of its nearest existing parent when
// path does not exist yet. A root-owned tree is worked on as root; any
// other effective user stays who it is.
func becomeOwner(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	p := filepath.Clean(path)
	var st *syscall.Stat_t
	for {
		fi, err := os.Stat(p)
		if err == nil {
			st, _ = fi.Sys().(*syscall.Stat_t)
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || p == filepath.Dir(p) {
			return err
		}
		p = filepath.Dir(p)
	}
	if st == nil || st.Uid == 0 {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("dropping privileges: %w", err)
	}
	if err := syscall.Setgid(int(st.Gid)); err != nil {
		return fmt.Errorf("becoming group %d (owner of %s): %w", st.Gid, p, err)
	}
	if err := syscall.Setuid(int(st.Uid)); err != nil {
		return fmt.Errorf("becoming user %d (owner of %s): %w", st.Uid, p, err)
	}
	return nil
}

// folderError turns the store's typed errors into one plain sentence.
func folderError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, maildir.ErrExists):
		return fmt.Errorf("folder %q exists", name)
	case errors.Is(err, maildir.ErrNotFound):
		return fmt.Errorf("no folder %q", name)
	case errors.Is(err, maildir.ErrInvalidName):
		return fmt.Errorf("folder name %q: %w", name, err)
	case errors.Is(err, maildir.ErrOutside):
		return fmt.Errorf("folder %q is a symbolic link or leads outside the Maildir; refused", name)
	case errors.Is(err, maildir.ErrCannot):
		return fmt.Errorf("folder %q cannot be deleted", name)
	}
	return fmt.Errorf("folder %q: %w", name, err)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
