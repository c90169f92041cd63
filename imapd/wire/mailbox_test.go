package wire

import (
	"reflect"
	"testing"
)

// TestMailboxWildcardAtom checks the one leniency of mailbox names: "%"
// and "*" in the atom form of every mailbox argument (offlineimap sends
// "SELECT 100%"), while LIST and LSUB read them as wildcards, other
// astrings still refuse them, and the tokens around a mailbox are read as
// before.
func TestMailboxWildcardAtom(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Args
	}{
		{"a SELECT 100%", &SelectArgs{Mailbox: "100%"}},
		{"a EXAMINE *", &SelectArgs{Mailbox: "*"}},
		{"a SELECT 100% (CONDSTORE)", &SelectArgs{Mailbox: "100%", CondStore: true}},
		{"a STATUS 100% (MESSAGES)", &StatusArgs{"100%", []StatusItem{StatusMessages}}},
		{"a CREATE 100%", &CreateArgs{Mailbox: "100%"}},
		{"a CREATE a*b.%c (USE (\\Sent))", &CreateArgs{Mailbox: "a*b.%c", HasUse: true, Use: []string{`\Sent`}}},
		{"a DELETE 100%", &MailboxArgs{"100%"}},
		{"a SUBSCRIBE 100%", &MailboxArgs{"100%"}},
		{"a UNSUBSCRIBE %]*", &MailboxArgs{"%]*"}},
		{"a RENAME 100% 50%", &RenameArgs{"100%", "50%"}},
		{"a APPEND 100% {2}\r\nhi", &AppendArgs{"100%", AppendMessage{Data: []byte("hi")}}},
		{"a APPEND 100% (\\Seen) {2}\r\nhi", &AppendArgs{"100%", AppendMessage{Flags: []string{FlagSeen}, Data: []byte("hi")}}},
		{"a COPY 1:* 100%", &CopyArgs{set(SeqRange{1, Star}), "100%"}},
		{"a UID MOVE 1 *", &CopyArgs{set(SeqRange{1, 1}), "*"}},
		{"a SELECT \"100%\"", &SelectArgs{Mailbox: "100%"}},
		{"a LIST 100% %", &ListArgs{Reference: "100%", Patterns: []Mailbox{"%"}}},
		{"a LSUB \"\" 100%", &ListArgs{Patterns: []Mailbox{"100%"}}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseCommand([]byte(tc.in))
			if err != nil {
				t.Fatalf("parseCommand(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got.Args, tc.want) {
				t.Errorf("parseCommand(%q)\n got %#v\nwant %#v", tc.in, got.Args, tc.want)
			}
		})
	}
	for _, tc := range []struct{ in, want string }{
		{"a SELECT 100%(CONDSTORE)", `unexpected "(CONDSTORE)"`},
		{"a SELECT 100%{3}", "unexpected"},
		{"a SELECT 100%\"x\"", "unexpected"},
		{"a SELECT ~{3}\r\nabc", "cannot be a literal8"},
		{"a SELECT (%)", "expected mailbox name"},
		{"a LOGIN fr%d x", "expected a space before the password"},
		{"a LOGIN fred x*", "unexpected"},
		{"a SEARCH CHARSET utf-8* ALL", "expected a space"},
		{"a LSUB \"\" (%)", "expected mailbox pattern"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			checkBad(t, tc.in, "a", tc.want)
		})
	}
}
