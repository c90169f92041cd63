package maildir

import (
	"sort"
	"strings"
)

// Flags is the set of IMAP system flags a message carries, plus $Forwarded,
// which Maildir spells with the letter P.
type Flags uint8

// The flags that live in the Maildir info part of a file name (":2,<letters>").
const (
	FlagSeen      Flags = 1 << iota // S
	FlagAnswered                    // R
	FlagFlagged                     // F
	FlagDeleted                     // T
	FlagDraft                       // D
	FlagForwarded                   // P, reported to IMAP as the keyword $Forwarded
)

// flagLetters lists the system flags in the ASCII order Maildir requires for
// the letters of the info part.
var flagLetters = [...]struct {
	letter byte
	flag   Flags
	name   string
}{
	{'D', FlagDraft, `\Draft`},
	{'F', FlagFlagged, `\Flagged`},
	{'P', FlagForwarded, `$Forwarded`},
	{'R', FlagAnswered, `\Answered`},
	{'S', FlagSeen, `\Seen`},
	{'T', FlagDeleted, `\Deleted`},
}

// Names returns the IMAP names of the flags in f, in a stable order.
func (f Flags) Names() []string { return f.AppendNames(nil) }

// AppendNames appends the IMAP names of the flags in f to dst, in Names'
// order.
func (f Flags) AppendNames(dst []string) []string {
	for _, fl := range flagLetters {
		if f&fl.flag != 0 {
			dst = append(dst, fl.name)
		}
	}
	return dst
}

// ParseFlag maps an IMAP flag name (case-insensitive) to a system flag.
// $Forwarded counts as one because Maildir has a letter for it. It returns
// 0 for keywords and for \Recent, which is not stored.
func ParseFlag(name string) Flags {
	for _, fl := range flagLetters {
		if strings.EqualFold(name, fl.name) {
			return fl.flag
		}
	}
	return 0
}

// FlagOp says how a Store call combines the given flags with a message's.
type FlagOp int

const (
	FlagsSet    FlagOp = iota // replace (STORE FLAGS)
	FlagsAdd                  // add (STORE +FLAGS)
	FlagsRemove               // remove (STORE -FLAGS)
)

// info is the parsed form of the part of a file name after the separator.
type info struct {
	flags   Flags
	letters string // the lowercase keyword letters present, sorted
	other   string // any other characters after "2," (kept, never dropped)
}

// maildirSep separates a file's unique base from its info on Unix.
const maildirSep = ':'

// splitName splits a file name into its base and info. A name without a
// ":2," info part has an empty info; its whole name is the base, so that a
// file whose name we cannot parse keeps its identity when we later add
// flags to it.
func splitName(name string) (base string, inf info, ok bool) {
	i := strings.LastIndex(name, ":2,")
	if i < 0 {
		return name, info{}, false
	}
	base = name[:i]
	var letters, other []byte
	for _, c := range []byte(name[i+3:]) {
		switch {
		case c >= 'a' && c <= 'z':
			letters = append(letters, c)
		default:
			known := false
			for _, fl := range flagLetters {
				if fl.letter == c {
					inf.flags |= fl.flag
					known = true
					break
				}
			}
			if !known {
				other = append(other, c)
			}
		}
	}
	sort.Slice(letters, func(a, b int) bool { return letters[a] < letters[b] })
	inf.letters = dedupeLetters(letters)
	inf.other = string(other)
	return base, inf, true
}

func dedupeLetters(b []byte) string {
	out := b[:0]
	for i, c := range b {
		if i > 0 && b[i-1] == c {
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// fileName joins a base and an info into a file name, with the info letters
// in ASCII order as the Maildir specification asks.
func fileName(base string, inf info) string {
	var b strings.Builder
	b.Grow(len(base) + 3 + 8 + len(inf.letters) + len(inf.other))
	b.WriteString(base)
	b.WriteString(":2,")
	var letters []byte
	for _, fl := range flagLetters {
		if inf.flags&fl.flag != 0 {
			letters = append(letters, fl.letter)
		}
	}
	letters = append(letters, inf.other...)
	letters = append(letters, inf.letters...)
	sort.Slice(letters, func(a, b int) bool { return letters[a] < letters[b] })
	b.Write(letters)
	return b.String()
}

// sizesFromBase reads Dovecot's ",S=<physical size>" and ",W=<CRLF size>"
// fields from a base name; zero means absent.
func sizesFromBase(base string) (phys, virt int64) {
	_, rest, _ := strings.Cut(base, ",")
	for rest != "" {
		var field string
		field, rest, _ = strings.Cut(rest, ",")
		if len(field) < 3 || field[1] != '=' {
			continue
		}
		n, ok := parseDecimal(field[2:])
		if !ok {
			continue
		}
		switch field[0] {
		case 'S':
			phys = n
		case 'W':
			virt = n
		}
	}
	return phys, virt
}

func parseDecimal(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// sortedKeywords returns kw sorted and without duplicates (compared
// case-insensitively, as IMAP keywords are). Each key is lowered once,
// not at every comparison: a message may carry hundreds of keywords.
func sortedKeywords(kw []string) []string {
	if len(kw) == 0 {
		return nil
	}
	type pair struct{ key, kw string }
	ps := make([]pair, len(kw))
	for i, k := range kw {
		ps[i] = pair{strings.ToLower(k), k}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].key < ps[j].key })
	out := make([]string, 0, len(ps))
	for i, p := range ps {
		if i > 0 && ps[i-1].key == p.key {
			continue
		}
		out = append(out, p.kw)
	}
	return out
}
