package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The tests run imapctl as a real process, built once by TestMain.
var imapctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imapctl-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	imapctlBin = filepath.Join(dir, "imapctl")
	build := exec.Command("go", "build", "-o", imapctlBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building imapctl:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of imapctl did.
type result struct {
	stdout, stderr string
	code           int
}

// fixture is a configuration with its htpasswd file and vmail tree in a
// temporary directory.
type fixture struct {
	t      *testing.T
	dir    string
	config string
	passwd string
	vmail  string
}

// newFixture writes a configuration whose mail location is
// <dir>/vmail/<mailLocation>; "" means "%u/Maildir".
func newFixture(t *testing.T, mailLocation string) *fixture {
	t.Helper()
	if mailLocation == "" {
		mailLocation = "%u/Maildir"
	}
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir,
		config: filepath.Join(dir, "imapd.toml"),
		passwd: filepath.Join(dir, "htpasswd"),
		vmail:  filepath.Join(dir, "vmail"),
	}
	if err := os.Mkdir(f.vmail, 0o755); err != nil {
		t.Fatal(err)
	}
	// Keys imapctl does not use are there as in a real file.
	conf := fmt.Sprintf(`listen = ["127.0.0.1:1143"]
allow_plaintext = false

[auth]
htpasswd = %q
mail_location = %q

[limits]
idle_timeout = "30m"
`, f.passwd, filepath.Join(f.vmail, mailLocation))
	if err := os.WriteFile(f.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// ctl runs imapctl with the fixture's configuration.
func (f *fixture) ctl(stdin string, args ...string) result {
	f.t.Helper()
	return runCtl(f.t, stdin, append([]string{"-config", f.config}, args...)...)
}

// mustCtl runs imapctl and fails the test unless it exits 0.
func (f *fixture) mustCtl(stdin string, args ...string) result {
	f.t.Helper()
	r := f.ctl(stdin, args...)
	if r.code != 0 || r.stderr != "" {
		f.t.Fatalf("imapctl %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// addUser adds a user with a password.
func (f *fixture) addUser(name, password string) {
	f.t.Helper()
	f.mustCtl(password+"\n", "user", "add", "--password-stdin", name)
}

// runCtl runs imapctl in a new session, so that it has no controlling
// terminal (and cannot ask one for a password).
func runCtl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(imapctlBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running imapctl: %v", err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// wantError checks a failed run: the exit status and one line on stderr
// holding want.
func wantError(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "imapctl: ") || !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q is not one line starting \"imapctl: \"", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q does not say %q", r.stderr, want)
	}
}

// mkMaildir makes cur/, new/ and tmp/ under dir.
func mkMaildir(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
