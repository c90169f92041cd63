package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"

	"imapd/internal/atomicfile"
)

// sidecarFile is the per-folder UID list. Its format, one record a line:
//
//	imapd-uidlist 1 <uidvalidity> <uidnext> <highestmodseq>
//	a <uid> <modseq> <inode> <size> <mtime-ns> <crlf-size> <loc> <base>  a message got a UID
//	x <uid> <modseq>                                         the UID was expunged
//	f <uid> <modseq> <loc>                                   its file was renamed (flags)
//	s <uid> <crlf-size>                                      its CRLF size was computed
//	t <uid> <size> <mtime-ns>                                its file was stat'ed after it got its UID
//	k <uid> [<keyword> ...]                                  keywords that have no letter
//	b <uid> <base>                                           its base name changed (same inode)
//	i <uid> <inode>                                          its file is on a new inode (a copy)
//	d <new-mtime> <new-scan> <cur-mtime> <cur-scan>          what we know of new/ and cur/ (ns)
//	r <uid>                                                  messages from this UID on are \Recent
//	v <modseq>                                               expunges up to this MODSEQ may be forgotten
//	e <uid> <uid> <modseq>                                   UIDs from..to were expunged, the last at MODSEQ
//
// <loc> says where the file is and what its name is: 'n' (new/) or 'c'
// (cur/), then '-' for a name with no info part, or ',' and the info
// letters after ":2," exactly as on disk. With it, a folder whose
// directories have not changed since the last 'd' record opens without
// listing them.
//
// The first line is written only when the file is rewritten; every other
// change appends lines. A base name is percent-escaped (bytes <= 0x20,
// 0x7f and '%'), so a line never breaks. Anything after the last newline is
// an interrupted append and is ignored (and dropped at the next rewrite).
//
// The 'v' and 'e' records are written only by a rewrite, just after the
// first line: the expunges remembered for QRESYNC (modseq.go), which
// the 'x' records appended later add to. A file without a 'v' line
// (written before they existed) remembers only the expunges appended
// since its first line.
const sidecarFile = "imapd-uidlist"

const sidecarMagic = "imapd-uidlist"

// msgRec is what the folder knows of one message. The fields down to base
// are persisted in the sidecar; the rest come from the directory listing.
type msgRec struct {
	uid     uint32
	inNew   bool // the file is in new/ (else cur/)
	hasInfo bool // the name has a ":2," info part
	seen    bool // scratch mark of a reconcile pass
	modseq  uint64
	ino     uint64
	size    int64 // physical size of the file
	mtime   int64 // file mtime in ns: the INTERNALDATE; 0 = not stat'ed yet (see learnTimesLocked)
	vsize   int64 // size with CRLF line endings (RFC822.SIZE); 0 = not known yet
	base    string
	rawInfo string   // the info letters as on disk
	inf     info     // rawInfo parsed
	extra   []string // keywords kept in the sidecar because no letter was free
}

// name returns the file's current name.
func (r *msgRec) name() string {
	if !r.hasInfo {
		return r.base
	}
	return r.base + ":2," + r.rawInfo
}

// appendLoc appends the <loc> field of r (see sidecarFile) to b.
func appendLoc(b []byte, r *msgRec) []byte {
	d := byte('c')
	if r.inNew {
		d = 'n'
	}
	if !r.hasInfo {
		return append(b, d, '-')
	}
	return appendEscaped(append(b, d, ','), r.rawInfo)
}

// setLoc decodes a loc field; false means it is malformed.
func (r *msgRec) setLoc(loc string) bool {
	if len(loc) < 2 || (loc[0] != 'n' && loc[0] != 'c') {
		return false
	}
	r.inNew = loc[0] == 'n'
	switch loc[1] {
	case '-':
		r.hasInfo, r.rawInfo, r.inf = false, "", info{}
		return len(loc) == 2
	case ',':
		raw, ok := unescapeBase(loc[2:])
		if !ok && loc[2:] != "" {
			return false
		}
		r.setInfo(raw)
		return true
	}
	return false
}

// setInfo sets the info part of the name to raw (letters after ":2,").
func (r *msgRec) setInfo(raw string) {
	r.hasInfo, r.rawInfo = true, raw
	_, r.inf, _ = splitName(":2," + raw)
}

// sidecar is the in-memory state of the UID list plus what is needed to
// follow the file while other processes append to it.
type sidecar struct {
	path          string
	log           *slog.Logger
	uidValidity   uint32
	uidNext       uint32
	highestModSeq uint64

	recs     []*msgRec          // ascending UID (see unsorted)
	unsorted bool               // an older UID was inserted last: sort before searching
	byBase   map[string]*msgRec // built on first use (a listing), nil until then

	// Directory mtimes and the time of the listing that saw them, from
	// the last 'd' record: equal mtimes that are not recent spare a listing.
	newMtime, newScan, curMtime, curScan int64

	ino     uint64 // inode of the file we follow
	offset  int64  // bytes of it consumed
	records int    // record lines in the file, for the compaction decision
	broken  bool   // a line could not be parsed: rewrite at the next write
	// repaired records that a broken file was rewritten, for CheckFolder.
	repaired bool

	// notes are the changes other processes recorded, read by sync once
	// the state was first loaded (track): the folder turns them into
	// events for its sessions, as if it had seen them on disk itself.
	notes []event
	track bool

	// firstRecent: messages with this UID or higher are \Recent and not
	// yet claimed by a session (Dovecot keeps the same mark).
	firstRecent uint32

	// mods lists the records by mod-sequence and vanished remembers the
	// expunged UIDs, for CONDSTORE and QRESYNC (modseq.go).
	mods     modIndex
	vanished vanishedSet

	// migrated maps base names to the UIDs another server gave them, until
	// the first listing of a folder whose sidecar was just created.
	migrated map[string]uint32

	// afh appends to the file of inode afhIno (kept open between appends;
	// the caller's sync under the lock has just checked that it is the
	// file at path).
	afh    *os.File
	afhIno uint64
}

// close lets go of the appending descriptor.
func (s *sidecar) close() {
	if s.afh != nil {
		s.afh.Close()
		s.afh = nil
	}
}

func newSidecar(path string, log *slog.Logger) *sidecar {
	return &sidecar{path: path, log: log}
}

// errSidecarMissing says there is no sidecar file (a new folder, or a lost one).
var errSidecarMissing = errors.New("sidecar missing")

// sync brings the in-memory state up to date with the file: it reads
// lines appended since the last call, or the whole file when another
// process replaced it. The caller holds the folder lock.
func (s *sidecar) sync() error {
	// Most of the time nothing changed: one stat says so.
	if fi, err := os.Lstat(s.path); errors.Is(err, fs.ErrNotExist) {
		return errSidecarMissing
	} else if err != nil {
		return err
	} else if s.unchanged(fi) {
		return nil
	}
	f, err := openRegular(s.path, os.O_RDONLY, 0)
	if isNotRegular(err) {
		// A link (to a file the user may not read) or a FIFO under our
		// name: never read through it. Missing, the sidecar is rebuilt
		// and written by a rename that replaces the link.
		s.log.Warn("sidecar is not a regular file, ignoring and replacing it", "path", s.path)
		return errSidecarMissing
	}
	if errors.Is(err, fs.ErrNotExist) {
		return errSidecarMissing
	} else if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if ino := inodeOf(fi); ino != s.ino || fi.Size() < s.offset {
		return s.load(f, ino)
	}
	if fi.Size() == s.offset {
		return nil
	}
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		return err
	}
	return s.readRecords(bufio.NewReaderSize(f, 64<<10), s.offset)
}

// unchanged reports whether fi is the file as last read.
func (s *sidecar) unchanged(fi fs.FileInfo) bool {
	return s.ino != 0 && inodeOf(fi) == s.ino && fi.Size() == s.offset
}

// load replaces the in-memory state by the file's.
func (s *sidecar) load(f *os.File, ino uint64) error {
	old := &sidecar{recs: s.recs, unsorted: s.unsorted}
	track := s.track
	s.track = false // a whole new file: diffed below, not record by record
	s.recs, s.byBase, s.unsorted = nil, nil, false
	s.firstRecent = 0
	s.mods.reset()
	s.vanished = vanishedSet{}
	s.ino, s.offset, s.records, s.broken = ino, 0, 0, false
	br := bufio.NewReaderSize(f, 64<<10)
	line, err := br.ReadString('\n')
	if err != nil {
		// Not even a complete header line: the file is unusable.
		return fmt.Errorf("sidecar %s: no header: %w", s.path, errSidecarMissing)
	}
	fields := strings.Fields(line)
	if len(fields) != 5 || fields[0] != sidecarMagic || fields[1] != "1" {
		return fmt.Errorf("sidecar %s: bad header %q: %w", s.path, strings.TrimSpace(line), errSidecarMissing)
	}
	v, err1 := strconv.ParseUint(fields[2], 10, 32)
	n, err2 := strconv.ParseUint(fields[3], 10, 32)
	m, err3 := strconv.ParseUint(fields[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || v == 0 || n == 0 {
		return fmt.Errorf("sidecar %s: bad header %q: %w", s.path, strings.TrimSpace(line), errSidecarMissing)
	}
	s.uidValidity, s.uidNext, s.highestModSeq = uint32(v), uint32(n), m
	s.vanished.floor = m // raised or lowered by a 'v' record
	if err := s.readRecords(br, int64(len(line))); err != nil {
		return err
	}
	// Keep sizes we computed and have not written yet; note what another
	// process changed when it rewrote the file.
	for _, r := range s.recs {
		o := old.get(r.uid)
		switch {
		case o == nil:
			if track {
				s.notes = append(s.notes, event{kind: evAdd, uid: r.uid})
			}
		case track && (o.inf != r.inf || !equalStrings(o.extra, r.extra)):
			s.notes = append(s.notes, event{kind: evFlags, uid: r.uid})
		}
		if o != nil && o.ino == r.ino && r.vsize == 0 {
			r.vsize = o.vsize
		}
	}
	if track {
		for _, o := range old.recs {
			if s.get(o.uid) == nil {
				s.notes = append(s.notes, event{kind: evExpunge, uid: o.uid, rec: o})
			}
		}
	}
	s.track = true
	return nil
}

// readRecords applies complete record lines from br; offset is the file
// position br starts at. An incomplete last line is left for later.
func (s *sidecar) readRecords(br *bufio.Reader, offset int64) error {
	var pendingSort bool
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than 64 KiB is not ours: skip it whole.
			skipped := int64(len(line))
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				skipped += int64(len(line))
			}
			if err != nil {
				break
			}
			offset += skipped
			s.badLine("overlong line")
			continue
		}
		if err == io.EOF {
			break // an incomplete line (an interrupted append) or nothing
		} else if err != nil {
			return err
		}
		offset += int64(len(line))
		s.records++
		if s.apply(line[:len(line)-1]) {
			pendingSort = true
		}
	}
	s.offset = offset
	if pendingSort {
		sort.Slice(s.recs, func(i, j int) bool { return s.recs[i].uid < s.recs[j].uid })
	}
	return nil
}

func (s *sidecar) badLine(why string) {
	if !s.broken {
		s.log.Warn("sidecar: unreadable line, the file will be rewritten", "path", s.path, "why", why)
	}
	s.broken = true
}

// apply applies one record and reports whether the record list needs
// re-sorting.
func (s *sidecar) apply(line []byte) (resort bool) {
	var buf [10]string
	f := splitFields(string(line), buf[:0])
	if len(f) == 2 && f[0] == "r" {
		if n, ok := parseDecimal(f[1]); ok && n < 1<<32 {
			s.firstRecent = uint32(n)
			return false
		}
		s.badLine("bad recent record")
		return false
	}
	if len(f) == 2 && f[0] == "v" {
		if n, ok := parseDecimal(f[1]); ok {
			s.vanished.floor = uint64(n)
			return false
		}
		s.badLine("bad vanished record")
		return false
	}
	if len(f) == 4 && f[0] == "e" {
		lo, ok1 := parseDecimal(f[1])
		hi, ok2 := parseDecimal(f[2])
		modseq, ok3 := parseDecimal(f[3])
		if !(ok1 && ok2 && ok3) || lo == 0 || lo > hi || hi >= 1<<32 {
			s.badLine("bad expunged record")
			return false
		}
		s.vanished.runs = append(s.vanished.runs, vanishedRun{uint32(lo), uint32(hi), uint64(modseq)})
		return false
	}
	if len(f) == 5 && f[0] == "d" {
		var v [4]int64
		for i := range v {
			n, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				s.badLine("bad dir record")
				return false
			}
			v[i] = n
		}
		s.newMtime, s.newScan, s.curMtime, s.curScan = v[0], v[1], v[2], v[3]
		return false
	}
	if len(f) < 2 {
		s.badLine("short record")
		return false
	}
	uid64, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil || uid64 == 0 {
		s.badLine("bad uid")
		return false
	}
	uid := uint32(uid64)
	num := func(i int) (int64, bool) {
		if i >= len(f) {
			return 0, false
		}
		return parseDecimal(f[i])
	}
	switch f[0] {
	case "a":
		modseq, ok1 := num(2)
		ino, ok2 := num(3)
		size, ok3 := num(4)
		mtime, ok4 := num(5)
		vsize, ok5 := num(6)
		if len(f) != 9 || !(ok1 && ok2 && ok3 && ok4 && ok5) {
			s.badLine("bad add record")
			return false
		}
		base, ok := unescapeBase(f[8])
		if !ok {
			s.badLine("bad base name")
			return false
		}
		if old := s.get(uid); old != nil {
			s.drop(old)
		}
		if old := s.baseIndex()[base]; old != nil {
			s.drop(old)
		}
		r := &msgRec{uid: uid, modseq: uint64(modseq), ino: uint64(ino), size: size, mtime: mtime, vsize: vsize, base: base}
		if !r.setLoc(f[7]) {
			s.badLine("bad location")
			return false
		}
		if s.track {
			s.notes = append(s.notes, event{kind: evAdd, uid: uid})
		}
		resort = len(s.recs) > 0 && s.recs[len(s.recs)-1].uid > uid
		s.insert(r)
		s.mods.add(r)
		s.bump(r.modseq)
		return resort
	case "x":
		modseq, ok := num(2)
		if len(f) != 3 || !ok {
			s.badLine("bad expunge record")
			return false
		}
		s.bump(uint64(modseq))
		s.vanished.add(uid, uint64(modseq))
		if r := s.get(uid); r != nil {
			s.drop(r)
			if s.track {
				s.notes = append(s.notes, event{kind: evExpunge, uid: uid, rec: r})
			}
		}
	case "f":
		modseq, ok := num(2)
		if len(f) != 4 || !ok {
			s.badLine("bad flags record")
			return false
		}
		s.bump(uint64(modseq))
		if r := s.get(uid); r != nil {
			saved := *r
			if !r.setLoc(f[3]) {
				*r = saved
				s.badLine("bad location")
				return false
			}
			if r.modseq != uint64(modseq) {
				r.modseq = uint64(modseq)
				s.mods.add(r)
			}
			if s.track && saved.inf != r.inf {
				s.notes = append(s.notes, event{kind: evFlags, uid: uid})
			}
		}
	case "s":
		vsize, ok := num(2)
		if len(f) != 3 || !ok {
			s.badLine("bad size record")
			return false
		}
		if r := s.get(uid); r != nil {
			r.vsize = vsize
		}
	case "t":
		size, ok1 := num(2)
		mtime, ok2 := num(3)
		if len(f) != 4 || !ok1 || !ok2 {
			s.badLine("bad time record")
			return false
		}
		if r := s.get(uid); r != nil {
			r.size, r.mtime = size, mtime
		}
	case "k":
		if r := s.get(uid); r != nil {
			r.extra = sortedKeywords(f[2:])
			if s.track {
				s.notes = append(s.notes, event{kind: evFlags, uid: uid})
			}
		}
	case "i":
		ino, ok := num(2)
		if len(f) != 3 || !ok {
			s.badLine("bad inode record")
			return false
		}
		if r := s.get(uid); r != nil {
			r.ino = uint64(ino)
		}
	case "b":
		base, ok := "", len(f) == 3
		if ok {
			base, ok = unescapeBase(f[2])
		}
		if !ok {
			s.badLine("bad base record")
			return false
		}
		if r := s.get(uid); r != nil {
			s.delBase(r.base)
			r.base = base
			s.setBase(base, r)
		}
	default:
		s.badLine("unknown record type")
	}
	return false
}

// splitFields is strings.Fields for the sidecar's single-space-separated
// records, into dst (no allocation beyond the line itself).
func splitFields(line string, dst []string) []string {
	for len(line) > 0 {
		for len(line) > 0 && (line[0] == ' ' || line[0] == '\t' || line[0] == '\r') {
			line = line[1:]
		}
		if line == "" {
			break
		}
		i := strings.IndexAny(line, " \t\r")
		if i < 0 {
			i = len(line)
		}
		dst = append(dst, line[:i])
		line = line[i:]
	}
	return dst
}

// get returns the record of uid, or nil.
func (s *sidecar) get(uid uint32) *msgRec {
	s.sortRecs()
	i := s.seek(uid, 0)
	if i < len(s.recs) && s.recs[i].uid == uid {
		return s.recs[i]
	}
	return nil
}

// seek is seekUID over the sorted records.
func (s *sidecar) seek(uid uint32, from int) int { return seekUID(s.recs, recUID, uid, from) }

func recUID(r *msgRec) uint32 { return r.uid }

func (s *sidecar) sortRecs() {
	if s.unsorted {
		sort.Slice(s.recs, func(i, j int) bool { return s.recs[i].uid < s.recs[j].uid })
		s.unsorted = false
	}
}

// baseIndex maps base names to records. Opening a folder whose
// directories did not change never needs it, so it is built on demand.
func (s *sidecar) baseIndex() map[string]*msgRec {
	if s.byBase == nil {
		s.byBase = make(map[string]*msgRec, len(s.recs))
		for _, r := range s.recs {
			s.byBase[r.base] = r
		}
	}
	return s.byBase
}

func (s *sidecar) setBase(base string, r *msgRec) {
	if s.byBase != nil {
		s.byBase[base] = r
	}
}

func (s *sidecar) delBase(base string) {
	if s.byBase != nil {
		delete(s.byBase, base)
	}
}

func (s *sidecar) bump(modseq uint64) {
	if modseq > s.highestModSeq {
		s.highestModSeq = modseq
	}
}

// insert adds r (whose UID is not present). The caller re-sorts when r is
// not the highest UID.
func (s *sidecar) insert(r *msgRec) {
	if n := len(s.recs); n > 0 && s.recs[n-1].uid > r.uid {
		s.unsorted = true
	}
	s.recs = append(s.recs, r)
	s.setBase(r.base, r)
	if r.uid >= s.uidNext {
		s.uidNext = r.uid + 1
	}
}

// drop removes r from the maps; the slice is compacted by compact().
func (s *sidecar) drop(r *msgRec) {
	s.sortRecs()
	if s.byBase != nil && s.byBase[r.base] == r {
		delete(s.byBase, r.base)
	}
	i := sort.Search(len(s.recs), func(i int) bool { return s.recs[i].uid >= r.uid })
	if i < len(s.recs) && s.recs[i] == r {
		s.recs = append(s.recs[:i], s.recs[i+1:]...)
		return
	}
	for i, o := range s.recs { // unsorted (mid-load)
		if o == r {
			s.recs = append(s.recs[:i], s.recs[i+1:]...)
			return
		}
	}
}

// appendLines writes records at the end of the file. The caller holds the
// folder lock and has called sync, so nobody else writes meanwhile.
// fromScratch says that the file is new or damaged: the next appendLines
// writes it whole from s.recs, whatever lines it is given.
func (s *sidecar) fromScratch() bool {
	return s.broken || s.ino == 0
}

func (s *sidecar) appendLines(b []byte, durable bool) error {
	if len(b) == 0 {
		return nil
	}
	if s.fromScratch() || (s.records > 1000 && s.records > 3*len(s.recs)) {
		return s.rewrite()
	}
	if s.afh == nil || s.afhIno != s.ino {
		s.close()
		f, err := openRegular(s.path, os.O_WRONLY|os.O_APPEND, 0)
		if isNotRegular(err) {
			return s.rewrite() // replaced by a link or FIFO since sync
		}
		if err != nil {
			return err
		}
		if fi, serr := f.Stat(); serr != nil || inodeOf(fi) != s.ino {
			f.Close()
			return s.rewrite()
		}
		s.afh, s.afhIno = f, s.ino
	}
	f := s.afh
	// A record without its newline is what a writer killed mid-append
	// left (we hold the lock, so nobody is writing it now): cut it off
	// rather than glue our first record to it.
	if fi, serr := f.Stat(); serr == nil && fi.Size() > s.offset {
		s.log.Warn("sidecar: dropping an interrupted record", "path", s.path, "bytes", fi.Size()-s.offset)
		if err := f.Truncate(s.offset); err != nil {
			s.close()
			return err
		}
	}
	_, err := f.Write(b)
	if err == nil && durable {
		err = f.Sync()
	}
	if err != nil {
		s.close()
		return err
	}
	s.offset += int64(len(b))
	s.records += bytes.Count(b, []byte{'\n'})
	return nil
}

// rewrite replaces the file by a snapshot of the in-memory state. It is
// written as it is formatted: a folder's first listing writes a record
// per message, and a fresh process pays for every page it touches.
func (s *sidecar) rewrite() error {
	var written int64
	err := atomicfile.StreamNoFollow(s.path, 0o600, func(w *bufio.Writer) error {
		cw := &countingWriter{w: w}
		fmt.Fprintf(cw, "%s 1 %d %d %d\n", sidecarMagic, s.uidValidity, s.uidNext, s.highestModSeq)
		s.vanished.writeLines(cw)
		var line []byte
		for _, r := range s.recs {
			line = appendAddLine(line[:0], r)
			if len(r.extra) > 0 {
				line = append(line, keywordLine(r)...)
			}
			cw.Write(line)
		}
		if s.curScan != 0 {
			io.WriteString(cw, s.dirLine())
		}
		io.WriteString(cw, s.recentLine())
		written = cw.n
		return cw.err
	})
	if err != nil {
		return err
	}
	st, err := stampOf(s.path)
	if err != nil {
		return err
	}
	s.repaired = s.repaired || s.broken
	s.ino, s.offset, s.broken = st.ino, written, false
	s.track = true // the state is complete: from now on, note others' records
	s.records = len(s.recs)
	return nil
}

// countingWriter counts what reaches w and keeps its first error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (s *sidecar) recentLine() string {
	return fmt.Sprintf("r %d\n", s.firstRecent)
}

func (s *sidecar) dirLine() string {
	return fmt.Sprintf("d %d %d %d %d\n", s.newMtime, s.newScan, s.curMtime, s.curScan)
}

func addLine(r *msgRec) string { return string(appendAddLine(nil, r)) }

// appendAddLine appends r's "a" record to b. A folder's first listing
// and every rewrite write one per message, so it formats without fmt.
func appendAddLine(b []byte, r *msgRec) []byte {
	b = append(b, "a "...)
	b = strconv.AppendUint(b, uint64(r.uid), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, r.modseq, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, r.ino, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.size, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.mtime, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.vsize, 10)
	b = append(b, ' ')
	b = appendLoc(b, r)
	b = append(b, ' ')
	b = appendEscaped(b, r.base)
	return append(b, '\n')
}

func sizeLine(r *msgRec) string {
	return "s " + strconv.FormatUint(uint64(r.uid), 10) + " " + strconv.FormatInt(r.vsize, 10) + "\n"
}

func timeLine(r *msgRec) string {
	return "t " + strconv.FormatUint(uint64(r.uid), 10) + " " + strconv.FormatInt(r.size, 10) + " " + strconv.FormatInt(r.mtime, 10) + "\n"
}

func inodeLine(r *msgRec) string {
	return fmt.Sprintf("i %d %d\n", r.uid, r.ino)
}

// flagsLine is r's "f" record: one per message a STORE changes.
func flagsLine(r *msgRec) string {
	var buf [128]byte
	b := append(buf[:0], "f "...)
	b = strconv.AppendUint(b, uint64(r.uid), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, r.modseq, 10)
	b = append(b, ' ')
	b = appendLoc(b, r)
	return string(append(b, '\n'))
}

func keywordLine(r *msgRec) string {
	return fmt.Sprintf("k %d %s\n", r.uid, strings.Join(r.extra, " "))
}

func escapeBase(base string) string {
	if !needsEscape(base) {
		return base
	}
	return string(appendEscaped(nil, base))
}

func needsEscape(base string) bool {
	for i := 0; i < len(base); i++ {
		if c := base[i]; c <= 0x20 || c == 0x7f || c == '%' {
			return true
		}
	}
	return false
}

// appendEscaped appends base percent-escaped (see sidecarFile) to b.
func appendEscaped(b []byte, base string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(base); i++ {
		c := base[i]
		if c <= 0x20 || c == 0x7f || c == '%' {
			b = append(b, '%', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

func unescapeBase(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, s != ""
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), true
}
