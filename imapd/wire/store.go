package wire

import (
	"strings"
	"time"
)

// System flags (RFC 3501 §2.3.2) in their canonical case.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
	FlagRecent   = `\Recent`
)

var systemFlags = map[string]string{
	`\seen`: FlagSeen, `\answered`: FlagAnswered, `\flagged`: FlagFlagged,
	`\deleted`: FlagDeleted, `\draft`: FlagDraft, `\recent`: FlagRecent,
}

// CanonicalFlag returns f with a system flag in its canonical case
// ("\SEEN" -> "\Seen"); other flags are returned as they are.
func CanonicalFlag(f string) string {
	if c, ok := systemFlags[strings.ToLower(f)]; ok {
		return c
	}
	return f
}

// flag parses a flag (RFC 3501 §9): a system flag, "\" atom
// (flag-extension) or atom (flag-keyword). \Recent is refused: it "can not
// be altered by the client" (RFC 3501 §2.3.2) and is not a flag in the
// grammar.
func (p *parser) flag() (string, error) {
	start := p.pos
	bs := p.accept('\\')
	a, err := p.atom("flag")
	if err != nil {
		return "", err
	}
	if !bs {
		return a, nil
	}
	f := CanonicalFlag(`\` + a)
	if f == FlagRecent {
		p.pos = start
		return "", p.errorf(`\Recent cannot be set or cleared by a client`)
	}
	return f, nil
}

// flagList parses flag-list: "(" [flag *(SP flag)] ")".
func (p *parser) flagList() ([]string, error) {
	flags := []string{}
	err := p.list("the flag list", false, func() error {
		f, err := p.flag()
		flags = append(flags, f)
		return err
	})
	return flags, err
}

// AppendArgs are the arguments of APPEND (RFC 3501 §6.3.11): one message
// (MULTIAPPEND's several, RFC 3502, are a syntax error), which may come as
// a literal8 (RFC 3516 §4.4).
type AppendArgs struct {
	Mailbox Mailbox
	Message AppendMessage
}

// AppendMessage is the message of APPEND.
type AppendMessage struct {
	Flags []string  // nil if no flag list was given; system flags canonical
	Date  time.Time // zero if no date-time was given
	Data  []byte    // the literal's octets (a slice of the command buffer); nil if Streamed
	// Streamed is set when the octets were left on the connection
	// (ParseOptions.Streamed): Size octets to read from Reader.Pending.
	Streamed bool
	Size     int64 // the announced size, if Streamed
	// Binary is true when the message came as literal8 (~{n}); it may
	// then hold NUL (RFC 3516 §4.4).
	Binary bool
}

// CopyArgs are the arguments of COPY, UID COPY (RFC 3501 §6.4.7, §6.4.8),
// MOVE and UID MOVE (RFC 6851).
type CopyArgs struct {
	Set     SeqSet
	Mailbox Mailbox
}

// ExpungeArgs are the arguments of UID EXPUNGE (RFC 4315 §2.1).
type ExpungeArgs struct {
	Set SeqSet
}

// StoreAction is what STORE does with the flags.
type StoreAction int

const (
	StoreReplace StoreAction = iota // FLAGS
	StoreAdd                        // +FLAGS
	StoreRemove                     // -FLAGS
)

// StoreArgs are the arguments of STORE and UID STORE (RFC 3501 §6.4.6),
// with UNCHANGEDSINCE (RFC 7162 §3.1.3).
type StoreArgs struct {
	Set    SeqSet
	Action StoreAction
	Silent bool     // .SILENT
	Flags  []string // system flags canonical; may be empty
	// UnchangedSince is the UNCHANGEDSINCE modifier, or nil. 0 is a valid
	// value (it fails for every message that has a mod-sequence).
	UnchangedSince *uint64
}

func (*AppendArgs) isArgs()  {}
func (*CopyArgs) isArgs()    {}
func (*ExpungeArgs) isArgs() {}
func (*StoreArgs) isArgs()   {}

// parseAppend parses "APPEND" SP mailbox append-message, where
// append-message = [SP flag-list] [SP date-time] SP (literal / literal8)
// (RFC 3501 §9, RFC 4466 §2.2).
func parseAppend(p *parser) (Args, error) {
	var a AppendArgs
	var err error
	if err = p.sp("before the mailbox name"); err != nil {
		return nil, err
	}
	if a.Mailbox, err = p.mailbox("mailbox name"); err != nil {
		return nil, err
	}
	m := &a.Message
	if err = p.sp("before the message"); err != nil {
		return nil, err
	}
	if p.peek() == '(' {
		if m.Flags, err = p.flagList(); err != nil {
			return nil, err
		}
		if err = p.sp("after the flag list"); err != nil {
			return nil, err
		}
	}
	if p.peek() == '"' {
		if m.Date, err = p.dateTime("the internal date"); err != nil {
			return nil, err
		}
		if err = p.sp("after the internal date"); err != nil {
			return nil, err
		}
	}
	switch p.peek() {
	case '{', '~':
	default:
		return nil, p.errorf("expected the message as a literal ({size} or ~{size}), found %s", p.found())
	}
	m.Binary = p.peek() == '~'
	if m.Data, err = p.literal("the message", true); err != nil {
		return nil, err
	}
	if p.streamedLit {
		m.Streamed, m.Size = true, p.streamedSize
	}
	return &a, nil
}

func parseCopy(p *parser) (Args, error) {
	var a CopyArgs
	var err error
	if err = p.sp("before the sequence set"); err != nil {
		return nil, err
	}
	if a.Set, err = p.seqSet("the sequence set", true); err != nil {
		return nil, err
	}
	if err = p.sp("before the mailbox name"); err != nil {
		return nil, err
	}
	if a.Mailbox, err = p.mailbox("mailbox name"); err != nil {
		return nil, err
	}
	return &a, nil
}

func parseUIDExpunge(p *parser) (Args, error) {
	var a ExpungeArgs
	var err error
	if err = p.sp("before the UID set"); err != nil {
		return nil, err
	}
	if a.Set, err = p.seqSet("the UID set", true); err != nil {
		return nil, err
	}
	return &a, nil
}

// parseStore parses STORE SP sequence-set [SP store-modifiers] SP
// store-att-flags (RFC 3501 §9, RFC 4466 §2.5, RFC 7162 §7).
func parseStore(p *parser) (Args, error) {
	var a StoreArgs
	var err error
	if err = p.sp("before the sequence set"); err != nil {
		return nil, err
	}
	if a.Set, err = p.seqSet("the sequence set", true); err != nil {
		return nil, err
	}
	if err = p.sp("after the sequence set"); err != nil {
		return nil, err
	}
	if p.peek() == '(' {
		err = p.list("the STORE modifiers", true, func() error {
			switch name := p.word(); name {
			case "UNCHANGEDSINCE":
				if a.UnchangedSince != nil {
					return p.errorf("UNCHANGEDSINCE given twice")
				}
				if err := p.sp("after UNCHANGEDSINCE"); err != nil {
					return err
				}
				v, err := p.number63("UNCHANGEDSINCE mod-sequence", false)
				a.UnchangedSince = &v
				return err
			case "":
				return p.errorf("expected a STORE modifier, found %s", p.found())
			default:
				return p.errorf("unknown STORE modifier %s", quoteInput([]byte(name)))
			}
		})
		if err != nil {
			return nil, err
		}
		if err = p.sp("after the STORE modifiers"); err != nil {
			return nil, err
		}
	}
	switch {
	case p.accept('+'):
		a.Action = StoreAdd
	case p.accept('-'):
		a.Action = StoreRemove
	}
	itemStart := p.pos
	switch p.word() {
	case "FLAGS":
	case "FLAGS.SILENT":
		a.Silent = true
	default:
		p.pos = itemStart
		return nil, p.errorf("expected FLAGS, +FLAGS or -FLAGS (optionally .SILENT), found %s", p.found())
	}
	if err = p.sp("before the flags"); err != nil {
		return nil, err
	}
	if p.peek() == '(' {
		a.Flags, err = p.flagList()
		if err != nil {
			return nil, err
		}
		return &a, nil
	}
	for {
		f, err := p.flag()
		if err != nil {
			return nil, err
		}
		a.Flags = append(a.Flags, f)
		if !p.accept(' ') {
			return &a, nil
		}
	}
}
