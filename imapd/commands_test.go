package imapd

import (
	"strings"
	"testing"
)

// TestCapabilityMatchesTable: what CAPABILITY lists after login is
// exactly the declared extensions offered then, every command that
// belongs to an extension is advertised with it, and every command of
// the table is known to the parser (sent bare before login, it gets an
// answer, a state refusal or a syntax error, never "unknown command").
func TestCapabilityMatchesTable(t *testing.T) {
	ts := newTestServer(t)
	for _, c := range commandTable {
		for _, name := range []string{c.name, "UID " + c.name} {
			if name != c.name && !c.uid {
				continue
			}
			// A connection each: a client is cut off after ten BADs
			// before login, and LOGOUT ends it.
			_, tagged := ts.dial().transact("t", name)
			if strings.Contains(tagged, "unknown command") {
				t.Errorf("%s: %s", name, tagged)
			}
		}
	}
	_, tagged := ts.dial().transact("u", "UID LIST")
	if !strings.Contains(tagged, `BAD unknown command "UID LIST"`) {
		t.Errorf("UID LIST: %s", tagged)
	}

	c := ts.login()
	u := c.transactOK("a", "CAPABILITY")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* CAPABILITY IMAP4rev1 ") {
		t.Fatalf("CAPABILITY: %q", u)
	}
	advertised := map[string]bool{}
	for _, atom := range strings.Fields(u[0])[3:] {
		advertised[atom] = true
	}
	declared := map[string]bool{}
	for _, e := range extensions {
		if e.value != nil {
			declared[e.name+"="+e.value(&session{srv: ts.srv})] = true
		}
		declared[e.name] = true
	}
	for name := range advertised {
		if !declared[name] {
			t.Errorf("CAPABILITY lists %s, which no entry declares", name)
		}
	}
	for _, cmd := range commandTable {
		if cmd.capability != "" && !declared[cmd.capability] {
			t.Errorf("%s belongs to capability %s, which no entry declares", cmd.name, cmd.capability)
		}
		if cmd.capability != "" && cmd.states&authed != 0 && !advertised[cmd.capability] {
			t.Errorf("%s is served after login but its capability %s is not advertised", cmd.name, cmd.capability)
		}
	}
	for _, gone := range []string{"STARTTLS", "AUTH=PLAIN", "LOGINDISABLED"} {
		if advertised[gone] {
			t.Errorf("%s advertised after login", gone)
		}
	}
}
