package auth

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ExpandMailLocation turns a mail location template into one user's Maildir
// path. The template is an absolute path, or starts with %h, and may use:
//
//	%u  the username
//	%n  the local part: the username before its last '@' (all of it if none)
//	%d  the domain: the username after its last '@'
//	%h  the user's home directory (only at the start of the template)
//	%%  a literal '%'
//
// For example "/var/vmail/%d/%n/Maildir" or "%h/Maildir".
//
// A user's mail can never land outside the template's base directory (the
// fixed part before the first variable, or the home for %h): each value put
// in for %u, %n or %d must be a non-empty path element that does not start
// with '.' (so a user "x@.." or "@example.org" is refused where %d or %n is
// used), the template itself may not hold ".." elements, and the cleaned
// result must lie below the base.
func ExpandMailLocation(template, username, home string) (string, error) {
	loc, err := parseLocation(template)
	if err != nil {
		return "", err
	}
	return loc.expand(username, home)
}

// location is a checked mail location (or home) template.
type location struct {
	// template is the text as configured.
	template string
	// base is the cleaned fixed directory every expansion must stay below;
	// "" when the template starts with %h (the base is then the home).
	base string
	// usesHome reports a leading %h.
	usesHome bool
}

var errLocation = errors.New("invalid mail location template")

// parseLocation checks a template once, at configuration time.
func parseLocation(template string) (location, error) {
	loc := location{template: template}
	if template == "" {
		return loc, fmt.Errorf("%w: empty", errLocation)
	}
	for i := 0; i < len(template); i++ {
		if template[i] != '%' {
			continue
		}
		if i+1 == len(template) {
			return loc, fmt.Errorf("%w: %q ends with '%%'", errLocation, template)
		}
		switch c := template[i+1]; c {
		case 'u', 'n', 'd', '%':
		case 'h':
			if i != 0 {
				return loc, fmt.Errorf("%w: %q: %%h may only start the template", errLocation, template)
			}
			loc.usesHome = true
		default:
			return loc, fmt.Errorf("%w: %q: unknown %%%c", errLocation, template, c)
		}
		i++
	}
	for _, el := range strings.Split(template, "/") {
		if el == ".." {
			return loc, fmt.Errorf("%w: %q holds '..'", errLocation, template)
		}
	}
	if loc.usesHome {
		return loc, nil
	}
	if !strings.HasPrefix(template, "/") {
		return loc, fmt.Errorf("%w: %q is neither absolute nor starts with %%h", errLocation, template)
	}
	fixed := template
	if i := strings.IndexByte(template, '%'); i >= 0 {
		fixed = template[:i]
	}
	loc.base = filepath.Clean(fixed[:strings.LastIndexByte(fixed, '/')+1])
	return loc, nil
}

// expand fills in the template for one user; home is used for %h.
func (l location) expand(username, home string) (string, error) {
	local, domain := username, ""
	if i := strings.LastIndexByte(username, '@'); i >= 0 {
		local, domain = username[:i], username[i+1:]
	}
	base := l.base
	if l.usesHome {
		if !filepath.IsAbs(home) {
			return "", fmt.Errorf("%w: %q needs an absolute home directory", errLocation, l.template)
		}
		base = filepath.Clean(home)
	}

	var b strings.Builder
	for i := 0; i < len(l.template); i++ {
		c := l.template[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		var v string
		switch l.template[i] {
		case '%':
			b.WriteByte('%')
			continue
		case 'h':
			b.WriteString(base)
			continue
		case 'u':
			v = username
		case 'n':
			v = local
		case 'd':
			v = domain
		}
		if err := pathElement(v); err != nil {
			return "", fmt.Errorf("mail location %q for this user: %%%c %w", l.template, l.template[i], err)
		}
		b.WriteString(v)
	}

	p := filepath.Clean(b.String())
	inside := strings.HasPrefix(p, base+"/") || base == "/" && p != "/"
	if l.usesHome && p == base {
		inside = true // "%h" alone: the home is the Maildir
	}
	if !inside {
		return "", fmt.Errorf("mail location %q for this user escapes %s", l.template, base)
	}
	return p, nil
}

// pathElement checks a value substituted into a template.
func pathElement(v string) error {
	switch {
	case v == "":
		return errors.New("would be empty")
	case v[0] == '.':
		return errors.New("would start with '.'")
	case strings.ContainsAny(v, "/\x00"):
		return errors.New("would hold '/' or NUL")
	}
	return nil
}
