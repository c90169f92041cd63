package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	return m, s
}

// ttyScreen collects what the terminal shows.
type ttyScreen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *ttyScreen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *ttyScreen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want n times.
func (s *ttyScreen) waitFor(t *testing.T, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(s.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("terminal never showed %q; it shows %q", want, s.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// typeOnTerminal runs imapctl with a terminal as stdin and stderr and
// types the answers after the prompts.
func typeOnTerminal(t *testing.T, answers []string, args ...string) (r result, screen string) {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(imapctlBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &out, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	scr := &ttyScreen{}
	copied := make(chan struct{})
	go func() {
		io.Copy(scr, master) // ends with EIO when the child is gone
		close(copied)
	}()
	for i, a := range answers {
		// imapctl turns echo off before it prompts, so typing right
		// after the prompt must not show.
		scr.waitFor(t, "Password", i+1)
		master.Write([]byte(a + "\n"))
	}
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	<-copied
	errb.WriteString(scr.String())
	return result{stdout: out.String(), stderr: errb.String(), code: code}, scr.String()
}

func TestPasswordOnTerminal(t *testing.T) {
	f := newFixture(t, "")
	r, screen := typeOnTerminal(t, []string{"t0p-secret", "t0p-secret"}, "-config", f.config, "user", "add", "alice")
	if r.code != 0 {
		t.Fatalf("user add on a terminal: exit %d, screen %q", r.code, screen)
	}
	if !strings.Contains(screen, "Password: ") || !strings.Contains(screen, "Password again: ") {
		t.Errorf("prompts missing: %q", screen)
	}
	if strings.Contains(screen, "t0p-secret") {
		t.Errorf("the password was echoed: %q", screen)
	}
	if r := f.ctl("t0p-secret\n", "user", "verify", "--password-stdin", "alice"); r.stdout != "ok\n" {
		t.Errorf("verify after terminal add: %q %q", r.stdout, r.stderr)
	}

	r, screen = typeOnTerminal(t, []string{"one", "two"}, "-config", f.config, "user", "passwd", "alice")
	if r.code != 1 || !strings.Contains(screen, "imapctl: user passwd: the passwords do not match\r\n") {
		t.Errorf("mismatched passwords: exit %d, screen %q", r.code, screen)
	}

	r, _ = typeOnTerminal(t, []string{"t0p-secret"}, "-config", f.config, "user", "verify", "alice")
	if r.code != 0 || r.stdout != "ok\n" {
		t.Errorf("verify on a terminal: exit %d stdout %q", r.code, r.stdout)
	}
}
