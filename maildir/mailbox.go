package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"imapd/internal/atomicfile"
)

// Mailbox is one session's handle on a selected folder. Its view (the
// UIDs in sequence order) changes only in Poll, so sequence numbers always
// mean what the client was last told. Methods are for one goroutine (the
// session's), except Wake, which any goroutine may wait on.
type Mailbox struct {
	store    *Store
	f        *folder
	name     string
	readOnly bool

	view    []uint32 // UIDs the client knows, ascending: sequence number n is view[n-1]
	seqHint int      // Seq's last answer, where the next search starts

	mu       sync.Mutex // guards the fields below, filled by the folder's fan-out
	queue    []event
	recent   map[uint32]struct{}
	skipNext bool // the next fan-out predates the view snapshot
	wakeCh   chan struct{}
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
		m.view = make([]uint32, len(f.side.recs))
		for i, r := range f.side.recs {
			m.view[i] = r.uid
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
		f.hub.release(f)
	}
	return nil
}

// Wake returns a channel that receives a value when updates may be
// waiting (buffer 1, never blocks the sender).
func (m *Mailbox) Wake() <-chan struct{} { return m.wakeCh }

func (m *Mailbox) wake() {
	select {
	case m.wakeCh <- struct{}{}:
	default:
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

// Count returns the number of messages in the view (EXISTS).
func (m *Mailbox) Count() uint32 { return uint32(len(m.view)) }

// UIDs returns a copy of the view: UIDs in sequence order.
func (m *Mailbox) UIDs() []uint32 { return append([]uint32(nil), m.view...) }

// View returns the view itself, not a copy, for reading until the next
// Poll, which changes it.
func (m *Mailbox) View() []uint32 { return m.view }

// FirstUnseen returns the sequence number of the first message of the
// view without \Seen, or 0: SELECT's UNSEEN, with one look at the
// folder.
func (m *Mailbox) FirstUnseen() uint32 {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.side.sortRecs()
	recs, at := f.side.recs, 0
	for i, uid := range m.view {
		at = f.side.seek(uid, at)
		if at < len(recs) && recs[at].uid == uid && recs[at].inf.flags&FlagSeen == 0 {
			return uint32(i + 1)
		}
	}
	return 0
}

// UID returns the UID of sequence number seq (1-based), or 0.
func (m *Mailbox) UID(seq uint32) uint32 {
	if seq == 0 || int(seq) > len(m.view) {
		return 0
	}
	return m.view[seq-1]
}

// Seq returns the sequence number of uid, or 0 if it is not in the view.
// UIDs asked in ascending order (a FETCH over a range) cost a step each.
func (m *Mailbox) Seq(uid uint32) uint32 {
	i := seekUID(m.view, viewUID, uid, m.seqHint)
	m.seqHint = i
	if i < len(m.view) && m.view[i] == uid {
		return uint32(i + 1)
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

// RecentCount returns how many messages of the view are \Recent here. A
// read-only session sees the folder's unclaimed recent messages as
// recent without claiming them (RFC 3501 §6.3.2).
func (m *Mailbox) RecentCount() uint32 {
	if m.readOnly {
		n := uint32(0)
		m.f.mu.Lock()
		first := m.f.side.firstRecent
		m.f.mu.Unlock()
		for i := len(m.view) - 1; i >= 0 && m.view[i] >= first; i-- {
			n++
		}
		return n
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := uint32(0)
	for u := range m.recent {
		if m.Seq(u) != 0 {
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
	msg := Message{UID: r.uid, Flags: r.inf.flags, ModSeq: r.modseq, InternalDate: time.Unix(0, r.mtime), Size: r.vsize}
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
	var out []string
	for _, n := range f.kw.names {
		if n != "" {
			out = append(out, n)
		}
	}
	for _, r := range f.side.recs {
		out = append(out, r.extra...)
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
// whose file is gone from new/ and cur/ is ErrExpunged.
func (m *Mailbox) Open(uid uint32) (*os.File, error) {
	var fh *os.File
	err := m.withFile(uid, func(p string) error {
		m.f.hub.stats.MessageReads.Add(1)
		var err error
		fh, err = atomicfile.OpenFile(p, os.O_RDONLY, 0)
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

// UpdateKind tells what an Update announces.
type UpdateKind uint8

const (
	UpdateExpunge UpdateKind = iota // * Seq EXPUNGE (the view already lost it)
	UpdateExists                    // * Count EXISTS, then * Recent RECENT
	UpdateFlags                     // * Seq FETCH (FLAGS ...) for UID
)

// Update is one untagged response the session owes its client.
type Update struct {
	Kind   UpdateKind
	Seq    uint32 // Expunge, Flags
	UID    uint32 // Expunge, Flags
	Count  uint32 // Exists: the new message count
	Recent uint32 // Exists: the new \Recent count
}

// Poll applies the queued changes to the view and returns the responses
// that announce them, in order. With allowExpunge false (RFC 3501 §7.4.1:
// during FETCH, STORE and SEARCH by sequence number) expunges stay queued
// and the view keeps those messages, so no sequence number moves.
func (m *Mailbox) Poll(allowExpunge bool) []Update {
	m.mu.Lock()
	q := m.queue
	m.queue = nil
	m.mu.Unlock()
	if len(q) == 0 {
		return nil
	}
	var out []Update
	var kept []event
	added := 0
	flagged := map[uint32]bool{}
	for _, e := range q {
		switch e.kind {
		case evExpunge:
			if !allowExpunge {
				kept = append(kept, e)
				continue
			}
			if seq := m.Seq(e.uid); seq != 0 {
				m.view = append(m.view[:seq-1], m.view[seq:]...)
				out = append(out, Update{Kind: UpdateExpunge, Seq: seq, UID: e.uid})
				m.mu.Lock()
				delete(m.recent, e.uid)
				m.mu.Unlock()
			}
		case evAdd:
			if n := len(m.view); n == 0 || m.view[n-1] < e.uid {
				m.view = append(m.view, e.uid)
				added++
			} else if m.Seq(e.uid) == 0 {
				// An older UID than the last one (a migrated list): keep order.
				i := sort.Search(n, func(i int) bool { return m.view[i] > e.uid })
				m.view = append(m.view, 0)
				copy(m.view[i+1:], m.view[i:])
				m.view[i] = e.uid
				added++
			}
		case evFlags:
			if e.origin != m {
				flagged[e.uid] = true
			}
		}
	}
	if len(kept) > 0 {
		m.mu.Lock()
		m.queue = append(kept, m.queue...)
		m.mu.Unlock()
	}
	if added > 0 {
		out = append(out, Update{Kind: UpdateExists, Count: uint32(len(m.view)), Recent: m.RecentCount()})
	}
	if len(flagged) > 0 {
		var uids []uint32
		for u := range flagged {
			uids = append(uids, u)
		}
		sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
		for _, u := range uids {
			if seq := m.Seq(u); seq != 0 {
				out = append(out, Update{Kind: UpdateFlags, Seq: seq, UID: u})
			}
		}
	}
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
