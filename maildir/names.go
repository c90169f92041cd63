package maildir

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"imapd/internal/mutf7"
)

// Delimiter separates the levels of a folder name, as in Maildir++ on
// disk and in Dovecot's default namespace ("Archive.2024").
const Delimiter = '.'

// Inbox is the canonical name of the root folder.
const Inbox = "INBOX"

// maxDirName is the longest file name most Unix file systems take.
const maxDirName = 255

// CanonicalName checks an IMAP folder name (UTF-8, levels separated by
// Delimiter) and returns it with a leading INBOX level spelt "INBOX".
// Names with a backslash or a double quote are fine; control characters,
// invalid UTF-8 and empty levels (a leading, trailing or doubled dot) are
// not.
func CanonicalName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", fmt.Errorf("%w: control character", ErrInvalidName)
		}
	}
	levels := strings.Split(name, string(Delimiter))
	for _, l := range levels {
		if l == "" {
			return "", fmt.Errorf("%w: empty level in %q", ErrInvalidName, name)
		}
	}
	if strings.EqualFold(levels[0], Inbox) {
		levels[0] = Inbox
	}
	name = strings.Join(levels, string(Delimiter))
	if name != Inbox && len(dirName(name)) > maxDirName {
		return "", fmt.Errorf("%w: name too long", ErrInvalidName)
	}
	return name, nil
}

// dirName maps a canonical folder name other than INBOX to its Maildir++
// directory: a dot, then each level in modified UTF-7 (as Dovecot stores
// it) joined by dots. A file name cannot hold '/', so it is written %2F,
// and '%' itself %25; no other escape exists, so a '%' followed by
// anything else is an ordinary character (Dovecot trees keep working).
func dirName(name string) string {
	levels := strings.Split(name, string(Delimiter))
	for i, l := range levels {
		l = mutf7.Encode(l)
		l = strings.ReplaceAll(l, "%", "%25")
		levels[i] = strings.ReplaceAll(l, "/", "%2F")
	}
	return "." + strings.Join(levels, ".")
}

// rawDirName is the directory name a non-IMAP tool would have used for a
// name with 8-bit characters: the UTF-8 bytes as they are.
func rawDirName(name string) string {
	return "." + strings.ReplaceAll(strings.ReplaceAll(name, "%", "%25"), "/", "%2F")
}

// folderName maps a Maildir++ directory name (with its leading dot) back to
// the IMAP name. A level that is not valid modified UTF-7 but is valid
// UTF-8 (made by a tool that writes raw UTF-8) is shown as it is.
func folderName(dir string) (string, bool) {
	if len(dir) < 2 || dir[0] != '.' || dir == ".." {
		return "", false
	}
	levels := strings.Split(dir[1:], ".")
	for i, l := range levels {
		if l == "" {
			return "", false
		}
		l = strings.ReplaceAll(l, "%2F", "/")
		l = strings.ReplaceAll(l, "%25", "%")
		if d, err := mutf7.Decode(l); err == nil {
			l = d
		} else if !utf8.ValidString(l) {
			return "", false
		}
		levels[i] = l
	}
	name, err := CanonicalName(strings.Join(levels, string(Delimiter)))
	if err != nil {
		return "", false
	}
	return name, true
}

// isParent reports whether parent is a strict ancestor of name.
func isParent(parent, name string) bool {
	return len(name) > len(parent) && name[len(parent)] == Delimiter && name[:len(parent)] == parent
}
