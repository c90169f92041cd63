package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"imapd/internal/mutf7"
)

// Finding a folder by name costs a constant number of directory
// operations, whatever the number of folders: an lstat of each spelling
// the name can have on disk (see spellings), then the spellings the last
// listing of the root found for it. Nothing lists the root to find one
// name: with 13,000 folders that made every CREATE cost 40,000 lstat
// calls.

// maxSpellings bounds the spellings of one name tried by lstat. A name
// with more (many levels each with '%' or 8-bit characters) is found
// under its other spellings only once a listing (LIST) saw it.
const maxSpellings = 16

// spellings returns the directory names under which another tool may
// have stored the folder name (canonical, not INBOX), dirName's first:
// each level in modified UTF-7 or raw UTF-8, each '%' escaped as %25 or
// bare. Only those that folderName maps back to name are kept, at most
// maxSpellings.
func spellings(name string) []string {
	levels := strings.Split(name, string(Delimiter))
	alts := make([][]string, len(levels))
	total := 1
	for i, l := range levels {
		var enc []string
		for _, e := range []string{mutf7.Encode(l), l} {
			for _, pct := range []string{"%25", "%"} {
				s := strings.ReplaceAll(strings.ReplaceAll(e, "%", pct), "/", "%2F")
				if !containsString(enc, s) {
					enc = append(enc, s)
				}
			}
		}
		alts[i] = enc
		total *= len(enc)
		if total > 4*maxSpellings {
			// Enough: the first of each level's choices still lead.
			for j := i + 1; j < len(levels); j++ {
				alts[j] = []string{strings.ReplaceAll(strings.ReplaceAll(mutf7.Encode(levels[j]), "%", "%25"), "/", "%2F")}
			}
			break
		}
	}
	out := []string{dirName(name)}
	var walk func(i int, prefix string)
	walk = func(i int, prefix string) {
		if len(out) >= maxSpellings {
			return
		}
		if i == len(alts) {
			if n, ok := folderName(prefix); ok && n == name && !containsString(out, prefix) {
				out = append(out, prefix)
			}
			return
		}
		for _, a := range alts[i] {
			walk(i+1, prefix+"."+a)
		}
	}
	walk(0, "")
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// rootState is what a Hub remembers of one Maildir root between calls
// of the Stores opened on it: the number of folders, and the spellings
// of names a listing found under a directory name other than dirName's.
type rootState struct {
	mu        sync.Mutex // held by Create across its check and mkdir; guards the count
	counted   bool
	count     int       // folders below the root (INBOX not counted)
	countedAt time.Time // when count was last taken from a listing

	aliasMu sync.Mutex
	aliases map[string]string // name -> directory name, where it is not dirName's
}

// recountEvery is how old the folder count may grow before Create lists
// the root again to see what other processes created or removed. In
// between, our own Create, Delete and Rename keep it exact.
const recountEvery = 10 * time.Second

func (h *Hub) rootState(root string) *rootState {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.roots == nil {
		h.roots = map[string]*rootState{}
	}
	rs := h.roots[root]
	if rs == nil {
		rs = &rootState{}
		h.roots[root] = rs
	}
	return rs
}

// folderCountLocked returns the number of folders, listing the root when
// the count is missing or old. It counts by the directory entries alone
// (a Maildir++ name, a directory, not a link), without a stat of each,
// so a leftover without cur/ counts too: the bound errs on the safe side.
// The caller holds rs.mu.
func (s *Store) folderCountLocked(rs *rootState) (int, error) {
	if rs.counted && time.Since(rs.countedAt) < recountEvery {
		return rs.count, nil
	}
	s.hub.stats.RootListings.Add(1)
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if !e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
			continue
		}
		if name, ok := folderName(e.Name()); ok && name != Inbox {
			n++
		}
	}
	rs.counted, rs.count, rs.countedAt = true, n, time.Now()
	return n, nil
}

// noteListing records what a full listing of the root found: the count,
// and the names stored under a spelling other than dirName's.
func (s *Store) noteListing(dirs map[string]string) {
	rs := s.hub.rootState(s.root)
	rs.mu.Lock()
	rs.counted, rs.count, rs.countedAt = true, len(dirs), time.Now()
	rs.mu.Unlock()
	rs.aliasMu.Lock()
	defer rs.aliasMu.Unlock()
	rs.aliases = nil
	for name, dir := range dirs {
		if base := filepath.Base(dir); base != dirName(name) {
			if rs.aliases == nil {
				rs.aliases = map[string]string{}
			}
			rs.aliases[name] = base
		}
	}
}

// lookup finds the directory of a canonical name other than INBOX.
func (s *Store) lookup(name string) (string, error) {
	for i, sp := range spellings(name) {
		dir := filepath.Join(s.root, sp)
		s.hub.stats.Lookups.Add(1)
		fi, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
			if i == 0 {
				// The name's own directory leads elsewhere: refused, as
				// the folder is not listed either.
				return "", fmt.Errorf("%s: %w", name, ErrOutside)
			}
			continue // another spelling: not followed, not ours
		}
		switch err := checkFolderDir(dir); {
		case err == nil:
			return dir, nil
		case !errors.Is(err, ErrNotFound):
			return "", err
		}
	}
	rs := s.hub.rootState(s.root)
	rs.aliasMu.Lock()
	alias, ok := rs.aliases[name]
	rs.aliasMu.Unlock()
	if ok {
		dir := filepath.Join(s.root, alias)
		s.hub.stats.Lookups.Add(1)
		if fi, err := os.Lstat(dir); err == nil && fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 && checkFolderDir(dir) == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotFound)
}
