package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"imapd/internal/atomicfile"
)

// keywordsFile is Dovecot's per-folder file that maps the keyword letters
// a-z of Maildir file names to keyword names ("0 $Junk" means letter a).
const keywordsFile = "dovecot-keywords"

// keywordTable is the letter map of one folder. It is read and written
// only under the folder lock, and re-read when the file changed on disk.
type keywordTable struct {
	path  string
	names [26]string // index 0 is letter 'a'; "" is a free letter
	stamp fileStamp  // of the file as last read or written
	known bool       // stamp is of the file as it was (zero: missing)
	log   *slog.Logger
}

func (t *keywordTable) load() error {
	st, err := stampOf(t.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if st == t.stamp && t.known {
		return nil
	}
	t.names = [26]string{}
	t.stamp, t.known = st, true
	data, err := readRegular(t.path)
	if isNotRegular(err) {
		// A link or FIFO under the name: never read through it (a link
		// to a secret would turn its lines into keyword names). The
		// folder has no keyword letters until we write the file, by a
		// rename that replaces the link.
		t.log.Warn("keyword file is not a regular file, ignoring it", "path", t.path)
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		idx, name, ok := strings.Cut(strings.TrimRight(sc.Text(), "\r"), " ")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil || n < 0 || n >= 26 || name == "" {
			continue
		}
		t.names[n] = name
	}
	return nil
}

// letter returns the letter assigned to a keyword, if any.
func (t *keywordTable) letter(name string) (byte, bool) {
	for i, n := range t.names {
		if n != "" && strings.EqualFold(n, name) {
			return byte('a' + i), true
		}
	}
	return 0, false
}

// assign gives name a letter, writing the file if it had to add one. It
// returns false when all 26 letters are taken.
func (t *keywordTable) assign(name string) (byte, bool, error) {
	if l, ok := t.letter(name); ok {
		return l, true, nil
	}
	for i, n := range t.names {
		if n == "" {
			t.names[i] = name
			if err := t.save(); err != nil {
				t.names[i] = ""
				return 0, false, err
			}
			return byte('a' + i), true, nil
		}
	}
	return 0, false, nil
}

func (t *keywordTable) name(letter byte) string {
	if letter < 'a' || letter > 'z' {
		return ""
	}
	return t.names[letter-'a']
}

func (t *keywordTable) save() error {
	var b bytes.Buffer
	for i, n := range t.names {
		if n != "" {
			fmt.Fprintf(&b, "%d %s\n", i, n)
		}
	}
	if err := atomicfile.WriteFileNoFollow(t.path, b.Bytes(), 0o600); err != nil {
		return err
	}
	st, err := stampOf(t.path)
	if err != nil {
		return err
	}
	t.stamp, t.known = st, true
	return nil
}

// fileStamp identifies one version of a small file we re-read when it
// changes: an atomic replace changes the inode, an edit the size or mtime.
type fileStamp struct {
	ino   uint64
	size  int64
	mtime int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Lstat(path) // a link is stamped as itself, never followed
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{ino: inodeOf(fi), size: fi.Size(), mtime: fi.ModTime().UnixNano()}, nil
}
