package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestValidUsername(t *testing.T) {
	for _, name := range []string{"alice", "bob@example.org", "Zoë", "a.b-c_d+e", "x.", strings.Repeat("a", MaxUsernameLen)} {
		if err := ValidUsername(name); err != nil {
			t.Errorf("ValidUsername(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{
		"", ".hidden", "..", "a/b", "/", "a\x00b", "a\nb", "a\rb", "a\tb", "a\x7fb", "a\u0085b",
		"\xff\xfe", strings.Repeat("a", MaxUsernameLen+1),
	} {
		err := ValidUsername(name)
		if !errors.Is(err, ErrInvalidUsername) {
			t.Errorf("ValidUsername(%q) = %v, want ErrInvalidUsername", name, err)
		}
		if err != nil && len(name) > 1 && strings.Contains(err.Error(), name) {
			t.Errorf("ValidUsername(%q) quotes the name: %v", name, err)
		}
	}
}

func TestExpandMailLocation(t *testing.T) {
	for _, tc := range []struct{ tmpl, user, home, want string }{
		{"/var/vmail/%u/Maildir", "alice", "", "/var/vmail/alice/Maildir"},
		{"/var/vmail/%d/%n/Maildir", "bob@example.org", "", "/var/vmail/example.org/bob/Maildir"},
		{"/var/vmail/%d/%n", "a@b@example.org", "", "/var/vmail/example.org/a@b"},
		{"/var/vmail/%n", "carol", "", "/var/vmail/carol"},
		{"/var/vmail/%u", "dave@example.org", "", "/var/vmail/dave@example.org"},
		{"/var/vmail//%u/./Maildir/", "erin", "", "/var/vmail/erin/Maildir"},
		{"/srv/mail/user-%u%%x", "frank", "", "/srv/mail/user-frank%x"},
		{"%h/Maildir", "gina", "/home/gina", "/home/gina/Maildir"},
		{"%h/.mail/%u", "gina", "/home/gina/", "/home/gina/.mail/gina"},
		{"%h", "hank", "/home/hank", "/home/hank"},
		{"/%u", "ivy", "", "/ivy"},
	} {
		got, err := ExpandMailLocation(tc.tmpl, tc.user, tc.home)
		if err != nil || got != tc.want {
			t.Errorf("ExpandMailLocation(%q, %q, %q) = %q, %v; want %q", tc.tmpl, tc.user, tc.home, got, err, tc.want)
		}
	}
}

// Every way a user name could move the Maildir out of its base is refused.
func TestExpandMailLocationEscapes(t *testing.T) {
	for _, tc := range []struct{ tmpl, user, home string }{
		{"/var/vmail/%d/%n", "x@..", ""},
		{"/var/vmail/%d/%n", "x@.", ""},
		{"/var/vmail/%d/%n", "x@.hidden", ""},
		{"/var/vmail/%d/%n", "@example.org", ""},        // empty %n
		{"/var/vmail/%d/%n", "nodomain", ""},            // empty %d
		{"/var/vmail/%d/%n", "x@a/../../etc", ""},       // '/' in %d
		{"/var/vmail/%u", "..", ""},                     // %u itself
		{"/var/vmail/%u", "../../etc/passwd", ""},       // '/' in %u
		{"/var/vmail/%u", "", ""},                       // empty
		{"/var/vmail/%u/Maildir", "a\x00b", ""},         // NUL
		{"/var/vmail/%n/Maildir", "..@example.org", ""}, // %n is ".."
		{"%h/Maildir", "alice", "relative/home"},        // home not absolute
		{"%h/Maildir", "alice", ""},                     // no home
	} {
		if got, err := ExpandMailLocation(tc.tmpl, tc.user, tc.home); err == nil {
			t.Errorf("ExpandMailLocation(%q, %q, %q) = %q, want an error", tc.tmpl, tc.user, tc.home, got)
		}
	}
}

func TestParseLocationRefusesBadTemplates(t *testing.T) {
	for _, tmpl := range []string{
		"",
		"var/vmail/%u",     // relative
		"/var/vmail/%q",    // unknown variable
		"/var/vmail/%u%",   // dangling %
		"/var/vmail/%u/%h", // %h not at the start
		"/var/vmail/../%u", // '..' in the template
		"%h/../%u",
		"/var/vmail/%u/..",
	} {
		if _, err := parseLocation(tmpl); err == nil {
			t.Errorf("parseLocation(%q) accepted", tmpl)
		}
	}
}
