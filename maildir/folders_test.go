package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func names(t *testing.T, s *Store) []string {
	t.Helper()
	l, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range l {
		n := f.Name
		if f.NoSelect {
			n += " (noselect)"
		}
		out = append(out, n)
	}
	return out
}

func TestFolderCreateListDelete(t *testing.T) {
	_, s := newStore(t)
	for _, n := range []string{"Sent", "Archive.2024", "Entwürfe", `back\slash`, `quo"te`, "a/b", "100%"} {
		if err := s.Create(n); err != nil {
			t.Fatalf("create %q: %v", n, err)
		}
	}
	// On disk: Maildir++ with modified UTF-7, as Dovecot writes it.
	for _, d := range []string{".Sent", ".Archive.2024", ".Entw&APw-rfe", `.back\slash`, `.quo"te`, ".a%2Fb", ".100%25"} {
		if _, err := os.Stat(filepath.Join(s.Root(), d, "maildirfolder")); err != nil {
			t.Errorf("folder dir %s: %v", d, err)
		}
	}
	want := []string{"INBOX", "100%", "Archive (noselect)", "Archive.2024", "Entwürfe", "Sent", "a/b", `back\slash`, `quo"te`}
	if got := names(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("list:\n got %q\nwant %q", got, want)
	}
	if err := s.Create("Sent"); !errors.Is(err, ErrExists) {
		t.Fatalf("create existing: %v", err)
	}
	if err := s.Create("inbox"); !errors.Is(err, ErrExists) {
		t.Fatalf("create inbox: %v", err)
	}
	if err := s.Delete("INBOX"); !errors.Is(err, ErrCannot) {
		t.Fatalf("delete INBOX: %v", err)
	}
	if err := s.Delete("Nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
	if err := s.Delete("Archive.2024"); err != nil {
		t.Fatal(err)
	}
	if s.Exists("Archive.2024") || s.Exists("Archive") {
		t.Fatal("deleted folder still there")
	}
}

func TestFolderNamesRefused(t *testing.T) {
	_, s := newStore(t)
	for _, n := range []string{"", ".", "..", "a..b", ".hidden", "trail.", "nul\x00x", "cr\rlf", "\xff\xfe", "../../etc"} {
		if err := s.Create(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("create %q: %v, want ErrInvalidName", n, err)
		}
	}
	// "a/b/c" is one level named with slashes: it stays inside.
	if err := s.Create("a/b/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), ".a%2Fb%2Fc", "cur")); err != nil {
		t.Fatalf("escaped dir not where expected: %v", err)
	}
}

func TestSymlinkedFolderRefused(t *testing.T) {
	_, s := newStore(t)
	outside := t.TempDir()
	for _, d := range []string{"cur", "new", "tmp"} {
		os.Mkdir(filepath.Join(outside, d), 0o700)
	}
	if err := os.Symlink(outside, filepath.Join(s.Root(), ".Evil")); err != nil {
		t.Fatal(err)
	}
	if got := names(t, s); !reflect.DeepEqual(got, []string{"INBOX"}) {
		t.Fatalf("symlinked folder listed: %q", got)
	}
	if _, err := s.Select("Evil", SelectOptions{}); !errors.Is(err, ErrOutside) {
		t.Fatalf("select symlinked folder: %v", err)
	}
	if _, err := s.Append("Evil", nil, AppendOptions{}); !errors.Is(err, ErrOutside) {
		t.Fatalf("append to symlinked folder: %v", err)
	}
	if err := s.Create("Evil"); !errors.Is(err, ErrOutside) {
		t.Fatalf("create over symlink: %v", err)
	}
	// A real folder whose cur/ is a link elsewhere is refused too.
	s.Create("Half")
	half := filepath.Join(s.Root(), ".Half")
	os.Remove(filepath.Join(half, "cur"))
	os.Symlink(filepath.Join(outside, "cur"), filepath.Join(half, "cur"))
	if _, err := s.Select("Half", SelectOptions{}); !errors.Is(err, ErrOutside) {
		t.Fatalf("select folder with linked cur: %v", err)
	}
}

func TestRenameWithChildren(t *testing.T) {
	_, s := newStore(t)
	for _, n := range []string{"Work", "Work.2023", "Work.2023.Q1", "Workshop"} {
		if err := s.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append("Work.2023", stringsReader(msg(1)), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename("Work", "Job"); err != nil {
		t.Fatal(err)
	}
	want := []string{"INBOX", "Job", "Job.2023", "Job.2023.Q1", "Workshop"}
	if got := names(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("after rename: %q", got)
	}
	st, err := s.Status("Job.2023")
	if err != nil || st.Messages != 1 {
		t.Fatalf("messages did not follow the rename: %+v %v", st, err)
	}
	if err := s.Rename("Job", "Workshop"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := s.Rename("Job", "Job.Sub"); !errors.Is(err, ErrCannot) || !errors.Is(err, ErrRenameIntoChild) {
		t.Fatalf("rename into itself: %v, want ErrRenameIntoChild (an ErrCannot)", err)
	}
}

func TestRenameInbox(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 3; i++ {
		deliver(t, s.Root(), msg(i))
	}
	if err := s.Rename("INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	in, _ := s.Status("INBOX")
	old, _ := s.Status("Old")
	if in.Messages != 0 || old.Messages != 3 {
		t.Fatalf("INBOX %d, Old %d messages", in.Messages, old.Messages)
	}
}

func TestSubscriptions(t *testing.T) {
	_, s := newStore(t)
	for _, n := range []string{"Sent", "Entwürfe", "Gone"} {
		if err := s.Subscribe(n); err != nil {
			t.Fatal(err)
		}
	}
	s.Subscribe("Sent")
	if err := s.Unsubscribe("Gone"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Subscriptions()
	if want := []string{"Entwürfe", "Sent"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("subscriptions %q", got)
	}
	data, _ := os.ReadFile(filepath.Join(s.Root(), "subscriptions"))
	if string(data) != "Entw&APw-rfe\nSent\n" {
		t.Fatalf("file %q", data)
	}
	// Dovecot's version 2 format, levels joined by tabs.
	os.WriteFile(filepath.Join(s.Root(), "subscriptions"), []byte("V\t2\n\nArchive\t2024\nINBOX\n"), 0o600)
	got, _ = s.Subscriptions()
	if want := []string{"Archive.2024", "INBOX"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("v2 subscriptions %q", got)
	}
}
