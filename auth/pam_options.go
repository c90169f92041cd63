package auth

import (
	"fmt"
	"log/slog"
	"strings"
)

// PAMOptions configure a PAM backend (see NewPAM). Zero fields take the
// defaults. They are defined in every build so that a daemon built without
// PAM support still compiles and can say so at start-up.
type PAMOptions struct {
	// Service is the PAM service name: the stack is read from
	// /etc/pam.d/<Service> (contrib/pam.d/imapd). Default "imapd".
	Service string
	// MailLocation is the template for a system user's Maildir, with the
	// home directory from the passwd database: "~/Maildir" (or the
	// equivalent "%h/Maildir") by default. "~" may start it, as a synonym
	// for %h; %u, %n and %d are filled in from the passwd name, as in
	// ExpandMailLocation, so "/var/mail/%u/Maildir" also works.
	MailLocation string
	// MinUID refuses users whose uid is lower (as Dovecot's
	// first_valid_uid does), so that system accounts cannot read mail.
	// Zero means 1000, Debian's first uid for people; uid 0 (root) is
	// always refused whatever the setting, since a session running as
	// root would undo the privilege separation.
	MinUID int
	// Concurrency bounds how many PAM transactions run at once. Each login
	// has its own transaction (a handle is never shared), but some PAM
	// modules keep global state and are not thread-safe, so the default, 1,
	// runs one at a time. pam_unix from Linux-PAM is safe to run in
	// parallel; raise this only if every module in the stack is.
	Concurrency int
	// CacheResults turns on the login cache (see Cache). It is off by
	// default because PAM checks more than a password: while a login is
	// cached, a password changed, an account locked or expired since is
	// not seen until the entry's TTL runs out (or the cache is flushed,
	// see PAM.Flush).
	CacheResults bool
	// Cache configures the login cache when CacheResults is set, as for
	// HtpasswdOptions.Cache.
	Cache CacheOptions
	// Logger receives the start-up warnings and PAM's own informational
	// messages (at debug level); never a password. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Defaults for PAMOptions.
const (
	DefaultPAMService      = "imapd"
	DefaultPAMMailLocation = "~/Maildir"
	DefaultPAMMinUID       = 1000
)

// withDefaults fills in the zero fields and checks the rest; it returns the
// parsed mail location.
func (o PAMOptions) withDefaults() (PAMOptions, location, error) {
	if o.Service == "" {
		o.Service = DefaultPAMService
	}
	if strings.ContainsAny(o.Service, "/\x00") || o.Service == "." || o.Service == ".." {
		return o, location{}, fmt.Errorf("pam: invalid service name %q", o.Service)
	}
	if o.MailLocation == "" {
		o.MailLocation = DefaultPAMMailLocation
	}
	tmpl := o.MailLocation
	if tmpl == "~" || strings.HasPrefix(tmpl, "~/") {
		tmpl = "%h" + tmpl[1:]
	}
	loc, err := parseLocation(tmpl)
	if err != nil {
		return o, location{}, fmt.Errorf("pam: %w", err)
	}
	if o.MinUID == 0 {
		o.MinUID = DefaultPAMMinUID
	}
	if o.MinUID < 0 {
		return o, location{}, fmt.Errorf("pam: negative minimum uid %d", o.MinUID)
	}
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.Concurrency < 0 {
		return o, location{}, fmt.Errorf("pam: negative concurrency %d", o.Concurrency)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, loc, nil
}
