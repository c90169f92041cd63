package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"imapd/auth"
)

// config is the part of imapd's configuration file imapctl needs. The key
// names and defaults are imapd's (cmd/imapd/config.go); keys imapctl does
// not use are ignored here, since imapd itself checks them.
type config struct {
	Auth authConfig `toml:"auth"`
}

// authConfig is imapd's [auth] table.
type authConfig struct {
	// Htpasswd is the users file.
	Htpasswd string `toml:"htpasswd"`
	// MailLocation is the template of each user's Maildir (%u, %n, %d, %h).
	MailLocation string `toml:"mail_location"`
	// Home is the optional template of each user's home, for %h.
	Home string `toml:"home"`
}

// loadConfig reads the configuration file over imapd's defaults.
func loadConfig(path string) (config, error) {
	c := config{Auth: authConfig{
		Htpasswd:     "/etc/imapd/htpasswd",
		MailLocation: "/var/vmail/%u/Maildir",
	}}
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if _, err := toml.Decode(string(data), &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if c.Auth.Htpasswd == "" {
		return c, fmt.Errorf("config %s: auth.htpasswd is empty", path)
	}
	return c, nil
}

// locate returns a user's Maildir and home ("" without a home template),
// exactly as the server's htpasswd backend expands them.
func (c config) locate(user string) (maildir, home string, err error) {
	a := c.Auth
	if a.Home != "" {
		if strings.HasPrefix(a.Home, "%h") {
			return "", "", fmt.Errorf("auth.home %q cannot use %%h", a.Home)
		}
		if home, err = auth.ExpandMailLocation(a.Home, user, ""); err != nil {
			return "", "", fmt.Errorf("home: %w", err)
		}
	} else if strings.HasPrefix(a.MailLocation, "%h") {
		return "", "", fmt.Errorf("auth.mail_location %q uses %%h but auth.home is not set", a.MailLocation)
	}
	maildir, err = auth.ExpandMailLocation(a.MailLocation, user, home)
	return maildir, home, err
}

// mailBase is the directory every user's Maildir stays below: the home for
// a template starting with %h, else the fixed directory before the first
// variable (as auth.ExpandMailLocation defines it).
func (c config) mailBase(home string) string {
	t := c.Auth.MailLocation
	if strings.HasPrefix(t, "%h") {
		return filepath.Clean(home)
	}
	if i := strings.IndexByte(t, '%'); i >= 0 {
		t = t[:i]
	}
	return filepath.Clean(t[:strings.LastIndexByte(t, '/')+1])
}

// errNoUser is a user missing from the htpasswd file.
var errNoUser = errors.New("no such user")

// users reads the usernames of the htpasswd file; a missing file is an
// error unless allowMissing, when it has no users.
func (c config) users(allowMissing bool) ([]string, error) {
	f, err := auth.LoadFile(c.Auth.Htpasswd)
	if errors.Is(err, os.ErrNotExist) {
		if allowMissing {
			return nil, nil
		}
		return nil, fmt.Errorf("htpasswd file %s does not exist (user add creates it)", c.Auth.Htpasswd)
	}
	if err != nil {
		return nil, err
	}
	return f.Users(), nil
}

// userMaildir checks that user is in the htpasswd file and returns the
// user's Maildir.
func (c config) userMaildir(user string) (string, error) {
	users, err := c.users(false)
	if err != nil {
		return "", err
	}
	if !slices.Contains(users, user) {
		return "", fmt.Errorf("user %q: %w", user, errNoUser)
	}
	dir, _, err := c.locate(user)
	return dir, err
}
