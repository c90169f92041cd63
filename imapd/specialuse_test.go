package imapd

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// defaultSpecial is the daemon's default [folders] section.
var defaultSpecial = []SpecialFolder{
	{`\Sent`, "Sent"}, {`\Drafts`, "Drafts"}, {`\Trash`, "Trash"}, {`\Junk`, "Junk"}, {`\Archive`, "Archive"},
}

// listed returns what LIST "" * RETURN (SPECIAL-USE SUBSCRIBED) says of
// each name: its attributes, without \Marked and \Unmarked.
func listed(t *testing.T, c *testConn) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range c.transactOK("ls", `LIST "" * RETURN (SPECIAL-USE SUBSCRIBED)`) {
		attrs, name, ok := strings.Cut(strings.TrimPrefix(l, "* LIST ("), `) "." `)
		if !ok {
			t.Fatalf("LIST line %q", l)
		}
		fields := slices.DeleteFunc(strings.Fields(attrs), func(a string) bool { return a == `\Marked` || a == `\Unmarked` })
		out[strings.Trim(name, `"`)] = strings.Join(fields, " ")
	}
	return out
}

// TestSpecialFoldersFirstLogin: the configured special folders are
// created, subscribed, at the first login, except those whose use a
// folder has already (here "Sent Items"); a folder the user deletes
// later is not created again, and a client's CREATE ... (USE ...) stays.
func TestSpecialFoldersFirstLogin(t *testing.T) {
	ts := newTestServer(t, func(o *Options) {
		o.SpecialFolders, o.CreateSpecialFolders = defaultSpecial, true
	})
	if err := ts.store().Create("Sent Items"); err != nil {
		t.Fatal(err)
	}
	c := ts.login()
	want := map[string]string{
		"INBOX":      ``,
		"Sent Items": `\Sent`,
		"Drafts":     `\Subscribed \Drafts`,
		"Trash":      `\Subscribed \Trash`,
		"Junk":       `\Subscribed \Junk`,
		"Archive":    `\Subscribed \Archive`,
	}
	if got := listed(t, c); !maps.Equal(got, want) {
		t.Fatalf("after the first login:\n got %v\nwant %v", got, want)
	}
	c.transactOK("d", "DELETE Junk")
	c.transactOK("u", "UNSUBSCRIBE Junk")
	c.transactOK("k", `CREATE Spam (USE (\Trash))`)
	c.transactOK("o", "LOGOUT")

	c = ts.login()
	delete(want, "Junk")
	want["Spam"] = `\Trash`
	if got := listed(t, c); !maps.Equal(got, want) {
		t.Fatalf("at the next login:\n got %v\nwant %v", got, want)
	}
}

// TestSpecialFoldersNotCreated: without CreateSpecialFolders nothing is
// created, and a folder's name alone gives its use: the configured name
// first, then the names such folders usually have, in any case.
func TestSpecialFoldersNotCreated(t *testing.T) {
	ts := newTestServer(t, func(o *Options) {
		o.SpecialFolders = []SpecialFolder{{`\Sent`, "Gesendet"}, {`\Archive`, "Spam"}}
	})
	st := ts.store()
	for _, n := range []string{"Gesendet", "Spam", "deleted items", "Archive.2024", "Other"} {
		if err := st.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	c := ts.login()
	want := map[string]string{
		"INBOX":         ``,
		"Gesendet":      `\Sent`,
		"Spam":          `\Archive`,
		"deleted items": `\Trash`,
		"Archive":       `\NonExistent`,
		"Archive.2024":  ``,
		"Other":         ``,
	}
	if got := listed(t, c); !maps.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if _, existed, err := st.SpecialUse(); err != nil || existed {
		t.Errorf("special-use sidecar written without CreateSpecialFolders (err %v)", err)
	}
}
