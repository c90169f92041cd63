package message

import (
	"reflect"
	"testing"
)

const sampleHeader = "From: a@example.org\n" +
	"To: b@example.org,\n  c@example.org\n" +
	"X-Stray line without colon\n" +
	"subject: Hello\n\tworld\n" +
	"Received: one\n" +
	"RECEIVED : two\n" +
	"\n" +
	"Subject: not a header, in the body\n"

func TestHeaderFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		names  []string
		not    bool
		want   string
	}{
		{"select folded", sampleHeader, []string{"SUBJECT", "to"}, false,
			"To: b@example.org,\r\n  c@example.org\r\nsubject: Hello\r\n\tworld\r\n\r\n"},
		{"repeated field, space before colon", sampleHeader, []string{"received"}, false,
			"Received: one\r\nRECEIVED : two\r\n\r\n"},
		{"not", sampleHeader, []string{"received", "to", "subject"}, true,
			"From: a@example.org\r\n\r\n"},
		{"none match", sampleHeader, []string{"cc"}, false, "\r\n"},
		{"empty names with not", "A: 1\r\nB: 2\r\n\r\n", nil, true, "A: 1\r\nB: 2\r\n\r\n"},
		{"no blank line, no final newline", "A: 1\rB: 2", []string{"b"}, false, "B: 2\r\n\r\n"},
		{"empty header", "", []string{"a"}, true, "\r\n"},
		{"leading continuation is no field", " stray\nA: 1\n\n", []string{"a"}, true, "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(HeaderFields([]byte(tc.header), tc.names, tc.not)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHeaderValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"received", []string{"one", "two"}},
		{"To", []string{"b@example.org,  c@example.org"}},
		{"subject", []string{"Hello\tworld"}},
		{"cc", nil},
	} {
		if got := HeaderValues([]byte(sampleHeader), tc.name); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDecodeHeaderValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"=?utf-8?q?caf=C3=A9?=", "café"},
		{"=?UTF-8?Q?a_b?=", "a b"},
		{"=?iso-8859-1?q?caf=E9?= au lait", "café au lait"},
		{"=?utf-8?b?Y2Fmw6k=?=", "café"},
		{"=?utf-8?b?Y2Fmw6k?=", "café"}, // missing padding
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
		{"=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"},
		{"=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"},
		{"x =?utf-8?q?a?=", "x a"},
		// A UTF-8 character split across two words.
		{"=?utf-8?b?w6g=?= =?utf-8?b?w6k=?=", "èé"},
		{"=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "é"},
		{"=?koi8-r?b?8NLJ18XU?=", "Привет"},
		{"=?shift_jis?b?k/qWe4zq?=", "日本語"},
		{"=?utf-8*en?q?lang?=", "lang"},
		{"=?iso-8859-1?q?a?= =?utf-8?q?=C3=A9?=", "aé"},
		// Invalid words stay as they are.
		{"=?utf-8?q?bad=ZZ?=", "=?utf-8?q?bad=ZZ?="},
		{"=?utf-8?x?abc?=", "=?utf-8?x?abc?="},
		{"=?no-such-charset?q?abc?=", "=?no-such-charset?q?abc?="},
		{"=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="},
		{"=?utf-8?q?unterminated", "=?utf-8?q?unterminated"},
		{"=?utf-8?q?has space?=", "=?utf-8?q?has space?="},
		{"=?", "=?"},
		{"a =?utf-8?q?x?= =?bad?q?y?= =?utf-8?q?z?=", "a x =?bad?q?y?= z"},
		{"folded\n line", "folded line"},
		{"raw 8-bit café", "raw 8-bit café"},
	} {
		if got := DecodeHeaderValue(tc.in); got != tc.want {
			t.Errorf("DecodeHeaderValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestContentType(t *testing.T) {
	for _, tc := range []struct {
		in        string
		typ, sub  string
		params    []Param
		wantValid bool
	}{
		{"text/plain", "text", "plain", nil, true},
		{"Text/HTML; Charset=\"UTF-8\"", "text", "html", []Param{{"charset", "UTF-8"}}, true},
		{" multipart/mixed ; boundary=\"=_a b\\\"c\" (comment) ; x=y", "multipart", "mixed",
			[]Param{{"boundary", "=_a b\"c"}, {"x", "y"}}, true},
		{"multipart/mixed; boundary==_Part_1?x/y", "multipart", "mixed", []Param{{"boundary", "=_Part_1?x/y"}}, true},
		{"text/plain;; junk; =x; charset=us-ascii;", "text", "plain", []Param{{"charset", "us-ascii"}}, true},
		{"text (comment) / (more) plain", "text", "plain", nil, true},
		{"text/plain; name=\"unterminated", "text", "plain", []Param{{"name", "unterminated"}}, true},
		{"text", "", "", nil, false},
		{"/plain", "", "", nil, false},
		{"text/", "", "", nil, false},
		{"", "", "", nil, false},
		{"tëxt/plain", "", "", nil, false},
		// RFC 2231, presented as Dovecot does.
		{"a/b; key4*=us-ascii''foo; key*2=ba%; key2*0=a; key3*0*=us-ascii'en'xyz; key*0=\"foo\"; key2*1*=b%25; key3*1=plop%; key*1=baz",
			"a", "b", []Param{{"key4*", "us-ascii''foo"}, {"key", "foobazba%"}, {"key2*", "''ab%25"}, {"key3*", "us-ascii'en'xyzplop%25"}}, true},
		{"a/b; name*=x; name=plain; n*9999=z; n*x=y", "a", "b",
			[]Param{{"name*", "x"}, {"name", "plain"}, {"n", "z"}, {"n*x", "y"}}, true},
	} {
		typ, sub, params, ok := parseContentType(tc.in)
		if typ != tc.typ || sub != tc.sub || !reflect.DeepEqual(params, tc.params) || ok != tc.wantValid {
			t.Errorf("parseContentType(%q) = %q %q %q %v, want %q %q %q %v",
				tc.in, typ, sub, params, ok, tc.typ, tc.sub, tc.params, tc.wantValid)
		}
	}
}

func TestParamValue(t *testing.T) {
	params := []Param{
		{"title*", "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A"},
		{"name", "=?utf-8?q?r=C3=A9sum=C3=A9?=.pdf"},
		{"bad*", "no quotes %41"},
		{"raw*", "unknown-charset''%41%zz"},
	}
	for _, tc := range []struct{ name, want string }{
		{"Title", "This is ***fun***"},
		{"name", "résumé.pdf"},
		{"bad", "no quotes A"},
		{"raw", "A%zz"},
		{"missing", ""},
	} {
		if got := ParamValue(params, tc.name); got != tc.want {
			t.Errorf("ParamValue(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPartFields(t *testing.T) {
	root := parseString(t, "Content-Type: text/plain\n"+
		"Content-Transfer-Encoding: Quoted-Printable (comment)\n"+
		"Content-Disposition: INLINE; filename=a.txt\n"+
		"Content-Language: en-US, (comment) de\n"+
		"Content-Location: http://example.org/\n a/b\n"+
		"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"+
		"Content-Type: text/html\n"+ // the first occurrence wins
		"\nbody")
	want := Part{Type: "text", Subtype: "plain", Encoding: "quoted-printable",
		Disposition: "inline", DispositionParams: []Param{{"filename", "a.txt"}},
		Language: []string{"en-US", "de"}, Location: "http://example.org/a/b",
		MD5: "Q2hlY2sgSW50ZWdyaXR5IQ=="}
	got := Part{Type: root.Type, Subtype: root.Subtype, Encoding: root.Encoding,
		Disposition: root.Disposition, DispositionParams: root.DispositionParams,
		Language: root.Language, Location: root.Location, MD5: root.MD5}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}
