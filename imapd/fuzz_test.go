package imapd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"imapd/auth"
	"imapd/maildir"
)

// FuzzSession replays fuzzed client input against a real session in each
// connection state of RFC 3501 §3: not authenticated, authenticated
// (after LOGIN) and selected (after LOGIN and SELECT INBOX on a Maildir
// with a few messages). The input is sent as it is, then LOGOUT; the
// session must answer it and end within fuzzSessionDeadline. A recovered
// panic, a hang or (under -race) a data race fails the target.
//
// The seed corpus is in testdata/fuzz/FuzzSession; the first byte of an
// input picks the state (modulo 3), the rest is what the client sends.
func FuzzSession(f *testing.F) {
	for _, s := range fuzzSessionSeeds {
		for st := range byte(3) {
			f.Add(append([]byte{st}, s...))
		}
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		fx.run(t, fuzzState(in[0]%3), in[1:])
	})
}

// fuzzSessionDeadline bounds one input's session: generous, as -race and
// the fuzzer's parallel workers slow everything down.
const fuzzSessionDeadline = 10 * time.Second

type fuzzState uint8

const (
	fuzzNotAuth fuzzState = iota
	fuzzAuth
	fuzzSelected
)

// fuzzSessionSeeds are inputs that reach the parsers and handlers worth
// fuzzing; testdata/fuzz/FuzzSession holds more, in the corpus format.
var fuzzSessionSeeds = []string{
	"a NOOP\r\n",
	"a LOGIN {4}\r\ndemo {4}\r\ndemo\r\nb SELECT INBOX\r\n",
	"a FETCH 1:* (BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.10> BODYSTRUCTURE ENVELOPE)\r\n",
	"a SEARCH OR (FROM x (NOT (SUBJECT {3+}\r\nabc))) UID 1:*\r\n",
	"a IDLE\r\nDONE\r\n",
	"a SEARCH RETURN (SAVE MIN COUNT) UNSEEN\r\nb UID FETCH $ FLAGS\r\nc MOVE $ Sent\r\n",
	"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (% INBOX.*) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES SIZE))\r\n",
	"a CREATE Bin (USE (\\Trash))\r\nb RENAME Bin Rubbish\r\nc DELETE Rubbish\r\n",
}

// fuzzFixture is a Maildir template copied for each input, and the
// htpasswd file of user demo.
type fuzzFixture struct {
	template string // a Maildir with a few messages
	htpasswd string
}

func newFuzzFixture(f *testing.F) *fuzzFixture {
	dir := f.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("demo"), bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	fx := &fuzzFixture{template: filepath.Join(dir, "template"), htpasswd: filepath.Join(dir, "htpasswd")}
	if err := os.WriteFile(fx.htpasswd, []byte("demo:"+string(hash)+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	hub := maildir.NewHub(maildir.Options{NoSync: true})
	st, err := hub.Open(fx.template, true)
	if err != nil {
		f.Fatal(err)
	}
	msgs := append(append([]string(nil), transcriptFixture...),
		"Subject: =?UTF-8?Q?caf=C3=A9?=\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nK=E4se\n",
		"From: x@example.org\nContent-Type: multipart/alternative; boundary=q\n\n--q\nContent-Type: text/html\n\n<b>x</b>\n--q\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n--q--\n")
	for _, m := range msgs {
		if _, err := st.Append("INBOX", strings.NewReader(strings.ReplaceAll(m, "\n", "\r\n")), maildir.AppendOptions{}); err != nil {
			f.Fatal(err)
		}
	}
	if err := st.Create("Sent"); err != nil {
		f.Fatal(err)
	}
	return fx
}

// run serves one session over a pipe in state st, sends in, then LOGOUT,
// and reads until the server closes.
func (fx *fuzzFixture) run(t *testing.T, st fuzzState, in []byte) {
	dir := t.TempDir()
	mail := filepath.Join(dir, "Maildir")
	if err := copyTree(fx.template, mail); err != nil {
		t.Fatal(err)
	}
	logs := &diffLogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ht, err := auth.NewHtpasswd(auth.HtpasswdOptions{Path: fx.htpasswd, MailLocation: mail, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hub := maildir.NewHub(maildir.Options{Logger: logger, NoSync: true})
	srv := New(Options{
		Throttle: auth.NewThrottle(ht, auth.ThrottleOptions{Logger: logger,
			Sleep: func(context.Context, time.Duration) error { return nil }}),
		OpenStore: func(id auth.Identity) (*maildir.Store, error) { return hub.Open(id.Maildir, true) },
		Logger:    logger,
		// Small limits so that the fuzzer reaches them.
		Limits: Limits{
			MaxLine:     4 << 10,
			MaxLiteral:  4 << 10,
			MaxAppend:   64 << 10,
			SearchDepth: 16,
		},
	})
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeConn(server)
	}()
	defer func() {
		client.Close()
		select {
		case <-done:
		case <-time.After(fuzzSessionDeadline):
			t.Errorf("session did not end after the client closed")
		}
		if n := srv.RecoveredPanics(); n != 0 {
			t.Fatalf("server recovered %d panics on input %q; log:\n%s", n, in, logs)
		}
	}()
	client.SetDeadline(time.Now().Add(fuzzSessionDeadline))

	// Everything the server sends is read on its own goroutine, so the
	// server never blocks on a write while we write.
	var out bytes.Buffer
	readDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(&out, client)
		readDone <- err
	}()
	var prefix string
	switch st {
	case fuzzAuth:
		prefix = "P1 LOGIN demo demo\r\n"
	case fuzzSelected:
		prefix = "P1 LOGIN demo demo\r\nP2 SELECT INBOX\r\n"
	}
	// The prefix is sent first and alone; the fuzzed bytes follow.
	// Writes fail once the server has closed: that is not an error.
	if _, err := io.WriteString(client, prefix); err != nil {
		return
	}
	if _, err := client.Write(in); err != nil {
		return
	}
	// A line the input left open ends here; then LOGOUT. The answer may
	// be BYE, a continuation or anything else: only a hang is a failure.
	if _, err := io.WriteString(client, "\r\nZZ LOGOUT\r\n"); err != nil {
		return
	}
	// The session should end by itself after LOGOUT; one the input left
	// inside a literal or an AUTHENTICATE exchange waits for more, and
	// ends when the client goes away. Either way the deferred check
	// requires the session to end: a session that does not is a hang.
	select {
	case err := <-readDone:
		if err != nil {
			t.Fatalf("session did not end on input %q: %v; server said:\n%s", in, err, fuzzTail(out.Bytes()))
		}
	case <-time.After(fuzzLinger):
	}
}

// fuzzLinger is how long a session may take to end after LOGOUT before
// the client closes the connection.
const fuzzLinger = 300 * time.Millisecond

// fuzzTail is the end of a server's output, for a failure message.
func fuzzTail(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
