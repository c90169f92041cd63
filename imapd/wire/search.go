package wire

import (
	"fmt"
	"strings"
	"time"
)

// SearchKind is the kind of a SEARCH key (RFC 3501 §6.4.4).
type SearchKind int

const (
	SearchAnd    SearchKind = iota + 1 // Keys: all match (a parenthesised list, or the whole criteria)
	SearchOr                           // OR: Keys[0] or Keys[1]
	SearchNot                          // NOT: not Keys[0]
	SearchSeqSet                       // a sequence-set: Set, message numbers
	SearchUID                          // UID: Set

	SearchAll        // ALL
	SearchAnswered   // ANSWERED
	SearchDeleted    // DELETED
	SearchDraft      // DRAFT
	SearchFlagged    // FLAGGED
	SearchNew        // NEW (RECENT UNSEEN)
	SearchOld        // OLD (NOT RECENT)
	SearchRecent     // RECENT
	SearchSeen       // SEEN
	SearchUnanswered // UNANSWERED
	SearchUndeleted  // UNDELETED
	SearchUndraft    // UNDRAFT
	SearchUnflagged  // UNFLAGGED
	SearchUnseen     // UNSEEN

	SearchKeyword   // KEYWORD: Flag
	SearchUnkeyword // UNKEYWORD: Flag

	SearchBcc     // BCC: Value
	SearchBody    // BODY: Value
	SearchCc      // CC: Value
	SearchFrom    // FROM: Value
	SearchSubject // SUBJECT: Value
	SearchText    // TEXT: Value
	SearchTo      // TO: Value
	SearchHeader  // HEADER: Field, Value

	SearchBefore     // BEFORE: Date (internal date)
	SearchOn         // ON: Date
	SearchSince      // SINCE: Date
	SearchSentBefore // SENTBEFORE: Date (Date: header)
	SearchSentOn     // SENTON: Date
	SearchSentSince  // SENTSINCE: Date

	SearchLarger  // LARGER: Size
	SearchSmaller // SMALLER: Size

	SearchModSeq // MODSEQ (RFC 7162 §3.1.5): ModSeq, and ModSeqEntry/ModSeqType if given
)

// A SearchKey is one node of the SEARCH criteria. Only the fields named
// for its Kind are set.
type SearchKey struct {
	Kind SearchKind
	Keys []SearchKey // SearchAnd (1 or more), SearchOr (2), SearchNot (1)
	Set  SeqSet      // SearchSeqSet, SearchUID; may hold "$" (RFC 5182)
	Flag string      // SearchKeyword, SearchUnkeyword: the keyword as sent
	// Field is the header field name of SearchHeader. Value is the string
	// of BCC, BODY, CC, FROM, SUBJECT, TEXT, TO and HEADER: raw octets in
	// the command's CHARSET, undecoded.
	Field, Value string
	// Date is the date of BEFORE, ON, SINCE and SENT*: midnight UTC of
	// the day given; only the day matters (RFC 3501 §6.4.4).
	Date time.Time
	Size uint32 // SearchLarger, SearchSmaller
	// ModSeq is the mod-sequence of MODSEQ (0 allowed). ModSeqEntry is
	// the entry name ("/flags/\\seen" unescaped to `/flags/\seen`) and
	// ModSeqType "priv", "shared" or "all" (lower-case); both "" if not
	// given.
	ModSeq                  uint64
	ModSeqEntry, ModSeqType string
}

// SearchReturn holds the RETURN options of ESEARCH (RFC 4731) and SEARCHRES
// (RFC 5182).
type SearchReturn struct {
	// ESearch is true when RETURN (...) was given: the answer is then an
	// ESEARCH response, not SEARCH. RETURN () means RETURN (ALL) (RFC 4731
	// §3.1); All is set for it.
	ESearch                    bool
	Min, Max, All, Count, Save bool
}

// SearchArgs are the arguments of SEARCH and UID SEARCH (RFC 3501 §6.4.4).
type SearchArgs struct {
	Return SearchReturn
	// Charset is the CHARSET argument as sent, or "" if none was given
	// (US-ASCII). Decoding the strings of the criteria is the server's
	// business; it answers NO [BADCHARSET] to a charset it does not know.
	Charset  string
	Criteria SearchKey // Kind SearchAnd: the keys, all of which must match
}

func (*SearchArgs) isArgs() {}

var searchNoArg = map[string]SearchKind{
	"ALL": SearchAll, "ANSWERED": SearchAnswered, "DELETED": SearchDeleted, "DRAFT": SearchDraft,
	"FLAGGED": SearchFlagged, "NEW": SearchNew, "OLD": SearchOld, "RECENT": SearchRecent,
	"SEEN": SearchSeen, "UNANSWERED": SearchUnanswered, "UNDELETED": SearchUndeleted,
	"UNDRAFT": SearchUndraft, "UNFLAGGED": SearchUnflagged, "UNSEEN": SearchUnseen,
}

var searchString = map[string]SearchKind{
	"BCC": SearchBcc, "BODY": SearchBody, "CC": SearchCc, "FROM": SearchFrom,
	"SUBJECT": SearchSubject, "TEXT": SearchText, "TO": SearchTo,
}

var searchDate = map[string]SearchKind{
	"BEFORE": SearchBefore, "ON": SearchOn, "SINCE": SearchSince,
	"SENTBEFORE": SearchSentBefore, "SENTON": SearchSentOn, "SENTSINCE": SearchSentSince,
}

// parseSearch parses SEARCH [SP "RETURN" SP "(" ... ")"] [SP "CHARSET" SP
// astring] 1*(SP search-key) (RFC 3501 §9, RFC 4466 §2.6, RFC 4731).
func parseSearch(p *parser) (Args, error) {
	a := SearchArgs{Criteria: SearchKey{Kind: SearchAnd}}
	if err := p.sp("before the search criteria"); err != nil {
		return nil, err
	}
	if p.wordAt() == "RETURN" {
		p.word()
		if err := p.sp("after RETURN"); err != nil {
			return nil, err
		}
		if err := p.searchReturn(&a.Return); err != nil {
			return nil, err
		}
		if err := p.sp("after the RETURN options"); err != nil {
			return nil, err
		}
	}
	if p.wordAt() == "CHARSET" {
		p.word()
		if err := p.sp("after CHARSET"); err != nil {
			return nil, err
		}
		cs, err := p.astring("charset name")
		if err != nil {
			return nil, err
		}
		a.Charset = cs
		if err := p.sp("after the charset name"); err != nil {
			return nil, err
		}
	}
	for {
		k, err := p.searchKey()
		if err != nil {
			return nil, err
		}
		a.Criteria.Keys = append(a.Criteria.Keys, k)
		if !p.accept(' ') {
			return &a, nil
		}
	}
}

func (p *parser) searchReturn(r *SearchReturn) error {
	r.ESearch = true
	err := p.list("the RETURN options", false, func() error {
		switch name := p.word(); name {
		case "MIN":
			r.Min = true
		case "MAX":
			r.Max = true
		case "ALL":
			r.All = true
		case "COUNT":
			r.Count = true
		case "SAVE":
			r.Save = true
		case "":
			return p.errorf("expected a RETURN option (MIN, MAX, ALL, COUNT or SAVE), found %s", p.found())
		default:
			return p.errorf("unknown RETURN option %s", quoteInput([]byte(name)))
		}
		return nil
	})
	if err == nil && !r.Min && !r.Max && !r.All && !r.Count && !r.Save {
		r.All = true
	}
	return err
}

// searchKey parses one search-key. NOT, OR and parentheses recurse, at
// most p.maxDepth deep; at most p.maxKeys keys are parsed in all.
func (p *parser) searchKey() (SearchKey, error) {
	p.keys++
	if p.keys > p.maxKeys {
		return SearchKey{}, &LimitError{Tag: p.tag, Name: p.name, Limit: p.maxKeys,
			Msg: fmt.Sprintf("Too many search keys (limit %d)", p.maxKeys)}
	}
	switch c := p.peek(); {
	case c == '(':
		if err := p.enter(); err != nil {
			return SearchKey{}, err
		}
		defer p.leave()
		k := SearchKey{Kind: SearchAnd}
		err := p.list("the parenthesised search keys", true, func() error {
			sub, err := p.searchKey()
			k.Keys = append(k.Keys, sub)
			return err
		})
		return k, err
	case isDigit(c) || c == '*' || c == '$':
		set, err := p.seqSet("the sequence set", true)
		return SearchKey{Kind: SearchSeqSet, Set: set}, err
	}
	start := p.pos
	name := p.word()
	if k, ok := searchNoArg[name]; ok {
		return SearchKey{Kind: k}, nil
	}
	if name == "" {
		return SearchKey{}, p.errorf("expected a search key, found %s", p.found())
	}
	if _, ok := searchKeyNames[name]; !ok {
		p.pos = start
		return SearchKey{}, p.errorf("unknown search key %s", quoteInput([]byte(name)))
	}
	if err := p.sp("after " + name); err != nil {
		return SearchKey{}, err
	}
	if k, ok := searchString[name]; ok {
		v, err := p.astring(name + " string")
		return SearchKey{Kind: k, Value: v}, err
	}
	if k, ok := searchDate[name]; ok {
		d, err := p.searchDate(name + " date")
		return SearchKey{Kind: k, Date: d}, err
	}
	switch name {
	case "NOT":
		if err := p.enter(); err != nil {
			return SearchKey{}, err
		}
		defer p.leave()
		sub, err := p.searchKey()
		return SearchKey{Kind: SearchNot, Keys: []SearchKey{sub}}, err
	case "OR":
		if err := p.enter(); err != nil {
			return SearchKey{}, err
		}
		defer p.leave()
		a, err := p.searchKey()
		if err != nil {
			return SearchKey{}, err
		}
		if err := p.sp("between the two keys of OR"); err != nil {
			return SearchKey{}, err
		}
		b, err := p.searchKey()
		return SearchKey{Kind: SearchOr, Keys: []SearchKey{a, b}}, err
	case "UID":
		set, err := p.seqSet("the UID set", true)
		return SearchKey{Kind: SearchUID, Set: set}, err
	case "KEYWORD", "UNKEYWORD":
		k := SearchKey{Kind: SearchKeyword}
		if name == "UNKEYWORD" {
			k.Kind = SearchUnkeyword
		}
		var err error
		k.Flag, err = p.atom("keyword")
		return k, err
	case "HEADER":
		field, err := p.astring("header field name")
		if err != nil {
			return SearchKey{}, err
		}
		if err := p.sp("after the header field name"); err != nil {
			return SearchKey{}, err
		}
		v, err := p.astring("HEADER string")
		return SearchKey{Kind: SearchHeader, Field: field, Value: v}, err
	case "LARGER", "SMALLER":
		k := SearchKey{Kind: SearchLarger}
		if name == "SMALLER" {
			k.Kind = SearchSmaller
		}
		var err error
		k.Size, err = p.number(name + " size")
		return k, err
	default: // MODSEQ
		return p.searchModSeq()
	}
}

// searchKeyNames holds the keys that take arguments.
var searchKeyNames = map[string]struct{}{
	"BCC": {}, "BODY": {}, "CC": {}, "FROM": {}, "SUBJECT": {}, "TEXT": {}, "TO": {},
	"BEFORE": {}, "ON": {}, "SINCE": {}, "SENTBEFORE": {}, "SENTON": {}, "SENTSINCE": {},
	"NOT": {}, "OR": {}, "UID": {}, "KEYWORD": {}, "UNKEYWORD": {}, "HEADER": {},
	"LARGER": {}, "SMALLER": {}, "MODSEQ": {},
}

// searchModSeq parses the rest of "MODSEQ" [SP entry-name SP
// entry-type-req] SP mod-sequence-valzer (RFC 7162 §7); the first SP is
// already read.
func (p *parser) searchModSeq() (SearchKey, error) {
	k := SearchKey{Kind: SearchModSeq}
	if p.peek() == '"' {
		entry, err := p.quoted("MODSEQ entry name")
		if err != nil {
			return k, err
		}
		if !strings.HasPrefix(strings.ToLower(entry), "/flags/") || len(entry) == len("/flags/") {
			return k, p.errorf("a MODSEQ entry name must be \"/flags/\" and a flag, found %s", quoteInput([]byte(entry)))
		}
		k.ModSeqEntry = entry
		if err := p.sp("after the MODSEQ entry name"); err != nil {
			return k, err
		}
		typeStart := p.pos
		switch t := p.word(); t {
		case "PRIV", "SHARED", "ALL":
			k.ModSeqType = strings.ToLower(t)
		default:
			p.pos = typeStart
			return k, p.errorf("expected priv, shared or all after the MODSEQ entry name, found %s", p.found())
		}
		if err := p.sp("before the mod-sequence"); err != nil {
			return k, err
		}
	}
	var err error
	k.ModSeq, err = p.number63("MODSEQ mod-sequence", false)
	return k, err
}
