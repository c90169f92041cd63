package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRootNeedsUser: the real binary, started as root with the htpasswd
// backend and no user, refuses to start (as a daemon and under inetd)
// with one line naming both ways out; allow_root = true lets it start.
func TestRootNeedsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CI runs as root)")
	}
	cfg, _ := deployConfig(t, "")
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	noUser := filepath.Join(filepath.Dir(cfg), "nouser.toml")
	if err := os.WriteFile(noUser, []byte(strings.Replace(string(body), "allow_root = true\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"daemon", []string{"-config", noUser, "-listen", freeAddr(t)}},
		{"inetd", []string{"-config", noUser, "-inetd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(imapdBin, tc.args...)
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running as root without user:\n%s", stderr.String())
			}
			if err == nil {
				t.Fatalf("exit status 0 as root without user:\n%s", stderr.String())
			}
			out := strings.TrimRight(stderr.String(), "\n")
			if strings.Contains(out, "\n") || !strings.Contains(out, `user = "vmail"`) || !strings.Contains(out, "allow_root = true") {
				t.Fatalf("want one line naming user and allow_root, got:\n%s", out)
			}
		})
	}

	addr := freeAddr(t)
	c, _ := startListening(t, addr, "-config", cfg, "-listen", addr)
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting with allow_root = true: %q", g)
	}
	d.ok("a", "LOGIN alice secret")
	d.ok("b", "LOGOUT")
}

// TestDemoOldConfigAsRoot: a var/imapd.toml from a demo that wrote no
// allow_root (here: edited, so it is not rewritten) still starts under
// -demo as root, which implies allow_root and says so.
func TestDemoOldConfigAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CI runs as root)")
	}
	dir := filepath.Join(t.TempDir(), "var")
	cfgPath, err := setupDemo(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf(demoConfigNoTLS, filepath.Join(dir, "htpasswd"), filepath.Join(dir, "mail", "%u", "Maildir")) + "# mine\n"
	if err := os.WriteFile(cfgPath, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	c, stderr := startListening(t, addr, "-demo", dir, "-listen", addr)
	d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
	if g := d.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	d.ok("a", "LOGIN demo demo")
	d.ok("b", "LOGOUT")
	if got, _ := os.ReadFile(cfgPath); string(got) != old {
		t.Fatalf("the edited demo config was rewritten:\n%s", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stderr.String(), "-demo implies allow_root") {
		if time.Now().After(deadline) {
			t.Fatalf("the demo does not say it runs as root:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
