package contrib_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitsVerify runs systemd-analyze verify on the units, with
// ExecStart pointing at a freshly built imapd (verify checks that the
// command exists). verify exits 0 on an unknown key or a value it
// ignores and only prints a line, so any output at all fails the test:
// a sandboxing line systemd ignores is a hole nobody sees.
func TestSystemdUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "imapd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/imapd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	units, err := filepath.Glob("systemd/*")
	if err != nil || len(units) == 0 {
		t.Fatalf("no units in contrib/systemd: %v", err)
	}
	var args []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "/usr/local/bin/imapd") && strings.HasSuffix(u, ".service") {
			t.Fatalf("%s does not run /usr/local/bin/imapd", u)
		}
		if strings.HasSuffix(u, ".service") {
			for _, want := range sandbox {
				if !hasLine(string(b), want) {
					t.Errorf("%s lacks %q", u, want)
				}
			}
		}
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/imapd", bin))
		name := filepath.Base(u)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "@.service") {
			name = strings.Replace(name, "@.service", "@1.service", 1)
		}
		args = append(args, filepath.Join(dir, name))
	}
	cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// sandbox are the settings every service unit must keep: the file system
// read-only but for the mail and /run/imapd, no new privileges by execve
// (pam_unix runs as root, so no setuid helper is needed), only IP and
// Unix sockets.
var sandbox = []string{
	"ProtectSystem=strict",
	"ReadWritePaths=-/var/vmail -/home",
	"RuntimeDirectory=imapd",
	"PrivateTmp=yes",
	"NoNewPrivileges=yes",
	"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
	"ProtectHome=no",
	"ProtectKernelTunables=yes",
	"ProtectControlGroups=yes",
	"LockPersonality=yes",
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
