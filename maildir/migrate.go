package maildir

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// migration is what another server's UID list tells about a folder.
type migration struct {
	source      string
	uidValidity uint32
	uidNext     uint32
	uids        map[string]uint32 // base name -> UID
	keywords    [26]string        // unused: dovecot-keywords is read in place
}

// readMigration looks for Dovecot's dovecot-uidlist (versions 1 and 3)
// and Courier's courierimapuiddb (versions 1 and 2) in dir. Dovecot's
// keyword letters need no import: we read its dovecot-keywords file as it
// is. nil, nil means neither file is there.
func readMigration(dir string) (*migration, error) {
	for _, name := range []string{"dovecot-uidlist", "courierimapuiddb"} {
		m, err := readUIDList(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		m.source = name
		return m, nil
	}
	return nil, nil
}

// ReadForeignUIDs is readMigration for the CLI's import-uids command.
func ReadForeignUIDs(dir string) (source string, uidValidity, uidNext uint32, uids map[string]uint32, err error) {
	m, err := readMigration(dir)
	if err != nil || m == nil {
		return "", 0, 0, nil, err
	}
	return m.source, m.uidValidity, m.uidNext, m.uids, nil
}

func readUIDList(path string) (*migration, error) {
	fh, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("%s: empty", path)
	}
	head := strings.Fields(sc.Text())
	if len(head) == 0 {
		return nil, fmt.Errorf("%s: empty header", path)
	}
	m := &migration{uids: map[string]uint32{}}
	version := head[0]
	switch version {
	case "1", "2":
		if len(head) < 3 {
			return nil, fmt.Errorf("%s: short header", path)
		}
		m.uidValidity = parseU32(head[1])
		m.uidNext = parseU32(head[2])
	case "3":
		for _, f := range head[1:] {
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case 'V':
				m.uidValidity = parseU32(f[1:])
			case 'N':
				m.uidNext = parseU32(f[1:])
			}
		}
	default:
		return nil, fmt.Errorf("%s: unknown version %q", path, version)
	}
	if m.uidValidity == 0 {
		return nil, fmt.Errorf("%s: no UIDVALIDITY", path)
	}
	for sc.Scan() {
		line := sc.Text()
		var uid uint32
		var file string
		switch version {
		case "3":
			i := strings.IndexByte(line, ':')
			f := strings.Fields(line[:max(i, 0)])
			if i < 0 || len(f) == 0 {
				continue
			}
			uid, file = parseU32(f[0]), line[i+1:]
		default:
			a, b, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			if u := parseU32(a); u != 0 {
				uid, file = u, b // "<uid> <filename>"
			} else {
				uid, file = parseU32(strings.TrimSpace(b)), a // Courier 2: "<filename> <uid>"
			}
		}
		if uid == 0 || file == "" {
			continue
		}
		base, _, _ := splitName(file)
		if i := strings.IndexByte(base, maildirSep); i >= 0 {
			base = base[:i]
		}
		m.uids[base] = uid
		if uid >= m.uidNext {
			m.uidNext = uid + 1
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.uidNext == 0 {
		m.uidNext = 1
	}
	return m, nil
}

func parseU32(s string) uint32 {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}
