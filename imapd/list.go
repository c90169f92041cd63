package imapd

import (
	"errors"
	"sort"
	"strings"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// listEntry is a name LIST may answer with, and what is known of it.
type listEntry struct {
	name     string
	folder   bool // a folder exists under the name
	parent   bool // no folder, but others below it (Maildir++: ".A.B" without ".A")
	children bool // folders exist below it
	// subscribed: the name is subscribed; subChild: a name below it is
	// (RECURSIVEMATCH's CHILDINFO).
	subscribed, subChild bool
	uses                 []string // special-use attributes (RFC 6154)
}

// list answers LIST, basic or extended (RFC 5258): the names that match
// any of ms and the selection options, with the attributes and extended
// data the return options ask for, each followed by its STATUS when
// RETURN (STATUS ...) asks (RFC 5819). REMOTE selects nothing more: all
// mailboxes are local.
func (s *session) list(a *wire.ListArgs, ms []*matcher) error {
	sel, ret := a.Select, a.Return
	s.checkStatusItems(ret.Status)
	entries, err := s.listEntries(sel.Subscribed || ret.Subscribed)
	if err != nil {
		return err
	}
	var hidden map[string]bool
	if sel.RecursiveMatch {
		hidden = hiddenSubChildren(entries, ms)
	}
	for _, e := range entries {
		if !matchesAny(ms, e.name) || (!e.folder && !e.parent && !sel.Subscribed) {
			continue
		}
		if sel.Subscribed && !e.subscribed && !hidden[e.name] {
			continue
		}
		if sel.SpecialUse && len(e.uses) == 0 {
			continue
		}
		// RFC 5258 §3.5: CHILDINFO says that names below satisfy the
		// selection (SUBSCRIBED, the one base option we have).
		s.writeListEntry(a, e, sel.RecursiveMatch && e.subChild)
		if ret.Status != nil && e.folder {
			if err := s.writeStatus(e.name, ret.Status); err != nil && !errors.Is(err, maildir.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// writeListEntry writes the LIST response for e. \Noinferiors (RFC 3501
// §7.2.2: "it is not possible for any child levels of hierarchy to exist
// under this name") is never sent: in Maildir++ any folder, INBOX
// included, can have children, so CREATE under any name succeeds.
func (s *session) writeListEntry(a *wire.ListArgs, e listEntry, childInfo bool) {
	var attrs []string
	switch {
	case e.folder:
	case e.parent && !a.Extended:
		attrs = append(attrs, `\Noselect`)
	default:
		// RFC 5258 §3: a name listed that no folder has, a subscription
		// or a parent, is \NonExistent (which implies \Noselect).
		attrs = append(attrs, `\NonExistent`)
	}
	if !a.Extended || a.Return.Children {
		if e.children {
			attrs = append(attrs, `\HasChildren`)
		} else {
			attrs = append(attrs, `\HasNoChildren`)
		}
	}
	if e.folder {
		// RFC 3501 §7.2.2: \Marked if messages arrived since the folder
		// was last selected (they wait in new/).
		if marked, err := s.store.Marked(e.name); err == nil {
			if marked {
				attrs = append(attrs, `\Marked`)
			} else {
				attrs = append(attrs, `\Unmarked`)
			}
		}
	}
	if e.subscribed && (a.Select.Subscribed || a.Return.Subscribed) {
		attrs = append(attrs, `\Subscribed`)
	}
	if !a.Extended || a.Return.SpecialUse || a.Select.SpecialUse {
		attrs = append(attrs, e.uses...)
	}
	s.w.Untagged().Raw("LIST ").Flags(attrs).Raw(` "` + delim + `" `).MailboxUTF8(e.name)
	if childInfo {
		s.w.Raw(` ("CHILDINFO" ("SUBSCRIBED"))`)
	}
	s.w.CRLF()
}

// listEntries returns every name LIST might answer with, INBOX first,
// then by name: the folders and the parents they imply, and with
// subscriptions the subscribed names that no folder has and their parents.
func (s *session) listEntries(withSubs bool) ([]listEntry, error) {
	folders, err := s.store.List()
	if err != nil {
		return nil, err
	}
	uses, err := s.specialUses(folders)
	if err != nil {
		return nil, err
	}
	byName := map[string]*listEntry{}
	var names []string
	add := func(name string) *listEntry {
		e := byName[name]
		if e == nil {
			e = &listEntry{name: name, uses: uses[name]}
			byName[name] = e
			names = append(names, name)
		}
		return e
	}
	for _, f := range folders {
		e := add(f.Name)
		e.folder, e.parent = !f.NoSelect, f.NoSelect
	}
	for _, f := range folders {
		if i := strings.LastIndexByte(f.Name, maildir.Delimiter); i > 0 {
			byName[f.Name[:i]].children = true
		}
	}
	if withSubs {
		subs, err := s.store.Subscriptions()
		if err != nil {
			return nil, err
		}
		for _, n := range subs {
			add(n).subscribed = true
			for i := strings.LastIndexByte(n, maildir.Delimiter); i > 0; i = strings.LastIndexByte(n[:i], maildir.Delimiter) {
				add(n[:i]).subChild = true
			}
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == maildir.Inbox) != (names[j] == maildir.Inbox) {
			return names[i] == maildir.Inbox
		}
		return names[i] < names[j]
	})
	out := make([]listEntry, len(names))
	for i, n := range names {
		out[i] = *byName[n]
	}
	return out, nil
}

// hiddenSubChildren returns the names below which a subscribed name
// matches none of ms: RFC 5258 §3.5's RECURSIVEMATCH lists such a name,
// though not subscribed itself, for the sake of that child (with "%");
// a child that matches (with "*") is listed itself, and its parent is
// not for its sake (as Dovecot answers).
func hiddenSubChildren(entries []listEntry, ms []*matcher) map[string]bool {
	out := map[string]bool{}
	for _, c := range entries {
		if !c.subscribed || matchesAny(ms, c.name) {
			continue
		}
		for i := strings.LastIndexByte(c.name, maildir.Delimiter); i > 0; i = strings.LastIndexByte(c.name[:i], maildir.Delimiter) {
			out[c.name[:i]] = true
		}
	}
	return out
}

func matchesAny(ms []*matcher, name string) bool {
	for _, m := range ms {
		if m.match(name) {
			return true
		}
	}
	return false
}
