package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"imapd/auth"
	"imapd/internal/atomicfile"
	"imapd/maildir"
)

// setupDemo makes dir/imapd.toml, dir/htpasswd (demo/demo), a demo
// Maildir and a self-signed certificate (dir/cert.pem, dir/key.pem) on
// first run, and returns the config's path. A config the demo wrote
// before it had TLS, unedited, is replaced by the current one; any other
// existing config is used as it is. A missing certificate is made again.
func setupDemo(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	cfgPath := filepath.Join(dir, "imapd.toml")
	pw := filepath.Join(dir, "htpasswd")
	mailTmpl := filepath.Join(dir, "mail", "%u", "Maildir")
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cfg := fmt.Sprintf(demoConfig, certPath, keyPath, pw, mailTmpl)

	old, err := os.ReadFile(cfgPath)
	switch {
	case err == nil:
		if err := demoCert(certPath, keyPath); err != nil {
			return "", fmt.Errorf("demo certificate: %w", err)
		}
		if string(old) == fmt.Sprintf(demoConfigNoTLS, pw, mailTmpl) {
			if err := atomicfile.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				return "", err
			}
		}
		return cfgPath, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	err = auth.Update(pw, func(f *auth.File) error { return f.Set("demo", "demo") })
	if err != nil {
		return "", fmt.Errorf("demo htpasswd: %w", err)
	}
	if err := demoMaildir(filepath.Join(dir, "mail", "demo", "Maildir")); err != nil {
		return "", fmt.Errorf("demo Maildir: %w", err)
	}
	if err := demoCert(certPath, keyPath); err != nil {
		return "", fmt.Errorf("demo certificate: %w", err)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return "", err
	}
	return cfgPath, nil
}

// demoConfig is the demo's config; its verbs are the certificate, the key,
// the htpasswd file and the mail location.
const demoConfig = `# Demo configuration made by "imapd -demo"; see imapd.toml.example.
listen = ["127.0.0.1:1143"]
# No passwords before STARTTLS from other hosts. Loopback connections, the
# only ones the demo listens for, are exempt: clients may log in with or
# without STARTTLS.
allow_plaintext = false
# The demo serves this directory as whoever runs it, root included (make
# run on a machine where you are root): there is no separate mail user to
# switch to. A real setup sets user = "vmail" instead; see
# imapd.toml.example.
allow_root = true

# A self-signed certificate for 127.0.0.1 and localhost, made on first run.
[tls]
cert = %q
key = %q

[auth]
htpasswd = %q
mail_location = %q

[log]
level = "info"

# Every client of the demo comes from 127.0.0.1, so limits per address
# would be limits on everyone (a load test's 1,000 connections, say). A
# real setup keeps the defaults; see imapd.toml.example.
[limits]
max_connections = 5000
max_connections_per_ip = 5000
max_user_connections_per_ip = 5000
`

// demoConfigNoTLS is the config the demo wrote before it made a
// certificate: found unedited, it is replaced by demoConfig.
const demoConfigNoTLS = `# Demo configuration made by "imapd -demo"; see imapd.toml.example.
listen = ["127.0.0.1:1143"]
# Loopback connections may send passwords in clear anyway; this says so.
allow_plaintext = false

[auth]
htpasswd = %q
mail_location = %q

[log]
level = "info"
`

// demoCert writes a self-signed ECDSA P-256 certificate for 127.0.0.1,
// ::1 and localhost unless both files exist. The key is written first,
// mode 0600, so a certificate never exists without its key.
func demoCert(certPath, keyPath string) error {
	_, errCert := os.Stat(certPath)
	_, errKey := os.Stat(keyPath)
	if errCert == nil && errKey == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "127.0.0.1", Organization: []string{"imapd demo"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		// Its own CA, so that clients can be told to trust this file.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return atomicfile.WriteFile(certPath, certPEM, 0o644)
}

// printDemoHelp says where the demo listens and how clients reach it.
// Clients that insist on TLS (neomutt's default ssl_force_tls) get
// STARTTLS and are told to trust the demo's certificate file, which
// mutt and neomutt accept without asking when it matches the server's.
func printDemoHelp(cfg Config, cfgPath string) {
	addr := "127.0.0.1:1143"
	if len(cfg.Listen) > 0 {
		addr = cfg.Listen[0]
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, ""
	}
	fmt.Fprintf(os.Stderr, "\nimapd demo is running on %s (user demo, password demo).\n", addr)
	fmt.Fprintf(os.Stderr, "  telnet:  telnet %s %s     then: a LOGIN demo demo\n", host, port)
	if cfg.TLS.Cert == "" {
		fmt.Fprintf(os.Stderr, `  curl:    curl -v 'imap://demo:demo@%s/INBOX;UID=1'
  neomutt: neomutt -e 'set ssl_force_tls=no' -f 'imap://demo@%s/'
There is no STARTTLS: %s has no [tls] section. To add one, put
  [tls]
  cert = %q
  key = %q
in it (the demo has made these files).
`, addr, addr, cfgPath, filepath.Join(filepath.Dir(cfgPath), "cert.pem"), filepath.Join(filepath.Dir(cfgPath), "key.pem"))
	} else {
		fmt.Fprintf(os.Stderr, `  curl:    curl -v --ssl-reqd --cacert %s 'imap://demo:demo@%s/INBOX;UID=1'
  neomutt: neomutt -e 'set certificate_file=%s' -f 'imap://demo@%s/'
           (STARTTLS with the demo's self-signed certificate; the same for mutt)
`, cfg.TLS.Cert, addr, cfg.TLS.Cert, addr)
	}
	if os.Geteuid() == 0 {
		fmt.Fprintf(os.Stderr, "Running as root: -demo implies allow_root, and %s is served as root.\n", filepath.Dir(cfgPath))
	}
	fmt.Fprint(os.Stderr, "Stop it with Ctrl-C.\n\n")
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
