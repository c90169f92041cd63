package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// newLimitsServer is newTestServerFrom with the given Limits and the log
// (info and above) kept in a buffer.
func newLimitsServer(t *testing.T, remote net.Addr, l Limits, tweak ...func(*Options)) (*testServer, *liveLockedBuffer) {
	t.Helper()
	logs := &liveLockedBuffer{}
	tweak = append([]func(*Options){func(o *Options) {
		o.Limits = l
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}}, tweak...)
	return newTestServerFrom(t, remote, tweak...), logs
}

// sessionCount is the number of sessions the server is serving.
func (ts *testServer) sessionCount() int {
	ts.srv.mu.Lock()
	defer ts.srv.mu.Unlock()
	return len(ts.srv.sessions)
}

// waitNoSessions fails unless every session has ended within d.
func (ts *testServer) waitNoSessions(d time.Duration) {
	ts.t.Helper()
	for end := time.Now().Add(d); ts.sessionCount() > 0; {
		if time.Now().After(end) {
			ts.t.Fatalf("%d sessions still open after %v", ts.sessionCount(), d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// expectClosed fails unless the server sends want (if not "") and then
// closes the connection, within 5 seconds.
func (tc *testConn) expectClosed(want string) {
	tc.t.Helper()
	if want != "" {
		if l := tc.readLine(); l != want {
			tc.t.Fatalf("got %q, want %q", l, want)
		}
	}
	if l, err := tc.tryReadLine(5 * time.Second); !errors.Is(err, io.EOF) && !isReset(err) {
		tc.t.Fatalf("connection not closed: %q, %v", l, err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestPreLoginTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	ts, logs := newLimitsServer(t, nil, Limits{PreLoginTimeout: timeout})

	t.Run("silent", func(t *testing.T) {
		tc := ts.dial()
		tc.expectClosed("* BYE Autologout; too long without logging in")
		if !strings.Contains(logs.String(), "no login in time") {
			t.Errorf("not logged:\n%s", logs)
		}
	})

	t.Run("busy", func(t *testing.T) {
		// Commands do not extend the time: it counts from the connection.
		tc := ts.dial()
		for i := 0; ; i++ {
			if i == 100 { // 100 × ≥ 50 ms, far beyond the timeout
				t.Fatal("a client sending NOOPs stays connected without logging in")
			}
			tc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := fmt.Fprintf(tc.c, "n%d NOOP\r\n", i); err != nil {
				return // closed by the server
			}
			l, err := tc.tryReadLine(5 * time.Second)
			if err != nil || strings.HasPrefix(l, "* BYE ") {
				return
			}
			if l != fmt.Sprintf("n%d OK NOOP completed", i) {
				t.Fatalf("NOOP: %q", l)
			}
			if l, err := tc.tryReadLine(50 * time.Millisecond); err == nil {
				if strings.HasPrefix(l, "* BYE ") {
					return
				}
				t.Fatalf("unexpected %q", l)
			}
		}
	})

	t.Run("logged in", func(t *testing.T) {
		tc := ts.login()
		tc.noMore(3 * timeout)
		tc.transactOK("n1", "NOOP")
	})
}

// stuckClient sends "f FETCH 1 BODY.PEEK[]" over c again and again and
// never reads. The returned channel yields the error that stopped it.
// sent counts the octets sent.
func stuckClient(c net.Conn, sent *atomic.Int64) <-chan error {
	done := make(chan error, 1)
	batch := []byte(strings.Repeat("f FETCH 1 BODY.PEEK[]\r\n", 100))
	go func() {
		for {
			c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			n, err := c.Write(batch)
			sent.Add(int64(n))
			if err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

// waitStalled returns once sent has not grown for 500 ms: the server is
// blocked writing to a client that does not read.
func waitStalled(t *testing.T, sent *atomic.Int64, done <-chan error) {
	t.Helper()
	last, still := int64(-1), 0
	for i := 0; still < 5; i++ {
		if i == 300 {
			t.Fatal("the client never stalled")
		}
		select {
		case err := <-done:
			t.Fatalf("client stopped before stalling: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if n := sent.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
}

// bigMessage is a message of about 1 MiB.
func bigMessage() string {
	return "Subject: big\n\n" + strings.Repeat(strings.Repeat("x", 1000)+"\n", 1000)
}

func TestWriteTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, starttls := range []bool{false, true} {
		t.Run(fmt.Sprintf("starttls=%v", starttls), func(t *testing.T) {
			var ts *testServer
			var logs *liveLockedBuffer
			if starttls {
				cfg := selfSigned(t)
				ts, logs = newLimitsServer(t, &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000},
					Limits{WriteTimeout: timeout}, func(o *Options) { o.TLSConfig = cfg })
			} else {
				ts, logs = newLimitsServer(t, nil, Limits{WriteTimeout: timeout})
			}
			ts.deliver("INBOX", bigMessage())
			tc := ts.dial()
			if starttls {
				tc.transactOK("s1", "STARTTLS")
				tc.startTLS(t)
				if _, ok := tc.c.(*tls.Conn); !ok {
					t.Fatal("not TLS")
				}
			}
			tc.transactOK("l1", "LOGIN demo demo")
			tc.transactOK("s2", "SELECT INBOX")

			var sent atomic.Int64
			start := time.Now()
			select {
			case err := <-stuckClient(tc.c, &sent):
				if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("client write: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("server still holds a client that reads nothing after 15 s (%d octets sent)", sent.Load())
			}
			ts.waitNoSessions(5 * time.Second)
			if !strings.Contains(logs.String(), "client left our output unread for too long") {
				t.Errorf("not logged:\n%s", logs)
			}
			t.Logf("dropped after %v", time.Since(start))
		})
	}
}

func TestShutdownCutsStuckWriter(t *testing.T) {
	ts := newTestServer(t) // WriteTimeout at its 5 minutes
	ts.deliver("INBOX", bigMessage())
	tc := ts.login()
	tc.transactOK("s1", "SELECT INBOX")
	var sent atomic.Int64
	done := stuckClient(tc.c, &sent)
	waitStalled(t, &sent, done)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v after %v", err, time.Since(start))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after Shutdown")
	}
}

func TestMaxConnectionsPerIP(t *testing.T) {
	ts, logs := newLimitsServer(t, nil, Limits{MaxConnectionsPerIP: 2})
	a := ts.login() // logged in or not, both count
	ts.dial()
	refused := "* BYE [UNAVAILABLE] Too many connections from your address"
	ts.dialRaw().expectClosed(refused)
	if !strings.Contains(logs.String(), "level=WARN msg=\"too many connections from one address\"") {
		t.Errorf("not logged:\n%s", logs)
	}

	// A closed connection gives its place back.
	a.transactOK("o1", "LOGOUT")
	for i := 0; ; i++ {
		tc := ts.dialRaw()
		l := tc.readLine()
		if strings.HasPrefix(l, "* OK ") {
			break
		}
		if l != refused || i == 100 {
			t.Fatalf("after a LOGOUT: %q", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMaxConnectionsPerIPDefault(t *testing.T) {
	ts := newTestServer(t)
	for range DefaultMaxConnectionsPerIP {
		ts.dial()
	}
	ts.dialRaw().expectClosed("* BYE [UNAVAILABLE] Too many connections from your address")
}

// Connections without an IP (a pipe, ServePreauth) are not counted per
// address.
func TestMaxConnectionsPerIPPipes(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.Limits.MaxConnectionsPerIP = 1 })
	for i := range 3 {
		client, server := net.Pipe()
		t.Cleanup(func() { client.Close() })
		go ts.srv.ServeConn(server)
		tc := &testConn{t: t, c: client, br: bufio.NewReader(client)}
		if l := tc.readLine(); !strings.HasPrefix(l, "* OK ") {
			t.Fatalf("pipe %d: %q", i, l)
		}
	}
}

func TestMaxUserConnectionsPerIP(t *testing.T) {
	ts, logs := newLimitsServer(t, nil, Limits{MaxUserConnectionsPerIP: 2})
	first := ts.login()
	ts.login()
	tc := ts.dial()
	refused := "NO [LIMIT] Too many connections for this user from your address"
	if _, l := tc.transact("l1", "LOGIN demo demo"); l != "l1 "+refused {
		t.Fatalf("third LOGIN: %q", l)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00demo\x00demo"))
	if _, l := tc.transact("a1", "AUTHENTICATE PLAIN "+plain); l != "a1 "+refused {
		t.Fatalf("third AUTHENTICATE: %q", l)
	}
	// Still not authenticated.
	if _, l := tc.transact("s1", "SELECT INBOX"); !strings.HasPrefix(l, "s1 BAD") {
		t.Fatalf("SELECT after a refused login: %q", l)
	}
	if !strings.Contains(logs.String(), "too many connections for this user") {
		t.Errorf("not logged:\n%s", logs)
	}

	// A session that ends gives its place back.
	first.transactOK("o1", "LOGOUT")
	for i := 0; ; i++ {
		u, l := tc.transact(fmt.Sprintf("l%d", i+2), "LOGIN demo demo")
		if strings.HasPrefix(l, fmt.Sprintf("l%d OK", i+2)) {
			break
		}
		if !strings.HasSuffix(l, refused) || i == 100 {
			t.Fatalf("LOGIN after a LOGOUT: %q %q", u, l)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tc.transactOK("s2", "SELECT INBOX")
}

// TestConnCounter: the total cap, the per-block cap, connections without
// an address (counted in the total only), and slots coming back.
func TestConnCounter(t *testing.T) {
	c := NewConnCounter(Limits{MaxConnections: 4, MaxConnectionsPerIP: 2})
	a := netip.MustParsePrefix("192.0.2.1/32")
	b := netip.MustParsePrefix("2001:db8::/64")
	steps := []struct {
		block netip.Prefix
		want  error
	}{
		{a, nil}, {a, nil}, {a, ErrTooManyFromAddress},
		{netip.Prefix{}, nil}, {b, nil}, {b, ErrTooManyConnections},
	}
	for i, s := range steps {
		if err := c.Admit(s.block); !errors.Is(err, s.want) {
			t.Fatalf("step %d (%v): %v, want %v", i, s.block, err, s.want)
		}
	}
	c.Release(a)
	if err := c.Admit(b); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if err := c.Admit(a); !errors.Is(err, ErrTooManyConnections) {
		t.Fatalf("full again: %v", err)
	}
	c.Release(netip.Prefix{})
	if err := c.Admit(a); err != nil {
		t.Fatalf("a has one of two: %v", err)
	}
}
