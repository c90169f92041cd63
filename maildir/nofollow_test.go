package maildir

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The Maildir is its user's: whatever they plant there (a link to a file
// only the daemon may read, a FIFO, a directory) must never be served as
// a message, read as a keyword or sidecar file, written through, or block
// a session. These tests plant each and fail if a secret reaches a
// Message or a reader, a victim file changes, or a call hangs.

const secret = "root:$6$SECRET-SHADOW-LINE$:19000:0:99999:7:::\n"

// secretFile returns a file outside the Maildir holding secret.
func secretFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(p, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSecret fails if any message of m, by content, structure or metadata,
// shows the secret, or if the folder holds other than want messages.
func noSecret(t *testing.T, m *Mailbox, want int) {
	t.Helper()
	if err := m.Refresh(true); err != nil {
		t.Fatal(err)
	}
	uids := m.UIDs()
	if len(uids) != want {
		t.Fatalf("folder holds %d messages (%v), want %d", len(uids), uids, want)
	}
	for uid, c := range contents(t, m) {
		if strings.Contains(c, "SECRET") {
			t.Fatalf("uid %d serves the secret: %q", uid, c)
		}
	}
	for _, uid := range uids {
		if p, err := m.Structure(uid); err != nil {
			t.Fatalf("structure of %d: %v", uid, err)
		} else if p.HeaderSize+p.BodySize == int64(len(secret)) {
			t.Fatalf("uid %d has the secret's size", uid)
		}
	}
	for _, k := range m.Keywords() {
		if strings.Contains(k, "SECRET") || strings.Contains(k, "root") {
			t.Fatalf("keyword %q from the secret", k)
		}
	}
}

// unchanged fails unless the file at p holds want.
func unchanged(t *testing.T, p, want string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Fatalf("victim %s was written: %q", p, b)
	}
}

// regularFile fails unless p is a regular file (not a link).
func regularFile(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() {
		t.Fatalf("%s is %v, want a regular file", p, fi.Mode())
	}
}

// bounded runs fn and fails the test if it does not return within d (a
// FIFO opened for reading blocks until a writer comes).
func bounded(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v: blocked on a FIFO?", what, d)
	}
}

func TestSymlinkedMessageNotServed(t *testing.T) {
	for _, sub := range []string{"cur", "new"} {
		for _, after := range []bool{false, true} {
			name := sub + "/before-first-scan"
			if after {
				name = sub + "/after-first-scan"
			}
			t.Run(name, func(t *testing.T) {
				_, s := newStore(t)
				deliver(t, s.Root(), msg(1))
				var m *Mailbox
				if after {
					m = mustSelect(t, s, "INBOX")
				}
				link := filepath.Join(s.Root(), sub, "1796190000.M9P9.evil,S=100:2,S")
				if sub == "new" {
					link = filepath.Join(s.Root(), sub, "1796190000.M9P9.evil")
				}
				if err := os.Symlink(secretFile(t), link); err != nil {
					t.Fatal(err)
				}
				if m == nil {
					m = mustSelect(t, s, "INBOX")
				}
				noSecret(t, m, 1)
				for _, c := range m.Changes() {
					if c.Kind == Added {
						t.Fatalf("the link was announced as message %d", c.UID)
					}
				}
				// Another process, starting from the disk, sees the same.
				noSecret(t, mustSelect(t, reopen(t, s), "INBOX"), 1)
				if _, err := os.Lstat(link); err != nil && sub == "cur" {
					t.Fatalf("the link was removed: %v", err)
				}
			})
		}
	}
}

// TestMessageReplacedByLink: a message's file, after it got its UID, is
// replaced by a link under the same name. Opening it must not follow the
// link: the message is gone, and COPY does not carry the link along.
func TestMessageReplacedByLink(t *testing.T) {
	_, s := newStore(t)
	deliver(t, s.Root(), msg(1))
	deliver(t, s.Root(), msg(2))
	if err := s.Create("Other"); err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, s, "INBOX")
	uids := m.UIDs()
	fs := files(t, s.Root())
	var victim string
	for name, c := range fs {
		if strings.Contains(c, "message 1") {
			victim = filepath.Join(s.Root(), name)
		}
	}
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secretFile(t), victim); err != nil {
		t.Fatal(err)
	}
	// Open and COPY before any refresh: the record still names the file.
	if fh, err := m.Open(uids[0]); err == nil {
		b, _ := readAll(fh)
		fh.Close()
		t.Fatalf("opened through the link: %q", b)
	} else if !errors.Is(err, ErrExpunged) {
		t.Fatalf("open: %v, want ErrExpunged", err)
	}
	if _, err := m.Copy(uids, "Other"); err != nil {
		t.Fatal(err)
	}
	o := mustSelect(t, s, "Other")
	noSecret(t, o, 1)
	noSecret(t, m, 1)
}

func TestFIFOInCurNeverOpened(t *testing.T) {
	_, s := newStore(t)
	deliver(t, s.Root(), msg(1))
	m := mustSelect(t, s, "INBOX")
	fifo := filepath.Join(s.Root(), "cur", "1796190000.M9P9.fifo,S=100:2,S")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	bounded(t, 5*time.Second, "refresh, open, structure and check", func() {
		noSecret(t, m, 1)
		if err := m.Check(); err != nil {
			t.Error(err)
		}
		noSecret(t, mustSelect(t, reopen(t, s), "INBOX"), 1)
	})
	// A recorded message's file replaced by a FIFO: gone, not a hang.
	// Its UID is taken first: the watcher may see the file go at once.
	uid := m.UIDs()[0]
	ents, err := os.ReadDir(filepath.Join(s.Root(), "cur"))
	if err != nil {
		t.Fatal(err)
	}
	p := ""
	for _, e := range ents {
		if e.Type().IsRegular() {
			p = filepath.Join(s.Root(), "cur", e.Name())
		}
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	bounded(t, 5*time.Second, "open of a message replaced by a FIFO", func() {
		if fh, err := m.Open(uid); err == nil {
			fh.Close()
			t.Error("opened a FIFO as a message")
		}
		if err := m.Check(); err != nil {
			t.Error(err)
		}
	})
}

func TestDirectoryNamedLikeMessage(t *testing.T) {
	_, s := newStore(t)
	deliver(t, s.Root(), msg(1))
	if err := os.Mkdir(filepath.Join(s.Root(), "cur", "1796190000.M9P9.dir,S=100:2,S"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(s.Root(), "new", "1796190001.M9P9.dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, s, "INBOX")
	noSecret(t, m, 1)
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestSymlinkedKeywordsFile(t *testing.T) {
	_, s := newStore(t)
	deliver(t, s.Root(), msg(1))
	// The victim is in the keyword file's own format: read through the
	// link, its line would become keyword "root-SECRET".
	victim := filepath.Join(t.TempDir(), "victim")
	const was = "0 root-SECRET\n"
	if err := os.WriteFile(victim, []byte(was), 0o600); err != nil {
		t.Fatal(err)
	}
	kw := filepath.Join(s.Root(), keywordsFile)
	if err := os.Symlink(victim, kw); err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, s, "INBOX")
	noSecret(t, m, 1)
	uid := m.UIDs()[0]
	if _, _, err := m.SetFlags([]uint32{uid}, FlagsAdd, 0, []string{"project-x"}, 0); err != nil {
		t.Fatal(err)
	}
	unchanged(t, victim, was)
	regularFile(t, kw)
	for _, mb := range []*Mailbox{m, mustSelect(t, reopen(t, s), "INBOX")} {
		if got := mb.Message(uid).Keywords; !reflect.DeepEqual(got, []string{"project-x"}) {
			t.Fatalf("keywords %q, want [project-x]", got)
		}
		noSecret(t, mb, 1)
	}
}

func TestSymlinkedSidecars(t *testing.T) {
	for _, name := range []string{sidecarFile, cacheFile, lockFile} {
		for _, after := range []bool{false, true} {
			tn := name + "/new-folder"
			if after {
				tn = name + "/existing-folder"
			}
			t.Run(tn, func(t *testing.T) {
				_, s := newStore(t)
				deliver(t, s.Root(), msg(1))
				p := filepath.Join(s.Root(), name)
				if after {
					m := mustSelect(t, s, "INBOX")
					if _, err := m.Structure(m.UIDs()[0]); err != nil {
						t.Fatal(err)
					}
					m.Close()
					s = reopen(t, s)
					os.Remove(p)
				}
				victim := secretFile(t)
				if err := os.Symlink(victim, p); err != nil {
					t.Fatal(err)
				}
				// A dangling link must not create the file it names.
				dangling := filepath.Join(t.TempDir(), "created")
				if name == lockFile {
					os.Remove(p)
					if err := os.Symlink(dangling, p); err != nil {
						t.Fatal(err)
					}
				}
				m := mustSelect(t, s, "INBOX")
				uid := m.UIDs()[0]
				if _, _, err := m.SetFlags([]uint32{uid}, FlagsAdd, FlagSeen, []string{"kw"}, 0); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Append("INBOX", stringsReader(msg(2)), AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				noSecret(t, m, 2)
				noSecret(t, mustSelect(t, reopen(t, s), "INBOX"), 2)
				unchanged(t, victim, secret)
				if _, err := os.Lstat(dangling); err == nil {
					t.Fatal("a dangling lock link created its target")
				}
				regularFile(t, p)
				if got := m.Message(uid); got.Flags != FlagSeen || !slices.Equal(got.Keywords, []string{"kw"}) {
					t.Fatalf("message %+v", got)
				}
			})
		}
	}
}

func TestSymlinkedSubscriptions(t *testing.T) {
	_, s := newStore(t)
	victim := filepath.Join(t.TempDir(), "victim")
	const was = "SECRET-root\n"
	if err := os.WriteFile(victim, []byte(was), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Root(), subscriptionsFile)
	if err := os.Symlink(victim, p); err != nil {
		t.Fatal(err)
	}
	if subs, err := s.Subscriptions(); err != nil || len(subs) != 0 {
		t.Fatalf("subscriptions %q, %v: read through the link", subs, err)
	}
	if err := s.Subscribe("Sent"); err != nil {
		t.Fatal(err)
	}
	unchanged(t, victim, was)
	regularFile(t, p)
	if subs, err := s.Subscriptions(); err != nil || !slices.Equal(subs, []string{"Sent"}) {
		t.Fatalf("subscriptions %q, %v", subs, err)
	}
}

// TestOddFileLoggedOnce: a link in cur/ is logged when first listed, not
// at every listing.
func TestOddFileLoggedOnce(t *testing.T) {
	var logs syncBuffer
	h := NewHub(Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	t.Cleanup(func() { h.Close() })
	s, err := h.Open(filepath.Join(t.TempDir(), "Maildir"), true)
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, s.Root(), msg(1))
	if err := os.Symlink(secretFile(t), filepath.Join(s.Root(), "cur", "1796190000.M9P9.evil:2,S")); err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, s, "INBOX")
	for range 3 {
		if err := m.Refresh(true); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "evil"); n != 1 {
		t.Fatalf("the link was logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestOnlyLinksNotMarked: a folder never opened whose new/ holds only a
// link and a FIFO has no message, so LIST does not call it \Marked.
func TestOnlyLinksNotMarked(t *testing.T) {
	_, s := newStore(t)
	if err := s.Create("Planted"); err != nil {
		t.Fatal(err)
	}
	dir, err := s.FolderDir("Planted")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secretFile(t), filepath.Join(dir, "new", "1796190000.M9P9.evil")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "new", "1796190001.M9P9.fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if marked, err := reopen(t, s).Marked("Planted"); err != nil || marked {
		t.Fatalf("Marked = %v, %v; want false", marked, err)
	}
}

// TestOpenRegularStatusFlags: a descriptor from openRegular is in
// blocking mode, and keeps O_APPEND when opened with it (the sidecar's
// appends rely on it).
func TestOpenRegularStatusFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, flag := range []int{os.O_WRONLY | os.O_APPEND | os.O_CREATE, os.O_RDONLY, os.O_RDWR | os.O_CREATE} {
		fh, err := openRegular(path, flag, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		got, err := unix.FcntlInt(fh.Fd(), unix.F_GETFL, 0)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got&unix.O_NONBLOCK != 0 || (got&unix.O_APPEND != 0) != (flag&os.O_APPEND != 0) {
			t.Errorf("open flags %#o: status flags %#o", flag, got)
		}
	}
}
