package maildir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestRenameMessageNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for p, text := range map[string]string{a: "first", b: "second"} {
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := renameMessage(a, b); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("rename onto an existing file: %v, want it refused with EEXIST", err)
	}
	for p, text := range map[string]string{a: "first", b: "second"} {
		if got, err := os.ReadFile(p); err != nil || string(got) != text {
			t.Errorf("%s after the refused rename: %q, %v; want %q", filepath.Base(p), got, err, text)
		}
	}
	c := filepath.Join(dir, "c")
	if err := renameMessage(a, c); err != nil {
		t.Fatalf("rename to a free name: %v", err)
	}
	if got, err := os.ReadFile(c); err != nil || string(got) != "first" {
		t.Fatalf("renamed file: %q, %v", got, err)
	}
	if _, err := os.Lstat(a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old name still there: %v", err)
	}
	if err := renameMessage(a, filepath.Join(dir, "d")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("rename of a missing file: %v, want ErrNotExist", err)
	}
}

// Where a hard link fails (another file system, a link-protected file), a
// COPY writes the bytes anew; the copy keeps the internal date, flags and
// content all the same (RFC 3501 §6.4.7).
func TestCopyByBytesKeepsInternalDate(t *testing.T) {
	_, s := newStore(t)
	if err := s.Create("Archive"); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2019, 7, 4, 9, 30, 15, 0, time.UTC)
	body := "Subject: old\r\n\r\nfrom long ago\r\n"
	a, err := s.Append("INBOX", stringsReader(body), AppendOptions{Flags: FlagFlagged, Date: date})
	if err != nil {
		t.Fatal(err)
	}
	links := 0
	linkFile = func(string, string) error { links++; return &os.LinkError{Op: "link", Err: syscall.EXDEV} }
	t.Cleanup(func() { linkFile = os.Link })
	m := mustSelect(t, s, "INBOX")
	c, err := m.Copy([]uint32{a.UID}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if links != 1 || len(c.DstUIDs) != 1 {
		t.Fatalf("copy %+v after %d link attempts", c, links)
	}
	arch := mustSelect(t, s, "Archive")
	got := arch.Message(c.DstUIDs[0])
	if !got.InternalDate.Equal(date) || got.Flags != FlagFlagged {
		t.Errorf("copy: internal date %v flags %v, want %v and \\Flagged", got.InternalDate, got.Flags, date)
	}
	if sz, _ := arch.Size(c.DstUIDs[0]); sz != a.Size {
		t.Errorf("copy: size %d, want %d", sz, a.Size)
	}
	if texts := contents(t, arch); texts[c.DstUIDs[0]] != body {
		t.Errorf("copy: content %q, want %q", texts[c.DstUIDs[0]], body)
	}
	// The copy is a file of its own, not a link.
	src, _ := filepath.Glob(filepath.Join(s.Root(), "cur", "*"))
	dst, _ := filepath.Glob(filepath.Join(s.Root(), ".Archive", "cur", "*"))
	if len(src) != 1 || len(dst) != 1 {
		t.Fatalf("files: %v %v", src, dst)
	}
	fs1, _ := os.Stat(src[0])
	fs2, _ := os.Stat(dst[0])
	if os.SameFile(fs1, fs2) {
		t.Error("the copy is a hard link, the byte-copy path was not taken")
	}
}
