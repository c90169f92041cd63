package wire

import "strings"

// MailboxArgs are the arguments of DELETE, SUBSCRIBE and UNSUBSCRIBE (RFC
// 3501 §6.3).
type MailboxArgs struct {
	Mailbox Mailbox
}

// SelectArgs are the arguments of SELECT and EXAMINE (RFC 3501 §6.3.1-2)
// with the select-params of RFC 4466: CONDSTORE and QRESYNC (RFC 7162).
type SelectArgs struct {
	Mailbox   Mailbox
	CondStore bool           // (CONDSTORE)
	QResync   *QResyncParams // (QRESYNC (...)), or nil
}

// QResyncParams are the parameters of SELECT/EXAMINE (QRESYNC (...))
// (RFC 7162 §3.2.5). The sets hold no "*" and no "$".
type QResyncParams struct {
	UIDValidity uint32
	ModSeq      uint64
	KnownUIDs   SeqSet // empty if not given
	// KnownSeqs and KnownSeqUIDs are the seq-match-data: message numbers
	// and the UIDs the client believes they have. Both empty if not given.
	KnownSeqs, KnownSeqUIDs SeqSet
}

// CreateArgs are the arguments of CREATE (RFC 3501 §6.3.3) with the USE
// parameter of RFC 6154 §3.
type CreateArgs struct {
	Mailbox Mailbox
	// HasUse is true when (USE (...)) was given; Use then holds its
	// special-use attributes, with the ones RFC 6154 defines in their
	// canonical case ("\Sent"), others as written.
	HasUse bool
	Use    []string
}

// RenameArgs are the arguments of RENAME (RFC 3501 §6.3.5).
type RenameArgs struct {
	From, To Mailbox
}

// ListArgs are the arguments of LIST (RFC 3501 §6.3.8, extended by RFC
// 5258, RFC 5819 LIST-STATUS and RFC 6154 SPECIAL-USE) and LSUB (RFC 3501
// §6.3.9).
type ListArgs struct {
	Reference Mailbox
	// Patterns holds the list-mailbox patterns (with % and *); one for
	// LSUB and for a basic LIST, one or more for "LIST ... (p1 p2)".
	Patterns []Mailbox
	// Extended is true when the command used any RFC 5258 syntax: select
	// options, several patterns in parentheses, or return options. The
	// server then answers in the extended way (e.g. \NonExistent).
	Extended bool
	Select   ListSelect
	Return   ListReturn
}

// ListSelect holds LIST selection options (RFC 5258 §3.1, RFC 6154 §5.1).
type ListSelect struct {
	Subscribed     bool // SUBSCRIBED
	Remote         bool // REMOTE
	RecursiveMatch bool // RECURSIVEMATCH (only with a base option; checked)
	SpecialUse     bool // SPECIAL-USE
}

// ListReturn holds LIST return options (RFC 5258 §3.2, RFC 5819, RFC 6154).
type ListReturn struct {
	Subscribed bool         // SUBSCRIBED
	Children   bool         // CHILDREN
	SpecialUse bool         // SPECIAL-USE
	Status     []StatusItem // STATUS (...) of RFC 5819; nil if not asked
}

// StatusItem is a status-att (RFC 3501 §6.3.10 and extensions).
type StatusItem string

// The status items this package parses.
const (
	StatusMessages      StatusItem = "MESSAGES"
	StatusRecent        StatusItem = "RECENT"
	StatusUIDNext       StatusItem = "UIDNEXT"
	StatusUIDValidity   StatusItem = "UIDVALIDITY"
	StatusUnseen        StatusItem = "UNSEEN"
	StatusHighestModSeq StatusItem = "HIGHESTMODSEQ" // RFC 7162 §3.1.10
	StatusSize          StatusItem = "SIZE"          // RFC 8438
	StatusAppendLimit   StatusItem = "APPENDLIMIT"   // RFC 7889
)

// StatusArgs are the arguments of STATUS (RFC 3501 §6.3.10).
type StatusArgs struct {
	Mailbox Mailbox
	Items   []StatusItem
}

func (*MailboxArgs) isArgs() {}
func (*SelectArgs) isArgs()  {}
func (*CreateArgs) isArgs()  {}
func (*RenameArgs) isArgs()  {}
func (*ListArgs) isArgs()    {}
func (*StatusArgs) isArgs()  {}

// mailbox reads a mailbox name (leniently: see mailboxName).
func (p *parser) mailbox(what string) (Mailbox, error) {
	s, err := p.mailboxName(what)
	return Mailbox(s), err
}

// spMailbox reads the space before a mailbox argument, then the mailbox;
// before and what name them in a syntax error.
func (p *parser) spMailbox(before, what string) (Mailbox, error) {
	if err := p.sp(before); err != nil {
		return "", err
	}
	return p.mailbox(what)
}

func parseMailboxOnly(p *parser) (Args, error) {
	if err := p.sp("before the mailbox name"); err != nil {
		return nil, err
	}
	m, err := p.mailbox("mailbox name")
	if err != nil {
		return nil, err
	}
	return &MailboxArgs{Mailbox: m}, nil
}

func parseSelect(p *parser) (Args, error) {
	var a SelectArgs
	var err error
	if a.Mailbox, err = p.spMailbox("before the mailbox name", "mailbox name"); err != nil {
		return nil, err
	}
	if !p.accept(' ') {
		return &a, nil
	}
	err = p.list("the select parameters", true, func() error {
		switch name := p.word(); name {
		case "CONDSTORE":
			a.CondStore = true
			return nil
		case "QRESYNC":
			if a.QResync != nil {
				return p.errorf("QRESYNC given twice")
			}
			if err := p.sp("after QRESYNC"); err != nil {
				return err
			}
			a.QResync, err = p.qresyncParams()
			return err
		case "":
			return p.errorf("expected a select parameter, found %s", p.found())
		default:
			return p.errorf("unknown select parameter %s", quoteInput([]byte(name)))
		}
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// qresyncParams parses "(" uidvalidity SP mod-sequence-value [SP
// known-uids] [SP seq-match-data] ")" (RFC 7162 §7).
func (p *parser) qresyncParams() (*QResyncParams, error) {
	var q QResyncParams
	var err error
	if err = p.expect('(', "to open the QRESYNC parameters"); err != nil {
		return nil, err
	}
	if q.UIDValidity, err = p.nzNumber("UIDVALIDITY"); err != nil {
		return nil, err
	}
	if err = p.sp("after the UIDVALIDITY"); err != nil {
		return nil, err
	}
	if q.ModSeq, err = p.number63("mod-sequence", true); err != nil {
		return nil, err
	}
	more := p.accept(' ')
	if more && p.peek() != '(' {
		if q.KnownUIDs, err = p.knownSet("known UIDs"); err != nil {
			return nil, err
		}
		more = p.accept(' ')
	}
	if more {
		if err = p.expect('(', "to open the sequence match data"); err != nil {
			return nil, err
		}
		if q.KnownSeqs, err = p.knownSet("known sequence set"); err != nil {
			return nil, err
		}
		if err = p.sp("between the known sequence set and UID set"); err != nil {
			return nil, err
		}
		if q.KnownSeqUIDs, err = p.knownSet("known UID set"); err != nil {
			return nil, err
		}
		if err = p.expect(')', "to close the sequence match data"); err != nil {
			return nil, err
		}
	}
	if err = p.expect(')', "to close the QRESYNC parameters"); err != nil {
		return nil, err
	}
	return &q, nil
}

// knownSet parses a sequence-set in which "*" is not allowed (RFC 7162 §7).
func (p *parser) knownSet(what string) (SeqSet, error) {
	start := p.pos
	set, err := p.seqSet(what, false)
	if err == nil && set.HasStar() {
		p.pos = start
		return SeqSet{}, p.errorf("%s must not contain '*'", what)
	}
	return set, err
}

// specialUse maps the special-use attributes of RFC 6154 §2 (lower-case)
// to their canonical case.
var specialUse = map[string]string{
	`\all`: `\All`, `\archive`: `\Archive`, `\drafts`: `\Drafts`, `\flagged`: `\Flagged`,
	`\junk`: `\Junk`, `\sent`: `\Sent`, `\trash`: `\Trash`,
}

func parseCreate(p *parser) (Args, error) {
	var a CreateArgs
	var err error
	if a.Mailbox, err = p.spMailbox("before the mailbox name", "mailbox name"); err != nil {
		return nil, err
	}
	if !p.accept(' ') {
		return &a, nil
	}
	err = p.list("the CREATE parameters", true, func() error {
		switch name := p.word(); name {
		case "USE":
			if a.HasUse {
				return p.errorf("USE given twice")
			}
			a.HasUse = true
			a.Use = []string{}
			if err := p.sp("after USE"); err != nil {
				return err
			}
			return p.list("the USE list", false, func() error {
				if err := p.expect('\\', "to start a special-use attribute"); err != nil {
					return err
				}
				at, err := p.atom("special-use attribute")
				if err != nil {
					return err
				}
				at = `\` + at
				if c, ok := specialUse[strings.ToLower(at)]; ok {
					at = c
				}
				a.Use = append(a.Use, at)
				return nil
			})
		case "":
			return p.errorf("expected a CREATE parameter, found %s", p.found())
		default:
			return p.errorf("unknown CREATE parameter %s", quoteInput([]byte(name)))
		}
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func parseRename(p *parser) (Args, error) {
	var a RenameArgs
	var err error
	if a.From, err = p.spMailbox("before the mailbox name", "existing mailbox name"); err != nil {
		return nil, err
	}
	if a.To, err = p.spMailbox("before the new mailbox name", "new mailbox name"); err != nil {
		return nil, err
	}
	return &a, nil
}

func parseLsub(p *parser) (Args, error) {
	var a ListArgs
	var err error
	if a.Reference, err = p.spMailbox("before the reference name", "reference name"); err != nil {
		return nil, err
	}
	if err = p.sp("before the mailbox pattern"); err != nil {
		return nil, err
	}
	pat, err := p.listMailbox("mailbox pattern")
	if err != nil {
		return nil, err
	}
	a.Patterns = []Mailbox{Mailbox(pat)}
	return &a, nil
}

// parseList parses LIST [SP list-select-opts] SP mailbox SP mbox-or-pat
// [SP list-return-opts] (RFC 5258 §6).
func parseList(p *parser) (Args, error) {
	var a ListArgs
	var err error
	if err = p.sp("before the reference name"); err != nil {
		return nil, err
	}
	if p.peek() == '(' {
		a.Extended = true
		if err = p.listSelectOpts(&a.Select); err != nil {
			return nil, err
		}
		if err = p.sp("after the selection options"); err != nil {
			return nil, err
		}
	}
	if a.Reference, err = p.mailbox("reference name"); err != nil {
		return nil, err
	}
	if err = p.sp("before the mailbox pattern"); err != nil {
		return nil, err
	}
	if p.peek() == '(' {
		a.Extended = true
		err = p.list("the mailbox patterns", true, func() error {
			pat, err := p.listMailbox("mailbox pattern")
			a.Patterns = append(a.Patterns, Mailbox(pat))
			return err
		})
	} else {
		var pat string
		pat, err = p.listMailbox("mailbox pattern")
		a.Patterns = []Mailbox{Mailbox(pat)}
	}
	if err != nil {
		return nil, err
	}
	if !p.accept(' ') {
		return &a, nil
	}
	if p.word() != "RETURN" {
		return nil, p.errorf("expected RETURN after the mailbox pattern")
	}
	a.Extended = true
	if err = p.sp("after RETURN"); err != nil {
		return nil, err
	}
	if err = p.listReturnOpts(&a.Return); err != nil {
		return nil, err
	}
	return &a, nil
}

func (p *parser) listSelectOpts(s *ListSelect) error {
	err := p.list("the LIST selection options", false, func() error {
		switch name := p.word(); name {
		case "SUBSCRIBED":
			s.Subscribed = true
		case "REMOTE":
			s.Remote = true
		case "RECURSIVEMATCH":
			s.RecursiveMatch = true
		case "SPECIAL-USE":
			s.SpecialUse = true
		case "":
			return p.errorf("expected a LIST selection option, found %s", p.found())
		default:
			// RFC 5258 §3: an unrecognised option gets BAD.
			return p.errorf("unknown LIST selection option %s", quoteInput([]byte(name)))
		}
		return nil
	})
	if err != nil {
		return err
	}
	// RFC 5258 §3: RECURSIVEMATCH needs a base option (SUBSCRIBED; RFC
	// 6154 makes SPECIAL-USE an independent option, not a base one).
	if s.RecursiveMatch && !s.Subscribed {
		return p.errorf("RECURSIVEMATCH must be used with SUBSCRIBED")
	}
	return nil
}

func (p *parser) listReturnOpts(r *ListReturn) error {
	return p.list("the LIST return options", false, func() error {
		switch name := p.word(); name {
		case "SUBSCRIBED":
			r.Subscribed = true
		case "CHILDREN":
			r.Children = true
		case "SPECIAL-USE":
			r.SpecialUse = true
		case "STATUS":
			if r.Status != nil {
				return p.errorf("STATUS return option given twice")
			}
			if err := p.sp("after STATUS"); err != nil {
				return err
			}
			items, err := p.statusItems()
			r.Status = items
			return err
		case "":
			return p.errorf("expected a LIST return option, found %s", p.found())
		default:
			return p.errorf("unknown LIST return option %s", quoteInput([]byte(name)))
		}
		return nil
	})
}

func parseStatus(p *parser) (Args, error) {
	var a StatusArgs
	var err error
	if a.Mailbox, err = p.spMailbox("before the mailbox name", "mailbox name"); err != nil {
		return nil, err
	}
	if err = p.sp("before the status items"); err != nil {
		return nil, err
	}
	if a.Items, err = p.statusItems(); err != nil {
		return nil, err
	}
	return &a, nil
}

// statusItems parses "(" status-att *(SP status-att) ")".
func (p *parser) statusItems() ([]StatusItem, error) {
	var items []StatusItem
	err := p.list("the status items", true, func() error {
		switch it := StatusItem(p.word()); it {
		case StatusMessages, StatusRecent, StatusUIDNext, StatusUIDValidity, StatusUnseen,
			StatusHighestModSeq, StatusSize, StatusAppendLimit:
			items = append(items, it)
			return nil
		case "":
			return p.errorf("expected a status item, found %s", p.found())
		default:
			return p.errorf("unknown status item %s", quoteInput([]byte(it)))
		}
	})
	return items, err
}
