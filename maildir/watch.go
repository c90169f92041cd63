package maildir

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watch turns changes made on disk by anybody into folder refreshes, so
// that every session with the folder selected hears of them at once.
//
// One inotify instance serves the whole Hub; new/ and cur/ of every folder
// some session of the process holds are watched. An event on a folder no
// refresh is running for starts one at once, so a delivery reaches IDLE
// sessions without waiting; events that arrive while it runs make one
// more run when it ends, which answers them all. A refresh that found
// something to do lasts at least its fsync, so a burst of a thousand
// deliveries costs a refresh per fsync, not one per delivery. A write event on a message file marks it a suspect: its next
// refresh stats it to find content rewritten in place.
//
// When the kernel refuses a watch (fs.inotify.max_user_watches) or drops
// events (queue overflow), the Hub says so once in the log and falls back
// to checking the directories' mtimes of every held folder periodically;
// nothing else changes.
type watch struct {
	hub *Hub

	mu      sync.Mutex
	w       *fsnotify.Watcher // nil until started, and when unavailable
	dirs    map[string]*folder
	roots   map[string]int // watched Maildir roots, by folders watched below them
	polling bool           // some folder is not watched: poll them all
	nadded  int
	stop    chan struct{} // closed by Hub.Close
}

// defaultPoll is how often folders are checked where inotify fails.
const defaultPoll = time.Second

func (h *Hub) startWatch() {
	wt := &h.watch
	wt.hub = h
	wt.dirs = map[string]*folder{}
	wt.roots = map[string]int{}
	wt.stop = make(chan struct{})
}

// Close stops the watcher. Sessions keep working; changes by others are
// then seen at their next command only.
func (h *Hub) Close() error {
	h.watchOnce.Do(h.startWatch)
	wt := &h.watch
	wt.mu.Lock()
	defer wt.mu.Unlock()
	select {
	case <-wt.stop:
		return nil
	default:
	}
	close(wt.stop)
	var err error
	if wt.w != nil {
		err = wt.w.Close()
		wt.w = nil
	}
	h.mu.Lock()
	idle := h.idle
	h.idle = nil
	for _, f := range idle {
		if h.folders[f.dir] == f && f.refs == 0 {
			delete(h.folders, f.dir)
		}
	}
	h.mu.Unlock()
	for _, f := range idle {
		if f.refs == 0 {
			f.teardown()
		}
	}
	return err
}

// openLocked starts the inotify instance when the first folder is
// watched; it lives until Hub.Close (closing one costs the kernel an RCU
// grace period, milliseconds, so it is not done per folder). A Hub that
// never had a folder selected holds none.
func (wt *watch) openLocked() bool {
	if wt.w != nil {
		return true
	}
	if wt.hub.opts.NoWatch {
		wt.fallback("inotify disabled by configuration", nil)
		return false
	}
	select {
	case <-wt.stop:
		return false
	default:
	}
	w, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		wt.fallback("inotify unavailable", err)
		return false
	}
	wt.w = w
	go wt.loop(w)
	return true
}

// add starts watching a folder's directories.
func (wt *watch) add(f *folder) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if f.watched || !wt.openLocked() {
		return
	}
	for _, sub := range []string{"new", "cur"} {
		if lim := wt.hub.opts.MaxWatches; lim > 0 && wt.nadded >= lim {
			wt.fallback("watch limit reached (simulated)", nil)
			return
		}
		p := filepath.Join(f.dir, sub)
		if err := wt.w.Add(p); err != nil {
			if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
				wt.fallback("inotify watch limit reached (fs.inotify.max_user_watches)", err)
			} else {
				wt.fallback("cannot watch "+p, err)
			}
			return
		}
		wt.nadded++
		wt.dirs[p] = f
	}
	f.watched = true
	// The Maildir root too, for a folder renamed or removed by another
	// program: its own directories give no event when they move with it.
	if f.dir != f.root {
		if wt.roots[f.root] == 0 {
			if err := wt.w.Add(f.root); err != nil {
				wt.fallback("cannot watch "+f.root, err)
				return
			}
		}
		wt.roots[f.root]++
		f.rootWatched = true
	}
}

// pauseRenames is how many renames of our own make pauseCur worth it.
const pauseRenames = 256

// pauseCur stops watching f's cur/ for a run of our own renames (a STORE
// over a whole folder), and reports whether it did; resumeCur ends it.
// Each rename in a watched directory has the kernel queue two events and
// wake our reader on the other core, which nearly doubles its cost
// (BenchmarkSetFlagsAll: 20 us a message watched, 13 us not), and the
// refresh the events start learns nothing: a change of ours leaves the
// directory's listing complete (ownChange), and another program's rename
// or new file in the same moment is one ownChange trusts the mtime over
// anyway. What the pause adds to that: a file of cur/ rewritten in place
// meanwhile is not made a suspect (no write event), as it is not when
// its mtime was never learned.
//
// Calls nest. The caller holds no folder lock (the watcher takes
// watch.mu before f.mu).
func (wt *watch) pauseCur(f *folder) bool {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	p := filepath.Join(f.dir, "cur")
	if f.curPaused > 0 {
		f.curPaused++
		return true
	}
	if wt.w == nil || wt.dirs[p] != f {
		return false
	}
	if err := wt.w.Remove(p); err != nil {
		return false
	}
	delete(wt.dirs, p) // events already queued for it are dropped: see resumeCur
	f.curPaused = 1
	return true
}

// resumeCur watches cur/ again after the last of the runs pauseCur let
// go unwatched, and refreshes f: the events dropped with the watch may
// have been another program's.
func (wt *watch) resumeCur(f *folder) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if f.curPaused--; f.curPaused > 0 {
		return
	}
	if !f.watched || wt.w == nil {
		return // let go meanwhile, or the Hub closed
	}
	p := filepath.Join(f.dir, "cur")
	if err := wt.w.Add(p); err != nil {
		wt.fallback("cannot watch "+p+" again", err)
		return
	}
	wt.dirs[p] = f
	wt.startRefreshLocked(f)
}

// fallback switches to periodic checks, logging the first time.
func (wt *watch) fallback(why string, err error) {
	if wt.polling {
		return
	}
	wt.hub.log.Warn("falling back to periodic folder checks", "why", why, "err", err, "interval", wt.interval())
	wt.polling = true
	go wt.poll()
}

func (wt *watch) interval() time.Duration {
	if d := wt.hub.opts.PollInterval; d > 0 {
		return d
	}
	return defaultPoll
}

// remove stops watching a folder that no session holds any more.
func (wt *watch) remove(f *folder) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if f.rootWatched {
		f.rootWatched = false
		if wt.roots[f.root]--; wt.roots[f.root] <= 0 {
			delete(wt.roots, f.root)
			if wt.w != nil {
				_ = wt.w.Remove(f.root)
			}
		}
	}
	// Partly watched folders (the limit hit between new/ and cur/) too.
	for _, sub := range []string{"new", "cur"} {
		p := filepath.Join(f.dir, sub)
		if wt.dirs[p] == f && wt.w != nil {
			delete(wt.dirs, p)
			_ = wt.w.Remove(p)
			wt.nadded--
		}
	}
	f.watched = false
}

func (wt *watch) loop(w *fsnotify.Watcher) {
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			wt.event(ev)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				wt.mu.Lock()
				wt.fallback("inotify event queue overflow", err)
				wt.mu.Unlock()
				wt.refreshAll()
			} else {
				wt.hub.log.Warn("inotify error", "err", err)
			}
		}
	}
}

func (wt *watch) event(ev fsnotify.Event) {
	dir, name := filepath.Split(ev.Name)
	wt.mu.Lock()
	defer wt.mu.Unlock()
	dir = strings.TrimSuffix(dir, "/")
	f := wt.dirs[dir]
	if f == nil && wt.roots[dir] > 0 && strings.HasPrefix(name, ".") && ev.Has(fsnotify.Rename|fsnotify.Remove) {
		// A folder directory renamed or removed in a watched root: if a
		// session holds it, its refresh finds it gone and says so.
		wt.hub.mu.Lock()
		f = wt.hub.folders[ev.Name]
		wt.hub.mu.Unlock()
		if f == nil {
			return
		}
		name = ""
	}
	if f == nil {
		// An event on a watched directory itself: it was removed or
		// renamed, with its folder. The refresh finds the folder gone.
		if f = wt.dirs[ev.Name]; f == nil {
			return
		}
		name = ""
	}
	if ev.Has(fsnotify.Write) && name != "" {
		// A file written to in place, whose writer may not be done (a
		// truncate, writes, then its old date put back): its check waits
		// for the writes to settle rather than catch it half-way, which
		// would give the message a new UID for each state seen.
		base, _, _ := splitName(name)
		if f.written == nil {
			f.written = map[string]bool{}
		}
		f.written[base] = true
		if !f.settling {
			f.settling = true
			time.AfterFunc(settleWrites, func() { wt.settled(f) })
		}
		return
	}
	wt.startRefreshLocked(f)
}

// settleWrites is how long after a first write to a message file its
// folder's refresh checks it.
const settleWrites = 5 * time.Millisecond

// settled hands the files written to since the first write to the
// folder's next refresh, to check whether their content changed.
func (wt *watch) settled(f *folder) {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	f.mu.Lock()
	if f.suspects == nil {
		f.suspects = map[string]bool{}
	}
	for base := range f.written {
		f.suspects[base] = true
	}
	f.mu.Unlock()
	f.written, f.settling = nil, false
	wt.startRefreshLocked(f)
}

// startRefreshLocked starts a refresh of f now, or, while one runs, one more
// after it. The caller holds wt.mu.
func (wt *watch) startRefreshLocked(f *folder) {
	if f.refreshing {
		f.rerun = true // the running refresh may have looked already
		return
	}
	f.refreshing = true
	go wt.refreshWhileChanging(f)
}

// refreshWhileChanging refreshes f, and again as long as events came in
// during the last run.
func (wt *watch) refreshWhileChanging(f *folder) {
	for {
		wt.refresh(f)
		wt.mu.Lock()
		again := f.rerun
		f.rerun, f.refreshing = false, again
		wt.mu.Unlock()
		if !again {
			return
		}
	}
}

// refresh brings a folder up to date; its sessions are woken by fanOut.
func (wt *watch) refresh(f *folder) {
	f.mu.Lock()
	busy := len(f.sessions) > 0 && !f.gone
	f.mu.Unlock()
	if !busy {
		return
	}
	if err := f.update(false, nil); err != nil && !errors.Is(err, ErrFolderGone) {
		wt.hub.log.Warn("refresh after a change on disk failed", "dir", f.dir, "err", err)
	}
}

func (wt *watch) refreshAll() {
	wt.hub.mu.Lock()
	var all []*folder
	for _, f := range wt.hub.folders {
		all = append(all, f)
	}
	wt.hub.mu.Unlock()
	for _, f := range all {
		wt.refresh(f)
	}
}

// poll checks every held folder periodically while some folder is not
// watched (or inotify lost events).
func (wt *watch) poll() {
	t := time.NewTicker(wt.interval())
	defer t.Stop()
	for {
		select {
		case <-wt.stop:
			return
		case <-t.C:
		}
		wt.refreshAll()
	}
}
