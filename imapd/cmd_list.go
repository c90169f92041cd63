package imapd

import (
	"sort"
	"strings"

	"imapd/imapd/wire"
	"imapd/maildir"
)

const delim = string(maildir.Delimiter)

// cmdList is LIST (RFC 3501 §6.3.8, with LIST-EXTENDED, RFC 5258;
// LIST-STATUS, RFC 5819; SPECIAL-USE, RFC 6154) and LSUB (§6.3.9).
func cmdList(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.ListArgs)
	ref, err := a.Reference.UTF8()
	if a.Reference == "" {
		ref, err = "", nil
	}
	if err != nil {
		// No folder name is invalid modified UTF-7, so a pattern (or a
		// reference, its prefix) that is matches nothing: an empty OK,
		// as Dovecot answers. Only a mailbox name that must exist
		// (SELECT, CREATE, SUBSCRIBE...) is refused with NO [CANNOT].
		return outcome{}, nil
	}
	var ms []*matcher
	for _, p := range a.Patterns {
		if pat, err := decodePattern(string(p)); err == nil {
			ms = append(ms, newMatcher(canonicalPattern(ref+pat)))
		}
	}
	if c.Name == "LSUB" {
		if len(ms) == 0 {
			return outcome{}, nil
		}
		return outcome{}, s.lsub(ms[0])
	}
	if len(a.Patterns) == 1 && a.Patterns[0] == "" && !a.Extended {
		// The hierarchy delimiter and the root of the reference. (An
		// extended LIST of "" lists nothing, as Dovecot answers: the
		// special case is the basic command's.)
		root := ""
		if i := strings.IndexByte(ref, maildir.Delimiter); i >= 0 {
			root = ref[:i+1]
		}
		s.w.Untagged().Raw(`LIST (\Noselect) "` + delim + `" `).String(root).CRLF()
		return outcome{}, nil
	}
	return outcome{}, s.list(a, ms)
}

// lsub lists subscribed names matching m. When a subscribed name does
// not match but one of its parents that is not subscribed does (with
// "%": "foo" for "foo.bar"), the parent is listed with \Noselect (RFC
// 3501 §6.3.9); with "*" the subscribed name matches itself and no
// parent is added, as Dovecot does.
func (s *session) lsub(m *matcher) error {
	subs, err := s.store.Subscriptions()
	if err != nil {
		return err
	}
	subscribed := map[string]bool{}
	for _, n := range subs {
		subscribed[n] = true
	}
	out := map[string]bool{} // name -> only a parent
	for _, n := range subs {
		if m.match(n) {
			out[n] = false
			continue
		}
		for i := strings.LastIndexByte(n, maildir.Delimiter); i > 0; i = strings.LastIndexByte(n[:i], maildir.Delimiter) {
			if p := n[:i]; !subscribed[p] && m.match(p) {
				if _, ok := out[p]; !ok {
					out[p] = true
				}
			}
		}
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	folders, err := s.store.List()
	if err != nil {
		return err
	}
	uses, err := s.specialUses(folders)
	if err != nil {
		return err
	}
	for _, n := range names {
		var attrs []string
		if out[n] {
			attrs = append(attrs, `\Noselect`)
		}
		// Special uses too, as Dovecot sends them: RFC 6154 is silent
		// on LSUB, and a client that reads them there is helped.
		attrs = append(attrs, uses[n]...)
		s.writeListLine("LSUB", attrs, n)
	}
	return nil
}

func (s *session) writeListLine(kind string, attrs []string, name string) {
	s.w.Untagged().Raw(kind).SP().Flags(attrs).Raw(` "` + delim + `" `).MailboxUTF8(name).CRLF()
}

// decodePattern decodes a LIST pattern from modified UTF-7; the
// wildcards are printable ASCII and pass through.
func decodePattern(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return wire.Mailbox(p).UTF8()
}

// canonicalPattern spells a leading INBOX level (in any case) "INBOX",
// since INBOX is case-insensitive (RFC 3501 §5.1).
func canonicalPattern(p string) string {
	if len(p) >= 5 && strings.EqualFold(p[:5], maildir.Inbox) && (len(p) == 5 || p[5] == maildir.Delimiter) {
		return maildir.Inbox + p[5:]
	}
	return p
}

// matcher matches names against a LIST pattern: "*" matches anything,
// "%" anything but the delimiter (RFC 3501 §6.3.8). Matching is dynamic
// programming over pattern and name, never exponential.
type matcher struct {
	pat []rune
}

func newMatcher(p string) *matcher { return &matcher{pat: []rune(p)} }

func (m *matcher) match(name string) bool {
	n := []rune(name)
	// cur[j]: the pattern prefix read so far matches n[:j].
	cur := make([]bool, len(n)+1)
	next := make([]bool, len(n)+1)
	cur[0] = true
	for _, pc := range m.pat {
		switch pc {
		case '*', '%':
			reach := false
			for j := 0; j <= len(n); j++ {
				if pc == '%' && j > 0 && n[j-1] == maildir.Delimiter {
					reach = false // "%" does not span a delimiter
				}
				if cur[j] {
					reach = true
				}
				next[j] = reach
			}
		default:
			next[0] = false
			for j := 1; j <= len(n); j++ {
				next[j] = cur[j-1] && n[j-1] == pc
			}
		}
		cur, next = next, cur
	}
	return cur[len(n)]
}
