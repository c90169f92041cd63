package wire

import (
	"reflect"
	"testing"
)

func TestParseFetch(t *testing.T) {
	body := func(peek bool, s Section, pa *Partial) FetchItem {
		return FetchItem{Kind: FetchBodySection, Section: s, Peek: peek, Partial: pa}
	}
	for _, tc := range []struct {
		in    string
		items []FetchItem
		names []string // ResponseName of each item
	}{
		{"a FETCH 1 ALL", []FetchItem{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}, {Kind: FetchEnvelope}},
			[]string{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}},
		{"a FETCH 1 fast", []FetchItem{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}},
			[]string{"FLAGS", "INTERNALDATE", "RFC822.SIZE"}},
		{"a FETCH 1 FULL", []FetchItem{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}, {Kind: FetchEnvelope}, {Kind: FetchBody}},
			[]string{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"}},
		{"a FETCH 1 (UID RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE body MODSEQ)",
			[]FetchItem{{Kind: FetchUID}, {Kind: FetchRFC822}, {Kind: FetchRFC822Header}, {Kind: FetchRFC822Text}, {Kind: FetchBodyStructure}, {Kind: FetchBody}, {Kind: FetchModSeq}},
			[]string{"UID", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "BODYSTRUCTURE", "BODY", "MODSEQ"}},
		{"a FETCH 1 BODY[]", []FetchItem{body(false, Section{}, nil)}, []string{"BODY[]"}},
		{"a FETCH 1 body.peek[]<0.2048>", []FetchItem{body(true, Section{}, &Partial{0, 2048})}, []string{"BODY[]<0>"}},
		{"a FETCH 1 BODY[HEADER]", []FetchItem{body(false, Section{Text: SectionHeader}, nil)}, []string{"BODY[HEADER]"}},
		{"a FETCH 1 BODY[TEXT]<10.5>", []FetchItem{body(false, Section{Text: SectionTextOnly}, &Partial{10, 5})}, []string{"BODY[TEXT]<10>"}},
		{"a FETCH 1 BODY[1.2.3]", []FetchItem{body(false, Section{Part: []uint32{1, 2, 3}}, nil)}, []string{"BODY[1.2.3]"}},
		{"a FETCH 1 BODY[4.2.2.1.MIME]", []FetchItem{body(false, Section{Part: []uint32{4, 2, 2, 1}, Text: SectionMIME}, nil)}, []string{"BODY[4.2.2.1.MIME]"}},
		{"a FETCH 1 BODY[3.header]", []FetchItem{body(false, Section{Part: []uint32{3}, Text: SectionHeader}, nil)}, []string{"BODY[3.HEADER]"}},
		{"a FETCH 1 BODY[3.TEXT]", []FetchItem{body(false, Section{Part: []uint32{3}, Text: SectionTextOnly}, nil)}, []string{"BODY[3.TEXT]"}},
		{"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"Subject\" {2}\r\nTo)])", []FetchItem{body(true, Section{Text: SectionHeaderFields, Fields: []string{"From", "Subject", "To"}}, nil)},
			[]string{`BODY[HEADER.FIELDS (From Subject To)]`}},
		{"a FETCH 1 BODY[2.HEADER.FIELDS.NOT (X-Foo)]", []FetchItem{body(false, Section{Part: []uint32{2}, Text: SectionHeaderFieldsNot, Fields: []string{"X-Foo"}}, nil)},
			[]string{"BODY[2.HEADER.FIELDS.NOT (X-Foo)]"}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			cmd, err := parseCommand([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			a := cmd.Args.(*FetchArgs)
			if !reflect.DeepEqual(a.Items, tc.items) {
				t.Errorf("items\n got %#v\nwant %#v", a.Items, tc.items)
			}
			for i, it := range a.Items {
				if i < len(tc.names) && it.ResponseName() != tc.names[i] {
					t.Errorf("item %d ResponseName() = %q, want %q", i, it.ResponseName(), tc.names[i])
				}
			}
		})
	}
}

func TestFetchModifiers(t *testing.T) {
	cmd, err := parseCommand([]byte("a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)"))
	if err != nil {
		t.Fatal(err)
	}
	a := cmd.Args.(*FetchArgs)
	if a.ChangedSince != 12345 || !a.Vanished || a.Set.String() != "300:500" {
		t.Errorf("got %+v", a)
	}
	cmd, err = parseCommand([]byte("a FETCH 1:* FLAGS (CHANGEDSINCE 1)"))
	if err != nil || cmd.Args.(*FetchArgs).ChangedSince != 1 {
		t.Errorf("got %v %v", cmd, err)
	}
}

func TestSetsSeen(t *testing.T) {
	for in, want := range map[string]bool{
		"BODY[]": true, "BODY.PEEK[]": false, "RFC822": true, "RFC822.TEXT": true,
		"RFC822.HEADER": false,
		"BODY":          false, "FLAGS": false,
	} {
		cmd, err := parseCommand([]byte("a FETCH 1 " + in))
		if err != nil {
			t.Fatal(err)
		}
		if got := cmd.Args.(*FetchArgs).Items[0].SetsSeen(); got != want {
			t.Errorf("%s: SetsSeen() = %v", in, got)
		}
	}
}

func TestParseFetchBad(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a FETCH", "expected a space before the sequence set"},
		{"a FETCH 1", "expected a space before the data items"},
		{"a FETCH 1 ()", "the data items must not be empty"},
		{"a FETCH 1 (FLAGS ALL)", "the macro ALL must stand alone"},
		{"a FETCH 1 BODDY", `unknown FETCH data item "BODDY"`},
		{"a FETCH 1 X-GM-MSGID", `unknown FETCH data item "X-GM-MSGID"`},
		{"a FETCH 1 BODY.PEEK", "BODY.PEEK needs a section"},
		{"a FETCH 1 BINARY[1]", `unknown FETCH data item "BINARY"`},
		{"a FETCH 1 BODY[", "expected a section"},
		{"a FETCH 1 BODY[1", `expected ']' to close the section`},
		{"a FETCH 1 BODY[0]", "section part number must not be zero"},
		{"a FETCH 1 BODY[1.]", "expected HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME after the part number"},
		{"a FETCH 1 BODY[1..2]", `unknown section ".2"`},
		{"a FETCH 1 BODY[1.2.FOO]", `unknown section "FOO"`},
		{"a FETCH 1 BODY[1 ]", "expected ']' to close the section"},
		{"a FETCH 1 BODY[MIME]", "MIME needs a part number"},
		{"a FETCH 1 BODY[FOO]", `unknown section "FOO"`},
		{"a FETCH 1 BODY[HEADER.FIELDS]", "expected a space after HEADER.FIELDS"},
		{"a FETCH 1 BODY[HEADER.FIELDS ()]", "header field names must not be empty"},
		{"a FETCH 1 BODY[]<0>", "expected '.' between the partial offset and length"},
		{"a FETCH 1 BODY[]<0.0>", "partial length must not be zero"},
		{"a FETCH 1 BODY[]<1.2", "expected '>'"},
		{"a FETCH 1 FLAGS (VANISHED)", "VANISHED is only allowed in UID FETCH"},
		{"a UID FETCH 1 FLAGS (VANISHED)", "VANISHED needs CHANGEDSINCE"},
		{"a FETCH 1 FLAGS (CHANGEDSINCE 0)", "must not be zero"},
		{"a FETCH 1 FLAGS (FOO)", `unknown FETCH modifier "FOO"`},
		{"a FETCH 1 FLAGS ()", "the FETCH modifiers must not be empty"},
		{"a FETCH 1 (FLAGS", "expected a space or ')'"},
		{"a FETCH * FLAGS  ", "expected '('"},
	} {
		t.Run(tc.in, func(t *testing.T) { checkBad(t, tc.in, "a", tc.want) })
	}
}
