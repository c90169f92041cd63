package imapd

import (
	"slices"
	"strings"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// cmdCreate is RFC 3501 §6.3.3. A trailing delimiter only says the
// client means to create children, so it is dropped; superior levels
// need no folder of their own in Maildir++ (they list as \Noselect).
func cmdCreate(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.CreateArgs)
	name, err := mailboxName(a.Mailbox)
	if err != nil {
		return outcome{}, err
	}
	name = strings.TrimSuffix(name, string(maildir.Delimiter))
	if !a.HasUse || len(a.Use) == 0 {
		return outcome{}, s.store.Create(name)
	}
	return outcome{}, s.createSpecial(name, a.Use)
}

// createSpecial is CREATE ... (USE (...)) (RFC 6154 §3): the folder is
// created with its special uses recorded, or not at all.
func (s *session) createSpecial(name string, uses []string) error {
	for _, u := range uses {
		if !slices.Contains(creatableUses, u) {
			return no("USEATTR", "Special use "+u+" is not supported; these are: "+strings.Join(creatableUses, " "))
		}
	}
	if err := s.store.Create(name); err != nil {
		return err
	}
	err := s.store.EditSpecialUse(func(recorded map[string][]string, _ bool) error {
		canon, err := maildir.CanonicalName(name)
		if err != nil {
			return err
		}
		recorded[canon] = slices.Compact(slices.Sorted(slices.Values(uses)))
		return nil
	})
	if err != nil {
		if derr := s.store.Delete(name); derr != nil {
			s.log.Error("cannot remove a folder whose special use was not recorded", "folder", name, "err", derr)
		}
		return err
	}
	return nil
}

// cmdDelete is RFC 3501 §6.3.4. INBOX cannot be deleted; children stay.
func cmdDelete(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.MailboxArgs)
	name, err := mailboxName(a.Mailbox)
	if err != nil {
		return outcome{}, err
	}
	if canon, err := maildir.CanonicalName(name); err == nil && canon == maildir.Inbox {
		return outcome{}, no("CANNOT", "INBOX cannot be deleted")
	}
	if err := s.checkNoselectParent(name); err != nil {
		return outcome{}, err
	}
	if s.mbox != nil && s.mbox.Name() == name {
		// Deleting the selected mailbox: deselect it first, so that the
		// session does not hold a folder that is gone, and say so with
		// [CLOSED] (RFC 7162 §3.2.11), as after a SELECT.
		s.closeMailbox()
		s.w.Status("", "OK", "CLOSED", "Selected mailbox deleted")
	}
	return outcome{}, s.store.Delete(name)
}

// checkNoselectParent refuses to delete a name that exists only as the
// \Noselect parent of other folders: RFC 3501 §6.3.4 calls that an
// error, and the name goes away by itself with its last child.
func (s *session) checkNoselectParent(name string) error {
	canon, err := maildir.CanonicalName(name)
	if err != nil || s.store.Exists(canon) {
		return nil // the store gives the right error, or deletes it
	}
	folders, err := s.store.List()
	if err != nil {
		return err
	}
	for _, f := range folders {
		if f.Name == canon && f.NoSelect {
			return no("CANNOT", "Mailbox is \\Noselect and has children; delete them first")
		}
	}
	return nil
}

// cmdRename is RFC 3501 §6.3.5; renaming INBOX moves its messages.
func cmdRename(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.RenameArgs)
	from, err := mailboxName(a.From)
	if err != nil {
		return outcome{}, err
	}
	to, err := mailboxName(a.To)
	if err != nil {
		return outcome{}, err
	}
	if err := s.store.Rename(from, strings.TrimSuffix(to, string(maildir.Delimiter))); err != nil {
		return outcome{}, err
	}
	if s.mbox != nil && s.mbox.Name() != maildir.Inbox {
		// The selected folder, or a parent of it, has moved away under
		// this session's own command. Left selected, it would be Gone at
		// the next command and end the session with BYE, which is for
		// changes made by someone else; deselect it instead and say so
		// with [CLOSED], as DELETE does. (RENAME of INBOX leaves INBOX
		// in place, emptied: the session sees EXPUNGEs, not a close.)
		if canon, err := maildir.CanonicalName(from); err == nil {
			if sel := s.mbox.Name(); sel == canon || strings.HasPrefix(sel, canon+string(maildir.Delimiter)) {
				s.closeMailbox()
				s.w.Status("", "OK", "CLOSED", "Selected mailbox renamed")
			}
		}
	}
	return outcome{}, nil
}

// cmdSubscribe is RFC 3501 §6.3.6.
func cmdSubscribe(s *session, c *wire.Command) (outcome, error) {
	name, err := mailboxName(c.Args.(*wire.MailboxArgs).Mailbox)
	if err != nil {
		return outcome{}, err
	}
	return outcome{}, s.store.Subscribe(name)
}

// cmdUnsubscribe is RFC 3501 §6.3.7.
func cmdUnsubscribe(s *session, c *wire.Command) (outcome, error) {
	name, err := mailboxName(c.Args.(*wire.MailboxArgs).Mailbox)
	if err != nil {
		return outcome{}, err
	}
	return outcome{}, s.store.Unsubscribe(name)
}
