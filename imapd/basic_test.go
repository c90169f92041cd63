package imapd

import (
	"strings"
	"testing"
)

func TestBasicFlow(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", "From: a@example.org\nSubject: hello\n\nbody\n")
	c := ts.login()
	u := c.transactOK("a2", "SELECT INBOX")
	t.Log(strings.Join(u, "\n"))
	u = c.transactOK("a3", "FETCH 1 (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (Subject)] BODY[TEXT])")
	t.Log(strings.Join(u, "\n"))
	u = c.transactOK("a4", "STORE 1 +FLAGS (\\Deleted $Junk)")
	t.Log(strings.Join(u, "\n"))
	u = c.transactOK("a5", "EXPUNGE")
	t.Log(strings.Join(u, "\n"))
	u = c.transactOK("a6", "APPEND INBOX (\\Seen) {12+}\r\nSubject: x\r\n")
	t.Log(strings.Join(u, "\n"))
	u = c.transactOK("a7", "NOOP")
	t.Log(strings.Join(u, "\n"))
	u = c.transactOK("a8", `LIST "" *`)
	t.Log(strings.Join(u, "\n"))
	u = c.transactOK("a9", `LOGOUT`)
	t.Log(strings.Join(u, "\n"))
}

func TestSearchBasic(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", "From: a@example.org\nSubject: hello\n\nbody one\n")
	ts.deliver("INBOX", "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nK=E4se und Br=F6tchen\n")
	c := ts.login()
	c.transactOK("a1", "SELECT INBOX")
	for cmd, want := range map[string]string{
		"SEARCH ALL":         "* SEARCH 1 2",
		"SEARCH FROM jürgen": "* SEARCH 2",
		"SEARCH CHARSET UTF-8 FROM {7+}\r\njürgen": "* SEARCH 2",
		"SEARCH CHARSET UTF-8 BODY {5+}\r\nKÄSE":   "* SEARCH 2",
		"SEARCH SUBJECT hello":                     "* SEARCH 1",
		"SEARCH OR SUBJECT hello BODY brötchen":    "* SEARCH 1 2",
		"SEARCH NOT (SUBJECT hello)":               "* SEARCH 2",
		"UID SEARCH 2":                             "* SEARCH 2",
		"SEARCH TEXT one":                          "* SEARCH 1",
		"SEARCH LARGER 50":                         "* SEARCH 2",
		"SEARCH UNSEEN SINCE 1-Jan-2000":           "* SEARCH 1 2",
		"SEARCH HEADER Content-Type \"\"":          "* SEARCH 2",
	} {
		t.Log(cmd)
		u := c.transactOK("s", cmd)
		expectUntagged(t, u, want)
	}
	_, tagged := c.transact("b", "SEARCH CHARSET X-UNKNOWN ALL")
	if !strings.HasPrefix(tagged, "b NO [BADCHARSET") {
		t.Fatal(tagged)
	}
}
