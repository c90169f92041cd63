package imapd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"imapd/auth"
	"imapd/maildir"
	"imapd/message"
)

// Responses served from the store's cache of derived data (ENVELOPE,
// BODY, BODYSTRUCTURE, HEADER.FIELDS, SEARCH's envelope text) must be
// the ones rendered from the message: the first answer (cold, built and
// kept), the next one (from the cache), another session's and another
// process's are the same octets.

// otherProcess is a second server over ts's Maildir with a Hub of its
// own: what another imapd process sees, the cache only through its file.
func otherProcess(t *testing.T, ts *testServer) *testServer {
	t.Helper()
	hub := maildir.NewHub(maildir.Options{NoSync: true})
	t.Cleanup(func() { hub.Close() })
	o := newTestServer(t, func(opts *Options) {
		opts.OpenStore = func(auth.Identity) (*maildir.Store, error) { return hub.Open(ts.root, true) }
	})
	o.hub, o.root = hub, ts.root
	return o
}

// reads returns how many message files ts's store has opened.
func (ts *testServer) reads() int64 { return ts.hub.Stats().MessageReads.Load() }

// cacheHas reports whether the folder's imapd-cache holds key.
func (ts *testServer) cacheHas(key string) bool {
	ts.t.Helper()
	return strings.Contains(string(ts.cacheFile()), key)
}

// cacheFile returns the folder's imapd-cache, nil when there is none.
func (ts *testServer) cacheFile() []byte {
	ts.t.Helper()
	b, err := os.ReadFile(filepath.Join(ts.root, "imapd-cache"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		ts.t.Fatal(err)
	}
	return b
}

// brokenMessage has a line in its header that is no field
// (testdata/transcripts/fetch_items.txt, message 3).
const brokenMessage = "From: broken@example.org\nSubject: broken header\nthis line is not a header field\nTo: x@example.org\n\nbody\n"

// TestParseWarningFromWarmCache: * OK [PARSE] goes out for a malformed
// message whether its ENVELOPE and BODYSTRUCTURE are rendered now or come
// from the cache, in another session or another process.
func TestParseWarningFromWarmCache(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", "From: a@example.org\nSubject: fine\nMessage-ID: <fine@example.org>\n\nbody\n")
	ts.deliver("INBOX", brokenMessage)
	const parse = "* OK [PARSE] Message 2 (UID 2) has a malformed header or MIME structure; served as parsed"
	const envelope = `(NIL "broken header" ((NIL NIL "broken" "example.org")) ((NIL NIL "broken" "example.org")) ((NIL NIL "broken" "example.org")) ((NIL NIL "x" "example.org")) NIL NIL NIL NIL)`

	c := ts.login()
	c.transactOK("a1", "EXAMINE INBOX")
	if ts.cacheHas("imap.envelope") {
		t.Fatal("ENVELOPE cached before any FETCH")
	}
	expectUntagged(t, c.transactOK("a2", "FETCH 2 ENVELOPE"), parse, "* 2 FETCH (ENVELOPE "+envelope+")")
	if !ts.cacheHas("imap.envelope") {
		t.Fatal("ENVELOPE not kept in the cache file")
	}
	// Within the selection, the warning is given once.
	cold := c.transactOK("a3", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
	if len(cold) != 2 || !strings.HasPrefix(cold[1], "* 2 FETCH (ENVELOPE "+envelope+" BODYSTRUCTURE (") {
		t.Fatalf("FETCH 1:*:\n%s", strings.Join(cold, "\n"))
	}
	again := c.transactOK("a4", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
	expectUntagged(t, again, cold...)
	// A new selection warns again.
	c.transactOK("a5", "EXAMINE INBOX")
	expectUntagged(t, c.transactOK("a6", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"), cold[0], parse, cold[1])

	warm := append([]string{cold[0], parse}, cold[1])
	reads := ts.reads()
	c2 := ts.login()
	c2.transactOK("b1", "EXAMINE INBOX")
	expectUntagged(t, c2.transactOK("b2", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"), warm...)
	// BODYSTRUCTURE alone (a new selection: warned again) is the same.
	bodystructure := strings.TrimPrefix(cold[1], "* 2 FETCH (ENVELOPE "+envelope+" ")
	c2.transactOK("b3", "EXAMINE INBOX")
	expectUntagged(t, c2.transactOK("b4", "FETCH 2 BODYSTRUCTURE"), parse, "* 2 FETCH ("+bodystructure)
	if n := ts.reads() - reads; n != 0 {
		t.Errorf("the warm FETCHes opened %d message files", n)
	}

	o := otherProcess(t, ts)
	c3 := o.login()
	c3.transactOK("c1", "EXAMINE INBOX")
	expectUntagged(t, c3.transactOK("c2", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"), warm...)
	if n := o.reads(); n != 0 {
		t.Errorf("another process opened %d message files for data in the cache file", n)
	}
}

// TestParseWarningFromCachedBody: BODY (the non-extensible BODYSTRUCTURE)
// rendered first, then served from the cache, carries the warning too.
func TestParseWarningFromCachedBody(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", brokenMessage)
	const parse = "* OK [PARSE] Message 1 (UID 1) has a malformed header or MIME structure; served as parsed"
	c := ts.login()
	c.transactOK("a1", "EXAMINE INBOX")
	cold := c.transactOK("a2", "FETCH 1 BODY")
	if len(cold) != 2 || cold[0] != parse || !strings.HasPrefix(cold[1], `* 1 FETCH (BODY ("text" "plain" `) {
		t.Fatalf("FETCH BODY:\n%s", strings.Join(cold, "\n"))
	}
	c2 := otherProcess(t, ts).login()
	c2.transactOK("b1", "EXAMINE INBOX")
	expectUntagged(t, c2.transactOK("b2", "FETCH 1 BODY"), cold...)
}

// headerMessage is a multipart message whose part 2 is a message.
const headerMessage = `From: Alice <alice@example.org>
To: bob@example.org
Subject: outer subject
Date: Wed, 03 Jan 2024 08:09:10 +0100
Message-ID: <outer@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=B

--B
Content-Type: text/plain

hello
--B
Content-Type: message/rfc822

From: Carol <carol@example.org>
Subject: inner subject
X-Inner: 1

inner body
--B--
`

// lit is s as a literal the way readLine shows it: {n} and the octets,
// with CR and LF written as \\r and \\n.
func lit(s string) string { return fmt.Sprintf("{%d}%s", len(s), escapeCRLF(s)) }

// sectionItem finds the data of the one body section of a FETCH line.
var sectionItem = regexp.MustCompile(`^\* 1 FETCH \(BODY\[[^\]]*\](?:<\d+>)? (.*)\)$`)

// fetchSection fetches one section of message 1 and returns its data as
// readLine shows it: a literal, NIL or "".
func fetchSection(t *testing.T, c *testConn, tag, item string) string {
	t.Helper()
	u := c.transactOK(tag, "FETCH 1 ("+item+")")
	if len(u) != 1 {
		t.Fatalf("FETCH 1 (%s): %q", item, u)
	}
	m := sectionItem.FindStringSubmatch(u[0])
	if m == nil {
		t.Fatalf("FETCH 1 (%s): %q", item, u[0])
	}
	return m[1]
}

// TestHeaderFieldsCached: HEADER.FIELDS and HEADER.FIELDS.NOT, of the
// message and of a nested one, are the same cold, from the cache, in
// another session and in another process; field lists that differ only
// in order, case and repetition share one result.
func TestHeaderFieldsCached(t *testing.T) {
	fromSubject := lit("From: Alice <alice@example.org>\r\nSubject: outer subject\r\n\r\n")
	for _, tc := range []struct {
		item, want string
	}{
		{"BODY.PEEK[HEADER.FIELDS (From Subject)]", fromSubject},
		{"BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]", fromSubject},
		{"BODY.PEEK[HEADER.FIELDS (subject from from)]", fromSubject},
		{"BODY.PEEK[HEADER.FIELDS (X-Missing)]", lit("\r\n")},
		{"BODY.PEEK[HEADER.FIELDS.NOT (From Subject Date Message-ID MIME-Version)]",
			lit("To: bob@example.org\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n")},
		{"BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]", lit("Subject: inner subject\r\n\r\n")},
		{"BODY.PEEK[2.HEADER.FIELDS.NOT (subject)]", lit("From: Carol <carol@example.org>\r\nX-Inner: 1\r\n\r\n")},
		{"BODY.PEEK[1.HEADER.FIELDS (SUBJECT)]", `""`}, // part 1 is no message
		{"BODY.PEEK[3.HEADER.FIELDS (SUBJECT)]", `NIL`},
		{"BODY.PEEK[2.1.HEADER.FIELDS (SUBJECT)]", `""`}, // the nested message's body
		{"BODY.PEEK[2.2.HEADER.FIELDS (SUBJECT)]", `NIL`},
		{"BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]<0.5>", lit("From:")},
		{"BODY.PEEK[HEADER.FIELDS (Subject)]<9.7>", lit("outer s")},
		{"BODY.PEEK[HEADER.FIELDS (Subject)]<1000.5>", `""`},
	} {
		t.Run(tc.item, func(t *testing.T) {
			ts := newTestServer(t)
			ts.deliver("INBOX", headerMessage)
			c := ts.login()
			c.transactOK("a1", "EXAMINE INBOX")
			if got := fetchSection(t, c, "a2", tc.item); got != tc.want {
				t.Fatalf("cold: %s", got)
			}
			// The result, or the list header it came from (headerMessage
			// has list fields only: its list header is all of it).
			if !ts.cacheHas("imap.hdr") && !ts.cacheHas("\x00listhdr/") {
				t.Fatal("neither the result nor the list header is in the cache file")
			}
			reads := ts.reads()
			if got := fetchSection(t, c, "a3", tc.item); got != tc.want {
				t.Errorf("from the cache: %s", got)
			}
			c2 := ts.login()
			c2.transactOK("b1", "EXAMINE INBOX")
			if got := fetchSection(t, c2, "b2", tc.item); got != tc.want {
				t.Errorf("in another session: %s", got)
			}
			if n := ts.reads() - reads; n != 0 {
				t.Errorf("served from the cache, yet %d message files opened", n)
			}
			o := otherProcess(t, ts)
			c3 := o.login()
			c3.transactOK("c1", "EXAMINE INBOX")
			if got := fetchSection(t, c3, "c2", tc.item); got != tc.want {
				t.Errorf("in another process: %s", got)
			}
			if n := o.reads(); n != 0 {
				t.Errorf("another process opened %d message files", n)
			}
		})
	}
}

// TestHeaderFieldsVariantsShareOneResult: after one field list is
// fetched, the same names in another order, case or with repeats are
// served from the cache; other lists are not mistaken for them.
func TestHeaderFieldsVariantsShareOneResult(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", headerMessage)
	c := ts.login()
	c.transactOK("a1", "EXAMINE INBOX")
	first := fetchSection(t, c, "a2", "BODY.PEEK[HEADER.FIELDS (From Subject)]")
	reads := ts.reads()
	for _, item := range []string{
		"BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]",
		"BODY.PEEK[HEADER.FIELDS (subject from from)]",
		"BODY.PEEK[HEADER.FIELDS (Subject From)]<0.5>",
	} {
		want := first
		if strings.HasSuffix(item, "<0.5>") {
			want = lit("From:")
		}
		if got := fetchSection(t, c, "a3", item); got != want {
			t.Errorf("%s: %s, want %s", item, got, want)
		}
	}
	if n := ts.reads() - reads; n != 0 {
		t.Errorf("variants of a cached field list opened %d message files", n)
	}
	// Neither the .NOT form, nor a subset, nor the nested message's
	// header is the cached result.
	for item, want := range map[string]string{
		"BODY.PEEK[HEADER.FIELDS.NOT (From Subject)]": lit("To: bob@example.org\r\nDate: Wed, 03 Jan 2024 08:09:10 +0100\r\nMessage-ID: <outer@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"),
		"BODY.PEEK[HEADER.FIELDS (From)]":             lit("From: Alice <alice@example.org>\r\n\r\n"),
		"BODY.PEEK[2.HEADER.FIELDS (From Subject)]":   lit("From: Carol <carol@example.org>\r\nSubject: inner subject\r\n\r\n"),
	} {
		for _, tag := range []string{"b1", "b2"} {
			if got := fetchSection(t, c, tag, item); got != want {
				t.Errorf("%s %s: %s, want %s", tag, item, got, want)
			}
		}
	}
}

// searchMessages hold encoded names, groups and several addresses per
// field, for SEARCH FROM, TO, CC, BCC and SUBJECT.
var searchMessages = []string{
	"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\nTo: a@x.org, b@y.org\nSubject: =?UTF-8?B?R3LDvMOfZQ==?= aus Bern\nMessage-ID: <1@example.de>\n\nbody one\n",
	"From: \"Anna Smith\" <anna@mail.example.com>\nTo: Team: carl@example.org, \"Dora D.\" <dora@example.net>;\nCc: eve@cc.example\nBcc: <hidden@bcc.example>\nSubject: Quarterly REPORT\nMessage-ID: <2@example.com>\n\nbody two\n",
	"From: bob@y.org\nTo: someone@else.example\nCc: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\nSubject: plain\nMessage-ID: <3@y.org>\n\nbody three\n",
}

// utf8Search is a SEARCH with CHARSET UTF-8 and value as a literal.
func utf8Search(key, value string) string {
	return fmt.Sprintf("SEARCH CHARSET UTF-8 %s {%d+}\r\n%s", key, len(value), value)
}

// TestSearchEnvelopeCached: SEARCH FROM, TO, CC, BCC and SUBJECT match
// decoded names, addresses and "Name <local@host>" without regard to
// case, never across two addresses, and give the same result cold,
// from the cache, in another session and in another process.
func TestSearchEnvelopeCached(t *testing.T) {
	for _, tc := range []struct {
		cmd, want string
	}{
		{utf8Search("FROM", "JÜRGEN"), "* SEARCH 1"},
		{"SEARCH FROM jürgen", "* SEARCH 1"},
		{`SEARCH FROM "<j@example.de>"`, "* SEARCH 1"},
		{`SEARCH FROM "Jürgen <J@"`, "* SEARCH 1"},
		{"SEARCH FROM example.d", "* SEARCH 1"},
		{"SEARCH FROM =?UTF-8?Q?", "* SEARCH"},
		{`SEARCH FROM "anna smith"`, "* SEARCH 2"},
		{`SEARCH FROM "SMITH <ANNA@MAIL"`, "* SEARCH 2"},
		{"SEARCH FROM mail.example", "* SEARCH 2"},
		{"SEARCH TO x.org", "* SEARCH 1"},
		{`SEARCH TO "x.org>"`, "* SEARCH 1"},
		{`SEARCH TO "org, b"`, "* SEARCH"},
		{`SEARCH TO "x.orgb"`, "* SEARCH"},
		{`SEARCH TO "x.org><b"`, "* SEARCH"},
		{`SEARCH TO "x.org> <b"`, "* SEARCH"},
		{`SEARCH TO "x.org>, <b"`, "* SEARCH"},
		{"SEARCH TO team", "* SEARCH 2"},
		{"SEARCH TO CARL@EXAMPLE.ORG", "* SEARCH 2"},
		{`SEARCH TO "dora d. <dora@"`, "* SEARCH 2"},
		{"SEARCH TO y.org", "* SEARCH 1"},
		{"SEARCH CC eve@cc", "* SEARCH 2"},
		{utf8Search("CC", "ANDRÉ PIRARD"), "* SEARCH 3"},
		{"SEARCH CC pirard@vm1", "* SEARCH 3"},
		{"SEARCH CC example.org", "* SEARCH"},
		{"SEARCH BCC hidden", "* SEARCH 2"},
		{`SEARCH BCC "<hidden@bcc.example>"`, "* SEARCH 2"},
		{"SEARCH BCC eve", "* SEARCH"},
		{utf8Search("SUBJECT", "GRÜßE AUS"), "* SEARCH 1"},
		{`SEARCH SUBJECT "quarterly report"`, "* SEARCH 2"},
		{"SEARCH SUBJECT report", "* SEARCH 2"},
		{"SEARCH SUBJECT example", "* SEARCH"},
		{"SEARCH SUBJECT R3LDvMOfZQ", "* SEARCH"},
		{"SEARCH OR FROM y.org TO y.org", "* SEARCH 1 3"},
		{"SEARCH NOT FROM jürgen", "* SEARCH 2 3"},
		{"SEARCH FROM example TO example SUBJECT report", "* SEARCH 2"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			ts := newTestServer(t)
			for _, m := range searchMessages {
				ts.deliver("INBOX", m)
			}
			c := ts.login()
			c.transactOK("a1", "EXAMINE INBOX")
			expectUntagged(t, c.transactOK("a2", tc.cmd), tc.want)
			if !ts.cacheHas("search.envelope") {
				t.Fatal("the envelope text is not in the cache file")
			}
			reads := ts.reads()
			expectUntagged(t, c.transactOK("a3", tc.cmd), tc.want)
			c2 := ts.login()
			c2.transactOK("b1", "EXAMINE INBOX")
			expectUntagged(t, c2.transactOK("b2", tc.cmd), tc.want)
			if n := ts.reads() - reads; n != 0 {
				t.Errorf("a SEARCH on cached envelopes opened %d message files", n)
			}
			o := otherProcess(t, ts)
			c3 := o.login()
			c3.transactOK("c1", "EXAMINE INBOX")
			expectUntagged(t, c3.transactOK("c2", tc.cmd), tc.want)
			if n := o.reads(); n != 0 {
				t.Errorf("another process opened %d message files", n)
			}

			// After a client's listing, the text was kept with each
			// ENVELOPE: the SEARCH derives and keeps nothing more.
			listed := newTestServer(t)
			for _, m := range searchMessages {
				listed.deliver("INBOX", m)
			}
			c4 := listed.login()
			c4.transactOK("d1", "EXAMINE INBOX")
			c4.transactOK("d2", "FETCH 1:* (ENVELOPE)")
			size := len(listed.cacheFile())
			expectUntagged(t, c4.transactOK("d3", tc.cmd), tc.want)
			if grown := len(listed.cacheFile()) - size; grown != 0 {
				t.Errorf("a SEARCH after FETCH ENVELOPE added %d octets to the cache", grown)
			}
		})
	}
}

// TestHeaderFieldsKeysDistinct: field lists that print alike but ask for
// different things (a field named NOT, names holding spaces) are kept
// apart, so the second answer is the one a fresh server gives.
func TestHeaderFieldsKeysDistinct(t *testing.T) {
	const msg = "A: 1\nC: 3\nNot: n\nX: x\nSubject: s\n\nbody\n"
	for _, pair := range [][2]string{
		{"BODY.PEEK[HEADER.FIELDS (NOT X)]", "BODY.PEEK[HEADER.FIELDS.NOT (X)]"},
		{`BODY.PEEK[HEADER.FIELDS ("A C" X)]`, `BODY.PEEK[HEADER.FIELDS (A "C X")]`},
	} {
		fresh := newTestServer(t)
		fresh.deliver("INBOX", msg)
		c := fresh.login()
		c.transactOK("a1", "EXAMINE INBOX")
		want := fetchSection(t, c, "a2", pair[1])

		ts := newTestServer(t)
		ts.deliver("INBOX", msg)
		c = ts.login()
		c.transactOK("b1", "EXAMINE INBOX")
		fetchSection(t, c, "b2", pair[0])
		if got := fetchSection(t, c, "b3", pair[1]); got != want {
			t.Errorf("%s after %s: %s, want %s", pair[1], pair[0], got, want)
		}
	}
}

// TestCacheOfLostSidecarDropped: when the UID list is lost, UIDs are given
// out anew under a new UIDVALIDITY, and what the cache kept under the old
// UIDs belongs to other messages: it must not be served.
func TestCacheOfLostSidecarDropped(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver("INBOX", "Subject: one\n\nfirst\n")
	ts.deliver("INBOX", "Subject: two\n\nsecond\n")
	c := ts.login()
	c.transactOK("a1", "SELECT INBOX")
	c.transactOK("a2", "FETCH 1:* (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	c.transactOK("a3", "STORE 1 +FLAGS.SILENT (\\Deleted)")
	c.transactOK("a4", "EXPUNGE")
	c.transactOK("a5", "LOGOUT")
	if err := os.Remove(filepath.Join(ts.root, "imapd-uidlist")); err != nil {
		t.Fatal(err)
	}

	o := otherProcess(t, ts) // a restart: nothing in memory
	c = o.login()
	c.transactOK("b1", "SELECT INBOX")
	u := c.transactOK("b2", "FETCH 1 (ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if len(u) != 1 || !strings.Contains(u[0], `"two"`) || !strings.Contains(u[0], "Subject: two") || strings.Contains(u[0], "one") {
		t.Fatalf("message 1 after the UID list was lost: %q, want message two throughout", u)
	}
}

// TestFetchDerivedAhead: a FETCH over many messages nobody fetched
// before derives their ENVELOPE, BODYSTRUCTURE and HEADER.FIELDS on a
// helper goroutine ahead of the responses (deriveAhead): the answer is
// the one a warm FETCH gives, in order, each message's file is parsed
// once, and everything lands in the cache file for other processes.
func TestFetchDerivedAhead(t *testing.T) {
	const n = 300
	ts := newTestServer(t)
	for i := range n {
		ts.deliver("INBOX", benchMessage(i))
	}
	c := ts.login()
	c.transactOK("a1", "SELECT INBOX")
	const cmd = "FETCH 1:* (UID ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])"
	reads := ts.reads()
	cold := c.transactOK("a2", cmd)
	if len(cold) != n {
		t.Fatalf("%d responses, want %d", len(cold), n)
	}
	for i, l := range cold {
		if !strings.HasPrefix(l, fmt.Sprintf("* %d FETCH (UID %d ENVELOPE (", i+1, i+1)) {
			t.Fatalf("response %d: %.80s", i+1, l)
		}
	}
	// One open to parse a message, one to read its header fields.
	if got := ts.reads() - reads; got > 2*n {
		t.Errorf("%d message files opened for %d messages", got, n)
	}
	if warm := c.transactOK("a3", cmd); !slices.Equal(warm, cold) {
		t.Errorf("the warm FETCH differs from the cold one")
	}
	o := otherProcess(t, ts)
	c2 := o.login()
	c2.transactOK("b1", "EXAMINE INBOX")
	if other := c2.transactOK("b2", cmd); !slices.Equal(other, cold) {
		t.Errorf("another process's FETCH differs: %q, want %q", other[:2], cold[:2])
	}
	if got := o.reads(); got != 0 {
		t.Errorf("another process opened %d message files", got)
	}
}

// TestFetchSizeAhead: RFC822.SIZE of files whose names do not give it
// (Postfix writes ",S=", the size on disk, with LF line ends) is counted
// ahead of the responses as well: each file is read once, the sizes are
// those of the CRLF form, in order, and another process finds them in the
// sidecar without reading a file once the first has let the folder go.
func TestFetchSizeAhead(t *testing.T) {
	const n = 300
	ts := newTestServer(t)
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(ts.root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var want []int
	for i := range n {
		msg := benchMessage(i)
		switch i % 7 {
		case 0:
			msg = strings.ReplaceAll(msg, "\r\n", "\n") // LF, as Postfix writes
		case 1:
			msg += "a bare CR\r and a CRLF\r\n"
		}
		base := fmt.Sprintf("%d.M%06dP99.test", 1700000000+i, i) // UIDs in i's order
		if err := os.WriteFile(filepath.Join(ts.root, "new", base), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		want = append(want, len(message.ToCRLF(nil, []byte(msg))))
	}
	c := ts.login()
	c.transactOK("a1", "SELECT INBOX")
	const cmd = "FETCH 1:* (UID RFC822.SIZE INTERNALDATE)"
	reads := ts.reads()
	cold := c.transactOK("a2", cmd)
	if got := ts.reads() - reads; got > n {
		t.Errorf("%d message files opened for %d sizes", got, n)
	}
	if len(cold) != n {
		t.Fatalf("%d responses, want %d", len(cold), n)
	}
	for i, l := range cold {
		if p := fmt.Sprintf("* %d FETCH (UID %d RFC822.SIZE %d INTERNALDATE ", i+1, i+1, want[i]); !strings.HasPrefix(l, p) {
			t.Fatalf("response %q, want it to begin %q", l, p)
		}
	}
	c.transactOK("a3", "CLOSE")
	ts.hub.Close() // as at the process's exit: what was learned is written
	o := otherProcess(t, ts)
	c2 := o.login()
	c2.transactOK("b1", "EXAMINE INBOX")
	if other := c2.transactOK("b2", cmd); !slices.Equal(other, cold) {
		t.Errorf("another process's FETCH differs: %q, want %q", other[:2], cold[:2])
	}
	if got := o.reads(); got != 0 {
		t.Errorf("another process opened %d message files", got)
	}
}
