package wire

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseSearch(t *testing.T) {
	and := func(keys ...SearchKey) SearchKey { return SearchKey{Kind: SearchAnd, Keys: keys} }
	for _, tc := range []struct {
		in   string
		want SearchArgs
	}{
		{"a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"", SearchArgs{Criteria: and(
			SearchKey{Kind: SearchFlagged}, SearchKey{Kind: SearchSince, Date: day(1994, 2, 1)},
			SearchKey{Kind: SearchNot, Keys: []SearchKey{{Kind: SearchFrom, Value: "Smith"}}})}},
		{"a SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX", SearchArgs{Charset: "UTF-8", Criteria: and(SearchKey{Kind: SearchText, Value: "XXXXXX"})}},
		{"a SEARCH charset \"utf-8\" SUBJECT caf\xc3\xa9", SearchArgs{Charset: "utf-8", Criteria: and(SearchKey{Kind: SearchSubject, Value: "caf\xc3\xa9"})}},
		{"a SEARCH OR (SEEN DRAFT) 1:5,7 UID 2:* HEADER X-Foo \"\"", SearchArgs{Criteria: and(
			SearchKey{Kind: SearchOr, Keys: []SearchKey{and(SearchKey{Kind: SearchSeen}, SearchKey{Kind: SearchDraft}), {Kind: SearchSeqSet, Set: set(SeqRange{1, 5}, SeqRange{7, 7})}}},
			SearchKey{Kind: SearchUID, Set: set(SeqRange{2, Star})},
			SearchKey{Kind: SearchHeader, Field: "X-Foo", Value: ""})}},
		{"a SEARCH all answered deleted draft flagged new old recent seen unanswered undeleted undraft unflagged unseen", SearchArgs{Criteria: and(
			SearchKey{Kind: SearchAll}, SearchKey{Kind: SearchAnswered}, SearchKey{Kind: SearchDeleted}, SearchKey{Kind: SearchDraft},
			SearchKey{Kind: SearchFlagged}, SearchKey{Kind: SearchNew}, SearchKey{Kind: SearchOld}, SearchKey{Kind: SearchRecent},
			SearchKey{Kind: SearchSeen}, SearchKey{Kind: SearchUnanswered}, SearchKey{Kind: SearchUndeleted}, SearchKey{Kind: SearchUndraft},
			SearchKey{Kind: SearchUnflagged}, SearchKey{Kind: SearchUnseen})}},
		{"a SEARCH BCC a BODY b CC c FROM d SUBJECT e TEXT f TO g KEYWORD $Junk UNKEYWORD x", SearchArgs{Criteria: and(
			SearchKey{Kind: SearchBcc, Value: "a"}, SearchKey{Kind: SearchBody, Value: "b"}, SearchKey{Kind: SearchCc, Value: "c"},
			SearchKey{Kind: SearchFrom, Value: "d"}, SearchKey{Kind: SearchSubject, Value: "e"}, SearchKey{Kind: SearchText, Value: "f"},
			SearchKey{Kind: SearchTo, Value: "g"}, SearchKey{Kind: SearchKeyword, Flag: "$Junk"}, SearchKey{Kind: SearchUnkeyword, Flag: "x"})}},
		{`a SEARCH BEFORE "01-Jan-2000" ON 29-Feb-2024 SENTBEFORE 1-jan-2000 SENTON 2-Mar-2001 SENTSINCE 03-APR-2002 LARGER 100 SMALLER 4294967295`, SearchArgs{Criteria: and(
			SearchKey{Kind: SearchBefore, Date: day(2000, 1, 1)}, SearchKey{Kind: SearchOn, Date: day(2024, 2, 29)},
			SearchKey{Kind: SearchSentBefore, Date: day(2000, 1, 1)}, SearchKey{Kind: SearchSentOn, Date: day(2001, 3, 2)},
			SearchKey{Kind: SearchSentSince, Date: day(2002, 4, 3)}, SearchKey{Kind: SearchLarger, Size: 100},
			SearchKey{Kind: SearchSmaller, Size: 4294967295})}},
		{`a SEARCH MODSEQ "/flags/\\draft" all 620162338`, SearchArgs{Criteria: and(
			SearchKey{Kind: SearchModSeq, ModSeq: 620162338, ModSeqEntry: `/flags/\draft`, ModSeqType: "all"})}},
		{`a SEARCH MODSEQ 0`, SearchArgs{Criteria: and(SearchKey{Kind: SearchModSeq})}},
		{"a SEARCH RETURN (MIN COUNT) UNSEEN", SearchArgs{Return: SearchReturn{ESearch: true, Min: true, Count: true}, Criteria: and(SearchKey{Kind: SearchUnseen})}},
		{"a SEARCH RETURN () CHARSET US-ASCII ALL", SearchArgs{Return: SearchReturn{ESearch: true, All: true}, Charset: "US-ASCII", Criteria: and(SearchKey{Kind: SearchAll})}},
		{"a UID SEARCH RETURN (SAVE max all) $", SearchArgs{Return: SearchReturn{ESearch: true, Max: true, All: true, Save: true}, Criteria: and(SearchKey{Kind: SearchSeqSet, Set: SeqSet{Saved: true}})}},
		{"a SEARCH UID $ NOT (*)", SearchArgs{Criteria: and(SearchKey{Kind: SearchUID, Set: SeqSet{Saved: true}},
			SearchKey{Kind: SearchNot, Keys: []SearchKey{and(SearchKey{Kind: SearchSeqSet, Set: set(SeqRange{Star, Star})})}})}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			cmd, err := parseCommand([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := cmd.Args.(*SearchArgs); !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("\n got %#v\nwant %#v", *got, tc.want)
			}
		})
	}
}

func TestParseSearchBad(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a SEARCH", "expected a space before the search criteria"},
		{"a SEARCH ", "expected a search key"},
		{"a SEARCH FOO", `unknown search key "FOO"`},
		{"a SEARCH CHARSET", "expected a space after CHARSET"},
		{"a SEARCH CHARSET UTF-8", "expected a space after the charset name"},
		{"a SEARCH FROM", "expected a space after FROM"},
		{"a SEARCH SINCE 1-Feb", "expected '-' after the month"},
		{"a SEARCH SINCE 30-Feb-2023", "Feb 2023 has 28 days"},
		{"a SEARCH SINCE 0-Feb-2023", "has day 0"},
		{"a SEARCH SINCE 100-Feb-2023", "expected '-' after the day"},
		{`a SEARCH SINCE "1-Feb-2023`, `expected '"' to close SINCE date`},
		{"a SEARCH OR SEEN", "expected a space between the two keys of OR"},
		{"a SEARCH NOT", "expected a space after NOT"},
		{"a SEARCH ()", "must not be empty"},
		{"a SEARCH (SEEN", "expected a space or ')'"},
		{"a SEARCH SEEN)", `unexpected ")" after the arguments`},
		{"a SEARCH LARGER -1", "expected LARGER size"},
		{"a SEARCH KEYWORD \\Seen", "expected keyword"},
		{"a SEARCH UID 0", "must not be zero"},
		{"a SEARCH RETURN (FOO) ALL", `unknown RETURN option "FOO"`},
		{"a SEARCH RETURN ALL", "expected '(' to open the RETURN options"},
		{"a SEARCH CHARSET UTF-8 RETURN (ALL) ALL", `unknown search key "RETURN"`},
		{`a SEARCH MODSEQ "/flags/\\seen" 5`, "expected priv, shared or all"},
		{`a SEARCH MODSEQ "/foo" all 5`, "must be \"/flags/\" and a flag"},
		{`a SEARCH MODSEQ x`, "expected MODSEQ mod-sequence"},
		{"a SEARCH HEADER Subject", "expected a space after the header field name"},
	} {
		t.Run(tc.in, func(t *testing.T) { checkBad(t, tc.in, "a", tc.want) })
	}
}

// TestSearchDepth checks the nesting bound: deep input gets a clear syntax
// error, never a stack overflow.
func TestSearchDepth(t *testing.T) {
	ok := "a SEARCH " + strings.Repeat("(", DefaultMaxDepth) + "ALL" + strings.Repeat(")", DefaultMaxDepth)
	if _, err := parseCommand([]byte(ok)); err != nil {
		t.Errorf("depth %d: %v", DefaultMaxDepth, err)
	}
	tooDeep := "a SEARCH " + strings.Repeat("(", DefaultMaxDepth+1) + "ALL" + strings.Repeat(")", DefaultMaxDepth+1)
	checkBad(t, tooDeep, "a", "nesting deeper than 64 levels")
	checkBad(t, "a SEARCH "+strings.Repeat("(", 1_000_000), "a", "nesting deeper than 64 levels")
	checkBad(t, "a SEARCH "+strings.Repeat("NOT ", 1_000_000)+"ALL", "a", "nesting deeper than 64 levels")
	checkBad(t, "a SEARCH "+strings.Repeat("OR ALL ", 100_000)+"ALL", "a", "nesting deeper than 64 levels")

	opts := ParseOptions{Grammar: testGrammar, MaxDepth: 3}
	if _, err := opts.ParseCommand([]byte("a SEARCH NOT (OR ALL ALL)")); err != nil {
		t.Errorf("depth 3: %v", err)
	}
	if _, err := opts.ParseCommand([]byte("a SEARCH NOT (OR ALL (ALL))")); err == nil || !strings.Contains(err.Error(), "deeper than 3") {
		t.Errorf("depth 4 with MaxDepth 3: %v", err)
	}
}

// TestSearchKeys checks the bound on the number of keys: every
// search-key counts, at every depth, with NOT, OR, parentheses and sets;
// at the limit the command parses, one over it is a *LimitError that
// names the limit, and parsing stops there.
func TestSearchKeys(t *testing.T) {
	for _, tc := range []struct {
		criteria string
		keys     int
	}{
		{"ALL", 1},
		{"NOT TEXT x", 2},
		{"OR SEEN 1:5", 3},
		{"(SEEN DRAFT)", 3},
		{"UID 1:* NOT (OR FROM a (TO b CC c)) 2", 9},
	} {
		in := "a SEARCH " + tc.criteria
		if _, err := (ParseOptions{Grammar: testGrammar, MaxKeys: tc.keys}).ParseCommand([]byte(in)); err != nil {
			t.Errorf("%q with MaxKeys %d: %v", in, tc.keys, err)
		}
		_, err := ParseOptions{Grammar: testGrammar, MaxKeys: tc.keys - 1}.ParseCommand([]byte(in))
		var le *LimitError
		if tc.keys > 1 && (!errors.As(err, &le) || le.Tag != "a" || le.Name != "SEARCH" || le.Limit != tc.keys-1) {
			t.Errorf("%q with MaxKeys %d: %#v, want a *LimitError", in, tc.keys-1, err)
		}
	}

	// The default: DefaultMaxKeys keys pass, one more does not, whatever
	// the shape (flat, or NOT TEXT pairs as in issue 9).
	flat := func(n int) string { return "a UID SEARCH" + strings.Repeat(" SEEN", n) }
	if _, err := parseCommand([]byte(flat(DefaultMaxKeys))); err != nil {
		t.Errorf("%d keys: %v", DefaultMaxKeys, err)
	}
	var b strings.Builder
	b.WriteString("a SEARCH")
	for i := range DefaultMaxKeys / 2 {
		fmt.Fprintf(&b, " NOT TEXT zz%d", i)
	}
	if _, err := parseCommand([]byte(b.String())); err != nil {
		t.Errorf("%d NOT TEXT keys: %v", DefaultMaxKeys/2, err)
	}
	for _, in := range []string{flat(DefaultMaxKeys + 1), b.String() + " ALL", b.String() + " NOT x"} {
		_, err := parseCommand([]byte(in))
		var le *LimitError
		if !errors.As(err, &le) || le.Msg != "Too many search keys (limit 1000)" || le.Tag != "a" {
			t.Errorf("%d keys: %#v, want a *LimitError", DefaultMaxKeys+1, err)
		}
		if IsFatal(err) {
			t.Errorf("a LimitError is fatal")
		}
	}
}
