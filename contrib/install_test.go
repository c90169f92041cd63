// Package contrib_test checks `make install`, which puts the files of
// this directory in place.
package contrib_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMakeInstall runs `make install DESTDIR=tmp PREFIX=/usr`, as a
// Debian package build would, and checks that every file lands under
// DESTDIR with its mode, that the units run the binary from PREFIX, and
// that nothing reached the real paths the same install without DESTDIR
// would write.
func TestMakeInstall(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed (Debian package make)")
	}
	if _, err := exec.LookPath("install"); err != nil {
		t.Skip("install not installed (Debian package coreutils)")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()

	want := map[string]os.FileMode{
		"usr/bin/imapd":                0o755,
		"usr/bin/imapctl":              0o755,
		"etc/imapd/imapd.toml.example": 0o644,
		"etc/pam.d/imapd":              0o644,
	}
	same := map[string]string{ // installed file -> source it must equal
		"etc/imapd/imapd.toml.example": "imapd.toml.example",
		"etc/pam.d/imapd":              "contrib/pam.d/imapd",
	}
	units, err := filepath.Glob(filepath.Join(root, "contrib/systemd/*"))
	if err != nil || len(units) == 0 {
		t.Fatalf("no units in contrib/systemd: %v", err)
	}
	for _, u := range units {
		want["usr/lib/systemd/system/"+filepath.Base(u)] = 0o644
	}
	// The paths an install without DESTDIR would write.
	var real []string
	for p := range want {
		real = append(real, "/"+p)
	}
	real = append(real, "/etc/imapd", "/lib/systemd/system/imapd.service")
	before := snapshot(real)

	cmd := exec.Command(mk, "-C", root, "install", "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}

	found := map[string]bool{}
	err = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dest, p)
		mode, ok := want[rel]
		if !ok {
			t.Errorf("unexpected file %s installed", rel)
			return nil
		}
		found[rel] = true
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode(), mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range want {
		if !found[p] {
			t.Errorf("%s not installed", p)
		}
	}
	for inst, src := range same {
		a, _ := os.ReadFile(filepath.Join(dest, inst))
		b, _ := os.ReadFile(filepath.Join(root, src))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s", inst, src)
		}
	}
	for _, u := range units {
		b, _ := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system", filepath.Base(u)))
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "ExecStart=") && !strings.HasPrefix(l, "ExecStart=/usr/bin/imapd ") {
				t.Errorf("%s: %q does not run PREFIX's binary /usr/bin/imapd", filepath.Base(u), l)
			}
		}
	}
	if after := snapshot(real); after != before {
		t.Errorf("make install with DESTDIR changed files outside it:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot describes whether each path exists, its mtime and mode.
func snapshot(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			b.WriteString(p + ": absent; ")
			continue
		}
		b.WriteString(p + ": " + fi.ModTime().Format(time.RFC3339Nano) + " " + fi.Mode().String() + "; ")
	}
	return b.String()
}
