//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapd/imapd"
)

// Issue 9's last "done when": 1,000 connections doing the worst of its
// table at once; the server's RSS stays under 500 MB and a normal
// client's LOGIN+SELECT+FETCH answers within 1 s throughout.
//
// BenchmarkHostile runs the real daemon (built by TestMain) with a temp
// config, seeded Maildirs and htpasswd users, points the mix below at it
// from 39 source addresses (127.0.0.2-40) plus one (127.0.0.41) that
// meets max_connections_per_ip, and meanwhile probes it as a normal
// client from 127.0.0.99. TestHostileSmoke is the same with 100
// connections for 5 s, so that `make test` keeps the stick in hand.
//
//	go test -run '^$' -bench Hostile -benchtime 1x ./cmd/imapd/
//	IMAPD_HOSTILE_CONNS=200 IMAPD_HOSTILE_TIME=5s go test ...   # smaller

// hostileKind is one row of the mix: what one hostile client does.
type hostileKind struct {
	// name is how the report calls it.
	name string
	// per1000 is its share of the connections, per 1,000.
	per1000 int
	// oneAddr puts all its connections on one source address, past
	// max_connections_per_ip (50); others spread over 39 addresses.
	oneAddr bool
	// login: it logs in (as hostile1..4) before act.
	login bool
	// act does the hostile thing on a greeted connection until the
	// server closes it or ctx ends; nil means the script ended and the
	// client hung up. Either way the slot then connects again.
	act func(ctx context.Context, h *hostileConn) error
}

// hostileMix is the worst of issue 9's table, all at once.
var hostileMix = []hostileKind{
	// Before login.
	{name: "prelogin-append-64MiB", per1000: 40, act: actPreLoginAppend},
	{name: "prelogin-login-literals", per1000: 100, act: actLoginLiterals},
	{name: "prelogin-100KB-lines", per1000: 80, act: actLongLines},
	{name: "slowloris", per1000: 260, act: actSlowloris},
	{name: "capability-never-read", per1000: 100, act: actCapabilityUnread},
	{name: "prelogin-id-20x2000", per1000: 80, act: actIDFlood},
	{name: "wrong-password-1addr", per1000: 100, oneAddr: true, act: actWrongPassword},
	// Logged in.
	{name: "search-3000-not-text-hangup", per1000: 100, login: true, act: actSearchHangUp},
	{name: "store-9000-keywords", per1000: 40, login: true, act: actStoreKeywords},
	{name: "create-flood", per1000: 60, login: true, act: actCreateFlood},
	{name: "append-over-max-literal+", per1000: 40, login: true, act: actAppendOverMax},
}

// hostileScripts are the long command lines of the mix, built once.
type hostileScripts struct {
	chunk       []byte // 64 KiB of literal data, shared, read only
	longLine    string // a 100 KB NOOP line
	capBatch    string // 1,000 pipelined CAPABILITYs
	idLine      string // ID with 20 fields of 2,000 characters
	search      string // SEARCH NOT TEXT zz0 ... NOT TEXT zz2999
	storeAdd    string // STORE 1:* +FLAGS (K00000 ... K08999)
	storeRemove string // the same with -FLAGS
}

func newHostileScripts() *hostileScripts {
	s := &hostileScripts{chunk: []byte(strings.Repeat("x", 64<<10))}
	s.longLine = "l NOOP " + strings.Repeat("y", 100_000) + "\r\n"
	s.capBatch = strings.Repeat("c CAPABILITY\r\n", 1000)
	var b strings.Builder
	b.WriteString("i ID (")
	for i := range 20 {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "\"f%02d\" \"%s\"", i, strings.Repeat("z", 2000))
	}
	b.WriteString(")\r\n")
	s.idLine = b.String()
	b.Reset()
	b.WriteString("s SEARCH")
	for i := range 3000 {
		fmt.Fprintf(&b, " NOT TEXT zz%d", i)
	}
	b.WriteString("\r\n")
	s.search = b.String()
	var kw strings.Builder
	for i := range 9000 {
		if i > 0 {
			kw.WriteByte(' ')
		}
		fmt.Fprintf(&kw, "K%05d", i)
	}
	s.storeAdd = "k STORE 1:* +FLAGS (" + kw.String() + ")\r\n"
	s.storeRemove = "k STORE 1:* -FLAGS (" + kw.String() + ")\r\n"
	return s
}

// actPreLoginAppend announces a 64 MiB APPEND before login with a
// non-synchronising literal and streams it, again and again. A server
// that refuses APPEND before login reads none of it and closes.
func actPreLoginAppend(ctx context.Context, h *hostileConn) error {
	h.drain()
	for ctx.Err() == nil {
		if err := h.send("a APPEND INBOX {67108864+}\r\n"); err != nil {
			return err
		}
		if err := h.stream(64 << 20); err != nil {
			return err
		}
		if err := h.send("\r\n"); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// actLoginLiterals sends "a LOGIN {65536}" and, for every "+" the server
// gives, 64 KiB and another synchronising literal: one command that never
// ends. A refused command is started again.
func actLoginLiterals(ctx context.Context, h *hostileConn) error {
	if err := h.send("a LOGIN {65536}\r\n"); err != nil {
		return err
	}
	for ctx.Err() == nil {
		l, err := h.line()
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(l, "+"):
			if err := h.stream(65536); err != nil {
				return err
			}
			err = h.send(" {65536}\r\n")
		case strings.HasPrefix(l, "a "):
			err = h.send("a LOGIN {65536}\r\n")
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// actLongLines sends 100 KB command lines as fast as the server takes them.
func actLongLines(ctx context.Context, h *hostileConn) error {
	h.drain()
	for ctx.Err() == nil {
		if err := h.send(h.scripts.longLine); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// actSlowloris opens a command and sends one byte of it every 3 s,
// never ending the line, never logging in.
func actSlowloris(ctx context.Context, h *hostileConn) error {
	h.drain()
	if err := h.send("a NOOP "); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(3 * time.Second):
		}
		if err := h.send("x"); err != nil {
			return err
		}
	}
}

// actCapabilityUnread pipelines CAPABILITYs 1,000 at a time and never
// reads a reply: the server's output backs up.
func actCapabilityUnread(ctx context.Context, h *hostileConn) error {
	for ctx.Err() == nil {
		if err := h.send(h.scripts.capBatch); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// actIDFlood pipelines pre-login IDs of 20 fields of 2,000 characters.
func actIDFlood(ctx context.Context, h *hostileConn) error {
	h.drain()
	for ctx.Err() == nil {
		if err := h.send(h.scripts.idLine); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// actWrongPassword guesses hostile1's password until the server hangs up.
func actWrongPassword(ctx context.Context, h *hostileConn) error {
	for i := 0; ctx.Err() == nil; i++ {
		if err := h.send(fmt.Sprintf("a LOGIN hostile1 wrong%d\r\n", i)); err != nil {
			return err
		}
		if _, err := h.untilTagged("a"); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// actSearchHangUp selects INBOX, sends a SEARCH of 3,000 NOT TEXT keys
// (each a scan of every message) and hangs up without waiting.
func actSearchHangUp(ctx context.Context, h *hostileConn) error {
	if err := h.selectInbox(); err != nil {
		return err
	}
	return h.send(h.scripts.search)
}

// actStoreKeywords adds 9,000 keywords to every message of INBOX and
// takes them off again, reading the FETCH replies.
func actStoreKeywords(ctx context.Context, h *hostileConn) error {
	if err := h.selectInbox(); err != nil {
		return err
	}
	for ctx.Err() == nil {
		for _, cmd := range []string{h.scripts.storeAdd, h.scripts.storeRemove} {
			if err := h.send(cmd); err != nil {
				return err
			}
			if _, err := h.untilTagged("k"); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// actCreateFlood pipelines CREATEs of new folders.
func actCreateFlood(ctx context.Context, h *hostileConn) error {
	h.drain()
	for i := 0; ctx.Err() == nil; i++ {
		if err := h.send(fmt.Sprintf("c CREATE f%d_%d_%d\r\n", h.slot, h.seq, i)); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// actAppendOverMax, logged in, announces an APPEND one octet over
// max_append with a non-synchronising literal and streams it.
func actAppendOverMax(ctx context.Context, h *hostileConn) error {
	h.drain()
	n := int64(imapd.DefaultMaxAppend) + 1
	for ctx.Err() == nil {
		if err := h.send(fmt.Sprintf("a APPEND INBOX {%d+}\r\n", n)); err != nil {
			return err
		}
		if err := h.stream(n); err != nil {
			return err
		}
		if err := h.send("\r\n"); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// The bounds of issue 9.
const (
	hostileMaxHWM   = 500 << 20 // octets of peak RSS
	hostileMaxProbe = time.Second
)

func BenchmarkHostile(b *testing.B) {
	o := hostileOptions{conns: 1000, duration: 20 * time.Second, messages: 3000}
	if n, err := strconv.Atoi(os.Getenv("IMAPD_HOSTILE_CONNS")); err == nil && n > 0 {
		o.conns = n
	}
	if d, err := time.ParseDuration(os.Getenv("IMAPD_HOSTILE_TIME")); err == nil && d > 0 {
		o.duration = d
	}
	// One run whatever b.N is: the attack lasts its duration, and
	// -benchtime 1x (make bench) asks for exactly one.
	r := runHostile(b, o)
	r.report(b)
	r.check(b)
}

// TestHostileSmoke is BenchmarkHostile at a tenth of the connections for
// 5 s, with the same bounds.
func TestHostileSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the hostile smoke run takes about 10 s")
	}
	r := runHostile(t, hostileOptions{conns: 100, duration: 5 * time.Second, messages: 1000})
	r.report(t)
	r.check(t)
}
