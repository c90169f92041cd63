package maildir

import (
	"errors"
	"fmt"
	"strings"
)

// Limits bound what clients can make a Store hold. The IMAP server owns
// the values (its Limits, with their defaults and configuration keys) and
// hands them to each Store it opens with SetLimits; this package only
// enforces them. A zero field means no limit.
type Limits struct {
	// MaxKeywords bounds the distinct keywords of one folder: those
	// named in its keyword file and those kept in the sidecar. A change
	// that would introduce more (a flag change, an append, a copy or
	// move into the folder) fails with a *LimitError and changes nothing.
	// It is checked under the folder's lock, so sessions of one process,
	// and processes sharing the folder, cannot together exceed it.
	MaxKeywords int
	// MaxFolders bounds the folders of one Store (INBOX not counted).
	// A Create or Rename that would make more fails with a *LimitError.
	// The count is kept per root in the Hub (see folderCount): exact for
	// the sessions of one process, a soft bound when another process
	// creates folders at the same moment.
	MaxFolders int
}

// ErrLimit says an operation would exceed one of the Store's Limits. The
// error is a *LimitError, which says which limit and its value.
var ErrLimit = errors.New("limit exceeded")

// LimitError is the error of an operation refused by Limits.
type LimitError struct {
	What string // "keywords" (per folder) or "folders" (per user)
	Max  int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v: at most %d %s", ErrLimit, e.Max, e.What)
}

// Is makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// SetLimits sets the limits the Store enforces from now on.
func (s *Store) SetLimits(l Limits) { s.limits = l }

// checkKeywordsLocked refuses, with a *LimitError, keywords that would
// bring the folder past max distinct keywords. The caller holds the
// folder lock and has refreshed the folder, so the count includes what
// other sessions and processes added. Keywords that already have a letter
// cost nothing to check; otherwise one pass over the sidecar's keywords.
func (f *folder) checkKeywordsLocked(max int, keywords []string) error {
	if max <= 0 || len(keywords) == 0 {
		return nil
	}
	unlettered := false
	for _, k := range keywords {
		if _, ok := f.kw.letter(k); !ok {
			unlettered = true
			break
		}
	}
	if !unlettered {
		return nil
	}
	known := f.keywordSetLocked()
	n := len(known)
	for _, k := range keywords {
		lk := strings.ToLower(k)
		if _, ok := known[lk]; !ok {
			known[lk] = k
			n++
		}
	}
	if n > max {
		return &LimitError{What: "keywords in a folder", Max: max}
	}
	return nil
}

// keywordSetLocked returns every keyword the folder knows, by lower-case
// name: those with a letter and those kept in the sidecar.
func (f *folder) keywordSetLocked() map[string]string {
	set := map[string]string{}
	for _, n := range f.kw.names {
		if n != "" {
			set[strings.ToLower(n)] = n
		}
	}
	for _, r := range f.side.recs {
		for _, k := range r.extra {
			lk := strings.ToLower(k)
			if _, ok := set[lk]; !ok {
				set[lk] = k
			}
		}
	}
	return set
}
