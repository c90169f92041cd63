package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"imapd/auth"
	"imapd/maildir"
)

// setupDemo makes dir/imapd.toml, dir/htpasswd (demo/demo) and a demo
// Maildir on first run, and returns the config's path. An existing
// config is used as it is.
func setupDemo(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	cfgPath := filepath.Join(dir, "imapd.toml")
	if _, err := os.Stat(cfgPath); err == nil {
		return cfgPath, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	pw := filepath.Join(dir, "htpasswd")
	err = auth.Update(pw, func(f *auth.File) error { return f.Set("demo", "demo") })
	if err != nil {
		return "", fmt.Errorf("demo htpasswd: %w", err)
	}
	mailTmpl := filepath.Join(dir, "mail", "%u", "Maildir")
	if err := demoMaildir(filepath.Join(dir, "mail", "demo", "Maildir")); err != nil {
		return "", fmt.Errorf("demo Maildir: %w", err)
	}
	cfg := fmt.Sprintf(`# Demo configuration made by "imapd -demo"; see imapd.toml.example.
listen = ["127.0.0.1:1143"]
# Loopback connections may send passwords in clear anyway; this says so.
allow_plaintext = false

[auth]
htpasswd = %q
mail_location = %q

[log]
level = "info"
`, pw, mailTmpl)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return "", err
	}
	return cfgPath, nil
}

func printDemoHelp(cfg Config) {
	addr := "127.0.0.1:1143"
	if len(cfg.Listen) > 0 {
		addr = cfg.Listen[0]
	}
	host, port, _ := strings.Cut(addr, ":")
	fmt.Fprintf(os.Stderr, `
imapd demo is running on %s (user demo, password demo).
  telnet:  telnet %s %s     then: a LOGIN demo demo
  curl:    curl -v 'imap://demo:demo@%s/INBOX;UID=1'
  mutt:    mutt -f 'imap://demo@%s/'
Stop it with Ctrl-C.

`, addr, host, port, addr, addr)
}

// demoMaildir fills a Maildir with a few varied messages.
func demoMaildir(root string) error {
	hub := maildir.NewHub(maildir.Options{})
	st, err := hub.Open(root, true)
	if err != nil {
		return err
	}
	for _, f := range []string{"Sent", "Archive", "Archive.2024"} {
		if err := st.Create(f); err != nil && !errors.Is(err, maildir.ErrExists) {
			return err
		}
		if err := st.Subscribe(f); err != nil {
			return err
		}
	}
	if err := st.Subscribe("INBOX"); err != nil {
		return err
	}
	day := time.Now().Add(-72 * time.Hour)
	msgs := []struct {
		folder string
		flags  maildir.Flags
		text   string
	}{
		{"INBOX", maildir.FlagSeen, demoPlain},
		{"INBOX", 0, demoAlternative},
		{"INBOX", maildir.FlagFlagged, demoAttachment},
		{"INBOX", 0, demoForwarded},
		{"INBOX", 0, demoUTF8},
		{"Sent", maildir.FlagSeen, demoSent},
		{"Archive.2024", maildir.FlagSeen, demoArchived},
	}
	for i, m := range msgs {
		text := strings.ReplaceAll(m.text, "\n", "\r\n")
		_, err := st.Append(m.folder, strings.NewReader(text),
			maildir.AppendOptions{Flags: m.flags, Date: day.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			return err
		}
	}
	return nil
}

const demoPlain = `From: Alice Example <alice@example.org>
To: Demo User <demo@example.org>
Subject: Welcome to imapd
Date: Mon, 01 Jan 2024 10:00:00 +0000
Message-ID: <welcome@example.org>

Hello!

This is a plain text message in your demo INBOX.
`

const demoAlternative = `From: Bob <bob@example.net>
To: demo@example.org
Subject: Lunch on Friday?
Date: Tue, 02 Jan 2024 12:30:00 +0100
Message-ID: <lunch@example.net>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Shall we meet at the caf=C3=A9 at noon?
--alt
Content-Type: text/html; charset=utf-8

<p>Shall we meet at the <b>caf&eacute;</b> at noon?</p>
--alt--
`

const demoAttachment = `From: Carol <carol@example.com>
To: demo@example.org
Subject: The report
Date: Wed, 03 Jan 2024 09:15:00 -0500
Message-ID: <report@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: text/plain

The report is attached.
--mix
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8
PC9Sb290IDEgMCBSPj4KJSVFT0YK
--mix--
`

const demoForwarded = `From: Dave <dave@example.org>
To: demo@example.org
Subject: Fwd: Old news
Date: Thu, 04 Jan 2024 16:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain

See the message below.
--outer
Content-Type: message/rfc822

From: Erin <erin@example.org>
To: dave@example.org
Subject: Old news
Date: Sun, 31 Dec 2023 23:59:00 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

Happy new year!
--inner
Content-Type: text/html

<p>Happy new year!</p>
--inner--
--outer--
`

const demoUTF8 = `From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>
To: demo@example.org
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4g4piA?=
Date: Fri, 05 Jan 2024 08:00:00 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße aus München! Schöne Woche.
`

const demoSent = `From: Demo User <demo@example.org>
To: Alice Example <alice@example.org>
Subject: Re: Welcome to imapd
Date: Mon, 01 Jan 2024 11:00:00 +0000
In-Reply-To: <welcome@example.org>

Thanks, Alice!
`

const demoArchived = `From: Newsletter <news@example.com>
To: demo@example.org
Subject: 2024 in review
Date: Tue, 31 Dec 2024 18:00:00 +0000

An archived message.
`
