package message

import (
	"strings"
	"testing"
)

// wantPart describes one node of an expected tree. Header and body are
// written with LF line endings and converted like the message for each
// line-ending variant.
type wantPart struct {
	at     []int  // child indexes from the root; nil for the root
	ctype  string // type/subtype
	header string // the exact header block, blank line included
	body   string // the exact body
	lines  int64
}

// parseCase is a hand-written message and the parts it must give.
type parseCase struct {
	name   string
	msg    string
	parts  []wantPart
	broken bool // root.Broken
	check  func(t *testing.T, root *Part)
}

var parseCases = []parseCase{
	{
		name: "plain",
		msg:  "From: Ann <ann@example.org>\nTo: bob@example.org\nSubject: hi\n\nhello\nworld\n",
		parts: []wantPart{{ctype: "text/plain",
			header: "From: Ann <ann@example.org>\nTo: bob@example.org\nSubject: hi\n\n",
			body:   "hello\nworld\n", lines: 2}},
		check: func(t *testing.T, root *Part) {
			e := root.Envelope
			if e.Subject != "hi" || len(e.From) != 1 || e.From[0] != (Address{Name: "Ann", Mailbox: "ann", Host: "example.org"}) ||
				len(e.To) != 1 || e.To[0].Mailbox != "bob" || e.Sender != nil || e.ReplyTo != nil {
				t.Errorf("envelope %+v", e)
			}
			if len(root.Params) != 1 || root.Params[0] != (Param{"charset", "us-ascii"}) || root.Encoding != "7bit" {
				t.Errorf("defaults: params %v encoding %q", root.Params, root.Encoding)
			}
		},
	},
	{
		name:  "no final newline",
		msg:   "Subject: x\n\nhello",
		parts: []wantPart{{ctype: "text/plain", header: "Subject: x\n\n", body: "hello", lines: 1}},
	},
	{
		name:  "empty file",
		msg:   "",
		parts: []wantPart{{ctype: "text/plain"}},
	},
	{
		name:  "header only, no newline",
		msg:   "Subject: x",
		parts: []wantPart{{ctype: "text/plain", header: "Subject: x"}},
	},
	{
		name:  "no blank line after header",
		msg:   "Subject: no body\nFrom: a@b\n",
		parts: []wantPart{{ctype: "text/plain", header: "Subject: no body\nFrom: a@b\n"}},
	},
	{
		name: "multipart/alternative with preamble and epilogue",
		msg: "Content-Type: multipart/alternative; boundary=\"b1\"\nSubject: alt\n\n" +
			"preamble\n--b1\nContent-Type: text/plain; charset=utf-8\n\nplain text\n" +
			"--b1\nContent-Type: text/html\n\n<p>html</p>\n\n--b1--\nepilogue\n",
		parts: []wantPart{
			{ctype: "multipart/alternative",
				header: "Content-Type: multipart/alternative; boundary=\"b1\"\nSubject: alt\n\n",
				body: "preamble\n--b1\nContent-Type: text/plain; charset=utf-8\n\nplain text\n" +
					"--b1\nContent-Type: text/html\n\n<p>html</p>\n\n--b1--\nepilogue\n",
				lines: 12},
			{at: []int{0}, ctype: "text/plain", header: "Content-Type: text/plain; charset=utf-8\n\n", body: "plain text", lines: 1},
			{at: []int{1}, ctype: "text/html", header: "Content-Type: text/html\n\n", body: "<p>html</p>\n", lines: 1},
		},
		check: func(t *testing.T, root *Part) {
			if root.Params[0] != (Param{"boundary", "b1"}) || root.Children[0].Param("charset") != "utf-8" {
				t.Errorf("params %v %v", root.Params, root.Children[0].Params)
			}
		},
	},
	{
		name: "multipart/mixed with base64 attachment",
		msg: "Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/plain\n\nsee attachment\n" +
			"--XYZ\nContent-Type: application/octet-stream; name=\"a.bin\"\nContent-Transfer-Encoding: BASE64\n" +
			"Content-Disposition: attachment; filename=\"a.bin\"\nContent-ID: <id1@x>\nContent-Description: the file\n\n" +
			"aGVsbG8gd29y\nbGQK\n--XYZ--\n",
		parts: []wantPart{
			{at: []int{0}, ctype: "text/plain", header: "Content-Type: text/plain\n\n", body: "see attachment", lines: 1},
			{at: []int{1}, ctype: "application/octet-stream",
				header: "Content-Type: application/octet-stream; name=\"a.bin\"\nContent-Transfer-Encoding: BASE64\n" +
					"Content-Disposition: attachment; filename=\"a.bin\"\nContent-ID: <id1@x>\nContent-Description: the file\n\n",
				body: "aGVsbG8gd29y\nbGQK", lines: 2},
		},
		check: func(t *testing.T, root *Part) {
			a := root.Children[1]
			if a.Encoding != "base64" || a.Disposition != "attachment" || a.ID != "<id1@x>" || a.Description != "the file" ||
				a.Param("name") != "a.bin" || ParamValue(a.DispositionParams, "filename") != "a.bin" || a.Params[0].Value != "a.bin" {
				t.Errorf("attachment fields %+v", a)
			}
		},
	},
	{
		name: "nested message/rfc822 containing a multipart",
		msg: "Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: text/plain\n\nintro\n" +
			"--outer\nContent-Type: message/rfc822\n\n" +
			"From: Carol <carol@example.org>\nSubject: inner\nContent-Type: multipart/alternative; boundary=inner\n\n" +
			"--inner\n\ninner plain\n--inner\nContent-Type: text/html\n\n<b>inner</b>\n--inner--\n\n--outer--\n",
		parts: []wantPart{
			{at: []int{0}, ctype: "text/plain", header: "Content-Type: text/plain\n\n", body: "intro", lines: 1},
			{at: []int{1}, ctype: "message/rfc822", header: "Content-Type: message/rfc822\n\n",
				body: "From: Carol <carol@example.org>\nSubject: inner\nContent-Type: multipart/alternative; boundary=inner\n\n" +
					"--inner\n\ninner plain\n--inner\nContent-Type: text/html\n\n<b>inner</b>\n--inner--\n",
				lines: 12},
			{at: []int{1, 0}, ctype: "multipart/alternative",
				header: "From: Carol <carol@example.org>\nSubject: inner\nContent-Type: multipart/alternative; boundary=inner\n\n",
				body:   "--inner\n\ninner plain\n--inner\nContent-Type: text/html\n\n<b>inner</b>\n--inner--\n", lines: 8},
			{at: []int{1, 0, 0}, ctype: "text/plain", header: "\n", body: "inner plain", lines: 1},
			{at: []int{1, 0, 1}, ctype: "text/html", header: "Content-Type: text/html\n\n", body: "<b>inner</b>", lines: 1},
		},
		check: func(t *testing.T, root *Part) {
			inner := root.Children[1].Children[0]
			if inner.Envelope == nil || inner.Envelope.Subject != "inner" || inner.Envelope.From[0].Name != "Carol" {
				t.Errorf("inner envelope %+v", inner.Envelope)
			}
		},
	},
	{
		name: "multipart/digest default type",
		msg: "Content-Type: multipart/digest; boundary=d\n\n--d\n\nFrom: x@example.org\nSubject: first\n\nbody one\n" +
			"--d\nContent-Type: text/plain\n\nnot a message\n--d--\n",
		parts: []wantPart{
			{at: []int{0}, ctype: "message/rfc822", header: "\n",
				body: "From: x@example.org\nSubject: first\n\nbody one", lines: 4},
			{at: []int{0, 0}, ctype: "text/plain", header: "From: x@example.org\nSubject: first\n\n", body: "body one", lines: 1},
			{at: []int{1}, ctype: "text/plain", header: "Content-Type: text/plain\n\n", body: "not a message", lines: 1},
		},
		check: func(t *testing.T, root *Part) {
			if p := root.Children[0]; p.Params != nil || p.Children[0].Envelope.Subject != "first" {
				t.Errorf("digest part %+v", p)
			}
		},
	},
	{
		name: "RFC 2231 parameters",
		msg: "Content-Type: application/pdf; name*0*=utf-8''%E2%82%AC; name*1=\" rates.pdf\"\n" +
			"Content-Disposition: attachment;\n filename*=iso-8859-1'en'%A3%20rates.pdf\n" +
			"Content-Transfer-Encoding: base64\n\nJVBERg==\n",
		parts: []wantPart{{ctype: "application/pdf",
			header: "Content-Type: application/pdf; name*0*=utf-8''%E2%82%AC; name*1=\" rates.pdf\"\n" +
				"Content-Disposition: attachment;\n filename*=iso-8859-1'en'%A3%20rates.pdf\n" +
				"Content-Transfer-Encoding: base64\n\n",
			body: "JVBERg==\n", lines: 1}},
		check: func(t *testing.T, root *Part) {
			if len(root.Params) != 1 || root.Params[0] != (Param{"name*", "utf-8''%E2%82%AC%20rates.pdf"}) {
				t.Errorf("params %q", root.Params)
			}
			if got := root.Param("name"); got != "€ rates.pdf" {
				t.Errorf("name = %q", got)
			}
			if got := ParamValue(root.DispositionParams, "FILENAME"); got != "£ rates.pdf" {
				t.Errorf("filename = %q", got)
			}
		},
	},
	{
		name: "missing final boundary",
		msg: "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nfirst\n" +
			"--m\nContent-Type: text/plain\n\ntruncated here\n",
		parts: []wantPart{
			{at: []int{0}, ctype: "text/plain", header: "Content-Type: text/plain\n\n", body: "first", lines: 1},
			{at: []int{1}, ctype: "text/plain", header: "Content-Type: text/plain\n\n", body: "truncated here\n", lines: 1},
		},
		broken: true,
	},
	{
		name: "no blank line in a body part",
		msg: "Content-Type: multipart/mixed; boundary=n\n\n--n\nContent-Type: text/plain\n--n\n" +
			"Content-Type: text/plain\n\nsecond\n--n--\n",
		parts: []wantPart{
			{at: []int{0}, ctype: "text/plain", header: "Content-Type: text/plain"},
			{at: []int{1}, ctype: "text/plain", header: "Content-Type: text/plain\n\n", body: "second", lines: 1},
		},
	},
	{
		name: "blank line right before the delimiter",
		msg:  "Content-Type: multipart/mixed; boundary=e\n\n--e\nContent-Type: text/x-empty\n\n--e--\n",
		parts: []wantPart{
			{ctype: "multipart/mixed", header: "Content-Type: multipart/mixed; boundary=e\n\n",
				body: "--e\nContent-Type: text/x-empty\n\n--e--\n", lines: 4},
			{at: []int{0}, ctype: "text/x-empty", header: "Content-Type: text/x-empty\n\n"},
		},
	},
	{
		name: "boundary that is a prefix of another",
		msg: "Content-Type: multipart/mixed; boundary=ab\n\n--ab\nContent-Type: multipart/alternative; boundary=abc\n\n" +
			"--abc\n\none\n--abc\n\ntwo\n--abc--\n--ab\nContent-Type: text/plain\n\nthree\n--ab--\n",
		parts: []wantPart{
			{at: []int{0}, ctype: "multipart/alternative",
				header: "Content-Type: multipart/alternative; boundary=abc\n\n",
				body:   "--abc\n\none\n--abc\n\ntwo\n--abc--", lines: 7},
			{at: []int{0, 0}, ctype: "text/plain", header: "\n", body: "one", lines: 1},
			{at: []int{0, 1}, ctype: "text/plain", header: "\n", body: "two", lines: 1},
			{at: []int{1}, ctype: "text/plain", header: "Content-Type: text/plain\n\n", body: "three", lines: 1},
		},
	},
	{
		name: "outer delimiter ends an unclosed inner multipart",
		msg: "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n" +
			"--i\n\ninner one\n--o\n\nouter two\n--o--\n",
		parts: []wantPart{
			{at: []int{0}, ctype: "multipart/alternative", header: "Content-Type: multipart/alternative; boundary=i\n\n",
				body: "--i\n\ninner one", lines: 3},
			{at: []int{0, 0}, ctype: "text/plain", header: "\n", body: "inner one", lines: 1},
			{at: []int{1}, ctype: "text/plain", header: "\n", body: "outer two", lines: 1},
		},
		check: func(t *testing.T, root *Part) {
			if !root.Children[0].Broken || root.Broken {
				t.Errorf("broken flags: inner %v, root %v", root.Children[0].Broken, root.Broken)
			}
		},
	},
	{
		name: "multipart without boundary",
		msg:  "Content-Type: multipart/mixed\n\n--x\nhello\n",
		parts: []wantPart{{ctype: "text/plain", header: "Content-Type: multipart/mixed\n\n",
			body: "--x\nhello\n", lines: 2}},
		broken: true,
	},
	{
		name: "multipart without parts",
		msg:  "Content-Type: multipart/mixed; boundary=z\n\njust text\n",
		parts: []wantPart{
			{ctype: "multipart/mixed", header: "Content-Type: multipart/mixed; boundary=z\n\n", body: "just text\n", lines: 1},
		},
		broken: true,
		check: func(t *testing.T, root *Part) {
			c := root.Children[0]
			if len(root.Children) != 1 || c.Type != "text" || c.HeaderStart != root.BodyEnd || c.BodySize != 0 {
				t.Errorf("synthesised child %+v", c)
			}
		},
	},
	{
		name: "encoded-word subject and broken header line",
		msg:  "Subject: =?utf-8?q?caf=C3=A9?=\n =?UTF-8?B?IGF1IGxhaXQ=?=\nnot a field\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody\n",
		parts: []wantPart{{ctype: "text/plain",
			header: "Subject: =?utf-8?q?caf=C3=A9?=\n =?UTF-8?B?IGF1IGxhaXQ=?=\nnot a field\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\n",
			body:   "body\n", lines: 1}},
		broken: true,
		check: func(t *testing.T, root *Part) {
			e := root.Envelope
			if e.Subject != "=?utf-8?q?caf=C3=A9?= =?UTF-8?B?IGF1IGxhaXQ=?=" || e.Date != "Mon, 1 Jan 2024 00:00:00 +0000" {
				t.Errorf("envelope %+v", e)
			}
			if got := DecodeHeaderValue(e.Subject); got != "café au lait" {
				t.Errorf("decoded subject %q", got)
			}
		},
	},
	{
		name: "8-bit header name and value",
		msg:  "S\xfcbject: bad name\nSubject: caf\xc3\xa9 \xff\n\nbody",
		parts: []wantPart{{ctype: "text/plain", header: "S\xfcbject: bad name\nSubject: caf\xc3\xa9 \xff\n\n",
			body: "body", lines: 1}},
		broken: true,
		check: func(t *testing.T, root *Part) {
			if root.Envelope.Subject != "caf\xc3\xa9 \xff" {
				t.Errorf("subject %q", root.Envelope.Subject)
			}
		},
	},
}

// lineEndings are the variants each case is run in.
var lineEndings = []struct {
	name string
	conv func(string) string
}{
	{"LF", func(s string) string { return s }},
	{"CRLF", func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }},
	{"CR", func(s string) string { return strings.ReplaceAll(s, "\n", "\r") }},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		for _, le := range lineEndings {
			t.Run(tc.name+"/"+le.name, func(t *testing.T) {
				msg := le.conv(tc.msg)
				root := parseString(t, msg)
				if root.Broken != tc.broken {
					t.Errorf("root.Broken = %v, want %v", root.Broken, tc.broken)
				}
				for _, w := range tc.parts {
					checkWant(t, msg, root, w, le.conv)
				}
				if tc.check != nil {
					tc.check(t, root)
				}
				if err := roundTrip(root); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

func checkWant(t *testing.T, msg string, root *Part, w wantPart, conv func(string) string) {
	t.Helper()
	p := root
	for _, i := range w.at {
		if i >= len(p.Children) {
			t.Fatalf("part %v: no child %d", w.at, i)
		}
		p = p.Children[i]
	}
	if got := p.Type + "/" + p.Subtype; got != w.ctype {
		t.Errorf("part %v: type %s, want %s", w.at, got, w.ctype)
	}
	hdr, body := conv(w.header), conv(w.body)
	if got := msg[p.HeaderStart:p.BodyStart]; got != hdr {
		t.Errorf("part %v: header %q, want %q", w.at, got, hdr)
	}
	if got := msg[p.BodyStart:p.BodyEnd]; got != body {
		t.Errorf("part %v: body %q, want %q", w.at, got, body)
	}
	if whole := hdr + body; whole != "" {
		if want := int64(strings.Index(msg, whole)); p.HeaderStart != want {
			t.Errorf("part %v: HeaderStart %d, want %d", w.at, p.HeaderStart, want)
		}
	}
	crlf := lineEndings[1].conv
	if want := int64(len(crlf(w.header))); p.HeaderSize != want {
		t.Errorf("part %v: HeaderSize %d, want %d", w.at, p.HeaderSize, want)
	}
	if want := int64(len(crlf(w.body))); p.BodySize != want {
		t.Errorf("part %v: BodySize %d, want %d", w.at, p.BodySize, want)
	}
	if p.BodyLines != w.lines {
		t.Errorf("part %v: BodyLines %d, want %d", w.at, p.BodyLines, w.lines)
	}
}

// TestPlainOffsets pins the numbers of the simplest message by hand.
func TestPlainOffsets(t *testing.T) {
	const lf = "Subject: hi\n\nhello\nworld\n" // 12 + 1 + 6 + 6 bytes
	for _, tc := range []struct {
		msg                              string
		hs, bs, be, hsize, bsize, blines int64
	}{
		{lf, 0, 13, 25, 15, 14, 2},
		{strings.ReplaceAll(lf, "\n", "\r\n"), 0, 15, 29, 15, 14, 2},
		{"Subject: hi\r\n\nhello\rworld", 0, 14, 25, 15, 12, 2},
	} {
		p := parseString(t, tc.msg)
		got := [6]int64{p.HeaderStart, p.BodyStart, p.BodyEnd, p.HeaderSize, p.BodySize, p.BodyLines}
		if want := [6]int64{tc.hs, tc.bs, tc.be, tc.hsize, tc.bsize, tc.blines}; got != want {
			t.Errorf("%q: got %v, want %v", tc.msg, got, want)
		}
	}
}
