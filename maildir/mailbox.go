package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Mailbox is one session's handle on a selected folder. It knows
// messages by UID only: what the client has been told, and so sequence
// numbers, is the session's business (imapd's tracker). Changes made by
// anyone after the selection, this session included, wait in a queue
// that Changes drains. Methods are for one goroutine (the session's),
// except Wake, which any goroutine may wait on.
type Mailbox struct {
	store    *Store
	f        *folder
	name     string
	readOnly bool

	initial  []uint32 // the folder's UIDs at selection, ascending
	batching bool     // BatchWrites is in effect

	mu       sync.Mutex // guards the fields below, filled by the folder's fan-out
	queue    []event
	recent   map[uint32]struct{}
	skipNext bool // the next fan-out predates the initial snapshot
	wakeCh   chan struct{}
	wakeHook atomic.Pointer[func()]
	closed   bool
}

// SelectOptions modify Select.
type SelectOptions struct {
	ReadOnly bool // EXAMINE: no flag changes, new/ is left alone
}

// Select opens a folder for a session (RFC 3501 SELECT/EXAMINE).
func (s *Store) Select(name string, opts SelectOptions) (*Mailbox, error) {
	name, dir, err := s.dir(name)
	if err != nil {
		return nil, err
	}
	f, err := s.hub.acquire(s.root, dir)
	if err != nil {
		return nil, err
	}
	s.hub.watchOnce.Do(s.hub.startWatch)
	s.hub.watch.add(f)
	m := &Mailbox{store: s, f: f, name: name, readOnly: opts.ReadOnly,
		recent: map[uint32]struct{}{}, wakeCh: make(chan struct{}, 1), skipNext: true}
	f.mu.Lock()
	f.sessions = append(f.sessions, m)
	f.mu.Unlock()
	err = f.update(false, func() error {
		m.initial = make([]uint32, len(f.side.recs))
		for i, r := range f.side.recs {
			m.initial[i] = r.uid
		}
		return nil
	})
	m.mu.Lock()
	m.skipNext = false // also when the update had nothing to fan out
	m.mu.Unlock()
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Name returns the folder's canonical name.
func (m *Mailbox) Name() string { return m.name }

// ReadOnly reports whether the folder was selected read-only.
func (m *Mailbox) ReadOnly() bool { return m.readOnly }

// Close ends the selection; pending updates are dropped.
func (m *Mailbox) Close() error {
	f := m.f
	f.mu.Lock()
	for i, o := range f.sessions {
		if o == m {
			f.sessions = append(f.sessions[:i], f.sessions[i+1:]...)
			break
		}
	}
	f.mu.Unlock()
	m.mu.Lock()
	already := m.closed
	m.closed = true
	m.mu.Unlock()
	if !already {
		if m.batching {
			m.ReleaseBuffers()
		}
		f.hub.release(f)
	}
	return nil
}

// Wake returns a channel that receives a value when updates may be
// waiting (buffer 1, never blocks the sender).
func (m *Mailbox) Wake() <-chan struct{} { return m.wakeCh }

// SetWakeHook makes every wake also call f (nil: no longer), from the
// goroutine that noticed the change: for a session that waits for its
// client and for changes in one goroutine (IDLE), f interrupts that wait.
// f must not block.
func (m *Mailbox) SetWakeHook(f func()) {
	if f == nil {
		m.wakeHook.Store(nil)
		return
	}
	m.wakeHook.Store(&f)
}

func (m *Mailbox) wake() {
	select {
	case m.wakeCh <- struct{}{}:
	default:
	}
	if f := m.wakeHook.Load(); f != nil {
		(*f)()
	}
}

func (m *Mailbox) enqueue(evs []event) {
	m.mu.Lock()
	if m.skipNext {
		m.skipNext = false
		m.mu.Unlock()
		return
	}
	m.queue = append(m.queue, evs...)
	m.mu.Unlock()
	m.wake()
}

func (m *Mailbox) addRecent(uids []uint32) {
	m.mu.Lock()
	m.addRecentLocked(uids)
	m.mu.Unlock()
}

func (m *Mailbox) addRecentLocked(uids []uint32) {
	for _, u := range uids {
		m.recent[u] = struct{}{}
	}
}

// Initial returns the folder's UIDs at selection, ascending: what SELECT
// announces; the slice is the caller's (a second call returns nil).
// Every later change comes from Changes.
func (m *Mailbox) Initial() []uint32 {
	uids := m.initial
	m.initial = nil
	return uids
}

// UIDs returns the UIDs in the folder now, ascending.
func (m *Mailbox) UIDs() []uint32 {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.side.sortRecs()
	out := make([]uint32, len(f.side.recs))
	for i, r := range f.side.recs {
		out[i] = r.uid
	}
	return out
}

// Count returns the number of messages in the folder now.
func (m *Mailbox) Count() uint32 {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	return uint32(len(m.f.side.recs))
}

// FirstUnseen returns the 1-based position in uids (ascending) of the
// first message without \Seen, or 0: SELECT's UNSEEN, with one look at
// the folder.
func (m *Mailbox) FirstUnseen(uids []uint32) uint32 {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.side.sortRecs()
	recs, at := f.side.recs, 0
	for i, uid := range uids {
		at = f.side.seek(uid, at)
		if at < len(recs) && recs[at].uid == uid && recs[at].inf.flags&FlagSeen == 0 {
			return uint32(i + 1)
		}
	}
	return 0
}

// seekUID returns the index of the first element of s, ascending by
// uidOf, with a UID at or above uid. When s[from-1] is below uid it
// starts at from: a caller asking in ascending order passes the last
// answer and pays a step or two instead of a binary search.
func seekUID[E any](s []E, uidOf func(E) uint32, uid uint32, from int) int {
	if from > len(s) || (from > 0 && uidOf(s[from-1]) >= uid) {
		from = 0
	}
	for n := 0; n < 4 && from < len(s); n++ {
		if uidOf(s[from]) >= uid {
			return from
		}
		from++
	}
	return from + sort.Search(len(s)-from, func(k int) bool { return uidOf(s[from+k]) >= uid })
}

func viewUID(u uint32) uint32 { return u }

// RecentCount returns how many of uids (ascending) are \Recent in this
// session. A read-only session sees the folder's unclaimed recent
// messages as recent without claiming them (RFC 3501 §6.3.2).
func (m *Mailbox) RecentCount(uids []uint32) uint32 {
	n := uint32(0)
	if m.readOnly {
		m.f.mu.Lock()
		first := m.f.side.firstRecent
		m.f.mu.Unlock()
		for i := len(uids) - 1; i >= 0 && uids[i] >= first; i-- {
			n++
		}
		return n
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for u := range m.recent {
		if _, ok := slices.BinarySearch(uids, u); ok {
			n++
		}
	}
	return n
}

// Message is a snapshot of one message's metadata.
type Message struct {
	UID          uint32
	Flags        Flags
	Keywords     []string // keywords other than $Forwarded, as named in the folder
	Recent       bool
	InternalDate time.Time
	Size         int64 // RFC822.SIZE when known without reading the file, else 0 (see Size)
	ModSeq       uint64
	Expunged     bool // gone from the folder, still in this session's view
}

// Message returns the current metadata of uid.
func (m *Mailbox) Message(uid uint32) Message {
	var one [1]Message
	return m.Messages([]uint32{uid}, one[:0])[0]
}

// Messages appends to out the current metadata of each of uids, as
// Message would one by one, with one look at the folder: what a FETCH of
// flags over a whole mailbox needs.
func (m *Mailbox) Messages(uids []uint32, out []Message) []Message {
	f := m.f
	start := len(out)
	f.mu.Lock()
	f.side.sortRecs()
	recs, at := f.side.recs, 0
	f.learnTimesLocked(uids)
	for _, uid := range uids {
		at = f.side.seek(uid, at)
		if at < len(recs) && recs[at].uid == uid {
			out = append(out, f.messageLocked(recs[at]))
		} else {
			out = append(out, Message{UID: uid, Expunged: true})
		}
	}
	first := f.side.firstRecent
	f.mu.Unlock()
	got := out[start:]
	if m.readOnly {
		for i := range got {
			got[i].Recent = got[i].UID >= first && !got[i].Expunged
		}
		return out
	}
	m.mu.Lock()
	for i := range got {
		_, got[i].Recent = m.recent[got[i].UID]
	}
	m.mu.Unlock()
	return out
}

func (f *folder) messageLocked(r *msgRec) Message {
	date := r.mtime
	if date == 0 {
		date = nameTime(r.base) // its file was gone when learnTimesLocked looked
	}
	msg := Message{UID: r.uid, Flags: r.inf.flags, ModSeq: r.modseq, InternalDate: time.Unix(0, date), Size: r.vsize}
	for i := 0; i < len(r.inf.letters); i++ {
		if n := f.kw.name(r.inf.letters[i]); n != "" {
			msg.Keywords = append(msg.Keywords, n)
		}
	}
	msg.Keywords = append(msg.Keywords, r.extra...)
	if len(r.extra) > 0 {
		msg.Keywords = sortedKeywords(msg.Keywords)
	}
	return msg
}

// Keywords returns every keyword the folder knows (for the FLAGS
// response): those with a letter, and those kept in the sidecar.
func (m *Mailbox) Keywords() []string {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.keywordSetLocked()
	out := make([]string, 0, len(set))
	for _, k := range set {
		out = append(out, k)
	}
	return sortedKeywords(out)
}

// UIDValidity returns the folder's UIDVALIDITY.
func (m *Mailbox) UIDValidity() uint32 {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	return m.f.side.uidValidity
}

// UIDNext returns the UID the next message will get.
func (m *Mailbox) UIDNext() uint32 {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	return m.f.side.uidNext
}

// HighestModSeq returns the folder's highest modification sequence.
func (m *Mailbox) HighestModSeq() uint64 {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	return m.f.side.highestModSeq
}

// path returns the recorded path of uid's file and its base name.
func (m *Mailbox) path(uid uint32) (string, string, error) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.side.get(uid)
	if r == nil {
		return "", "", fmt.Errorf("uid %d: %w", uid, ErrExpunged)
	}
	return filepath.Join(f.dir, dirOf(r.inNew), r.name()), r.base, nil
}

// Open opens the file of uid for reading. A file another program renamed
// meanwhile is found again by its base name (see withFile); a message
// whose file is gone from new/ and cur/ is ErrExpunged. The file is
// opened without following a link and without blocking on a FIFO, and
// must be a regular file: anything else under a message's name is not a
// message (see nofollow.go) and counts as gone.
func (m *Mailbox) Open(uid uint32) (*os.File, error) {
	var fh *os.File
	err := m.withFile(uid, func(p string) error {
		m.f.hub.stats.MessageReads.Add(1)
		var err error
		fh, err = openRegular(p, os.O_RDONLY, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	return fh, nil
}

// Refresh brings the folder up to date with the disk; what changed is
// then waiting in Poll. full also finds messages rewritten in place.
func (m *Mailbox) Refresh(full bool) error { return m.f.update(full, nil) }

// ChangeKind tells what a Change says happened to a message.
type ChangeKind uint8

const (
	Added        ChangeKind = iota + 1 // a new message (its UID is above every UID before it)
	Expunged                           // the message is gone
	FlagsChanged                       // another session or program changed its flags
)

// Change is one thing that happened to the folder after the selection,
// as Changes reports it.
type Change struct {
	Kind ChangeKind
	UID  uint32
	// Last is, for Expunged, the message's metadata when it went (UID,
	// flags, keywords, date, size), so that a client not yet told of the
	// expunge can still be answered about it.
	Last Message
}

// Changes returns what happened to the folder since the last call (since
// the selection at first), in order, and empties the queue. Flag
// changes this session made itself are left out: its STORE reports them.
func (m *Mailbox) Changes() []Change {
	m.mu.Lock()
	q := m.queue
	m.queue = nil
	m.mu.Unlock()
	if len(q) == 0 {
		return nil
	}
	out := make([]Change, 0, len(q))
	var gone []int // indexes in out of expunges with a record, in q order
	var recs []*msgRec
	for _, e := range q {
		switch e.kind {
		case evAdd:
			out = append(out, Change{Kind: Added, UID: e.uid})
		case evExpunge:
			out = append(out, Change{Kind: Expunged, UID: e.uid, Last: Message{UID: e.uid, Expunged: true}})
			if e.rec != nil {
				gone = append(gone, len(out)-1)
				recs = append(recs, e.rec)
			}
		case evFlags:
			if e.origin != m {
				out = append(out, Change{Kind: FlagsChanged, UID: e.uid})
			}
		}
	}
	if len(gone) > 0 {
		f := m.f
		f.mu.Lock()
		for k, i := range gone {
			out[i].Last = f.messageLocked(recs[k])
			out[i].Last.Expunged = true
		}
		f.mu.Unlock()
	}
	m.mu.Lock()
	for _, c := range out {
		if c.Kind == Expunged {
			delete(m.recent, c.UID)
		}
	}
	m.mu.Unlock()
	return out
}

// Gone reports whether the folder was deleted or renamed (by this process
// or, as a refresh found, by another): the session should tell its client
// and end the selection.
func (m *Mailbox) Gone() bool {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	return m.f.gone
}
