package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imapd/auth"
	"imapd/imapd"
	"imapd/maildir"
)

// TestStress runs the stress client against a real imapd server started
// in this process (the same Options the daemon builds: htpasswd users,
// a maildir Hub, inotify), with Postfix-style deliveries into user1's
// INBOX. IMAPSTRESS_DURATION (a Go duration) makes it longer,
// IMAPSTRESS_CLIENTS wider, IMAPSTRESS_SEED another; -v prints the whole
// report. Any violation fails it (issue 10).
func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress run skipped in -short mode")
	}
	duration := 30 * time.Second
	if s := os.Getenv("IMAPSTRESS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("IMAPSTRESS_DURATION: %v", err)
		}
		duration = d
	}
	clients := 10
	if s := os.Getenv("IMAPSTRESS_CLIENTS"); s != "" {
		if _, err := fmt.Sscan(s, &clients); err != nil {
			t.Fatalf("IMAPSTRESS_CLIENTS: %v", err)
		}
	}
	seed := uint64(1)
	if s := os.Getenv("IMAPSTRESS_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("IMAPSTRESS_SEED: %v", err)
		}
	}
	dir := t.TempDir()
	users := []string{"user1:pass", "user2:pass", "user3:pass"}
	addr, srv := startServer(t, dir, users)

	cfg, err := NewConfig(addr, users...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clients = clients
	cfg.Duration = duration
	cfg.Seed = seed
	cfg.DeliverDir = filepath.Join(dir, "mail", "user1", "Maildir")
	cfg.DeliverRate = 5
	cfg.Examples = 2
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("stress harness: %v", err)
	}
	var b bytes.Buffer
	rep.WriteText(&b)
	t.Logf("\n%s", b.String())
	if rep.Commands == 0 {
		t.Errorf("no command completed")
	}
	// Loss and content change must never happen, known faults or not.
	for c := range fatalClasses {
		if n := rep.Violations[c]; n > 0 {
			t.Errorf("%d %s violations", n, c)
		}
	}
	if n := srv.RecoveredPanics(); n != 0 {
		t.Errorf("server recovered %d panics", n)
	}
	// Issue 10: every class is zero, as it is against Dovecot.
	if rep.Total != 0 {
		t.Errorf("%d protocol violations: %v", rep.Total, rep.Violations)
	}
}

// startServer serves imapd on a loopback port with the users ("name:pass")
// in an htpasswd file, mail under dir/mail/%u/Maildir.
func startServer(t *testing.T, dir string, users []string) (string, *imapd.Server) {
	t.Helper()
	pw := filepath.Join(dir, "htpasswd")
	err := auth.Update(pw, func(f *auth.File) error {
		f.BcryptCost = 4
		for _, c := range users {
			u, p, _ := strings.Cut(c, ":")
			if err := f.Set(u, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var logw io.Writer = io.Discard
	if testing.Verbose() && os.Getenv("IMAPSTRESS_SERVER_LOG") != "" {
		logw = os.Stderr
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ht, err := auth.NewHtpasswd(auth.HtpasswdOptions{Path: pw, MailLocation: filepath.Join(dir, "mail", "%u", "Maildir"), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hub := maildir.NewHub(maildir.Options{Logger: logger})
	srv := imapd.New(imapd.Options{
		Throttle:  auth.NewThrottle(ht, auth.ThrottleOptions{Logger: logger}),
		OpenStore: func(id auth.Identity) (*maildir.Store, error) { return hub.Open(id.Maildir, true) },
		Logger:    logger,
		// Every client comes from 127.0.0.1: the per-address caps are
		// lifted as the total is.
		Limits: imapd.Limits{MaxConnections: 1000, MaxConnectionsPerIP: 1000, MaxUserConnectionsPerIP: 1000},
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hub.Close()
	})
	return l.Addr().String(), srv
}

// TestIdleMaxFlag: IDLE holds default to 50-500 ms, as before the flag,
// and a hold too short to be an IDLE is refused.
func TestIdleMaxFlag(t *testing.T) {
	cfg, _, err := parseFlags(nil)
	if err != nil || cfg.IdleMax != 500*time.Millisecond {
		t.Fatalf("default -idle-max: %v, %v", cfg.IdleMax, err)
	}
	if cfg, _, err = parseFlags([]string{"-idle-max", "20ms"}); err != nil || cfg.IdleMax != 20*time.Millisecond {
		t.Fatalf("-idle-max 20ms: %v, %v", cfg.IdleMax, err)
	}
	if _, _, err = parseFlags([]string{"-idle-max", "0"}); err == nil {
		t.Fatal("-idle-max 0 accepted")
	}
}
