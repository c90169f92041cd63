package imapd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"imapd/maildir"
)

// Fixtures and helpers of the go-imap v2 client tests.

// gicAddr is an address of a fixture.
type gicAddr struct{ name, mailbox, host string }

// gicMsg is a fixture: its raw CRLF bytes and what a client must read
// back from them.
type gicMsg struct {
	raw       string
	subject   string // decoded
	date      time.Time
	from      []gicAddr
	to        []gicAddr
	messageID string // without <>
	text      string // the decoded text of its text parts, for SEARCH
}

func gicCRLF(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func gicFormatAddr(a gicAddr) string {
	if a.name == "" {
		return a.mailbox + "@" + a.host
	}
	n := a.name
	for _, r := range n {
		if r >= 0x80 {
			n = mime.QEncoding.Encode("UTF-8", a.name)
			break
		}
	}
	return n + " <" + a.mailbox + "@" + a.host + ">"
}

func gicFormatAddrs(l []gicAddr) string {
	var s []string
	for _, a := range l {
		s = append(s, gicFormatAddr(a))
	}
	return strings.Join(s, ", ")
}

// gicHeader is the header of a fixture, ending with the blank line.
func gicHeader(m *gicMsg, encodedSubject string, extra ...string) string {
	h := "From: " + gicFormatAddrs(m.from) + "\r\n" +
		"To: " + gicFormatAddrs(m.to) + "\r\n" +
		"Subject: " + encodedSubject + "\r\n" +
		"Date: " + m.date.Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + m.messageID + ">\r\n" +
		"MIME-Version: 1.0\r\n"
	for _, e := range extra {
		h += e + "\r\n"
	}
	return h + "\r\n"
}

// gicPlain is a text/plain message in quoted-printable UTF-8 with RFC 2047
// words in its subject and From.
func gicPlain() *gicMsg {
	m := &gicMsg{
		subject:   "Grüße aus Köln – Frühstück",
		date:      time.Date(2024, 3, 5, 10, 20, 30, 0, time.FixedZone("", 3600)),
		from:      []gicAddr{{"Jürgen Müller", "juergen", "example.de"}},
		to:        []gicAddr{{"Alice Example", "alice", "example.org"}, {"", "bob", "example.net"}},
		messageID: "plain-1@example.de",
		text:      "Frische Brötchen und Käse zum Frühstück.\r\nBis später!\r\n",
	}
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write([]byte(m.text))
	w.Close()
	m.raw = gicHeader(m, mime.BEncoding.Encode("UTF-8", m.subject),
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: quoted-printable") + gicCRLF(qp.String())
	return m
}

// gicMixedParts are the parts of gicMixed, to check BODYSTRUCTURE and
// sections against.
type gicMixedParts struct {
	text       string // part 1, text/plain
	nested     *gicMsg
	innerPlain string // part 2.1, text/plain in the nested message
	innerHTML  string // part 2.2, text/html in the nested message
	attachment []byte // part 3, decoded
	attachB64  string // part 3 as sent, base64 in lines of 76
	filename   string
}

// gicMixed is multipart/mixed: a text part, a forwarded message
// (message/rfc822 holding multipart/alternative) and a base64 attachment
// with a filename.
func gicMixed() (*gicMsg, *gicMixedParts) {
	p := &gicMixedParts{
		text:       "Please find the report attached.\r\nRegards,\r\nthe report bot\r\n",
		innerPlain: "Inner plain text of the forwarded note.\r\n",
		innerHTML:  "<p>Inner <b>html</b> of the forwarded note.</p>\r\n",
		filename:   "report-2024.pdf",
	}
	for i := range 300 {
		p.attachment = append(p.attachment, byte(i*7+3))
	}
	enc := base64.StdEncoding.EncodeToString(p.attachment)
	for len(enc) > 76 {
		p.attachB64 += enc[:76] + "\r\n"
		enc = enc[76:]
	}
	p.attachB64 += enc + "\r\n"

	n := &gicMsg{
		subject:   "Weitergeleitet: Notiz für Carol",
		date:      time.Date(2024, 2, 1, 8, 0, 0, 0, time.UTC),
		from:      []gicAddr{{"Carol Nested", "carol", "example.net"}},
		to:        []gicAddr{{"", "dave", "example.com"}},
		messageID: "nested-7@example.net",
		text:      "Inner plain text of the forwarded note.\r\n",
	}
	n.raw = gicHeader(n, mime.QEncoding.Encode("UTF-8", n.subject),
		`Content-Type: multipart/alternative; boundary="inner-b"`) +
		"--inner-b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + p.innerPlain +
		"\r\n--inner-b\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" + p.innerHTML +
		"\r\n--inner-b--\r\n"
	p.nested = n

	m := &gicMsg{
		subject:   "Quarterly report",
		date:      time.Date(2024, 4, 1, 9, 30, 0, 0, time.FixedZone("", -5*3600)),
		from:      []gicAddr{{"Report Bot", "bot", "reports.example.com"}},
		to:        []gicAddr{{"Alice Example", "alice", "example.org"}},
		messageID: "mixed-2@reports.example.com",
		text:      p.text,
	}
	m.raw = gicHeader(m, m.subject, `Content-Type: multipart/mixed; boundary="outer-b"`) +
		"This is a multi-part message in MIME format.\r\n" +
		"--outer-b\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + p.text +
		"\r\n--outer-b\r\nContent-Type: message/rfc822\r\n\r\n" + n.raw +
		"\r\n--outer-b\r\nContent-Type: application/pdf; name=\"" + p.filename + "\"\r\n" +
		"Content-Disposition: attachment; filename=\"" + p.filename + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + p.attachB64 +
		"\r\n--outer-b--\r\n"
	return m, p
}

// gicLunch is a short ASCII message.
func gicLunch() *gicMsg {
	m := &gicMsg{
		subject:   "Lunch plans",
		date:      time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC),
		from:      []gicAddr{{"Dave", "dave", "example.com"}},
		to:        []gicAddr{{"Alice Example", "alice", "example.org"}},
		messageID: "lunch-3@example.com",
		text:      "Pizza at noon? No bread this time.\r\n",
	}
	m.raw = gicHeader(m, m.subject, "Content-Type: text/plain; charset=us-ascii") + m.text
	return m
}

// gicDeliver stores raw into folder behind the server's back, like
// testServer.deliver, and returns where it went.
func gicDeliver(t *testing.T, ts *testServer, folder, raw string) maildir.Appended {
	t.Helper()
	a, err := ts.store().Append(folder, strings.NewReader(raw), maildir.AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// gicPostfixSeq makes the names of gicDeliverPostfix unique.
var gicPostfixSeq atomic.Uint64

// gicDeliverPostfix writes msg (with LF line ends, as an MTA does) into
// tmp/ of the Maildir at dir and renames it into new/.
func gicDeliverPostfix(t *testing.T, dir, msg string) {
	t.Helper()
	name := fmt.Sprintf("%d.P%dQ%d.gictest", time.Now().Unix(), os.Getpid(), gicPostfixSeq.Add(1))
	tmp := filepath.Join(dir, "tmp", name)
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(msg, "\r\n", "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
		t.Fatal(err)
	}
}

// gicDial connects an imapclient to ts without logging in.
func gicDial(t *testing.T, ts *testServer, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	if os.Getenv("IMAPD_TEST_LOG") != "" {
		// The protocol exchange too, for debugging.
		o := imapclient.Options{}
		if opts != nil {
			o = *opts
		}
		o.DebugWriter = os.Stderr
		opts = &o
	}
	c, err := imapclient.DialInsecure(ts.addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	return c
}

// gicLogin connects and logs in as demo.
func gicLogin(t *testing.T, ts *testServer, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := gicDial(t, ts, opts)
	if err := c.Login("demo", "demo").Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	return c
}

func gicSelect(t *testing.T, c *imapclient.Client, name string) *imap.SelectData {
	t.Helper()
	d, err := c.Select(name, nil).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", name, err)
	}
	// go-imap's client answers Wait before it records the selected
	// mailbox (completeCommand sends on done first), so c.Mailbox() may
	// still be nil here. Its reader finishes one response before the next:
	// once a NOOP is answered, the SELECT's bookkeeping is done.
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after SELECT %s: %v", name, err)
	}
	return d
}

func gicFetch(t *testing.T, c *imapclient.Client, set imap.NumSet, o *imap.FetchOptions) []*imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, o).Collect()
	if err != nil {
		t.Fatalf("FETCH %v: %v", set, err)
	}
	return msgs
}

func gicFetchOne(t *testing.T, c *imapclient.Client, set imap.NumSet, o *imap.FetchOptions) *imapclient.FetchMessageBuffer {
	t.Helper()
	msgs := gicFetch(t, c, set, o)
	if len(msgs) != 1 {
		t.Fatalf("FETCH %v: %d messages, want 1", set, len(msgs))
	}
	return msgs[0]
}

func gicHasFlag(flags []imap.Flag, f imap.Flag) bool {
	return slices.ContainsFunc(flags, func(g imap.Flag) bool { return strings.EqualFold(string(g), string(f)) })
}

// gicFlags drops \Recent, which the first session to see a message gets
// (RFC 3501 §2.3.2) and which is no concern here.
func gicFlags(flags []imap.Flag) []imap.Flag {
	return slices.DeleteFunc(slices.Clone(flags), func(f imap.Flag) bool { return strings.EqualFold(string(f), `\Recent`) })
}

func gicCheckAddrs(t *testing.T, what string, got []imap.Address, want []gicAddr) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d addresses %+v, want %d", what, len(got), got, len(want))
		return
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Mailbox != w.mailbox || !strings.EqualFold(g.Host, w.host) {
			t.Errorf("%s[%d] = %+v, want %+v", what, i, g, w)
		}
	}
}

func gicCheckEnvelope(t *testing.T, what string, env *imap.Envelope, m *gicMsg) {
	t.Helper()
	if env == nil {
		t.Errorf("%s: no ENVELOPE", what)
		return
	}
	if env.Subject != m.subject {
		t.Errorf("%s: subject %q, want %q", what, env.Subject, m.subject)
	}
	if !env.Date.Equal(m.date) {
		t.Errorf("%s: date %v, want %v", what, env.Date, m.date)
	}
	if env.MessageID != m.messageID {
		t.Errorf("%s: message-id %q, want %q", what, env.MessageID, m.messageID)
	}
	gicCheckAddrs(t, what+" from", env.From, m.from)
	// RFC 3501 §7.4.2: sender and reply-to default to from.
	gicCheckAddrs(t, what+" sender", env.Sender, m.from)
	gicCheckAddrs(t, what+" reply-to", env.ReplyTo, m.from)
	gicCheckAddrs(t, what+" to", env.To, m.to)
	if len(env.Cc) != 0 || len(env.Bcc) != 0 {
		t.Errorf("%s: cc %v bcc %v, want none", what, env.Cc, env.Bcc)
	}
}

// gicSingle asserts that bs is a single part of type/subtype and returns it.
func gicSingle(t *testing.T, what string, bs imap.BodyStructure, typ, subtype string) *imap.BodyStructureSinglePart {
	t.Helper()
	p, ok := bs.(*imap.BodyStructureSinglePart)
	if !ok {
		t.Fatalf("%s: %T, want a single part", what, bs)
	}
	if !strings.EqualFold(p.Type, typ) || !strings.EqualFold(p.Subtype, subtype) {
		t.Errorf("%s: %s/%s, want %s/%s", what, p.Type, p.Subtype, typ, subtype)
	}
	return p
}

func gicMulti(t *testing.T, what string, bs imap.BodyStructure, subtype string, n int) *imap.BodyStructureMultiPart {
	t.Helper()
	p, ok := bs.(*imap.BodyStructureMultiPart)
	if !ok {
		t.Fatalf("%s: %T, want multipart/%s", what, bs, subtype)
	}
	if !strings.EqualFold(p.Subtype, subtype) || len(p.Children) != n {
		t.Fatalf("%s: multipart/%s with %d parts, want multipart/%s with %d", what, p.Subtype, len(p.Children), subtype, n)
	}
	return p
}

// gicCheckText checks a text/* part whose body is body.
func gicCheckText(t *testing.T, what string, p *imap.BodyStructureSinglePart, body string) {
	t.Helper()
	if p.Size != uint32(len(body)) {
		t.Errorf("%s: size %d, want %d", what, p.Size, len(body))
	}
	if p.Text == nil {
		t.Errorf("%s: no line count", what)
	} else if want := int64(strings.Count(body, "\r\n")); p.Text.NumLines != want {
		t.Errorf("%s: %d lines, want %d", what, p.Text.NumLines, want)
	}
	if !strings.EqualFold(p.Params["charset"], "us-ascii") {
		t.Errorf("%s: params %v, want charset us-ascii", what, p.Params)
	}
}

func gicUIDs(s imap.NumSet) []imap.UID {
	u, ok := s.(imap.UIDSet)
	if !ok {
		return nil
	}
	l, _ := u.Nums()
	return l
}

// gicMatch returns the sequence numbers (from 1) of the fixtures for
// which f holds.
func gicMatch(msgs []*gicMsg, f func(*gicMsg) bool) []uint32 {
	var l []uint32
	for i, m := range msgs {
		if f(m) {
			l = append(l, uint32(i+1))
		}
	}
	return l
}

func gicContainsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// gicApplyExpunges applies EXPUNGE sequence numbers, in order, to the
// UIDs of a mailbox and returns the UIDs removed.
func gicApplyExpunges(t *testing.T, uids *[]imap.UID, seqs []uint32) []imap.UID {
	t.Helper()
	var gone []imap.UID
	for _, s := range seqs {
		if s == 0 || int(s) > len(*uids) {
			t.Fatalf("EXPUNGE %d with %d messages", s, len(*uids))
		}
		gone = append(gone, (*uids)[s-1])
		*uids = slices.Delete(*uids, int(s-1), int(s))
	}
	slices.Sort(gone)
	return gone
}
