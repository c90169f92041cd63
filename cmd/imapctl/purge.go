package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// purgePlan is a checked removal of one user's Maildir.
type purgePlan struct {
	// base is the mail location's base directory; nothing outside it is
	// touched, and it is never removed itself.
	base string
	// rel is the Maildir relative to base; maildir is the full path.
	rel, maildir string
	// present is false when there is no Maildir (the user never logged
	// in): nothing to remove.
	present bool
}

// planPurge checks, before anything is changed, that user's Maildir can be
// removed: it lies strictly below the mail location's base, no directory
// on the way from the base to it is a symbolic link (the base itself may
// be one, an administrator's choice), it looks like a Maildir, and no other
// user's Maildir is the same directory, inside it or around it.
func planPurge(cfg config, user string, others []string) (*purgePlan, error) {
	maildir, home, err := cfg.locate(user)
	if err != nil {
		return nil, err
	}
	base := cfg.mailBase(home)
	rel, err := filepath.Rel(base, maildir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("Maildir %s is not inside the mail location's base %s; refusing to remove it", maildir, base)
	}
	for _, o := range others {
		od, _, err := cfg.locate(o)
		if err == nil && (od == maildir || within(od, maildir) || within(maildir, od)) {
			return nil, fmt.Errorf("Maildir %s also holds the mail of user %q; refusing to remove it", maildir, o)
		}
	}
	plan := &purgePlan{base: base, rel: rel, maildir: maildir}

	root, err := os.OpenRoot(base)
	if errors.Is(err, fs.ErrNotExist) {
		return plan, nil
	} else if err != nil {
		return nil, err
	}
	defer root.Close()
	p := ""
	for _, el := range strings.Split(rel, "/") {
		p = filepath.Join(p, el)
		fi, err := root.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return plan, nil // no Maildir: nothing to remove
		case err != nil:
			return nil, err
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil, fmt.Errorf("%s is a symbolic link: refusing to remove mail outside %s", filepath.Join(base, p), base)
		case !fi.IsDir():
			return nil, fmt.Errorf("%s is not a directory; left alone", filepath.Join(base, p))
		}
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if fi, err := root.Lstat(filepath.Join(rel, sub)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s does not look like a Maildir (no %s/ directory); left alone", maildir, sub)
		}
	}
	plan.present = true
	return plan, nil
}

// remove deletes the Maildir and then the directories above it that are
// left empty, up to but not including the base. All of it goes through an
// os.Root at the base, so a symbolic link swapped in after the checks
// still cannot lead the removal outside.
func (p *purgePlan) remove() error {
	if !p.present {
		return nil
	}
	root, err := os.OpenRoot(p.base)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.RemoveAll(p.rel); err != nil {
		return err
	}
	for d := filepath.Dir(p.rel); d != "."; d = filepath.Dir(d) {
		if root.Remove(d) != nil {
			break // not empty (other users' mail, say): keep it
		}
	}
	return nil
}

// within reports whether path lies strictly below dir (both clean).
func within(path, dir string) bool {
	return strings.HasPrefix(path, dir+"/") || dir == "/" && path != "/"
}
