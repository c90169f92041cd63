package maildir

import (
	"cmp"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// This file reconciles a folder's directories with its sidecar: the
// listing of new/ and cur/, new files getting UIDs, renames, rewrites and
// deletions found on disk.

// scanLocked reconciles the directories with the sidecar. new/ is listed
// before cur/, and cur/ is stat'ed after new/ was listed, so a file that
// another process moves from new/ to cur/ meanwhile is never missed.
func (f *folder) scanLocked(full bool) error {
	s := f.side
	events := len(f.events) // this scan's come after
	newPath, curPath := filepath.Join(f.dir, "new"), filepath.Join(f.dir, "cur")
	newM, err := mtimeOf(newPath)
	if err != nil {
		return err
	}
	listNew := full || f.dirChanged(newM, s.newMtime, s.newScan)
	var newEnts, curEnts []dirent
	var newStart, curStart int64
	if listNew {
		// new/ changes by deliveries, each a listing whatever we do, and a
		// delivery must not wait: new/ is settled (settleLocked) only when
		// it is listed again for want of trust in an unchanged mtime.
		if newM == s.newMtime {
			if newM, newStart, err = f.settleLocked(newPath, newM, s.newMtime, s.newScan); err != nil {
				return err
			}
		} else {
			newStart = time.Now().UnixNano()
		}
		f.hub.stats.Listings.Add(1)
		var odd []string
		if newEnts, odd, err = listDirOdd(newPath, 0); err != nil {
			return err
		}
		f.oddNew = f.noteOdd("new", odd, f.oddNew)
	}
	curM, err := mtimeOf(curPath)
	if err != nil {
		return err
	}
	listCur := full || f.dirChanged(curM, s.curMtime, s.curScan)
	if listCur {
		if curM, curStart, err = f.settleLocked(curPath, curM, s.curMtime, s.curScan); err != nil {
			return err
		}
		f.hub.stats.Listings.Add(1)
		var odd []string
		if curEnts, odd, err = listDirOdd(curPath, len(s.recs)+len(s.recs)/8); err != nil {
			return err
		}
		f.oddCur = f.noteOdd("cur", odd, f.oddCur)
	}
	// Files the watcher saw written to may have been rewritten in place.
	var suspects []*msgRec
	for base := range f.suspects {
		if r := s.baseIndex()[base]; r != nil {
			suspects = append(suspects, r)
		}
	}
	f.suspects = nil
	if !listNew && !listCur {
		if len(suspects) == 0 {
			return nil
		}
		var log strings.Builder
		if err := f.addFoundLocked(f.checkContentLocked(suspects, &log), &log); err != nil {
			return err
		}
		return s.appendLines([]byte(log.String()), f.mustSync(events))
	}
	var log strings.Builder
	var fresh []found
	if len(s.recs) == 0 { // a first listing: all of them
		fresh = make([]found, 0, len(newEnts)+len(curEnts))
		if s.byBase == nil {
			s.byBase = make(map[string]*msgRec, len(newEnts)+len(curEnts))
		}
	}
	for _, r := range s.recs {
		r.seen = false
	}
	visit := func(ents []dirent, inNew bool) {
		for _, e := range ents {
			base, inf, hasInfo := splitName(e.name)
			r := s.baseIndex()[base]
			if r != nil && !r.seen && r.ino != e.ino {
				// The same base name on another inode: a copy of the
				// folder (cp -a, rsync -a, tar, mv across file systems)
				// or a file replaced by another program. Size and mtime
				// tell them apart; a copy keeps its UID.
				f.sameFileLocked(r, filepath.Join(dirOf(inNew), e.name), e.ino, &log)
			}
			if r == nil || r.ino != e.ino || r.seen {
				fresh = append(fresh, found{dirent: e, base: base, inNew: inNew, hasInfo: hasInfo, raw: rawInfoOf(e.name, hasInfo)})
				continue
			}
			r.seen = true
			raw := rawInfoOf(e.name, hasInfo)
			if r.inNew != inNew || r.hasInfo != hasInfo || r.rawInfo != raw {
				oldInf, oldHas := r.inf, r.hasInfo
				r.inNew, r.hasInfo, r.rawInfo, r.inf = inNew, hasInfo, raw, inf
				if oldHas != hasInfo || oldInf != inf {
					f.bumpLocked(r)
					f.events = append(f.events, event{kind: evFlags, uid: r.uid})
				}
				log.WriteString(flagsLine(r))
			}
		}
	}
	visit(newEnts, true)
	visit(curEnts, false)
	if full {
		statFound(f.hub, f.dir, fresh)
	}

	// Messages in a listed directory that were not seen are gone, unless
	// their file turns out to have been renamed under another base.
	var missing []*msgRec
	for _, r := range s.recs {
		if !r.seen && ((r.inNew && listNew) || (!r.inNew && listCur)) {
			missing = append(missing, r)
		}
	}
	byIno := map[uint64]*msgRec{}
	for _, r := range missing {
		byIno[r.ino] = r
	}
	var added []found
	if len(byIno) == 0 {
		added, fresh = fresh, nil // no file gone: nothing fresh can be one renamed
	}
	for i := range fresh {
		c := &fresh[i]
		r := byIno[c.ino]
		if r == nil || r.base == c.base || s.baseIndex()[c.base] != nil {
			added = append(added, *c)
			continue
		}
		if !c.statted {
			c.stat(f.dir)
		}
		if c.gone || c.ino != r.ino || c.size != r.size || (r.mtime != 0 && c.mtime != r.mtime) {
			// A freed inode the file system gave a new file: not a rename.
			added = append(added, *c)
			continue
		}
		{
			// Same inode, size and mtime under a new base name: a rename by
			// another tool. The message keeps its UID.
			delete(byIno, c.ino)
			s.delBase(r.base)
			r.base = c.base
			s.setBase(r.base, r)
			r.seen = true
			fmt.Fprintf(&log, "b %d %s\n", r.uid, escapeBase(r.base))
			if r.mtime == 0 {
				r.mtime = c.mtime
				log.WriteString(timeLine(r))
			}
			oldInf := r.inf
			r.inNew, r.hasInfo, r.rawInfo, r.inf = c.inNew, c.hasInfo, c.raw, c.info()
			if r.inf != oldInf {
				// Renamed with its flags changed: a change like any other.
				f.bumpLocked(r)
				f.events = append(f.events, event{kind: evFlags, uid: r.uid})
			}
			log.WriteString(flagsLine(r))
		}
	}
	for _, r := range missing {
		if !r.seen {
			f.expungeRecLocked(r, &log)
		}
	}
	if full {
		added = append(added, f.checkContentLocked(s.recs, &log)...)
	} else if len(suspects) > 0 {
		var live []*msgRec
		for _, r := range suspects {
			if s.get(r.uid) == r {
				live = append(live, r)
			}
		}
		added = append(added, f.checkContentLocked(live, &log)...)
	}
	if err := f.addFoundLocked(added, &log); err != nil {
		return err
	}
	if listNew {
		s.newMtime, s.newScan = newM, newStart
	}
	if listCur {
		s.curMtime, s.curScan = curM, curStart
	}
	if f.hasWriter() && f.anyInNew() {
		f.ownChange(true, func() error { f.claimNewLocked(&log); return nil })
	}
	log.WriteString(s.dirLine())
	return s.appendLines([]byte(log.String()), f.mustSync(events))
}

// mustSync says whether a scan's records must reach the disk before
// anyone hears of them: when they give out or take back UIDs (the events
// from index since on hold an Added or an Expunged), unless fsync is off.
// The rest (flags renamed by others, files moved to cur/, base names and
// inodes, the directories' mtimes) a power cut may undo and the next
// listing finds again, as for a flag change by STORE; forcing them cost
// an fsync per refresh of a folder others write to.
func (f *folder) mustSync(since int) bool {
	if f.hub.opts.NoSync {
		return false
	}
	for _, e := range f.events[since:] {
		if e.kind == evAdd || e.kind == evExpunge {
			return true
		}
	}
	return false
}

// noteOdd logs each entry of sub (new or cur) that a listing left out for
// not being a regular file, once: known holds those logged before, and
// the set returned (what this listing found) replaces it, so an entry
// removed and planted again is logged again, and the set never holds
// more than the directory does.
func (f *folder) noteOdd(sub string, odd []string, known map[string]bool) map[string]bool {
	if len(odd) == 0 {
		return nil
	}
	now := make(map[string]bool, len(odd))
	for _, name := range odd {
		now[name] = true
		if !known[name] {
			f.hub.log.Warn("ignoring a file that is not a regular file (link, FIFO, device or directory): not a message", "dir", f.dir, "file", sub+"/"+name)
		}
	}
	return now
}

// checkContentLocked stats the files of recs: one whose size or mtime
// changed was rewritten (in place, or replaced under the same base name),
// and is a new message. It expunges those and returns them to be added
// again. A file on a new inode with the same size and mtime is the same
// message (a restored copy): it keeps its UID and its new inode is
// recorded. Where size and mtime pass but the inode or the mtime's
// fraction of a second differ, a recorded fingerprint decides
// (fingerprintSame).
func (f *folder) checkContentLocked(recs []*msgRec, log *strings.Builder) []found {
	// Stat'ed first, all of them, as a listing's new files are
	// (statEach); then compared, which may expunge records of recs, a
	// copy.
	recs = append([]*msgRec(nil), recs...)
	cs := make([]found, len(recs))
	for k, r := range recs {
		cs[k] = found{dirent: dirent{name: r.name()}, base: r.base, inNew: r.inNew, hasInfo: r.hasInfo, raw: r.rawInfo}
	}
	statEach(f.dir, cs, len(cs))
	var added []found
	for k, r := range recs {
		c := &cs[k]
		if !c.statted {
			continue // gone, or no longer a regular file: the listing drops it
		}
		if r.mtime == 0 && c.ino == r.ino {
			// Never stat'ed (learnTimesLocked): nothing to compare with.
			r.size, r.mtime = c.size, c.mtime
			log.WriteString(timeLine(r))
			continue
		}
		if sameContent(r, c.size, c.mtime) && ((c.ino == r.ino && c.mtime == r.mtime) ||
			f.fingerprintSame(r, filepath.Join(f.dir, dirOf(r.inNew), c.name), c.ino, c.size, c.mtime)) {
			if c.ino != r.ino {
				r.ino = c.ino
				log.WriteString(inodeLine(r))
			}
			continue
		}
		f.expungeRecLocked(r, log)
		added = append(added, *c)
	}
	return added
}

// sameFileLocked decides whether the file at rel (new/ or cur/ and its
// name), listed with inode ino under r's base name, is r's message on a
// new inode: size and mtime say so and, when the message has a recorded
// fingerprint, so does the file's content. If so it records the inode,
// so that later listings match it without a stat, and returns true.
func (f *folder) sameFileLocked(r *msgRec, rel string, ino uint64, log *strings.Builder) bool {
	path := filepath.Join(f.dir, rel)
	st, err := lstatRegular(path)
	if err != nil || inodeOf(st) != ino || !sameContent(r, st.Size(), st.ModTime().UnixNano()) ||
		!f.fingerprintSame(r, path, ino, st.Size(), st.ModTime().UnixNano()) {
		return false
	}
	r.ino = ino
	log.WriteString(inodeLine(r))
	if r.mtime == 0 {
		r.mtime = st.ModTime().UnixNano()
		log.WriteString(timeLine(r))
	}
	return true
}

// sameContent reports whether a file of this size and mtime (ns) holds
// r's message. Identity is the base name; a rewrite changes the size or
// the mtime. The mtime may have lost its sub-second part: tar (GNU
// format) restores whole seconds, where cp -a and rsync -a keep
// nanoseconds. A rewrite that keeps the size and lands on such an mtime
// is told apart only by the message's fingerprint (fingerprintSame),
// where one is recorded.
func sameContent(r *msgRec, size, mtime int64) bool {
	if size != r.size {
		return false
	}
	if r.mtime == 0 {
		return true // not stat'ed yet: the size from its name is all there is
	}
	if mtime == r.mtime {
		return true
	}
	const sec = int64(time.Second)
	floor := r.mtime - ((r.mtime%sec)+sec)%sec
	return mtime == floor
}

// found is a file a listing found that has no UID yet.
type found struct {
	dirent
	base    string
	raw     string
	size    int64
	mtime   int64
	inNew   bool
	hasInfo bool
	statted bool
	gone    bool
}

func (c *found) info() info {
	_, inf, _ := splitName(":2," + c.raw)
	return inf
}

func (c *found) stat(dir string) {
	st, err := lstatRegular(filepath.Join(dir, dirOf(c.inNew), c.name))
	if err != nil {
		c.gone = true // or replaced by something that is not a message
		return
	}
	c.ino, c.size, c.mtime, c.statted = inodeOf(st), st.Size(), st.ModTime().UnixNano(), true
}

// statFound stats the files of cs not stat'ed yet: those a rename or a
// full check must compare, and new files whose name does not give their
// size (",S="). The calls go through descriptors of new/ and cur/ rather
// than whole paths, and on every core, since a stat takes no lock on the
// directory.
func statFound(hub *Hub, dir string, cs []found) {
	n := 0
	for k := range cs {
		if !cs[k].statted {
			n++
		}
	}
	if n == 0 {
		return
	}
	hub.stats.FileStats.Add(int64(n))
	statEach(dir, cs, n)
}

// statEach is statFound's stat of the n files of cs not stat'ed yet,
// without the count.
func statEach(dir string, cs []found, n int) {
	dirs := openMsgDirs(dir, n)
	defer dirs.close()
	onEveryCore(len(cs), func(k int) {
		if c := &cs[k]; !c.statted {
			c.statAt(dirs.at(c.inNew, c.name))
		}
	})
}

// onEveryCore calls do(0) .. do(n-1), in chunks, on as many goroutines
// as there are cores (and chunks), and returns when all are done.
func onEveryCore(n int, do func(i int)) {
	const chunk = 512
	var next atomic.Int64
	work := func() {
		for {
			start := int(next.Add(chunk)) - chunk
			if start >= n {
				return
			}
			for i := start; i < min(start+chunk, n); i++ {
				do(i)
			}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// learnTimesLocked stats the files of recs whose mtime is not known: a
// folder's first listing takes a new file's size from ",S=" in its name
// and leaves the stat to the first command that needs the internal
// date, as Dovecot does, so that opening a large folder is one readdir.
// What is learned goes to the sidecar with the next write (a 't' record).
// A file not found under its recorded name is left for later. uids are
// ascending; the caller holds f.mu and has the records sorted.
func (f *folder) learnTimesLocked(uids []uint32) {
	var todo []*msgRec
	recs, at := f.side.recs, 0
	for _, uid := range uids {
		at = f.side.seek(uid, at)
		if at < len(recs) && recs[at].uid == uid && recs[at].mtime == 0 {
			todo = append(todo, recs[at])
		}
	}
	if len(todo) == 0 {
		return
	}
	f.hub.stats.FileStats.Add(int64(len(todo)))
	dirs := openMsgDirs(f.dir, len(todo))
	defer dirs.close()
	sts := make([]unix.Stat_t, len(todo))
	onEveryCore(len(todo), func(k int) {
		fd, name := dirs.at(todo[k].inNew, todo[k].name())
		if unix.Fstatat(fd, name, &sts[k], unix.AT_SYMLINK_NOFOLLOW) != nil {
			sts[k].Ino = 0
		}
	})
	for k, r := range todo {
		st := &sts[k]
		if st.Ino != r.ino || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		r.size, r.mtime = st.Size, st.Mtim.Nano()
		f.dirtyTimes = append(f.dirtyTimes, r)
	}
}

// nameTime is the delivery time a Maildir name begins with (seconds
// since the epoch, in ns), or 0: what orders new files, and stands for
// the internal date, while their mtime is not known.
func nameTime(base string) int64 {
	end := strings.IndexByte(base, '.')
	if end < 0 {
		return 0
	}
	sec, ok := parseDecimal(base[:end])
	if !ok || sec > 1<<33 {
		return 0
	}
	return sec * int64(time.Second)
}

// statAt is stat for the file name of the directory open as dirfd (or
// a path, with AT_FDCWD).
func (c *found) statAt(dirfd int, name string) {
	var st unix.Stat_t
	err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		c.gone = true // or replaced by something that is not a message
		return
	}
	c.ino, c.size, c.mtime, c.statted = st.Ino, st.Size, st.Mtim.Nano(), true
}

func rawInfoOf(name string, hasInfo bool) string {
	if !hasInfo {
		return ""
	}
	return name[strings.LastIndex(name, ":2,")+3:]
}

func dirOf(inNew bool) string {
	if inNew {
		return "new"
	}
	return "cur"
}

// addFoundLocked gives UIDs to new files, in the order of their names
// (which begin with the delivery time), so UIDs follow arrival.
func (f *folder) addFoundLocked(added []found, log *strings.Builder) error {
	s := f.side
	for i := range added {
		if c := &added[i]; !c.statted && nameTime(c.base) != 0 {
			if phys, _ := sizesFromBase(c.base); phys > 0 {
				c.size, c.statted = phys, true // the mtime: learnTimesLocked
			}
		}
	}
	statFound(f.hub, f.dir, added)
	// Arrival is the delivery time a name begins with, else the mtime.
	type arrival struct {
		at int64
		c  *found
	}
	order := make([]arrival, len(added))
	for i := range added {
		c := &added[i]
		order[i] = arrival{nameTime(c.base), c}
		if order[i].at == 0 {
			order[i].at = c.mtime
		}
	}
	slices.SortFunc(order, func(a, b arrival) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return strings.Compare(a.c.name, b.c.name)
	})
	s.recs = slices.Grow(s.recs, len(added))
	f.events = slices.Grow(f.events, len(added))
	// A sidecar to be written from scratch (a folder's first listing)
	// gets its records from s.recs: formatting them here too would only
	// be thrown away.
	logAdds := !s.fromScratch()
	var line []byte
	for _, o := range order {
		c := o.c
		if c.gone {
			continue
		}
		if s.baseIndex()[c.base] != nil {
			// Two files with one base name: give the newcomer a base of
			// its own (Dovecot does the same) so that neither is lost.
			nb, err := f.renameDuplicate(c)
			if err != nil {
				f.hub.log.Warn("cannot rename a duplicate message file", "dir", f.dir, "file", c.name, "err", err)
				continue
			}
			c.base = nb
		}
		uid := uint32(0)
		if m, ok := s.migrated[c.base]; ok && m >= 1 && s.get(m) == nil {
			uid = m
		} else {
			uid = s.uidNext
		}
		r := &msgRec{uid: uid, ino: c.ino, size: c.size, mtime: c.mtime, base: c.base, inNew: c.inNew}
		if c.hasInfo {
			r.setInfo(c.raw)
		}
		_, vs := sizesFromBase(c.base)
		r.vsize = vs
		f.bumpLocked(r)
		resort := len(s.recs) > 0 && s.recs[len(s.recs)-1].uid > uid
		s.insert(r)
		if resort {
			sort.Slice(s.recs, func(i, j int) bool { return s.recs[i].uid < s.recs[j].uid })
		}
		if logAdds {
			line = appendAddLine(line[:0], r)
			log.Write(line)
		}
		f.events = append(f.events, event{kind: evAdd, uid: uid})
	}
	s.migrated = nil
	return nil
}

// claimNewLocked moves every file of new/ to cur/, as a session that
// selected the folder read-write does (RFC 3501 \Recent: the process that
// moves a message is the one whose session sees it as recent). A file
// another process moved first is left to the next listing.
func (f *folder) claimNewLocked(log *strings.Builder) {
	for _, r := range f.side.recs {
		if !r.inNew {
			continue
		}
		from := filepath.Join(f.dir, "new", r.name())
		raw := r.rawInfo
		to := filepath.Join(f.dir, "cur", r.base+":2,"+raw)
		if err := renameMessage(from, to); err != nil {
			continue
		}
		r.inNew = false
		r.setInfo(raw)
		log.WriteString(flagsLine(r))
	}
}

func (f *folder) anyInNew() bool {
	for _, r := range f.side.recs {
		if r.inNew {
			return true
		}
	}
	return false
}
