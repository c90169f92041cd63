package imapd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapd/maildir"
)

// Transcript files (testdata/transcripts/*.txt) hold client lines and the
// server lines expected in reply, in order, against a fresh server whose
// INBOX holds transcriptFixture and which has a folder "Sent".
//
//	C: line      the client (connection 1) sends line; \r\n in it stands
//	             for CRLF (to send literals)
//	S: line      the next line connection 1 receives must match line
//	C2: / S2:    the same on a second connection (C3/S3 a third), opened
//	             when first named; its greeting must be matched too
//
// In C lines {{uidvalidity}} stands for INBOX's UIDVALIDITY (for QRESYNC).
// In S lines {{*}} matches any text, {{n}} a number, and {{re:EXPR}} the
// regular expression EXPR; a literal in a response is shown inline after
// its {n}, with CR and LF written \r and \n (see testConn.readLine).
// Lines starting with # and blank lines are ignored.
//
// Lines starting with "! " set up the server (before the first C line)
// or the Maildir (anywhere):
//
//	! maxappend N        Options.Limits.MaxAppend = N
//	! remote IP          connections seem to come from IP (port 40000), so
//	                     the loopback exemption of plaintext login is lost
//	! plaintext          Options.AllowPlaintext = true
//	! loginalert TEXT    Options.LoginAlert = TEXT
//	! nofixture          INBOX starts empty
//	! deliver FOLDER     delivers the message whose lines follow, each
//	                     written "| line", behind the server's back
//	                     (creating FOLDER if need be)
//
// Set IMAPD_TRANSCRIPT_DUMP=1 to print, for every C line, what the server
// sends in reply instead of matching S lines: for writing new transcripts
// (every dumped line must then be checked against the RFC by hand).
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
			runTranscript(t, file, string(data), os.Getenv("IMAPD_TRANSCRIPT_DUMP") != "")
		})
	}
}

// transcriptLine is one line of a transcript file.
type transcriptLine struct {
	n    int    // line number
	kind string // "C", "S" or "!"
	conn int    // 1, 2, 3 for C and S
	text string
	body []string // the "| " lines after "! deliver"
}

func parseTranscript(t *testing.T, file, data string) []transcriptLine {
	var out []transcriptLine
	lines := strings.Split(data, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r")
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			out = append(out, transcriptLine{n: i + 1, kind: "#", text: line})
		case strings.HasPrefix(line, "! "):
			tl := transcriptLine{n: i + 1, kind: "!", text: line[2:]}
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "|") {
				i++
				tl.body = append(tl.body, strings.TrimPrefix(strings.TrimPrefix(strings.TrimRight(lines[i], "\r"), "|"), " "))
			}
			out = append(out, tl)
		default:
			m := transcriptPrefix.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s:%d: neither C:, S: nor !: %q", file, i+1, line)
			}
			conn := 1
			if m[2] != "" {
				conn, _ = strconv.Atoi(m[2])
			}
			out = append(out, transcriptLine{n: i + 1, kind: m[1], conn: conn, text: line[len(m[0]):]})
		}
	}
	return out
}

var transcriptPrefix = regexp.MustCompile(`^([CS])([23])?: `)

func runTranscript(t *testing.T, file, data string, dump bool) {
	lines := parseTranscript(t, file, data)
	var remote net.Addr
	var tweaks []func(*Options)
	fixture := true
	i := 0
	for ; i < len(lines) && (lines[i].kind == "#" || lines[i].kind == "!" && !strings.HasPrefix(lines[i].text, "deliver ")); i++ {
		if lines[i].kind == "#" {
			if dump {
				fmt.Println(lines[i].text)
			}
			continue
		}
		if dump {
			fmt.Println("! " + lines[i].text)
		}
		name, arg, _ := strings.Cut(lines[i].text, " ")
		switch name {
		case "maxappend":
			n, err := strconv.ParseInt(arg, 10, 64)
			if err != nil {
				t.Fatalf("%s:%d: %v", file, lines[i].n, err)
			}
			tweaks = append(tweaks, func(o *Options) { o.Limits.MaxAppend = n })
		case "remote":
			remote = &net.TCPAddr{IP: net.ParseIP(arg), Port: 40000}
		case "plaintext":
			tweaks = append(tweaks, func(o *Options) { o.AllowPlaintext = true })
		case "loginalert":
			tweaks = append(tweaks, func(o *Options) { o.LoginAlert = arg })
		case "nofixture":
			fixture = false
		default:
			t.Fatalf("%s:%d: unknown directive %q", file, lines[i].n, name)
		}
	}
	ts := newTestServerFrom(t, remote, tweaks...)
	if fixture {
		for _, m := range transcriptFixture {
			ts.deliver("INBOX", m)
		}
	}
	if err := ts.store().Create("Sent"); err != nil {
		t.Fatal(err)
	}
	conns := map[int]*testConn{}
	conn := func(n int) *testConn {
		if conns[n] == nil {
			conns[n] = ts.dialRaw()
		}
		return conns[n]
	}
	for _, l := range lines[i:] {
		switch l.kind {
		case "#":
			if dump {
				fmt.Println(l.text)
			}
		case "!":
			name, arg, _ := strings.Cut(l.text, " ")
			if name != "deliver" {
				t.Fatalf("%s:%d: %q must come before the first C line", file, l.n, name)
			}
			if err := ts.store().Create(arg); err != nil && !errors.Is(err, maildir.ErrExists) {
				t.Fatalf("%s:%d: %v", file, l.n, err)
			}
			ts.deliver(arg, strings.Join(l.body, "\n")+"\n")
			if dump {
				fmt.Println("! " + l.text)
				for _, b := range l.body {
					fmt.Println("| " + b)
				}
			}
		case "C":
			c := conn(l.conn)
			text := strings.ReplaceAll(l.text, `\r\n`, "\r\n")
			if strings.Contains(text, "{{uidvalidity}}") {
				st, err := ts.store().Status("INBOX")
				if err != nil {
					t.Fatal(err)
				}
				text = strings.ReplaceAll(text, "{{uidvalidity}}", strconv.FormatUint(uint64(st.UIDValidity), 10))
			}
			c.send(text)
			if dump {
				fmt.Printf("C%d: %s\n", l.conn, l.text)
				for {
					got, err := c.tryReadLine(300 * time.Millisecond)
					if err != nil {
						break
					}
					fmt.Printf("S%d: %s\n", l.conn, got)
				}
			}
		case "S":
			if dump {
				if _, ok := conns[l.conn]; !ok {
					got, _ := conn(l.conn).tryReadLine(time.Second)
					fmt.Printf("S%d: %s\n", l.conn, got)
				}
				continue
			}
			got := conn(l.conn).readLine()
			if !lineMatcher(l.text).MatchString(got) {
				t.Fatalf("%s:%d:\n got: %s\nwant: %s", file, l.n, got, l.text)
			}
		}
	}
	if !dump {
		// Nothing unexpected may follow the last expected line.
		for n, c := range conns {
			if got, err := c.tryReadLine(50 * time.Millisecond); err == nil {
				t.Fatalf("%s: connection %d: unexpected line after the transcript: %s", file, n, got)
			}
		}
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
