package auth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestFileEditsKeepOtherLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	orig := strings.Join([]string{
		"# managed by imapctl",
		"alice:{SHA}VBPuJHI7uixaa6LQGWx4s+5GKNE=",
		"",
		"  # an indented comment",
		"some line we do not understand",
		"bob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\r",
		"carol:plaintext-left-alone",
		"alice:{SHA}duplicate",
		".weird:kept as it is",
	}, "\n") // no final newline
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Users(), []string{"alice", "bob", "carol"}; !slices.Equal(got, want) {
		t.Fatalf("Users() = %q, want %q", got, want)
	}
	f.BcryptCost = bcrypt.MinCost
	if err := f.Set("alice", "new-alice"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("dave@example.org", "new-dave"); err != nil {
		t.Fatal(err)
	}
	if !f.Delete("bob") || f.Delete("nobody") {
		t.Fatal("Delete reported wrongly")
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bcryptRE := regexp.MustCompile(`\$2a\$04\$[./A-Za-z0-9]{53}`)
	got := bcryptRE.ReplaceAllString(string(data), "HASH")
	want := strings.Join([]string{
		"# managed by imapctl",
		"alice:HASH",
		"",
		"  # an indented comment",
		"some line we do not understand",
		"carol:plaintext-left-alone",
		".weird:kept as it is",
		"dave@example.org:HASH",
	}, "\n") + "\n"
	if got != want {
		t.Fatalf("saved file:\n%s\nwant:\n%s", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode not kept: %v %v", fi.Mode(), err)
	}

	// The backend accepts what the writer wrote.
	h, err := NewHtpasswd(HtpasswdOptions{Path: path, MailLocation: "/m/%u", Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	for user, pw := range map[string]string{"alice": "new-alice", "dave@example.org": "new-dave"} {
		if _, err := h.Authenticate(context.Background(), user, pw); err != nil {
			t.Errorf("%s: %v", user, err)
		}
	}
}

func TestFileSetSHA512Crypt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := Update(path, func(f *File) error {
		f.Scheme = SHA512Crypt
		return f.Set("alice", "pw")
	}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "alice:$6$") {
		t.Fatalf("file holds %q", data)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("a new file should be 0640: %v %v", fi.Mode(), err)
	}
	h, err := NewHtpasswd(HtpasswdOptions{Path: path, MailLocation: "/m/%u", Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Authenticate(context.Background(), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
}

func TestFileSetRefuses(t *testing.T) {
	f := &File{path: filepath.Join(t.TempDir(), "htpasswd"), BcryptCost: bcrypt.MinCost}
	for _, user := range []string{"", "a:b", " a", "a ", ".a", "a/b", "a\nb", strings.Repeat("x", MaxUsernameLen+1)} {
		if err := f.Set(user, "pw"); !errors.Is(err, ErrInvalidUsername) {
			t.Errorf("Set(%q) = %v, want ErrInvalidUsername", user, err)
		}
	}
	if err := f.Set("alice", ""); err == nil {
		t.Error("empty password accepted")
	}
	if len(f.Users()) != 0 {
		t.Errorf("refused Sets left users %q", f.Users())
	}
}

func TestLoadFileMissing(t *testing.T) {
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFile of a missing file: %v", err)
	}
}

// A File loaded, then changed on disk by another writer, is not saved over
// that change.
func TestFileSaveDetectsConcurrentChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeLines(t, path, "alice:"+cheapBcrypt(t, "a"))
	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Update(path, func(g *File) error {
		g.BcryptCost = bcrypt.MinCost
		return g.Set("bob", "b")
	}); err != nil {
		t.Fatal(err)
	}
	f.BcryptCost = bcrypt.MinCost
	if err := f.Set("carol", "c"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); !errors.Is(err, ErrModified) {
		t.Fatalf("Save over a changed file: %v, want ErrModified", err)
	}
	g, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Users(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("users %q", got)
	}
	// Saving twice in a row is fine: Save refreshes what it compares with.
	g.BcryptCost = bcrypt.MinCost
	if err := g.Set("carol", "c"); err != nil {
		t.Fatal(err)
	}
	if err := g.Save(); err != nil {
		t.Fatal(err)
	}
	if err := g.Save(); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateErrorSavesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	boom := errors.New("boom")
	if err := Update(path, func(f *File) error {
		f.BcryptCost = bcrypt.MinCost
		if err := f.Set("alice", "a"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed Update wrote the file: %v", err)
	}
}

const helperEnv = "IMAPD_AUTH_TEST_UPDATE"

// TestUpdateHelperProcess is not a test: TestUpdateConcurrent runs the test
// binary again with helperEnv set, as a second process adding users.
func TestUpdateHelperProcess(t *testing.T) {
	spec := os.Getenv(helperEnv) // path|prefix|count
	if spec == "" {
		t.Skip("helper process only")
	}
	parts := strings.Split(spec, "|")
	n, _ := strconv.Atoi(parts[2])
	for i := range n {
		if err := addUser(parts[0], fmt.Sprintf("%s%d", parts[1], i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

func addUser(path, user string) error {
	return Update(path, func(f *File) error {
		f.BcryptCost = bcrypt.MinCost
		return f.Set(user, "pw-"+user)
	})
}

// Goroutines and another process add users at the same time; none is lost.
func TestUpdateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeLines(t, path, "# users")
	const goroutines, each, childUsers = 4, 10, 20

	child := exec.Command(os.Args[0], "-test.run=^TestUpdateHelperProcess$", "-test.count=1")
	child.Env = append(os.Environ(), fmt.Sprintf("%s=%s|child|%d", helperEnv, path, childUsers))
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}

	// Start the goroutines once the child is writing, so that they overlap.
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), "child0:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the helper process wrote nothing")
		}
		time.Sleep(time.Millisecond)
	}

	var want []string
	var wg sync.WaitGroup
	for g := range goroutines {
		for i := range each {
			want = append(want, fmt.Sprintf("g%d-%d", g, i))
		}
		wg.Go(func() {
			for i := range each {
				if err := addUser(path, fmt.Sprintf("g%d-%d", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := child.Wait(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	for i := range childUsers {
		want = append(want, fmt.Sprintf("child%d", i))
	}

	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := f.Users()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("after concurrent updates: %d users %q\nwant %d", len(got), got, len(want))
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# users\n") {
		t.Fatal("the comment line was lost")
	}
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 { // htpasswd and htpasswd.lock, no temp files
		t.Fatalf("directory holds %d entries", len(ents))
	}
}
