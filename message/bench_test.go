package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// benchMessage builds a typical ~50 KB message: a text and an HTML
// alternative, a forwarded message and a base64 attachment, LF-terminated
// as Postfix writes it.
func benchMessage() []byte {
	var b bytes.Buffer
	b.WriteString("Return-Path: <ann@example.org>\n")
	for i := range 8 {
		fmt.Fprintf(&b, "Received: from relay%d.example.org (relay%d.example.org [192.0.2.%d])\n\tby mx.example.net with ESMTPS id %08x\n\tfor <bob@example.net>; Mon, 1 Jan 2024 00:00:%02d +0000\n", i, i, i, i*7919, i)
	}
	b.WriteString("From: Ann Example <ann@example.org>\nTo: Bob <bob@example.net>, carol@example.net\n" +
		"Cc: \"Team, The\" <team@example.org>\nSubject: =?utf-8?q?Quarterly_r=C3=A9port?=\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <bench@example.org>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"==outer==\"\n\nThis is a multi-part message in MIME format.\n\n")

	b.WriteString("--==outer==\nContent-Type: multipart/alternative; boundary=\"==alt==\"\n\n")
	b.WriteString("--==alt==\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
	for i := range 40 {
		fmt.Fprintf(&b, "Line %d of the plain text part, with some words to make it realistic.\n", i)
	}
	b.WriteString("\n--==alt==\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n")
	for i := range 80 {
		fmt.Fprintf(&b, "<p style=3D\"margin:0\">Paragraph %d of the HTML part, quoted-printable encoded=\n text.</p>\n", i)
	}
	b.WriteString("\n--==alt==--\n\n")

	b.WriteString("--==outer==\nContent-Type: message/rfc822\n\nFrom: Dan <dan@example.org>\nSubject: forwarded\n\n")
	for i := range 20 {
		fmt.Fprintf(&b, "Forwarded line %d.\n", i)
	}

	b.WriteString("\n--==outer==\nContent-Type: application/pdf; name=\"report.pdf\"\nContent-Transfer-Encoding: base64\n" +
		"Content-Disposition: attachment; filename=\"report.pdf\"\n\n")
	raw := bytes.Repeat([]byte("%PDF-1.4 binary-ish content \x00\x01\x02\xff "), 1000)[:30000]
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n--==outer==--\n")
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	msg := benchMessage()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(msg), int64(len(msg))); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchMessage(t *testing.T) {
	msg := benchMessage()
	if n := len(msg); n < 45000 || n > 60000 {
		t.Errorf("bench message is %d bytes", n)
	}
	root := parseString(t, string(msg))
	if got := len(root.Children); got != 3 || root.Children[0].Subtype != "alternative" || !root.Children[1].IsMessage() {
		t.Errorf("unexpected structure: %d children", got)
	}
	if s := DecodeHeaderValue(root.Envelope.Subject); !strings.HasPrefix(s, "Quarterly r") {
		t.Errorf("subject %q", s)
	}
}
