package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func u64(v uint64) *uint64 { return &v }
func str(s string) *string { return &s }

func set(ranges ...SeqRange) SeqSet { return SeqSet{Ranges: ranges} }

func TestParseCommandGood(t *testing.T) {
	zone := time.FixedZone("", -7*3600)
	for _, tc := range []struct {
		in   string
		want *Command
	}{
		{"a1 CAPABILITY", &Command{Tag: "a1", Name: "CAPABILITY"}},
		{"a1 noop", &Command{Tag: "a1", Name: "NOOP"}},
		{"x.y$1 Logout", &Command{Tag: "x.y$1", Name: "LOGOUT"}},
		{"t] IDLE", &Command{Tag: "t]", Name: "IDLE"}},
		{"t STARTTLS", &Command{Tag: "t", Name: "STARTTLS"}},
		{"t CHECK", &Command{Tag: "t", Name: "CHECK"}},
		{"t CLOSE", &Command{Tag: "t", Name: "CLOSE"}},
		{"t EXPUNGE", &Command{Tag: "t", Name: "EXPUNGE"}},
		{"t UNSELECT", &Command{Tag: "t", Name: "UNSELECT"}},
		{"t NAMESPACE", &Command{Tag: "t", Name: "NAMESPACE"}},

		{`a LOGIN fred "fat man"`, &Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"fred", "fat man"}}},
		{"a LOGIN {4}\r\nFRED {7}\r\nfat man", &Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"FRED", "fat man"}}},
		{"a LOGIN {4+}\r\nFRED \"a\\\"b\\\\c\"", &Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"FRED", `a"b\c`}}},
		{`a LOGIN f] ""`, &Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"f]", ""}}},

		{"a AUTHENTICATE plain", &Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "PLAIN"}}},
		{"a AUTHENTICATE PLAIN =", &Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "PLAIN", HasInitialResponse: true, InitialResponse: []byte{}}}},
		{"a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0", &Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "PLAIN", HasInitialResponse: true, InitialResponse: []byte("\x00fred\x00secret")}}},

		{"a ENABLE CONDSTORE qresync", &Command{Tag: "a", Name: "ENABLE", Args: &EnableArgs{[]string{"CONDSTORE", "QRESYNC"}}}},
		{"a ID NIL", &Command{Tag: "a", Name: "ID", Args: &IDArgs{}}},
		{"a ID ()", &Command{Tag: "a", Name: "ID", Args: &IDArgs{Params: []IDParam{}}}},
		{`a ID ("name" "sodr" "version" NIL)`, &Command{Tag: "a", Name: "ID", Args: &IDArgs{Params: []IDParam{{"name", str("sodr")}, {"version", nil}}}}},

		{"a SELECT inbox", &Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "inbox"}}},
		{"a EXAMINE &U,BTFw-", &Command{Tag: "a", Name: "EXAMINE", Args: &SelectArgs{Mailbox: "&U,BTFw-"}}},
		{"a SELECT INBOX (CONDSTORE)", &Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", CondStore: true}}},
		{"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", &Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncParams{
			UIDValidity: 67890007, ModSeq: 20050715194045000, KnownUIDs: set(SeqRange{41, 41}, SeqRange{43, 211}, SeqRange{214, 541})}}}},
		{"a SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))", &Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncParams{
			UIDValidity: 67890007, ModSeq: 90060115194045000, KnownUIDs: set(SeqRange{1, 29997}),
			KnownSeqs:    set(SeqRange{5000, 5000}, SeqRange{7500, 7500}, SeqRange{9000, 9000}, SeqRange{9990, 9999}),
			KnownSeqUIDs: set(SeqRange{15000, 15000}, SeqRange{22500, 22500}, SeqRange{27000, 27000}, SeqRange{29970, 29970}, SeqRange{29973, 29973}, SeqRange{29976, 29976}, SeqRange{29979, 29979}, SeqRange{29982, 29982}, SeqRange{29985, 29985}, SeqRange{29988, 29988}, SeqRange{29991, 29991}, SeqRange{29994, 29994}, SeqRange{29997, 29997}),
		}}}},
		{"a SELECT INBOX (QRESYNC (1 2 (1 5)) CONDSTORE)", &Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", CondStore: true, QResync: &QResyncParams{
			UIDValidity: 1, ModSeq: 2, KnownSeqs: set(SeqRange{1, 1}), KnownSeqUIDs: set(SeqRange{5, 5})}}}},

		{"a CREATE owatagusiam/", &Command{Tag: "a", Name: "CREATE", Args: &CreateArgs{Mailbox: "owatagusiam/"}}},
		{`a CREATE MySpecial (USE (\drafts \Sent \X-Custom))`, &Command{Tag: "a", Name: "CREATE", Args: &CreateArgs{Mailbox: "MySpecial", HasUse: true, Use: []string{`\Drafts`, `\Sent`, `\X-Custom`}}}},
		{`a CREATE x (USE ())`, &Command{Tag: "a", Name: "CREATE", Args: &CreateArgs{Mailbox: "x", HasUse: true, Use: []string{}}}},
		{"a DELETE blurdybloop", &Command{Tag: "a", Name: "DELETE", Args: &MailboxArgs{"blurdybloop"}}},
		{`a RENAME "a b" {3}` + "\r\nc d", &Command{Tag: "a", Name: "RENAME", Args: &RenameArgs{"a b", "c d"}}},
		{"a SUBSCRIBE #news.comp.mail.mime", &Command{Tag: "a", Name: "SUBSCRIBE", Args: &MailboxArgs{"#news.comp.mail.mime"}}},
		{"a UNSUBSCRIBE x", &Command{Tag: "a", Name: "UNSUBSCRIBE", Args: &MailboxArgs{"x"}}},

		{`a LIST "" ""`, &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Reference: "", Patterns: []Mailbox{""}}}},
		{`a LIST ~/Mail/ %`, &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Reference: "~/Mail/", Patterns: []Mailbox{"%"}}}},
		{`a LIST "" foo/*]%`, &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []Mailbox{"foo/*]%"}}}},
		{`a LIST (SUBSCRIBED RECURSIVEMATCH) "" (% "x/*") RETURN (CHILDREN STATUS (MESSAGES UNSEEN) SPECIAL-USE subscribed)`, &Command{Tag: "a", Name: "LIST", Args: &ListArgs{
			Patterns: []Mailbox{"%", "x/*"}, Extended: true,
			Select: ListSelect{Subscribed: true, RecursiveMatch: true},
			Return: ListReturn{Subscribed: true, Children: true, SpecialUse: true, Status: []StatusItem{StatusMessages, StatusUnseen}},
		}}},
		{`a LIST () "" %`, &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []Mailbox{"%"}, Extended: true}}},
		{`a LIST (SPECIAL-USE) "" *`, &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []Mailbox{"*"}, Extended: true, Select: ListSelect{SpecialUse: true}}}},
		{`a LIST "" % RETURN ()`, &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []Mailbox{"%"}, Extended: true}}},
		{`a LSUB "#news." "comp.mail.*"`, &Command{Tag: "a", Name: "LSUB", Args: &ListArgs{Reference: "#news.", Patterns: []Mailbox{"comp.mail.*"}}}},

		{"a STATUS blurdybloop (UIDNEXT MESSAGES unseen recent uidvalidity HIGHESTMODSEQ SIZE APPENDLIMIT)", &Command{Tag: "a", Name: "STATUS", Args: &StatusArgs{"blurdybloop", []StatusItem{
			StatusUIDNext, StatusMessages, StatusUnseen, StatusRecent, StatusUIDValidity, StatusHighestModSeq, StatusSize, StatusAppendLimit}}}},

		{"a APPEND saved-messages (\\Seen) {5}\r\nhello", &Command{Tag: "a", Name: "APPEND", Args: &AppendArgs{"saved-messages", AppendMessage{Flags: []string{FlagSeen}, Data: []byte("hello")}}}},
		{"a APPEND x {0+}\r\n", &Command{Tag: "a", Name: "APPEND", Args: &AppendArgs{"x", AppendMessage{Data: []byte{}}}}},
		{"a APPEND x () \"17-Jul-1996 02:44:25 -0700\" {2}\r\nhi", &Command{Tag: "a", Name: "APPEND", Args: &AppendArgs{"x", AppendMessage{Flags: []string{}, Date: time.Date(1996, 7, 17, 2, 44, 25, 0, zone), Data: []byte("hi")}}}},
		{"a APPEND x \" 7-Jul-1996 02:44:25 -0700\" {2}\r\nhi", &Command{Tag: "a", Name: "APPEND", Args: &AppendArgs{"x", AppendMessage{Date: time.Date(1996, 7, 7, 2, 44, 25, 0, zone), Data: []byte("hi")}}}},
		{"a APPEND {1}\r\nx (\\SEEN $Junk) ~{3}\r\na\x00b", &Command{Tag: "a", Name: "APPEND", Args: &AppendArgs{"x",
			AppendMessage{Flags: []string{FlagSeen, "$Junk"}, Data: []byte("a\x00b"), Binary: true}}}},

		{"a COPY 2:4 MEETING", &Command{Tag: "a", Name: "COPY", Args: &CopyArgs{set(SeqRange{2, 4}), "MEETING"}}},
		{"a UID COPY $ Trash", &Command{Tag: "a", Name: "UID COPY", Args: &CopyArgs{SeqSet{Saved: true}, "Trash"}}},
		{"a MOVE 1:* Trash", &Command{Tag: "a", Name: "MOVE", Args: &CopyArgs{set(SeqRange{1, Star}), "Trash"}}},
		{"a uid move 5,3 Trash", &Command{Tag: "a", Name: "UID MOVE", Args: &CopyArgs{set(SeqRange{5, 5}, SeqRange{3, 3}), "Trash"}}},
		{"a UID EXPUNGE 3000:3002", &Command{Tag: "a", Name: "UID EXPUNGE", Args: &ExpungeArgs{set(SeqRange{3000, 3002})}}},

		{`a STORE 2:4 +FLAGS (\Deleted)`, &Command{Tag: "a", Name: "STORE", Args: &StoreArgs{Set: set(SeqRange{2, 4}), Action: StoreAdd, Flags: []string{FlagDeleted}}}},
		{`a STORE 1 -flags.silent \seen foo`, &Command{Tag: "a", Name: "STORE", Args: &StoreArgs{Set: set(SeqRange{1, 1}), Action: StoreRemove, Silent: true, Flags: []string{FlagSeen, "foo"}}}},
		{`a STORE 1 FLAGS ()`, &Command{Tag: "a", Name: "STORE", Args: &StoreArgs{Set: set(SeqRange{1, 1}), Flags: []string{}}}},
		{`a UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\Deleted)`, &Command{Tag: "a", Name: "UID STORE", Args: &StoreArgs{
			Set: set(SeqRange{6, 6}, SeqRange{4, 4}, SeqRange{8, 8}), Action: StoreAdd, Silent: true, Flags: []string{FlagDeleted}, UnchangedSince: u64(12121230045)}}},
		{`a STORE 1 (UNCHANGEDSINCE 0) FLAGS \Draft`, &Command{Tag: "a", Name: "STORE", Args: &StoreArgs{Set: set(SeqRange{1, 1}), Flags: []string{FlagDraft}, UnchangedSince: u64(0)}}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseCommand([]byte(tc.in))
			if err != nil {
				t.Fatalf("parseCommand(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseCommand(%q)\n got %#v\nwant %#v", tc.in, got.Args, tc.want.Args)
			}
		})
	}
}

// TestParseCommandBad checks that bad commands get a *SyntaxError whose
// text says what is wrong, and the tag when there is one.
func TestParseCommandBad(t *testing.T) {
	for _, tc := range []struct {
		in, tag, want string
	}{
		{"", "", "must start with a tag"},
		{"+a NOOP", "", "must start with a tag"},
		{"(x NOOP", "", "must start with a tag"},
		{"a", "a", "expected a space after the tag"},
		{"a ", "a", "expected a command name"},
		{"a  NOOP", "a", "expected a command name"},
		{"a\tNOOP", "a", "found a tab"},
		{"a BLURDYBLOOP", "a", `unknown command "BLURDYBLOOP"`},
		{"a UID", "a", "expected a space after UID"},
		{"a UID LIST", "a", `unknown command "UID LIST"`},
		{"a NOOP x", "a", `unexpected "x" after the arguments`},
		{"a NOOP ", "a", "trailing space"},
		{"a LOGIN fred", "a", "expected a space before the password"},
		{"a LOGIN fred  x", "a", "expected password"},
		{`a LOGIN "fred x`, "a", "not closed before end of line"},
		{`a LOGIN "fr\ed" x`, "a", "backslash in a quoted string may only escape"},
		{"a LOGIN {5}\r\nab", "a", "shorter than its announced 5 octets"},
		{"a LOGIN {3}x\r\nabc y", "a", "must end its line"},
		{"a LOGIN {3}\r\na\x00c y", "a", "contains NUL"},
		{"a LOGIN ~{3}\r\nabc y", "a", "cannot be a literal8"},
		{"a LOGIN fred (x)", "a", "expected password"},
		{"a AUTHENTICATE PLAIN AGZy!!", "a", "not valid base64"},
		{"a AUTHENTICATE PLAIN AGZ", "a", "not valid base64"},
		{"a AUTHENTICATE", "a", "expected a space before the mechanism"},
		{"a ENABLE", "a", "expected a space before a capability"},
		{"a ID (\"name\")", "a", "expected a space after the ID field name"},
		{"a ID foo", "a", "expected a parameter list or NIL"},
		{"a SELECT", "a", "expected a space before the mailbox name"},
		{"a SELECT INBOX ()", "a", "the select parameters must not be empty"},
		{"a SELECT INBOX (FOO)", "a", `unknown select parameter "FOO"`},
		{"a SELECT INBOX (QRESYNC (0 5))", "a", "UIDVALIDITY must not be zero"},
		{"a SELECT INBOX (QRESYNC (1 0))", "a", "mod-sequence must not be zero"},
		{"a SELECT INBOX (QRESYNC (1 5 1:*))", "a", "known UIDs must not contain '*'"},
		{"a SELECT INBOX (QRESYNC (1 5 1:4 (1:2)))", "a", "between the known sequence set and UID set"},
		{"a SELECT INBOX (QRESYNC (1 5) QRESYNC (1 5))", "a", "QRESYNC given twice"},
		{"a CREATE x (USE (Sent))", "a", "to start a special-use attribute"},
		{"a CREATE x (FOO)", "a", `unknown CREATE parameter "FOO"`},
		{"a RENAME x", "a", "expected a space before the new mailbox name"},
		{"a LIST x", "a", "expected a space before the mailbox pattern"},
		{"a LIST (RECURSIVEMATCH) \"\" %", "a", "RECURSIVEMATCH must be used with SUBSCRIBED"},
		{"a LIST (FOO) \"\" %", "a", `unknown LIST selection option "FOO"`},
		{"a LIST \"\" % RETURN (FOO)", "a", `unknown LIST return option "FOO"`},
		{"a LIST \"\" % RETURNS ()", "a", "expected RETURN"},
		{"a LIST \"\" () ", "a", "the mailbox patterns must not be empty"},
		{"a LIST \"\" % RETURN (STATUS ())", "a", "status items must not be empty"},
		{"a LSUB \"\" (%)", "a", "expected mailbox pattern"},
		{"a STATUS x ()", "a", "the status items must not be empty"},
		{"a STATUS x (MESSAGES FOO)", "a", `unknown status item "FOO"`},
		{"a STATUS x MESSAGES", "a", `expected '(' to open the status items`},
		{"a APPEND x", "a", "expected a space before the message"},
		{"a APPEND x \"hello\"", "a", "expected the day of the internal date"},
		{"a APPEND x hello", "a", "expected the message as a literal"},
		{"a APPEND x (\\Recent) {1}\r\na", "a", `\Recent cannot be set`},
		{"a APPEND x \"31-Feb-2020 00:00:00 +0000\" {1}\r\na", "a", "Feb 2020 has 29 days"},
		{"a APPEND x \"01-Foo-2020 00:00:00 +0000\" {1}\r\na", "a", "expected a month name"},
		{"a APPEND x \"01-Jan-2020 24:00:00 +0000\" {1}\r\na", "a", "invalid time 24:00:00"},
		{"a APPEND x \"01-Jan-2020 10:00:00 0000\" {1}\r\na", "a", "expected a zone"},
		{"a APPEND x \"01-Jan-2020 10:00:00 +0070\" {1}\r\na", "a", "minutes above 59"},
		{"a APPEND x \"01-Jan-20 10:00:00 +0000\" {1}\r\na", "a", "4-digit year"},
		{"a APPEND x {1}\r\na ", "a", "trailing space at end of line"},
		{"a APPEND x {1}\r\na {1}\r\nb", "a", "unexpected \"{1}\\r\\nb\" after the arguments"}, // MULTIAPPEND
		{"a APPEND x {2}\r\na\x00", "a", "contains NUL, which only a literal8"},
		{"a COPY 0 x", "a", "must not be zero"},
		{"a COPY 1:x x", "a", "expected a number or '*'"},
		{"a COPY 4294967296 x", "a", "larger than 4294967295"},
		{"a COPY 1, x", "a", "expected a number or '*'"},
		{"a UID EXPUNGE", "a", "expected a space before the UID set"},
		{"a STORE 1 FLAGS (\\Seen", "a", "expected a space or ')'"},
		{"a STORE 1 FLAG (\\Seen)", "a", `expected FLAGS, +FLAGS or -FLAGS`},
		{"a STORE 1 +FLAGS \\Recent", "a", `\Recent cannot be set`},
		{"a STORE 1 +FLAGS \\*", "a", "expected flag"},
		{"a STORE 1 (UNCHANGEDSINCE) +FLAGS x", "a", "expected a space after UNCHANGEDSINCE"},
		{"a STORE 1 (FOO 1) +FLAGS x", "a", `unknown STORE modifier "FOO"`},
		{"a STORE 1 (UNCHANGEDSINCE 9223372036854775808) +FLAGS x", "a", "larger than 9223372036854775807"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			checkBad(t, tc.in, tc.tag, tc.want)
		})
	}
}

func checkBad(t *testing.T, in, tag, want string) {
	t.Helper()
	cmd, err := parseCommand([]byte(in))
	if err == nil {
		t.Fatalf("parseCommand(%q) = %#v, want error containing %q", in, cmd.Args, want)
	}
	var se *SyntaxError
	if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
		t.Fatalf("parseCommand(%q) error %T %v, want *SyntaxError", in, err, err)
	}
	if !strings.Contains(se.Msg, want) {
		t.Errorf("parseCommand(%q) error %q, want it to contain %q", in, se.Msg, want)
	}
	if se.Tag != tag {
		t.Errorf("parseCommand(%q) error tag %q, want %q", in, se.Tag, tag)
	}
	for i := 0; i < len(se.Msg); i++ {
		if c := se.Msg[i]; c < 0x20 || c > 0x7e {
			t.Errorf("parseCommand(%q) error %q holds octet 0x%02x; it must be sendable as resp-text", in, se.Msg, c)
		}
	}
	if IsFatal(err) {
		t.Errorf("IsFatal(%v) = true for a syntax error", err)
	}
}

func TestMailbox(t *testing.T) {
	for _, tc := range []struct {
		in    Mailbox
		inbox bool
		utf8  string
		err   bool
	}{
		{"INBOX", true, "INBOX", false},
		{"iNbOx", true, "INBOX", false},
		{"INBOX.Sent", false, "INBOX.Sent", false},
		{"Entw&APw-rfe", false, "Entwürfe", false},
		{"a&b", false, "", true},
		{"Entwürfe", false, "", true},
	} {
		if got := tc.in.IsInbox(); got != tc.inbox {
			t.Errorf("%q.IsInbox() = %v", tc.in, got)
		}
		got, err := tc.in.UTF8()
		if (err != nil) != tc.err || got != tc.utf8 {
			t.Errorf("%q.UTF8() = %q, %v", tc.in, got, err)
		}
	}
}

func TestCommandUID(t *testing.T) {
	cmd, err := parseCommand([]byte("a UID FETCH 1 UID"))
	if err != nil || !cmd.UID() {
		t.Fatalf("UID FETCH: %v %v", cmd, err)
	}
	cmd, err = parseCommand([]byte("a FETCH 1 UID"))
	if err != nil || cmd.UID() {
		t.Fatalf("FETCH: %v %v", cmd, err)
	}
}

func TestDecodeSASL(t *testing.T) {
	if b, err := DecodeSASL([]byte("")); err != nil || len(b) != 0 {
		t.Errorf("DecodeSASL(\"\") = %q, %v", b, err)
	}
	if b, err := DecodeSASL([]byte("AGEAYg==")); err != nil || string(b) != "\x00a\x00b" {
		t.Errorf("DecodeSASL = %q, %v", b, err)
	}
	if _, err := DecodeSASL([]byte("AGEAYg")); err == nil {
		t.Errorf("DecodeSASL accepted unpadded base64")
	}
}
