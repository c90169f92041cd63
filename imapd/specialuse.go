package imapd

import (
	"errors"
	"slices"
	"strings"

	"imapd/maildir"
)

// SpecialFolder names the folder a client should use for one purpose
// (RFC 6154 §2): LIST shows Use on it.
type SpecialFolder struct {
	Use  string // `\Sent`, `\Drafts`, `\Trash`, `\Junk` or `\Archive`
	Name string // the folder's name, UTF-8, levels joined by "."
}

// creatableUses are the special uses a folder of ours can have: those of
// RFC 6154 §2 but \All and \Flagged, which name virtual folders we do not
// have.
var creatableUses = []string{`\Archive`, `\Drafts`, `\Junk`, `\Sent`, `\Trash`}

// wellKnownFolders maps the names users' folders usually have, in lower
// case, to their special use, so that LIST marks them without any
// configuration: the names in Dovecot's default config (15-mailboxes.conf:
// Drafts, Junk, Trash, Sent, "Sent Messages"), Thunderbird's (Archives),
// and those Outlook and Apple Mail leave in a Maildir moved over.
var wellKnownFolders = map[string]string{
	"sent": `\Sent`, "sent messages": `\Sent`, "sent items": `\Sent`, "sent mail": `\Sent`,
	"drafts": `\Drafts`,
	"trash":  `\Trash`, "deleted messages": `\Trash`, "deleted items": `\Trash`,
	"junk": `\Junk`, "spam": `\Junk`, "junk e-mail": `\Junk`,
	"archive": `\Archive`, "archives": `\Archive`,
}

// specialUses returns the special-use attributes of the folders, by name
// (folderUses).
func (s *session) specialUses(folders []maildir.FolderInfo) (map[string][]string, error) {
	recorded, _, err := s.store.SpecialUse()
	if err != nil {
		return nil, err
	}
	return folderUses(folders, recorded, s.srv.opts.SpecialFolders), nil
}

// folderUses gives each folder its special-use attributes: a folder the
// sidecar names (a client's CREATE ... (USE ...), or one we created) has
// what it records; any other has the uses the configuration ([folders])
// gives its name, else the use its name usually has.
func folderUses(folders []maildir.FolderInfo, recorded map[string][]string, configured []SpecialFolder) map[string][]string {
	out := map[string][]string{}
	for _, f := range folders {
		if f.NoSelect || f.Name == maildir.Inbox {
			continue
		}
		if uses, ok := recorded[f.Name]; ok {
			out[f.Name] = uses
			continue
		}
		for _, sf := range configured {
			if sf.Name == f.Name && !slices.Contains(out[f.Name], sf.Use) {
				out[f.Name] = append(out[f.Name], sf.Use)
			}
		}
		if out[f.Name] == nil {
			if use, ok := wellKnownFolders[strings.ToLower(f.Name)]; ok {
				out[f.Name] = []string{use}
			}
		}
	}
	return out
}

// createSpecialFolders creates, at a user's first login, the configured
// special folders whose use no folder has yet (a Maildir that already has
// "Sent Items" gets no "Sent"), subscribed, and records them in the
// special-use sidecar. The sidecar's existence marks the first login as
// done, so a folder the user deletes later stays deleted.
func (s *session) createSpecialFolders() error {
	if !s.srv.opts.CreateSpecialFolders || len(s.srv.opts.SpecialFolders) == 0 {
		return nil
	}
	if _, existed, err := s.store.SpecialUse(); err != nil || existed {
		return err
	}
	return s.store.EditSpecialUse(func(recorded map[string][]string, existed bool) error {
		if existed {
			return nil // another session of the user's did it meanwhile
		}
		folders, err := s.store.List()
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, uses := range folderUses(folders, recorded, s.srv.opts.SpecialFolders) {
			for _, u := range uses {
				have[u] = true
			}
		}
		for _, sf := range s.srv.opts.SpecialFolders {
			if have[sf.Use] {
				continue
			}
			if err := s.store.Create(sf.Name); err != nil && !errors.Is(err, maildir.ErrExists) {
				return err
			}
			if err := s.store.Subscribe(sf.Name); err != nil {
				return err
			}
			recorded[sf.Name] = append(recorded[sf.Name], sf.Use)
			have[sf.Use] = true
		}
		return nil
	})
}
