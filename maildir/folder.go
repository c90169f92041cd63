package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// folder is the state of one Maildir folder shared by every session of
// the process. Everything in it is guarded by mu; changes to files are
// also guarded by the cross-process lock (lk), always taken after mu.
type folder struct {
	hub  *Hub
	dir  string
	root string // the Store's root, for the UIDVALIDITY counter
	refs int    // guarded by hub.mu

	mu          sync.Mutex
	lk          *flock
	side        *sidecar
	kw          keywordTable
	cache       *metaCache
	sessions    []*Mailbox      // sessions that have the folder selected, oldest first
	gone        bool            // the directory vanished (deleted or renamed)
	dirtyVSz    []*msgRec       // CRLF sizes computed but not yet in the sidecar
	dirtyTimes  []*msgRec       // mtimes learned late (learnTimesLocked) but not yet in the sidecar
	events      []event         // collected while locked, fanned out at unlock
	suspects    map[string]bool // base names the watcher saw written to
	tmpSwept    bool            // tmp/ was cleaned of stale files since the folder was loaded
	idleSince   time.Time       // when the last reference went (guarded by hub.mu)
	idleRecs    int             // its records then (guarded by hub.mu)
	fineWindow  int64           // ns; how long a fine mtime stays distrusted after a listing, 0: coarseWindow (granularity.go)
	rootWatched bool            // counted in watch.roots (guarded by watch.mu)
	watched     bool            // new/ and cur/ are watched (guarded by hub.watch.mu)
	refreshing  bool            // the watcher runs a refresh (guarded by hub.watch.mu)
	rerun       bool            // events came in meanwhile: it runs again (guarded by hub.watch.mu)
	curPaused   int             // runs of our own renames cur/ is not watched for (guarded by hub.watch.mu)
	written     map[string]bool // base names written to, checked once the writes settle (guarded by hub.watch.mu)
	settling    bool            // a timer will hand written to the refresh (guarded by hub.watch.mu)
	oddNew      map[string]bool // entries of new/ that are not regular files, logged once (noteOdd)
	oddCur      map[string]bool // the same for cur/
}

// event is one change to a folder, as sessions queue it.
type event struct {
	kind   eventKind
	uid    uint32
	origin *Mailbox // the session that made a flag change (it reports it itself)
	rec    *msgRec  // evExpunge: the record as it was dropped (no longer changed)
}

type eventKind uint8

const (
	evAdd eventKind = iota
	evExpunge
	evFlags
)

// acquire returns the shared folder for dir, loading it on first use.
func (h *Hub) acquire(root, dir string) (*folder, error) {
	h.mu.Lock()
	f := h.folders[dir]
	if f == nil {
		f = &folder{hub: h, dir: dir, root: root, fineWindow: fineWindowFor(dir)}
		f.side = newSidecar(filepath.Join(dir, sidecarFile), h.log)
		f.kw.path, f.kw.log = filepath.Join(dir, keywordsFile), h.log
		f.cache = newMetaCache(filepath.Join(dir, cacheFile), h.log)
		h.folders[dir] = f
	}
	f.refs++
	evict := h.trimIdleLocked()
	h.mu.Unlock()
	for _, e := range evict {
		h.watch.remove(e)
		e.teardown()
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lk == nil {
		lk, err := openLock(filepath.Join(dir, lockFile))
		if err != nil {
			f.mu.Unlock()
			h.release(f)
			f.mu.Lock()
			return nil, err
		}
		f.lk = lk
	}
	return f, nil
}

// release drops a reference; the last one frees the folder's memory.
func (h *Hub) release(f *folder) {
	// Counted before h.mu, in f's lock order: a refresh the watcher
	// began while f was held may still be adding records.
	f.mu.Lock()
	recs := len(f.side.recs)
	f.mu.Unlock()
	h.mu.Lock()
	f.refs--
	last := f.refs == 0
	var evict []*folder
	if last && h.folders[f.dir] == f {
		// Kept for a while, still watched: the next SELECT, APPEND or
		// STATUS of a folder nobody has selected then reads only what
		// changed, not the whole sidecar (so its cost does not grow with
		// the folder), and adds no inotify watch. The watcher does not
		// refresh a folder nobody holds; its next user does.
		f.idleSince, f.idleRecs = time.Now(), recs
		h.idle = append(h.idle, f)
		evict = h.trimIdleLocked()
	} else if last {
		evict = []*folder{f}
	}
	h.mu.Unlock()
	for _, e := range evict {
		h.watch.remove(e)
		e.teardown()
	}
}

// Idle folders kept per Hub: at most so many, holding at most so many
// message records in all (a variable for the tests), for at most so long.
const (
	maxIdleFolders = 64
	idleFolderTTL  = 2 * time.Minute
)

var maxIdleRecords = 250000

// trimIdleLocked removes from the idle list (and the map) the folders
// that are too many or too old, and returns them for teardown. The caller
// holds h.mu.
func (h *Hub) trimIdleLocked() []*folder {
	var out []*folder
	cutoff := time.Now().Add(-idleFolderTTL)
	// From the newest, the records each folder and those after it held
	// when it went idle (counted then: f.side is f.mu's, not h.mu's).
	after := make([]int, len(h.idle)+1)
	for i := len(h.idle) - 1; i >= 0; i-- {
		after[i] = after[i+1]
		if f := h.idle[i]; f.refs == 0 {
			after[i] += f.idleRecs
		}
	}
	keep := h.idle[:0]
	for i, f := range h.idle {
		if f.refs > 0 {
			continue // in use again: not idle
		}
		if len(h.idle)-i > maxIdleFolders || after[i] > maxIdleRecords || f.idleSince.Before(cutoff) {
			if h.folders[f.dir] == f {
				delete(h.folders, f.dir)
			}
			out = append(out, f)
			continue
		}
		keep = append(keep, f)
	}
	h.idle = keep
	return out
}

// teardown writes what only memory holds and closes the folder's files.
func (f *folder) teardown() {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.flushLearnedLocked()
	f.side.close()
	if f.lk != nil {
		f.lk.close()
		f.lk = nil
	}
	f.cache.close()
}

// forget detaches a folder whose directory was renamed or removed, so the
// next open of that path starts afresh; sessions on it learn it is gone.
func (h *Hub) forget(dir string) {
	h.mu.Lock()
	f := h.folders[dir]
	if f != nil {
		delete(h.folders, dir)
	}
	h.mu.Unlock()
	if f != nil {
		f.mu.Lock()
		f.gone = true
		for _, m := range f.sessions {
			m.wake()
		}
		f.mu.Unlock()
	}
}

// update runs fn with the folder locked (in-process and across processes)
// and brought up to date with the disk. Events fn and the refresh produce
// go to the sessions when it returns. full makes the refresh stat every
// file, to find content rewritten in place.
func (f *folder) update(full bool, fn func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return ErrFolderGone
	}
	if !full && fn == nil && f.quietLocked() {
		f.fanOut()
		return nil
	}
	if err := f.lk.lock(); err != nil {
		return err
	}
	err := f.refreshLocked(full)
	if err == nil && fn != nil {
		err = fn()
	}
	if err == nil {
		err = f.claimRecentLocked()
	}
	if uerr := f.lk.unlock(); err == nil {
		err = uerr
	}
	f.fanOut()
	return err
}

// quietLocked reports, with four stat calls and without the file lock,
// that a refresh would find nothing to do: the sidecar and the keyword
// file are as last read, neither directory changed by the rules of
// scanLocked (new/ stat'ed first, as there), and the watcher suspects no
// file. A NOOP on a quiet folder then costs no lock and no read. The
// caller holds mu.
func (f *folder) quietLocked() bool {
	s := f.side
	if !f.tmpSwept || len(f.suspects) > 0 || len(s.notes) > 0 || s.broken || s.ino == 0 {
		return false
	}
	if fi, err := os.Lstat(s.path); err != nil || !s.unchanged(fi) {
		return false
	}
	if st, err := stampOf(f.kw.path); (err != nil && !errors.Is(err, fs.ErrNotExist)) || !f.kw.known || st != f.kw.stamp {
		return false
	}
	if m, err := mtimeOf(filepath.Join(f.dir, "new")); err != nil || f.dirChanged(m, s.newMtime, s.newScan) {
		return false
	}
	fi, err := os.Lstat(filepath.Join(f.dir, "cur"))
	return err == nil && !f.dirChanged(fi.ModTime().UnixNano(), s.curMtime, s.curScan)
}

// refreshLocked syncs the sidecar and, when the directories changed, the
// listing. The caller holds mu and the file lock.
func (f *folder) refreshLocked(full bool) error {
	defer f.side.sortRecs()
	if _, err := os.Lstat(filepath.Join(f.dir, "cur")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			f.gone = true
			for _, m := range f.sessions {
				m.wake()
			}
			return ErrFolderGone
		}
		return err
	}
	fresh := false
	if err := f.side.sync(); errors.Is(err, errSidecarMissing) {
		if f.side.ino != 0 && !f.side.broken {
			// Somebody removed the file while we hold the state: write it back.
			f.hub.log.Warn("sidecar vanished, rewriting it from memory", "dir", f.dir)
			if err := f.side.rewrite(); err != nil {
				return err
			}
		} else {
			if err := f.initSidecar(); err != nil {
				return err
			}
			fresh = true
		}
	} else if err != nil {
		return err
	}
	// What other processes recorded reaches our sessions like what we see.
	for _, e := range f.side.notes {
		if e.kind == evExpunge {
			f.cache.drop(e.uid)
		}
		f.events = append(f.events, e)
	}
	f.side.notes = nil
	// A new UIDVALIDITY (a lost sidecar) makes the cached UIDs void.
	f.cache.setValidity(f.side.uidValidity)
	if err := f.kw.load(); err != nil {
		return err
	}
	if !f.tmpSwept {
		f.tmpSwept = true
		sweepTmp(filepath.Join(f.dir, "tmp"), time.Now().Add(-36*time.Hour))
	}
	// Records salvaged from a damaged sidecar are checked against the
	// files as CHECK would; a new sidecar has none to check.
	if err := f.scanLocked(full || (fresh && len(f.side.recs) > 0)); err != nil {
		return err
	}
	// A new or damaged sidecar was rewritten by the scan's append (see
	// appendLines); a second rewrite would only write it again.
	if f.side.broken || f.side.ino == 0 {
		return f.side.rewrite()
	}
	return nil
}

// initSidecar starts the UID list of a folder that has none: adopting
// Dovecot's or Courier's UIDs when their files are there, else with a new
// UIDVALIDITY. UIDs of a sidecar that existed but cannot be read are kept
// as far as its lines could be read (s.recs holds them).
func (f *folder) initSidecar() error {
	s := f.side
	salvaged := s.recs
	if s.uidValidity != 0 && len(salvaged) > 0 {
		s.broken = true
		return nil
	}
	if m, err := readMigration(f.dir); err != nil {
		f.hub.log.Warn("ignoring unreadable UID list of another server", "dir", f.dir, "err", err)
	} else if m != nil {
		s.uidValidity, s.uidNext = m.uidValidity, m.uidNext
		s.highestModSeq = 1
		s.mods.reset()
		s.vanished = vanishedSet{}
		s.migrated = m.uids
		f.hub.log.Info("adopting UIDs of another server", "dir", f.dir, "from", m.source, "uidvalidity", m.uidValidity, "uids", len(m.uids))
		return nil
	}
	v, err := nextUIDValidity(f.root, f.hub.opts.FilePerm)
	if err != nil {
		return err
	}
	s.uidValidity, s.uidNext, s.highestModSeq = v, 1, 1
	// UIDs start again at 1: nothing remembered of the old ones holds.
	s.mods.reset()
	s.vanished = vanishedSet{}
	return nil
}

// ownChange runs op, which renames or creates files in cur/ (and in new/
// when alsoNew is set), under the folder lock. When the listing of a
// directory was complete before op, it stays complete after: the new
// mtime is our own doing. So a change of ours does not cost a listing of
// a large folder; only a change by a program that does not take our lock,
// between the two stat calls (or, where the file system's timestamps are
// coarse, in the same clock tick as op), could hide. The watcher does not
// catch that one: its refresh asks quietLocked, which trusts these mtimes.
// A message file hidden so is found again by its base when opened
// (locate.go), which also makes the next refresh list the directories.
func (f *folder) ownChange(alsoNew bool, op func() error) error {
	s := f.side
	type dirv struct {
		path        string
		mtime, scan *int64
		clean       bool
	}
	dirs := []*dirv{{path: filepath.Join(f.dir, "cur"), mtime: &s.curMtime, scan: &s.curScan}}
	if alsoNew {
		dirs = append(dirs, &dirv{path: filepath.Join(f.dir, "new"), mtime: &s.newMtime, scan: &s.newScan})
	}
	for _, d := range dirs {
		m0, err := mtimeOf(d.path)
		d.clean = err == nil && m0 == *d.mtime && !f.dirChanged(m0, *d.mtime, *d.scan)
	}
	err := op()
	for _, d := range dirs {
		if !d.clean {
			continue
		}
		if m1, serr := mtimeOf(d.path); serr == nil {
			*d.mtime = m1
			if min := m1 + f.stampWindow(m1) + 1; *d.scan < min {
				*d.scan = min
			}
		}
	}
	return err
}

func (f *folder) hasWriter() bool {
	for _, m := range f.sessions {
		if !m.readOnly {
			return true
		}
	}
	return false
}

// renameDuplicate renames the file of c to a fresh base name, keeping its
// info, and returns the new base.
func (f *folder) renameDuplicate(c *found) (string, error) {
	nb := newBase(c.base)
	dir := filepath.Join(f.dir, dirOf(c.inNew))
	newName := nb
	if c.hasInfo {
		newName += ":2," + c.raw
	}
	if err := renameMessage(filepath.Join(dir, c.name), filepath.Join(dir, newName)); err != nil {
		return "", err
	}
	c.name = newName
	return nb, nil
}

// bumpLocked gives r the next modification sequence number.
func (f *folder) bumpLocked(r *msgRec) {
	f.side.highestModSeq++
	r.modseq = f.side.highestModSeq
	f.side.mods.add(r)
}

// expungeRecLocked forgets r and queues its EXPUNGE.
func (f *folder) expungeRecLocked(r *msgRec, log *strings.Builder) {
	f.side.highestModSeq++
	fmt.Fprintf(log, "x %d %d\n", r.uid, f.side.highestModSeq)
	f.side.vanished.add(r.uid, f.side.highestModSeq)
	f.side.drop(r)
	f.cache.drop(r.uid)
	f.events = append(f.events, event{kind: evExpunge, uid: r.uid, rec: r})
}

// fanOut hands the collected events to every session and wakes them.
func (f *folder) fanOut() {
	if len(f.events) == 0 {
		return
	}
	evs := f.events
	f.events = nil
	for _, m := range f.sessions {
		m.enqueue(evs)
	}
}

func mtimeOf(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.ModTime().UnixNano(), nil
}

// sweepTmp removes files older than cutoff from a tmp/ directory: what
// writers killed mid-delivery left (the Maildir specification's 36 hours,
// as Dovecot uses). Nothing there is a message yet. Age is the inode's
// change time: an APPEND sets its file's mtime to the internal date it
// was given, long ago perhaps, just before the rename.
func sweepTmp(dir string, cutoff time.Time) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil && changeTime(fi).Before(cutoff) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// claimRecentLocked gives the \Recent messages (UIDs at or above the
// sidecar's first-recent mark) to the oldest read-write session, and
// moves the mark past them, so that they are recent in exactly one
// session of any process (RFC 3501 §2.3.2). With no read-write session
// they stay recent, for STATUS, EXAMINE and the next SELECT. The caller
// holds the file lock.
func (f *folder) claimRecentLocked() error {
	line := f.claimRecentLine()
	if line == "" {
		return nil
	}
	return f.side.appendLines([]byte(line), false)
}

// claimRecentLine makes claimRecentLocked's claim in memory and returns
// the sidecar line that records it ("" when there is nothing to claim),
// for a caller that writes lines of its own anyway.
func (f *folder) claimRecentLine() string {
	s := f.side
	if s.firstRecent >= s.uidNext {
		return ""
	}
	var claimant *Mailbox
	for _, m := range f.sessions {
		if !m.readOnly {
			claimant = m
			break
		}
	}
	if claimant == nil {
		return ""
	}
	var uids []uint32
	for i := len(s.recs) - 1; i >= 0 && s.recs[i].uid >= s.firstRecent; i-- {
		uids = append(uids, s.recs[i].uid)
	}
	claimant.addRecent(uids)
	s.firstRecent = s.uidNext
	return s.recentLine()
}

// recentFrom counts the messages with a UID at or above the mark.
func (f *folder) recentCountLocked() uint32 {
	n := uint32(0)
	for i := len(f.side.recs) - 1; i >= 0 && f.side.recs[i].uid >= f.side.firstRecent; i-- {
		n++
	}
	return n
}
