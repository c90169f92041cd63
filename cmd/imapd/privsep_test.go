package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemUsersPrivileges runs the daemon as root with PAM and two real
// system users: each session runs in a process with its user's uid, gid
// and groups; files it creates belong to the user; and a folder a user
// links to the other user's Maildir is refused (and unreadable anyway).
func TestSystemUsersPrivileges(t *testing.T) {
	service, users := pamUsers(t, "ann", "ben")
	addr, daemon, stderr := startPAMDaemon(t, service, "")

	login := func(base string) *dialog {
		t.Helper()
		var c net.Conn
		var err error
		for i := 0; i < 100; i++ {
			if c, err = net.Dial("tcp", addr); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("dial: %v\n%s", err, stderr.String())
		}
		t.Cleanup(func() { c.Close() })
		d := &dialog{t: t, c: c, r: bufio.NewReader(c)}
		if g := d.line(); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("greeting %q", g)
		}
		if out := d.cmd("l", "LOGIN "+users[base].Username+" pw-"+base); !strings.HasPrefix(out[len(out)-1], "l OK") {
			t.Fatalf("login: %q\n%s", out, stderr.String())
		}
		return d
	}
	ann := login("ann")
	ann.ok("a", "APPEND INBOX {6+}\r\nhello\n")
	ann.ok("b", "CREATE Projects")
	// The first login made the default special folders, in the session
	// process ([folders] reaches it too), so they are ann's as well.
	if out := ann.ok("c", `LIST "" Drafts RETURN (SPECIAL-USE)`); !strings.Contains(strings.Join(out, "\n"), `\Drafts) "." Drafts`) {
		t.Fatalf("no Drafts folder made at the first login: %q", out)
	}

	// The session process runs as ann, with ann's groups only.
	pid := sessionProcess(t, daemon.Process.Pid)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	uid, gid := users["ann"].Uid, users["ann"].Gid
	for _, want := range []string{"Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid, "Gid:\t" + gid + "\t" + gid + "\t" + gid + "\t" + gid} {
		if !strings.Contains(string(status), want) {
			t.Fatalf("session process %d is not ann's:\n%s", pid, status)
		}
	}
	// Everything it made belongs to ann.
	mdir := filepath.Join(users["ann"].HomeDir, "Maildir")
	filepath.Walk(mdir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if st := fi.Sys().(*syscall.Stat_t); strconv.Itoa(int(st.Uid)) != uid {
			t.Errorf("%s belongs to uid %d, not ann (%s)", p, st.Uid, uid)
		}
		return nil
	})

	// ben has mail; ann links a folder to ben's Maildir.
	ben := login("ben")
	ben.ok("a", "APPEND INBOX {7+}\r\nsecret\n")
	os.Symlink(filepath.Join(users["ben"].HomeDir, "Maildir"), filepath.Join(mdir, ".Steal"))
	for _, cmd := range []string{"SELECT Steal", "STATUS Steal (MESSAGES)", "APPEND Steal {3+}\r\nx\r\n"} {
		if out := ann.cmd("s", cmd); strings.HasPrefix(out[len(out)-1], "s OK") {
			t.Fatalf("%s through a symlink to another user's Maildir: %q", cmd, out)
		}
	}
	if out := ann.ok("t", `LIST "" *`); strings.Contains(strings.Join(out, "\n"), "Steal") {
		t.Fatalf("LIST shows the symlinked folder: %q", out)
	}
	// Even a path the store would follow is closed by the kernel: ann's
	// process cannot read ben's home.
	if err := exec.Command("runuser", "-u", users["ann"].Username, "--", "ls", filepath.Join(users["ben"].HomeDir, "Maildir")).Run(); err == nil {
		t.Fatal("ann can list ben's Maildir")
	}
	ann.ok("z", "LOGOUT")
}

// pamUsers skips unless the test can make system users (root, passwd's
// tools, a cgo build), then makes a PAM service and a user "ps"+base+suffix
// with password "pw-"+base for each base, all removed at the end.
func pamUsers(t *testing.T, bases ...string) (service string, users map[string]*user.User) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates system users and a PAM service (CI runs as root)")
	}
	for _, tool := range []string{"useradd", "userdel", "chpasswd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian package passwd)", tool)
		}
	}
	if !pamBuilt() {
		t.Skip("binary built without PAM (cgo)")
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	suffix := hex.EncodeToString(rnd[:])
	service = "imapd-privsep-" + suffix
	svcPath := filepath.Join("/etc/pam.d", service)
	if err := os.WriteFile(svcPath, []byte("auth required pam_unix.so nodelay\naccount required pam_unix.so\n"), 0o644); err != nil {
		t.Skipf("cannot write a PAM service: %v", err)
	}
	t.Cleanup(func() { os.Remove(svcPath) })
	users = map[string]*user.User{}
	for _, base := range bases {
		name := "ps" + base + suffix
		run := func(stdin string, args ...string) {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Stdin = strings.NewReader(stdin)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
		run("", "useradd", "-m", "-s", "/bin/sh", name)
		t.Cleanup(func() { exec.Command("userdel", "-r", name).Run() })
		run(name+":pw-"+base+"\n", "chpasswd")
		u, err := user.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(u.HomeDir, 0o700)
		users[base] = u
	}
	return service, users
}

// startPAMDaemon starts the daemon as root with the PAM backend on a
// loopback port; extra is appended to the config's top level (before
// its tables). It is stopped at the end of the test.
func startPAMDaemon(t *testing.T, service, extra string) (addr string, daemon *exec.Cmd, stderr *lockedBuffer) {
	t.Helper()
	cfgDir := t.TempDir()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr = l.Addr().String()
	l.Close()
	cfg := filepath.Join(cfgDir, "imapd.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`listen = [%q]
%s
[auth]
backend = "pam"
pam_service = %q
pam_mail_location = "~/Maildir"
throttle_state = %q
[log]
level = "info"
`, addr, extra, service, filepath.Join(cfgDir, "throttle"))), 0o600)
	daemon = exec.Command(imapdBin, "-config", cfg)
	stderr = &lockedBuffer{}
	daemon.Stderr = stderr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Signal(syscall.SIGTERM); daemon.Wait() })
	return addr, daemon, stderr
}

// sessionProcess finds the child of the daemon that serves a connection.
func sessionProcess(t *testing.T, parent int) int {
	t.Helper()
	kids := childProcesses(parent)
	if len(kids) == 0 {
		t.Fatal("no session process under the daemon")
	}
	return kids[0]
}

// childProcesses lists the processes whose parent is parent.
func childProcesses(parent int) []int {
	var kids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(parent) {
			kids = append(kids, pid)
		}
	}
	return kids
}

// pamBuilt asks the binary whether it has PAM: a config with the pam
// backend and a bad service fails differently when PAM is missing.
func pamBuilt() bool {
	out, _ := exec.Command("go", "env", "CGO_ENABLED").Output()
	return strings.TrimSpace(string(out)) == "1"
}
