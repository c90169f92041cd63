package imapd

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a server TLS configuration with a certificate for
// "localhost" made on the spot.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// newTLSTestServer is a server with STARTTLS whose clients seem to come
// from a remote address, so plaintext login is off before TLS.
func newTLSTestServer(t *testing.T) *testServer {
	cfg := selfSigned(t)
	return newTestServerFrom(t, &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000},
		func(o *Options) { o.TLSConfig = cfg })
}

// startTLS upgrades tc after a successful STARTTLS.
func (tc *testConn) startTLS(t *testing.T) {
	t.Helper()
	cc := tls.Client(tc.c, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	cc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := cc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	cc.SetDeadline(time.Time{})
	tc.c, tc.br = cc, bufio.NewReader(cc)
}

// TestStartTLS: RFC 3501 §6.2.1. Before TLS the capabilities offer
// STARTTLS and LOGINDISABLED (no AUTH=PLAIN); after it, AUTH=PLAIN and
// neither of those, and LOGIN works.
func TestStartTLS(t *testing.T) {
	ts := newTLSTestServer(t)
	c := ts.dialRaw()
	greeting := c.readLine()
	if !strings.Contains(greeting, " STARTTLS ") || !strings.Contains(greeting, " LOGINDISABLED ") || strings.Contains(greeting, "AUTH=PLAIN") {
		t.Fatalf("greeting before TLS: %s", greeting)
	}
	_, tagged := c.transact("a1", "LOGIN demo demo")
	if !strings.HasPrefix(tagged, "a1 NO [PRIVACYREQUIRED]") {
		t.Fatalf("LOGIN before TLS: %s", tagged)
	}
	u, tagged := c.transact("a2", "STARTTLS")
	if len(u) != 0 || tagged != "a2 OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS: %q %s", u, tagged)
	}
	c.startTLS(t)
	// RFC 3501 §6.2.1: the client must discard what it knew of the
	// capabilities; the server sends no greeting again.
	u = c.transactOK("a3", "CAPABILITY")
	expectUntagged(t, u, "* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS UNSELECT CHILDREN MOVE ESEARCH SEARCHRES STATUS=SIZE LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE CONDSTORE QRESYNC APPENDLIMIT=67108864")
	_, tagged = c.transact("a4", "STARTTLS")
	if tagged != "a4 BAD TLS is already active" {
		t.Fatalf("second STARTTLS: %s", tagged)
	}
	_, tagged = c.transact("a5", "LOGIN demo demo")
	if !strings.HasPrefix(tagged, "a5 OK [CAPABILITY IMAP4rev1 SASL-IR") {
		t.Fatalf("LOGIN over TLS: %s", tagged)
	}
	c.transactOK("a6", "SELECT INBOX")
	c.transactOK("a7", "LOGOUT")
}

// TestStartTLSAuthenticate: AUTHENTICATE PLAIN with SASL-IR over TLS.
func TestStartTLSAuthenticate(t *testing.T) {
	ts := newTLSTestServer(t)
	c := ts.dial()
	_, tagged := c.transact("a1", "AUTHENTICATE PLAIN AGRlbW8AZGVtbw==")
	if !strings.HasPrefix(tagged, "a1 NO [PRIVACYREQUIRED]") {
		t.Fatalf("AUTHENTICATE before TLS: %s", tagged)
	}
	c.transactOK("a2", "STARTTLS")
	c.startTLS(t)
	c.transactOK("a3", "AUTHENTICATE PLAIN AGRlbW8AZGVtbw==")
}

// TestStartTLSPipelined: commands sent after STARTTLS before the
// handshake would be taken as coming over TLS (the CVE-2011-0411
// family): STARTTLS is refused and the connection closed, and the
// pipelined command is never run.
func TestStartTLSPipelined(t *testing.T) {
	ts := newTLSTestServer(t)
	c := ts.dial()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.c, "a1 STARTTLS\r\na2 LOGIN demo demo\r\n"); err != nil {
		t.Fatal(err)
	}
	if l := c.readLine(); l != "a1 BAD Commands after STARTTLS must wait for TLS" {
		t.Fatalf("pipelined STARTTLS: %s", l)
	}
	if l := c.readLine(); !strings.HasPrefix(l, "* BYE ") {
		t.Fatalf("after the refusal: %s", l)
	}
	if l, err := c.tryReadLine(2 * time.Second); err == nil {
		t.Fatalf("the pipelined command was answered: %s", l)
	}
}

// TestStartTLSNotConfigured: without a certificate STARTTLS is neither
// offered nor accepted.
func TestStartTLSNotConfigured(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dialRaw()
	if g := c.readLine(); strings.Contains(g, "STARTTLS") {
		t.Fatalf("greeting offers STARTTLS: %s", g)
	}
	_, tagged := c.transact("a1", "STARTTLS")
	if tagged != "a1 BAD TLS is not configured" {
		t.Fatal(tagged)
	}
	c.transactOK("a2", "NOOP")
}
