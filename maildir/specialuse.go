package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"imapd/internal/atomicfile"
	"imapd/internal/mutf7"
)

// specialUseFile in the Maildir root records special-use attributes (RFC
// 6154) that a folder's name alone does not give: those a client set with
// CREATE ... (USE (...)), and those of the folders the server created. A
// line per attribute: the attribute, a space, the folder's name in
// modified UTF-7 (which holds no control character), as Dovecot writes
// names in its subscriptions file. Delete and Rename keep it in step.
const specialUseFile = "imapd-specialuse"

// SpecialUse returns the recorded attributes by canonical folder name, and
// whether the sidecar exists at all (it does once anything was recorded,
// or EditSpecialUse ran).
func (s *Store) SpecialUse() (map[string][]string, bool, error) {
	path := filepath.Join(s.root, specialUseFile)
	data, err := readRegular(path)
	switch {
	case isNotRegular(err):
		// Never read through a link; the next change replaces it.
		s.hub.log.Warn("special-use file is not a regular file, ignoring it", "path", path)
		return map[string][]string{}, false, nil
	case errors.Is(err, fs.ErrNotExist):
		return map[string][]string{}, false, nil
	case err != nil:
		return nil, false, err
	}
	uses := map[string][]string{}
	for _, l := range strings.Split(string(data), "\n") {
		attr, enc, ok := strings.Cut(strings.TrimRight(l, "\r"), " ")
		if !ok || !strings.HasPrefix(attr, `\`) {
			continue
		}
		dec, err := mutf7.Decode(enc)
		if err != nil {
			continue
		}
		if name, err := CanonicalName(dec); err == nil {
			uses[name] = append(uses[name], attr)
		}
	}
	return uses, true, nil
}

// EditSpecialUse changes the sidecar under its lock: edit gets the
// recorded attributes and whether the sidecar existed, and changes the
// map (a name without attributes is dropped). The sidecar is written even
// when nothing changed, so that it exists from then on.
func (s *Store) EditSpecialUse(edit func(uses map[string][]string, existed bool) error) error {
	l, err := openLock(filepath.Join(s.root, specialUseFile+".lock"))
	if err != nil {
		return err
	}
	defer l.close()
	if err := l.lock(); err != nil {
		return err
	}
	uses, existed, err := s.SpecialUse()
	if err != nil {
		return err
	}
	if err := edit(uses, existed); err != nil {
		return err
	}
	names := make([]string, 0, len(uses))
	for n := range uses {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		for _, attr := range uses[n] {
			b.WriteString(attr + " " + mutf7.Encode(n) + "\n")
		}
	}
	if err := atomicfile.WriteFileNoFollow(filepath.Join(s.root, specialUseFile), []byte(b.String()), s.hub.opts.FilePerm); err != nil {
		return fmt.Errorf("special-use file: %w", err)
	}
	return nil
}

// moveSpecialUse follows Delete (to is "") and Rename (the folder's
// children move with it) in the sidecar, if there is one.
func (s *Store) moveSpecialUse(from, to string) error {
	uses, existed, err := s.SpecialUse()
	if err != nil || !existed {
		return err
	}
	// A deleted folder's children stay where they are.
	moves := func(n string) bool { return n == from || (to != "" && isParent(from, n)) }
	affected := false
	for n := range uses {
		affected = affected || moves(n)
	}
	if !affected {
		return nil
	}
	return s.EditSpecialUse(func(uses map[string][]string, _ bool) error {
		for n, attrs := range uses {
			if !moves(n) {
				continue
			}
			delete(uses, n)
			if to != "" {
				uses[to+n[len(from):]] = attrs
			}
		}
		return nil
	})
}
