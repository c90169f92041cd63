package auth

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
)

// SystemIdentity returns the Identity of a system user from the passwd and
// group databases, without checking a password: for imapd --preauth, where
// the user is the one who runs the program. mailLocation is a template as
// in PAMOptions.MailLocation ("" means "~/Maildir"). Errors wrap
// ErrUnavailable, or ErrFailed for a user the database does not know.
func SystemIdentity(username, mailLocation string) (Identity, error) {
	_, loc, err := PAMOptions{MailLocation: mailLocation}.withDefaults()
	if err != nil {
		return Identity{}, err
	}
	return systemIdentity(loc, username, username, 0)
}

// errNoSystemUser is wrapped (with ErrFailed) by systemIdentity for a name
// the passwd database does not know.
var errNoSystemUser = errors.New("no such user in the passwd database")

// systemIdentity looks up name in the passwd database and builds the
// Identity reported as given; a uid below minUID is ErrFailed.
func systemIdentity(mail location, given, name string, minUID int) (Identity, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if errors.As(err, new(user.UnknownUserError)) {
			return Identity{}, fmt.Errorf("%w: %w", ErrFailed, errNoSystemUser)
		}
		return Identity{}, fmt.Errorf("%w: passwd lookup: %w", ErrUnavailable, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return Identity{}, fmt.Errorf("%w: passwd entry: %w", ErrUnavailable, err)
	}
	if uid < minUID {
		return Identity{}, fmt.Errorf("%w: uid %d is below the lowest allowed, %d", ErrFailed, uid, minUID)
	}
	gidStrs, err := u.GroupIds()
	if err != nil {
		return Identity{}, fmt.Errorf("%w: group lookup: %w", ErrUnavailable, err)
	}
	groups := make([]int, 0, len(gidStrs))
	for _, s := range gidStrs {
		g, err := strconv.Atoi(s)
		if err != nil {
			return Identity{}, fmt.Errorf("%w: group lookup: %w", ErrUnavailable, err)
		}
		groups = append(groups, g)
	}
	maildir, err := mail.expand(u.Username, u.HomeDir)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return Identity{
		Username: given,
		Maildir:  maildir,
		Home:     u.HomeDir,
		UID:      uid,
		GID:      gid,
		Groups:   groups,
		System:   true,
	}, nil
}
