package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Copied says where copied messages went: UIDPLUS's COPYUID. SrcUIDs[i]
// became DstUIDs[i].
type Copied struct {
	UIDValidity uint32
	SrcUIDs     []uint32
	DstUIDs     []uint32
}

// Copy copies messages to another folder of the same Store (RFC 3501
// COPY), keeping flags, keywords and internal dates. Files are hard-linked
// when the file system allows it (they never change, so sharing is safe),
// else copied through tmp/. Messages already expunged are skipped.
func (m *Mailbox) Copy(uids []uint32, dst string) (Copied, error) {
	return m.copyMove(uids, dst, false)
}

// Move moves messages to another folder (RFC 6851 MOVE): each file is
// renamed into the target, so a crash leaves every message in exactly
// one of the two folders. The source's EXPUNGEs come through Poll.
func (m *Mailbox) Move(uids []uint32, dst string) (Copied, error) {
	if m.readOnly {
		return Copied{}, ErrReadOnly
	}
	return m.copyMove(uids, dst, true)
}

type copyItem struct {
	uid      uint32
	src      string
	size     int64
	vsize    int64
	mtime    int64
	flags    Flags
	keywords []string
	tmp      string // the file to rename into the target: staged in tmp/, or for a move the source itself
	srcDir   string // for a move: the source folder, where base is looked for when src was renamed
	base     string // for a move: the source file's base name
}

func (m *Mailbox) copyMove(uids []uint32, dstName string, move bool) (Copied, error) {
	s := m.store
	_, dstDir, err := s.dir(dstName)
	if err != nil {
		return Copied{}, err
	}
	src := m.f
	// Snapshot the sources. For a move this happens under the source lock
	// below; for a copy the files are linked before the target is locked.
	var items []copyItem
	src.mu.Lock()
	src.side.sortRecs()
	src.learnTimesLocked(uids) // a copy keeps the internal date
	for _, u := range uids {
		r := src.side.get(u)
		if r == nil {
			continue
		}
		msg := src.messageLocked(r)
		items = append(items, copyItem{uid: u, src: filepath.Join(src.dir, dirOf(r.inNew), r.name()),
			size: r.size, vsize: r.vsize, mtime: r.mtime, flags: msg.Flags, keywords: msg.Keywords,
			srcDir: src.dir, base: r.base})
	}
	src.mu.Unlock()
	if len(items) == 0 {
		return Copied{}, nil
	}
	for i := range items {
		if move {
			break
		}
		it := &items[i]
		if err := m.stage(dstDir, it); err != nil {
			cleanupStaged(items)
			return Copied{}, err
		}
	}
	dst, err := s.hub.acquire(s.root, dstDir)
	if err != nil {
		cleanupStaged(items)
		return Copied{}, err
	}
	defer s.hub.release(dst)
	var res Copied
	if !move {
		err = dst.update(false, func() error { return dst.receiveLocked(items, &res, s.limits.MaxKeywords) })
		cleanupStaged(items)
		return res, err
	}
	// Move: lock order is source before target, by directory name, so two
	// opposite moves cannot deadlock across processes either. A move into
	// the folder itself (RFC 6851 allows it, Dovecot does it) takes the
	// one lock: each file is renamed to a new base name in cur/, so the
	// message gets a new UID and its old UID is expunged.
	moveLocked := func() error {
		var log strings.Builder
		live := items[:0]
		for _, it := range items {
			r := src.side.get(it.uid)
			if r == nil {
				continue
			}
			it.src = filepath.Join(src.dir, dirOf(r.inNew), r.name())
			it.base = r.base
			live = append(live, it)
		}
		items = live
		for i := range items {
			items[i].tmp = items[i].src // renamed straight from the source
		}
		// The renames out of the source's new/ and cur/ are its own
		// change too: inside ownChange, they leave its listing complete.
		// So every message that left is expunged here, also when the
		// move failed part way: the listing will not be there to find it.
		err := src.ownChange(true, func() error {
			err := dst.receiveLocked(items, &res, s.limits.MaxKeywords)
			for _, u := range res.SrcUIDs {
				if r := src.side.get(u); r != nil {
					src.expungeRecLocked(r, &log)
				}
			}
			return err
		})
		if log.Len() == 0 {
			return err
		}
		log.WriteString(src.side.dirLine())
		if aerr := src.side.appendLines([]byte(log.String()), !src.hub.opts.NoSync); err == nil {
			err = aerr
		}
		return err
	}
	if src == dst {
		return res, src.update(false, moveLocked)
	}
	first, second := src, dst
	if dst.dir < src.dir {
		first, second = dst, src
	}
	err = first.update(false, func() error { return second.update(false, moveLocked) })
	return res, err
}

// stage puts a copy of it's file into the target's tmp/: a hard link
// when possible, else a byte copy with the same mtime. A source file
// renamed meanwhile by another program is found again by its base name
// (withFile); one expunged meanwhile is skipped.
func (m *Mailbox) stage(dstDir string, it *copyItem) error {
	tmp := filepath.Join(dstDir, "tmp", newBase(""))
	err := m.withFile(it.uid, func(p string) error { return linkRegular(p, tmp) })
	if err == nil {
		it.tmp = tmp
		return nil
	}
	if errors.Is(err, ErrExpunged) {
		return nil
	}
	fh, err := m.Open(it.uid)
	if err != nil {
		if errors.Is(err, ErrExpunged) {
			return nil // expunged meanwhile: skipped
		}
		return err
	}
	defer fh.Close()
	// A copy keeps the internal date, which is the file's mtime.
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	t, err := m.store.hub.writeTmp(dstDir, fh, 0, st.ModTime())
	if err != nil {
		return err
	}
	it.tmp = t.path
	return nil
}

// linkFile is os.Link; a test replaces it to take the byte-copy path.
var linkFile = os.Link

// linkRegular hard-links the message file p to tmp, if p is a regular
// file. link(2) does not follow a symbolic link: it links the link, so
// what the new name holds is checked without following it, and anything
// but a regular file is removed again and reported as errNotRegular (for
// withFile, as if p were gone: not a message).
func linkRegular(p, tmp string) error {
	if err := linkFile(p, tmp); err != nil {
		return err
	}
	if _, err := lstatRegular(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func cleanupStaged(items []copyItem) {
	for _, it := range items {
		if it.tmp != "" && it.tmp != it.src {
			os.Remove(it.tmp)
		}
	}
}

// receiveLocked renames staged files into cur/ of f and gives them UIDs.
// Keywords travel with the messages; when they would bring the folder
// past maxKw keywords the whole copy is refused before any file moves
// (never a message that silently lost a keyword).
func (f *folder) receiveLocked(items []copyItem, res *Copied, maxKw int) error {
	if maxKw > 0 {
		var all []string
		for _, it := range items {
			all = append(all, it.keywords...)
		}
		if err := f.checkKeywordsLocked(maxKw, sortedKeywords(all)); err != nil {
			return err
		}
	}
	res.UIDValidity = f.side.uidValidity
	var log strings.Builder
	err := f.ownChange(false, func() error {
		for i := range items {
			it := &items[i]
			if it.tmp == "" {
				continue
			}
			st, err := it.statSource()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
			base := newBase("")
			if it.vsize > 0 {
				base = fmt.Sprintf("%s,S=%d,W=%d", base, it.size, it.vsize)
			}
			letters, extra, err := f.lettersFor(it.keywords, &log)
			if err != nil {
				return err
			}
			r := &msgRec{uid: f.side.uidNext, ino: inodeOf(st), size: st.Size(), mtime: st.ModTime().UnixNano(), vsize: it.vsize, base: base}
			r.setInfo(fileName("", info{flags: it.flags, letters: letters})[3:])
			r.extra = extra
			if err := it.renameSource(filepath.Join(f.dir, "cur", r.name())); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
			it.tmp = ""
			f.bumpLocked(r)
			f.side.insert(r)
			log.WriteString(addLine(r))
			if len(extra) > 0 {
				log.WriteString(keywordLine(r))
			}
			f.events = append(f.events, event{kind: evAdd, uid: r.uid})
			res.SrcUIDs = append(res.SrcUIDs, it.uid)
			res.DstUIDs = append(res.DstUIDs, r.uid)
		}
		return nil
	})
	log.WriteString(f.side.dirLine())
	if aerr := f.side.appendLines([]byte(log.String()), !f.hub.opts.NoSync); err == nil {
		err = aerr
	}
	return err
}

// statSource stats it's file. For a move, a source file that another
// program renamed (a flag change: it does not take our lock) is found
// again by its base name.
func (it *copyItem) statSource() (os.FileInfo, error) {
	for try := 0; ; try++ {
		st, err := lstatRegular(it.tmp)
		if err == nil || !it.relocate(err, try) {
			return st, err
		}
	}
}

// renameSource renames it's file to path, finding a moved source file
// again as statSource does.
func (it *copyItem) renameSource(path string) error {
	for try := 0; ; try++ {
		err := renameMessage(it.tmp, path)
		if err == nil || !it.relocate(err, try) {
			return err
		}
	}
}

// relocate reports whether a move's source file, not found (err) on
// attempt try, is in its folder under another name, which it.tmp then
// holds. A source truly gone was expunged: the move skips it.
func (it *copyItem) relocate(err error, try int) bool {
	if it.tmp != it.src || it.base == "" || try >= openTries || !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	p, ferr := findBase(it.srcDir, it.base)
	if ferr != nil || p == "" {
		return false
	}
	it.tmp, it.src = p, p
	return true
}
