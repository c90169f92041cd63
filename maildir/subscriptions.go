package maildir

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"imapd/internal/atomicfile"
	"imapd/internal/mutf7"
)

// subscriptionsFile lives in the Maildir root, as Dovecot keeps it.
const subscriptionsFile = "subscriptions"

// Subscriptions returns the subscribed names, sorted. It reads both of
// Dovecot's formats: version 1 (a name per line, levels joined by the
// namespace separator, names as IMAP sends them) and version 2 (a "V\t2"
// header line and a blank line, levels joined by tabs).
func (s *Store) Subscriptions() ([]string, error) {
	data, err := readRegular(filepath.Join(s.root, subscriptionsFile))
	if isNotRegular(err) {
		// Never read through a link; the next change replaces it.
		s.hub.log.Warn("subscriptions file is not a regular file, ignoring it", "path", filepath.Join(s.root, subscriptionsFile))
		return nil, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	v2 := len(lines) > 0 && strings.HasPrefix(lines[0], "V\t")
	if v2 {
		lines = lines[1:]
	}
	set := map[string]bool{}
	for _, l := range lines {
		l = strings.TrimRight(l, "\r")
		if l == "" {
			continue
		}
		if v2 {
			l = strings.ReplaceAll(tabUnescape(l), "\t", string(Delimiter))
		}
		if d, err := mutf7.Decode(l); err == nil {
			l = d
		}
		if name, err := CanonicalName(l); err == nil {
			set[name] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// tabUnescape undoes Dovecot's str_tabescape (\001 escapes).
func tabUnescape(s string) string {
	if !strings.Contains(s, "\x01") {
		return s
	}
	r := strings.NewReplacer("\x011", "\x01", "\x01t", "\t", "\x01r", "\r", "\x01n", "\n", "\x010", "\x00")
	return r.Replace(s)
}

// Subscribe adds a name; the folder need not exist (RFC 3501 §6.3.6).
func (s *Store) Subscribe(name string) error { return s.editSubscriptions(name, true) }

// Unsubscribe removes a name; removing an absent one is not an error.
func (s *Store) Unsubscribe(name string) error { return s.editSubscriptions(name, false) }

func (s *Store) editSubscriptions(name string, add bool) error {
	name, err := CanonicalName(name)
	if err != nil {
		return err
	}
	l, err := openLock(filepath.Join(s.root, subscriptionsFile+".lock"))
	if err != nil {
		return err
	}
	defer l.close()
	if err := l.lock(); err != nil {
		return err
	}
	subs, err := s.Subscriptions()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	found := false
	for _, n := range subs {
		if n == name {
			found = true
			if !add {
				continue
			}
		}
		b.WriteString(mutf7.Encode(n) + "\n")
	}
	if found == add {
		return nil // nothing to change
	}
	if add {
		b.WriteString(mutf7.Encode(name) + "\n")
	}
	return atomicfile.WriteFileNoFollow(filepath.Join(s.root, subscriptionsFile), b.Bytes(), s.hub.opts.FilePerm)
}
