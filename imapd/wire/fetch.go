package wire

import (
	"strconv"
	"strings"
)

// FetchKind is the kind of a FETCH data item.
type FetchKind int

const (
	FetchEnvelope      FetchKind = iota + 1 // ENVELOPE
	FetchFlags                              // FLAGS
	FetchInternalDate                       // INTERNALDATE
	FetchRFC822                             // RFC822 (= BODY[], sets \Seen)
	FetchRFC822Header                       // RFC822.HEADER (= BODY.PEEK[HEADER])
	FetchRFC822Size                         // RFC822.SIZE
	FetchRFC822Text                         // RFC822.TEXT (= BODY[TEXT], sets \Seen)
	FetchBody                               // BODY: BODYSTRUCTURE without extension data
	FetchBodyStructure                      // BODYSTRUCTURE
	FetchUID                                // UID
	FetchBodySection                        // BODY[...] and BODY.PEEK[...]
	FetchModSeq                             // MODSEQ (RFC 7162)
)

// SectionText is the part of a section after its part numbers.
type SectionText int

const (
	SectionAll             SectionText = iota // [] or [1.2]: the whole message or part
	SectionHeader                             // HEADER
	SectionHeaderFields                       // HEADER.FIELDS (list)
	SectionHeaderFieldsNot                    // HEADER.FIELDS.NOT (list)
	SectionTextOnly                           // TEXT
	SectionMIME                               // MIME (only after part numbers)
)

var sectionNames = map[SectionText]string{
	SectionHeader: "HEADER", SectionHeaderFields: "HEADER.FIELDS",
	SectionHeaderFieldsNot: "HEADER.FIELDS.NOT", SectionTextOnly: "TEXT", SectionMIME: "MIME",
}

// A Section is the section-spec of BODY[...] (RFC 3501 §6.4.5), or the
// section-binary of BINARY[...] (only Part).
type Section struct {
	Part   []uint32 // part numbers, outermost first; empty for the whole message
	Text   SectionText
	Fields []string // header field names of HEADER.FIELDS[.NOT], as sent
}

// String returns the section as it goes between the brackets of a FETCH
// response, e.g. `1.2.HEADER.FIELDS ("From" "To")` without brackets; field
// names are written as astrings.
func (s Section) String() string {
	var b strings.Builder
	for i, n := range s.Part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	if s.Text != SectionAll {
		if len(s.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(sectionNames[s.Text])
	}
	if s.Text == SectionHeaderFields || s.Text == SectionHeaderFieldsNot {
		b.WriteString(" (")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(astringText(f))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Partial is the <origin.count> of a partial fetch.
type Partial struct {
	Offset uint32
	Count  uint32 // > 0
}

// A FetchItem is one FETCH data item. Section, Peek and Partial apply to
// FetchBodySection.
type FetchItem struct {
	Kind    FetchKind
	Section Section
	Peek    bool     // BODY.PEEK
	Partial *Partial // <origin.count>, or nil
}

// SetsSeen reports whether fetching the item sets \Seen (RFC 3501 §6.4.5:
// BODY[...] without .PEEK, RFC822, RFC822.TEXT).
func (it FetchItem) SetsSeen() bool {
	switch it.Kind {
	case FetchRFC822, FetchRFC822Text:
		return true
	case FetchBodySection:
		return !it.Peek
	}
	return false
}

// ResponseName returns the name of the item in a FETCH response: e.g.
// "BODY[1.2]<0>" for BODY.PEEK[1.2]<0.100> (RFC 3501 §7.4.2: the origin
// only, and .PEEK never appears), "RFC822.SIZE".
func (it FetchItem) ResponseName() string {
	if it.Kind == FetchBodySection {
		name := "BODY[" + it.Section.String() + "]"
		if it.Partial != nil {
			name += "<" + strconv.FormatUint(uint64(it.Partial.Offset), 10) + ">"
		}
		return name
	}
	if it.Kind > 0 && int(it.Kind) < len(simpleFetchNames) {
		return simpleFetchNames[it.Kind]
	}
	return ""
}

var simpleFetchNames = [...]string{
	FetchEnvelope: "ENVELOPE", FetchFlags: "FLAGS", FetchInternalDate: "INTERNALDATE",
	FetchRFC822: "RFC822", FetchRFC822Header: "RFC822.HEADER", FetchRFC822Size: "RFC822.SIZE",
	FetchRFC822Text: "RFC822.TEXT", FetchBody: "BODY", FetchBodyStructure: "BODYSTRUCTURE",
	FetchUID: "UID", FetchModSeq: "MODSEQ",
}

var simpleFetchKinds = func() map[string]FetchKind {
	m := make(map[string]FetchKind, len(simpleFetchNames))
	for k, v := range simpleFetchNames {
		if v != "" {
			m[v] = FetchKind(k)
		}
	}
	return m
}()

// FetchArgs are the arguments of FETCH and UID FETCH (RFC 3501 §6.4.5)
// with the modifiers of RFC 7162.
type FetchArgs struct {
	Set SeqSet
	// Items in the order given, with the macros ALL, FAST and FULL
	// expanded (RFC 3501 §6.4.5). UID FETCH does not add UID here; the
	// server always returns it for UID FETCH (RFC 3501 §6.4.8).
	Items []FetchItem
	// ChangedSince is the CHANGEDSINCE modifier (RFC 7162 §3.1.4.1), or 0.
	ChangedSince uint64
	// Vanished is the VANISHED modifier (RFC 7162 §3.2.6); the parser only
	// accepts it in UID FETCH together with CHANGEDSINCE.
	Vanished bool
}

func (*FetchArgs) isArgs() {}

var fetchMacros = map[string][]FetchKind{
	"ALL":  {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope},
	"FAST": {FetchFlags, FetchInternalDate, FetchRFC822Size},
	"FULL": {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope, FetchBody},
}

// parseFetch parses FETCH SP sequence-set SP ("ALL" / "FULL" / "FAST" /
// fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers].
func parseFetch(p *parser) (Args, error) {
	var a FetchArgs
	var err error
	if err = p.sp("before the sequence set"); err != nil {
		return nil, err
	}
	if a.Set, err = p.seqSet("the sequence set", true); err != nil {
		return nil, err
	}
	if err = p.sp("before the data items"); err != nil {
		return nil, err
	}
	if p.peek() == '(' {
		err = p.list("the data items", true, func() error {
			it, err := p.fetchItem()
			a.Items = append(a.Items, it)
			return err
		})
	} else if kinds, ok := fetchMacros[p.wordAt()]; ok {
		p.word()
		for _, k := range kinds {
			a.Items = append(a.Items, FetchItem{Kind: k})
		}
	} else {
		var it FetchItem
		it, err = p.fetchItem()
		a.Items = []FetchItem{it}
	}
	if err != nil {
		return nil, err
	}
	if !p.accept(' ') {
		return &a, nil
	}
	err = p.list("the FETCH modifiers", true, func() error {
		switch name := p.word(); name {
		case "CHANGEDSINCE":
			if a.ChangedSince != 0 {
				return p.errorf("CHANGEDSINCE given twice")
			}
			if err := p.sp("after CHANGEDSINCE"); err != nil {
				return err
			}
			v, err := p.number63("CHANGEDSINCE mod-sequence", true)
			a.ChangedSince = v
			return err
		case "VANISHED":
			if p.name != "UID FETCH" {
				return p.errorf("VANISHED is only allowed in UID FETCH")
			}
			a.Vanished = true
			return nil
		case "":
			return p.errorf("expected a FETCH modifier, found %s", p.found())
		default:
			return p.errorf("unknown FETCH modifier %s", quoteInput([]byte(name)))
		}
	})
	if err != nil {
		return nil, err
	}
	// RFC 7162 §3.2.6: VANISHED without CHANGEDSINCE gets BAD.
	if a.Vanished && a.ChangedSince == 0 {
		return nil, p.errorf("VANISHED needs CHANGEDSINCE")
	}
	return &a, nil
}

// fetchItem parses one fetch-att (RFC 3501 §9, RFC 3516 §5, RFC 7162 §7).
func (p *parser) fetchItem() (FetchItem, error) {
	start := p.pos
	name := p.word()
	switch name {
	case "":
		return FetchItem{}, p.errorf("expected a FETCH data item, found %s", p.found())
	case "ALL", "FAST", "FULL":
		p.pos = start
		return FetchItem{}, p.errorf("the macro %s must stand alone, not in a list of data items", name)
	case "BODY", "BODY.PEEK":
		if p.peek() != '[' {
			if name == "BODY" {
				return FetchItem{Kind: FetchBody}, nil
			}
			return FetchItem{}, p.errorf("%s needs a section, like %s[]", name, name)
		}
		it := FetchItem{Kind: FetchBodySection, Peek: name == "BODY.PEEK"}
		var err error
		if it.Section, err = p.section(); err != nil {
			return FetchItem{}, err
		}
		if p.peek() == '<' {
			if it.Partial, err = p.partial(); err != nil {
				return FetchItem{}, err
			}
		}
		return it, nil
	}
	if k, ok := simpleFetchKinds[name]; ok {
		return FetchItem{Kind: k}, nil
	}
	p.pos = start
	return FetchItem{}, p.errorf("unknown FETCH data item %s", quoteInput([]byte(name)))
}

// section parses "[" [section-spec] "]".
func (p *parser) section() (Section, error) {
	var s Section
	if err := p.expect('[', "to open the section"); err != nil {
		return s, err
	}
	needText := false // a '.' after the part numbers must introduce a section-text
	for isDigit(p.peek()) {
		n, err := p.nzNumber("section part number")
		if err != nil {
			return s, err
		}
		s.Part = append(s.Part, n)
		if p.peek() != '.' {
			break
		}
		p.pos++
		if !isDigit(p.peek()) {
			needText = true
			break
		}
	}
	if len(s.Part) > 0 && !needText {
		return s, p.expect(']', "to close the section")
	}
	if p.peek() != ']' || needText {
		start := p.pos
		switch w := p.word(); w {
		case "HEADER":
			s.Text = SectionHeader
		case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
			s.Text = SectionHeaderFields
			if w == "HEADER.FIELDS.NOT" {
				s.Text = SectionHeaderFieldsNot
			}
			if err := p.sp("after " + w); err != nil {
				return s, err
			}
			err := p.list("the header field names", true, func() error {
				f, err := p.astring("header field name")
				s.Fields = append(s.Fields, f)
				return err
			})
			if err != nil {
				return s, err
			}
		case "TEXT":
			s.Text = SectionTextOnly
		case "MIME":
			if len(s.Part) == 0 {
				p.pos = start
				return s, p.errorf("MIME needs a part number, like [1.MIME]")
			}
			s.Text = SectionMIME
		case "":
			if needText {
				return s, p.errorf("expected HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME after the part number, found %s", p.found())
			}
			return s, p.errorf("expected a section (part numbers, HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME), found %s", p.found())
		default:
			p.pos = start
			return s, p.errorf("unknown section %s", quoteInput([]byte(w)))
		}
	}
	if err := p.expect(']', "to close the section"); err != nil {
		return s, err
	}
	return s, nil
}

// partial parses "<" number "." nz-number ">".
func (p *parser) partial() (*Partial, error) {
	var pa Partial
	var err error
	p.pos++ // '<'
	if pa.Offset, err = p.number("partial offset"); err != nil {
		return nil, err
	}
	if err = p.expect('.', "between the partial offset and length"); err != nil {
		return nil, err
	}
	if pa.Count, err = p.nzNumber("partial length"); err != nil {
		return nil, err
	}
	if err = p.expect('>', "to close the partial range"); err != nil {
		return nil, err
	}
	return &pa, nil
}
