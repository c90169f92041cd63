package imapd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Transcript files (testdata/transcripts/*.txt) hold client lines
// ("C: ...") and the server lines expected in reply ("S: ..."), in order,
// against a fresh server whose INBOX holds transcriptFixture. In C lines
// \r\n stands for CRLF (for literals). In S lines {{*}} matches any text
// {{n}} a number, and {{re:EXPR}} the regular expression EXPR; literals in responses are
// shown inline with \r\n (see testConn.readLine). Lines starting with #
// and blank lines are ignored.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ts := newTestServer(t)
			for _, m := range transcriptFixture {
				ts.deliver("INBOX", m)
			}
			if err := ts.store().Create("Sent"); err != nil {
				t.Fatal(err)
			}
			c := ts.dialRaw()
			for n, line := range strings.Split(string(data), "\n") {
				line = strings.TrimRight(line, "\r")
				switch {
				case line == "" || strings.HasPrefix(line, "#"):
				case strings.HasPrefix(line, "C: "):
					c.send(strings.ReplaceAll(line[3:], `\r\n`, "\r\n"))
				case strings.HasPrefix(line, "S: "):
					got := c.readLine()
					if !lineMatcher(line[3:]).MatchString(got) {
						t.Fatalf("%s:%d:\n got: %s\nwant: %s", file, n+1, got, line[3:])
					}
				default:
					t.Fatalf("%s:%d: neither C: nor S: %q", file, n+1, line)
				}
			}
		})
	}
}

var placeholder = regexp.MustCompile(`\{\{\*\}\}|\{\{n\}\}|\{\{re:(.*?)\}\}`)

// lineMatcher turns an expected line into an anchored regexp.
func lineMatcher(want string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(want, -1) {
		b.WriteString(regexp.QuoteMeta(want[last:m[0]]))
		switch {
		case m[2] >= 0:
			b.WriteString("(?:" + want[m[2]:m[3]] + ")")
		case want[m[0]:m[1]] == "{{n}}":
			b.WriteString(`\d+`)
		default:
			b.WriteString(".*")
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(want[last:]) + "$")
	return regexp.MustCompile(b.String())
}

// transcriptFixture is the INBOX every transcript starts with.
var transcriptFixture = []string{
	"From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: plain\nDate: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <1@example.org>\n\nHello Bob\n",
	"From: Bob <bob@example.org>\nTo: alice@example.org\nSubject: multi\nDate: Tue, 02 Jan 2024 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; charset=utf-8\n\npart one\n--b\nContent-Type: message/rfc822\n\nSubject: inner\nFrom: c@example.org\n\ninner body\n--b--\n",
}
