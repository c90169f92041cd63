package message

import (
	"reflect"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	type A = Address
	for _, tc := range []struct {
		in   string
		want []Address
	}{
		{"ann@example.org", []A{{Mailbox: "ann", Host: "example.org"}}},
		{"Ann Smith <ann@example.org>", []A{{Name: "Ann Smith", Mailbox: "ann", Host: "example.org"}}},
		{`"Smith, Ann" <ann@example.org>, bob@example.org`,
			[]A{{Name: "Smith, Ann", Mailbox: "ann", Host: "example.org"}, {Mailbox: "bob", Host: "example.org"}}},
		{`"A \"q\" B" <a@b>`, []A{{Name: `A "q" B`, Mailbox: "a", Host: "b"}}},
		{"John Q. Public <jqp@x.example>", []A{{Name: "John Q. Public", Mailbox: "jqp", Host: "x.example"}}},
		{"=?utf-8?q?J=C3=B6rg?= <j@x>", []A{{Name: "=?utf-8?q?J=C3=B6rg?=", Mailbox: "j", Host: "x"}}},
		{"first.last@sub.example.org (First Last)", []A{{Name: "First Last", Mailbox: "first.last", Host: "sub.example.org"}}},
		{`"john doe"@example.org`, []A{{Mailbox: "john doe", Host: "example.org"}}},
		{`<"odd local"@example.org>`, []A{{Mailbox: "odd local", Host: "example.org"}}},
		{"<@route1,@route2:user@host>", []A{{Adl: "@route1,@route2", Mailbox: "user", Host: "host"}}},
		{"user@[192.0.2.1]", []A{{Mailbox: "user", Host: "[192.0.2.1]"}}},
		{"undisclosed-recipients:;", []A{{Group: "undisclosed-recipients"}, {GroupEnd: true}}},
		{"Friends: a@x, B <b@y>; c@z", []A{{Group: "Friends"}, {Mailbox: "a", Host: "x"},
			{Name: "B", Mailbox: "b", Host: "y"}, {GroupEnd: true}, {Mailbox: "c", Host: "z"}}},
		{"Unclosed: a@x", []A{{Group: "Unclosed"}, {Mailbox: "a", Host: "x"}, {GroupEnd: true}}},
		{"localonly", []A{{Mailbox: "localonly"}}},
		{"<>", nil},
		{"", nil},
		{" , ,, ", nil},
		{"a@x,,b@y", []A{{Mailbox: "a", Host: "x"}, {Mailbox: "b", Host: "y"}}},
		{"Bad <a@x", []A{{Name: "Bad", Mailbox: "a", Host: "x"}}},
		{"> a@x", []A{{Mailbox: "a", Host: "x"}}},
		{"Zoë <zoe@exämple.org>", []A{{Name: "Zoë", Mailbox: "zoe", Host: "exämple.org"}}},
		{"(only a comment)", []A{{Name: "only a comment"}}},
		{"a@x (unclosed comment", []A{{Name: "unclosed comment", Mailbox: "a", Host: "x"}}},
		{": a@x ;", []A{{Mailbox: "a", Host: "x"}}},
	} {
		if got := parseAddressList(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseAddressList(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}
