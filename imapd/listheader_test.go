package imapd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"imapd/message"
)

// listHeaderCorpus: what makes a kept header go wrong if anything does.
// Written as other programs deliver, bare LF kept.
var listHeaderCorpus = []string{
	"From: Alice <alice@example.org>\r\nReceived: from a by b\r\nSubject: plain CRLF\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n",
	"Received: from x\n\tby y\nFrom: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\nTo: c@example.org,\n d@example.org\nSubject: caf\xc3\xa9 bare LF\nsubject: a second subject\nX-Spam: no\n\nbody\n",
	"From: whole@example.org\nSubject: list fields only\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody\n",
	" stray: continuation\r\nX-Only: nothing a list asks for\r\nnot a field\r\n\r\nbody\r\n",
	"From: big@example.org\nReferences:" + strings.Repeat(" <a-long-message-id@example.org>\n", 400) + "Subject: a header too large to keep\n\nbody\n",
	"From: nobody@example.org\nSubject: no body, no blank line",
	"From: outer@example.org\nSubject: outer\nContent-Type: message/rfc822\n\nFrom: inner@example.org\nSubject: inner\n\ninner body\n",
	"From: a\rTo: bare CR\r\rSubject: after a bare CR blank line\r\n\r\n",
}

// writeRawMessages delivers msgs into dir's new/ as they are.
func writeRawMessages(t *testing.T, dir string, msgs []string) {
	t.Helper()
	for i, msg := range msgs {
		name := fmt.Sprintf("%d.M%dP1.listheader", 1700000000+i, i)
		tmp := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(tmp, []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
			t.Fatal(err)
		}
	}
}

// fileHeader is the header block of msg, CRLF-ended, as HEADER gives it.
func fileHeader(t *testing.T, msg string) []byte {
	t.Helper()
	p, err := message.Parse(strings.NewReader(msg), int64(len(msg)))
	if err != nil {
		t.Fatal(err)
	}
	return message.ToCRLF(nil, []byte(msg[p.HeaderStart:p.BodyStart]))
}

// isParseWarning reports whether l is the [PARSE] warning a session
// sends once per malformed message, whatever item it is serving.
func isParseWarning(l string) bool { return strings.HasPrefix(l, "* OK [PARSE]") }

// TestListHeaderAnswersMatchFile: HEADER.FIELDS, HEADER.FIELDS.NOT and
// HEADER, after a FETCH of ENVELOPE BODYSTRUCTURE parsed every message,
// are the octets the file gives, in this process and another; the lists
// of list fields open no message file but the one whose list header was
// too large to keep. SEARCH HEADER and FROM find what the whole header
// of the file holds.
func TestListHeaderAnswersMatchFile(t *testing.T) {
	ts := newTestServer(t)
	ts.store() // INBOX exists
	writeRawMessages(t, ts.root, listHeaderCorpus)
	c := ts.login()
	c.transactOK("a1", "SELECT INBOX")
	c.transactOK("a2", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)")

	thunderbird := []string{"From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Priority", "X-Priority", "References", "Newsgroups", "In-Reply-To", "Content-Type", "Reply-To"}
	sections := []struct {
		item   string
		names  []string
		not    bool
		header bool
		listed bool // answered from the list header
	}{
		{"HEADER.FIELDS (" + strings.Join(thunderbird, " ") + ")", thunderbird, false, false, true},
		{"HEADER.FIELDS (date FROM Subject)", []string{"date", "FROM", "Subject"}, false, false, true},
		{"HEADER.FIELDS (X-Spam From)", []string{"X-Spam", "From"}, false, false, false},
		{"HEADER.FIELDS.NOT (Received X-Spam)", []string{"Received", "X-Spam"}, true, false, false},
		{"HEADER", nil, false, true, false},
	}
	tooLarge := 0
	for _, msg := range listHeaderCorpus {
		if fields, _ := message.ListHeader(fileHeader(t, msg)); len(fields) > 8<<10 {
			tooLarge++
		}
	}
	o := otherProcess(t, ts)
	c2 := o.login()
	c2.transactOK("b1", "EXAMINE INBOX")
	for _, sec := range sections {
		for _, conn := range []*testConn{c, c2} {
			reads := ts.reads() + o.reads()
			for i, msg := range listHeaderCorpus {
				h := fileHeader(t, msg)
				want := h
				if !sec.header {
					want = message.HeaderFields(h, sec.names, sec.not)
				}
				got := slices.DeleteFunc(conn.transactOK("f", fmt.Sprintf("FETCH %d (BODY.PEEK[%s])", i+1, sec.item)), isParseWarning)
				if line := fmt.Sprintf("* %d FETCH (BODY[%s] %s)", i+1, sec.item, lit(string(want))); len(got) != 1 || got[0] != line {
					t.Errorf("message %d, %s: %q, want %q", i+1, sec.item, got, line)
				}
			}
			// Only the list headers too large to keep are read (in the
			// other process, only until it finds the result of the
			// field list the first one kept).
			if n := ts.reads() + o.reads() - reads; sec.listed && (n > int64(tooLarge) || conn == c && n < int64(tooLarge)) {
				t.Errorf("%s: %d message files opened, want %d", sec.item, n, tooLarge)
			}
		}
	}

	for _, search := range []struct {
		key, field, value string
	}{
		{"HEADER Subject \"subject\"", "subject", "subject"},
		{"HEADER References \"a-long\"", "references", "a-long"},
		{"HEADER Subject \"inner\"", "subject", "inner"},
		{"HEADER To \"bare\"", "to", "bare"},
		{"HEADER X-Spam \"no\"", "x-spam", "no"},
		{"HEADER stray \"\"", "stray", ""},
		{"HEADER Subject \"\"", "subject", ""},
	} {
		var want []string
		for i, msg := range listHeaderCorpus {
			if slices.ContainsFunc(parseFields(fileHeader(t, msg)), func(f headerField) bool {
				return f.name == search.field && strings.Contains(f.value, search.value)
			}) {
				want = append(want, fmt.Sprint(i+1))
			}
		}
		line := strings.TrimSpace("* SEARCH " + strings.Join(want, " "))
		for _, conn := range []*testConn{c, c2} {
			if got := conn.transactOK("s", "SEARCH "+search.key); len(got) != 1 || got[0] != line {
				t.Errorf("SEARCH %s: %q, want %q", search.key, got, line)
			}
		}
	}
}
