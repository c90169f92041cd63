package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoSTARTTLS runs `imapd -demo DIR -listen ADDR` as `make run
// PORT=...` does: the demo makes a self-signed certificate, offers
// STARTTLS, and a client that trusts DIR/cert.pem verifies the server as
// 127.0.0.1 and logs in. Where curl is installed, the curl line the demo
// prints is run as printed.
func TestDemoSTARTTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var")
	addr := freeAddr(t)
	c, stderr := startListening(t, addr, "-demo", dir, "-listen", addr)

	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key %s: %v, mode %v; want 0600", keyPath, err, fi.Mode())
	}
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s holds no certificate", certPath)
	}

	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	if caps := d.ok("a", "CAPABILITY"); !strings.Contains(caps[0], " STARTTLS") {
		t.Fatalf("no STARTTLS offered: %q", caps)
	}
	d.ok("b", "STARTTLS")
	tc := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS with the demo's certificate trusted: %v", err)
	}
	state := tc.ConnectionState()
	if err := state.PeerCertificates[0].VerifyHostname("localhost"); err != nil {
		t.Fatalf("certificate not valid for localhost: %v", err)
	}
	d = &dialog{t: t, c: tc, r: bufio.NewReader(tc)}
	d.ok("c", "LOGIN demo demo")
	d.ok("d", "SELECT INBOX")
	d.ok("e", "LOGOUT")

	help := stderr.String()
	for _, want := range []string{
		"neomutt -e 'set certificate_file=" + certPath + "' -f 'imap://demo@" + addr + "/'",
		"curl -v --ssl-reqd --cacert " + certPath + " 'imap://demo:demo@" + addr + "/INBOX;UID=1'",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("the demo's help lacks %q:\n%s", want, help)
		}
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (Debian package curl): the printed curl line is not run")
	}
	out, err := exec.Command(curl, "-sS", "--max-time", "20", "--ssl-reqd", "--cacert", certPath,
		fmt.Sprintf("imap://demo:demo@%s/INBOX;UID=1", addr)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Subject: Welcome to imapd") {
		t.Fatalf("curl over STARTTLS: %v\n%s", err, out)
	}
}

// TestDemoUpgrade: a var/ from before the demo had TLS keeps working. Its
// config, unedited, gains [tls]; an edited one is left alone (the demo
// then prints how to enable TLS); the certificate is made either way.
func TestDemoUpgrade(t *testing.T) {
	dir := t.TempDir()
	cfgPath, err := setupDemo(dir)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	oldCfg := fmt.Sprintf(demoConfigNoTLS, filepath.Join(dir, "htpasswd"), filepath.Join(dir, "mail", "%u", "Maildir"))
	for _, tc := range []struct {
		name, config string
		upgraded     bool
	}{
		{"unedited", oldCfg, true},
		{"edited", oldCfg + "# mine\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(cfgPath, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Remove(certPath)
			os.Remove(keyPath)
			if _, err := setupDemo(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
				t.Fatalf("certificate not made again: %v", err)
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(cfgPath)
			if tc.upgraded {
				if cfg.TLS.Cert != certPath || cfg.TLS.Key != keyPath {
					t.Fatalf("the demo's own config did not gain [tls]:\n%s", got)
				}
			} else if string(got) != tc.config {
				t.Fatalf("an edited config was rewritten:\n%s", got)
			}
		})
	}
}
