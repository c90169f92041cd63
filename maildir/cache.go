package maildir

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"imapd/internal/atomicfile"
	"imapd/message"
)

// cacheFile holds, per UID, the parsed structure of a message (MIME tree
// with offsets, envelope fields, CRLF sizes) and data that callers derive
// from it under a name of their choosing (Mailbox.Derived: an IMAP
// BODYSTRUCTURE rendered once, say). A UID's content never changes, so an
// entry is never invalidated, only dropped with its UID.
//
// Format: the 8-byte magic and the folder's UIDVALIDITY (4 bytes), then
// records of uid (4 bytes), length (4), CRC-32 of the payload (4) and
// the payload, all big-endian. The payload
// is a key (one length byte and up to 255 bytes) and the data: for the
// empty key message.Part's binary form, else the derived data. Records
// are appended; a damaged or truncated tail is cut off at the first bad
// record and rebuilt from the messages on demand. A file of an older
// format, or of another UIDVALIDITY (the UIDs it names were other
// messages: the sidecar was lost and the UIDs given out anew), is replaced
// by an empty one.
const cacheFile = "imapd-cache"

var cacheMagic = []byte("IMAPDC3\n")

// cacheHeader is the length of the magic and the UIDVALIDITY.
const cacheHeader = 12

const (
	maxCacheRecord = 16 << 20

	// maxCacheKeys bounds the distinct keys of a folder's cache, so that
	// clients asking for ever new header field lists cannot grow it
	// without end: data under further keys is derived each time.
	maxCacheKeys = 64

	// cacheWindow is how much of the file one read brings in: a FETCH
	// over many messages reads their records in the order they were
	// written, a window at a time rather than a read per record.
	cacheWindow = 256 << 10

	// firstWindow is what a command's first read brings in; each read
	// after doubles it, up to cacheWindow. A FETCH of one message or a
	// few (a client opening a message) reads a record or two, and a
	// full window each would read and allocate up to cacheWindow for
	// them (BenchmarkDerivedOne: 27 KB and 11.5 us a FETCH so, 10.7 KB
	// and 5.5 us now); a FETCH over the folder has its full windows
	// from its seventh read on.
	firstWindow = 4 << 10

	// missResync is how often, at most, a record not in the index makes
	// the index read what other processes appended: a miss only costs
	// deriving the data again, while a FETCH over messages nobody has
	// fetched misses on every one.
	missResync = time.Second
)

var errValidityUnknown = errors.New("maildir: cache used before the folder's UIDVALIDITY is known")

// cacheKey names a record: a UID and the index of its key in keys.
type cacheKey struct {
	uid uint32
	key uint8
}

// cacheLoc is where a record is: the offset of its header, its
// payload's length, and run, the octets from its header to the end of
// the records of the same key that follow it without a gap (at least
// the record itself): what one read brings in for a FETCH of that item
// (see readLocked).
type cacheLoc struct {
	off int64
	n   uint32
	run uint32
}

// metaCache is the in-memory index of a folder's cache file.
type metaCache struct {
	path string
	log  *slog.Logger

	mu sync.Mutex
	// validity is the folder's UIDVALIDITY, which the file must carry
	// (setValidity); 0 until the folder knows it.
	validity uint32
	index    cacheIndex
	keys     []string         // keys[0] is "", the structure
	keyIdx   map[string]uint8 // the inverse of keys
	loaded   bool
	ino      uint64
	end      int64 // bytes of the file indexed
	dead     int   // records of dropped UIDs or lost keys still in the file
	fh       *os.File
	damaged  bool
	synced   time.Time // the last syncLocked that succeeded

	// wins hold stretches of the file below end, for readLocked: one per
	// key a FETCH reads (ENVELOPE, BODY, BODYSTRUCTURE and the
	// structure), or per core, as SEARCH's workers read different
	// stretches at once. A new
	// read allocates a new window, so slices of an old one stay valid;
	// release lets go of them all when a command is done.
	wins   [cacheWindows]cacheWin
	tick   uint64
	preads int // reads of the file by readLocked
	reads  int // readLocked's reads since release: the window's growth

	// pend holds records not yet written (see store), indexed as if
	// the file went on with them from end; pendKeys are their keys.
	pend     []byte
	pendKeys []cacheKey
	batches  int // sessions batching their records (beginBatch)
}

// cacheWin is a stretch of the cache file read at once.
type cacheWin struct {
	buf  []byte
	off  int64
	used uint64 // metaCache.tick when last read from
}

const cacheWindows = 4

func newMetaCache(path string, log *slog.Logger) *metaCache {
	return &metaCache{path: path, log: log}
}

func (c *metaCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
	if c.fh != nil {
		c.fh.Close()
		c.fh = nil
	}
	c.loaded, c.wins = false, [cacheWindows]cacheWin{}
}

// release writes the records waiting in memory and lets go of the read
// windows, which a run of reads built up.
func (c *metaCache) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
	c.wins, c.reads = [cacheWindows]cacheWin{}, 0
}

// setValidity tells the cache the folder's UIDVALIDITY. When it changed,
// the index is dropped, and the next read finds a file of the old
// validity and replaces it.
func (c *metaCache) setValidity(v uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v != c.validity {
		// Waiting records name UIDs of the old validity: dropped.
		c.validity, c.loaded, c.wins = v, false, [cacheWindows]cacheWin{}
		c.pend, c.pendKeys = nil, nil
	}
}

// header returns the magic and UIDVALIDITY a file of ours starts with.
func (c *metaCache) header() []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), cacheMagic...), c.validity)
}

// drop forgets uid; the file is compacted when enough is dead.
func (c *metaCache) drop(uid uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.keys {
		key := cacheKey{uid, uint8(k)}
		if c.index.del(key) {
			c.dead++
		}
	}
}

// keyLocked returns the index of key, adding it when add is set and
// there is room; ok is false for a key not (to be) cached.
func (c *metaCache) keyLocked(key string, add bool) (uint8, bool) {
	if k, ok := c.keyIdx[key]; ok {
		return k, true
	}
	// Our own keys (a NUL first: the fingerprint, the list header)
	// always have room and take none from callers' keys.
	ours := len(key) > 0 && key[0] == 0
	n := 0
	for _, k := range c.keys {
		if len(k) == 0 || k[0] != 0 {
			n++
		}
	}
	if !add || (n >= maxCacheKeys && !ours) || len(key) > 255 {
		return 0, false
	}
	k := uint8(len(c.keys))
	c.keys = append(c.keys, key)
	c.keyIdx[key] = k
	return k, true
}

// syncLocked opens the file if needed and indexes records appended since.
func (c *metaCache) syncLocked() error {
	c.flushLocked()
	if c.validity == 0 {
		// Not before the folder knows its UIDVALIDITY: a file of another
		// would be taken for ours, or ours for another's.
		return errValidityUnknown
	}
	fi, err := lstatRegular(c.path)
	if isNotRegular(err) {
		// Never read or append through a link or to a FIFO: a new,
		// empty cache replaces it.
		c.log.Warn("message cache is not a regular file, replacing it", "path", c.path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		if err := atomicfile.WriteFileNoFollow(c.path, c.header(), 0o600); err != nil {
			return err
		}
		fi, err = lstatRegular(c.path)
	}
	if err != nil {
		return err
	}
	if !c.loaded || inodeOf(fi) != c.ino || fi.Size() < c.end {
		if c.fh != nil {
			c.fh.Close()
		}
		fh, err := openRegular(c.path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		c.fh, c.ino, c.end, c.loaded, c.wins = fh, inodeOf(fi), 0, true, [cacheWindows]cacheWin{}
		c.index, c.dead = cacheIndex{}, 0
		c.keys, c.keyIdx = []string{""}, map[string]uint8{"": 0}
		var hdr [cacheHeader]byte
		_, err = c.fh.ReadAt(hdr[:], 0)
		switch {
		case err != nil || !bytes.Equal(hdr[:8], cacheMagic):
			why := "bad magic"
			if bytes.HasPrefix(hdr[:], []byte("IMAPDC")) {
				why = "older format"
			}
			return c.resetLocked(why)
		case binary.BigEndian.Uint32(hdr[8:]) != c.validity:
			return c.resetLocked("other UIDVALIDITY")
		}
		c.end = cacheHeader
	}
	c.synced = time.Now()
	if fi.Size() == c.end {
		return nil
	}
	// Sized to what is new: after our own append, one record.
	br := bufio.NewReaderSize(io.NewSectionReader(c.fh, c.end, fi.Size()-c.end), int(min(64<<10, fi.Size()-c.end)))
	var hdr [13]byte
	pos := c.end
	// The records of the run being read, one key's in a row: their run
	// ends where a record of another key begins.
	var run []cacheKey
	endRun := func() {
		for _, key := range run {
			loc, _ := c.index.get(key)
			loc.run = uint32(min(pos-loc.off, math.MaxUint32))
			c.index.set(key, loc)
		}
		run = run[:0]
	}
	for {
		// The header and the key's length; the key itself after.
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err != io.EOF {
				c.damaged = true // a torn record at the end: ignored, cut at the next write
			}
			break
		}
		uid := binary.BigEndian.Uint32(hdr[0:4])
		n := binary.BigEndian.Uint32(hdr[4:8])
		kl := uint32(hdr[12])
		if uid == 0 || n > maxCacheRecord || n < 1+kl {
			c.damaged = true
			break
		}
		keyb, err := br.Peek(int(kl))
		if err != nil {
			c.damaged = true
			break
		}
		k, ok := c.keyLocked(string(keyb), true)
		if _, err := br.Discard(int(n) - 1); err != nil {
			c.damaged = true
			break
		}
		if len(run) > 0 && (!ok || run[0].key != k) {
			endRun()
		}
		if !ok {
			c.dead++
		} else {
			key := cacheKey{uid, k}
			if c.index.set(key, cacheLoc{off: pos, n: n}) {
				c.dead++
			}
			run = append(run, key)
		}
		pos += 12 + int64(n)
	}
	endRun()
	c.end = pos
	return nil
}

// resetLocked starts an empty cache file, replacing a damaged one.
func (c *metaCache) resetLocked(why string) error {
	switch why {
	case "older format":
		c.log.Info("message cache of an older format, rebuilding it", "path", c.path)
	case "other UIDVALIDITY":
		c.log.Info("message cache of another UIDVALIDITY, rebuilding it", "path", c.path)
	default:
		c.log.Warn("message cache damaged, rebuilding it", "path", c.path, "why", why)
	}
	if err := atomicfile.WriteFileNoFollow(c.path, c.header(), 0o600); err != nil {
		return err
	}
	c.loaded = false
	return c.syncLocked()
}

// lookup returns the data cached for uid under key, or nil. The slice
// must not be modified.
func (c *metaCache) lookup(uid uint32, key string) []byte {
	return c.lookupVia(uid, key, true)
}

// lookupVia is lookup; without window, the record alone is read, not a
// window around it: for look-ups in no particular order (a listing's),
// where a window would be read per record.
func (c *metaCache) lookupVia(uid uint32, key string, window bool) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keyIdx[key]
	loc, found := c.index.get(cacheKey{uid, k})
	if !ok || !found || !c.loaded {
		// Not indexed yet: perhaps another process appended it.
		if c.loaded && time.Since(c.synced) < missResync {
			return nil
		}
		if err := c.syncLocked(); err != nil {
			return nil
		}
		if k, ok = c.keyIdx[key]; !ok {
			return nil
		}
		if loc, found = c.index.get(cacheKey{uid, k}); !found {
			return nil
		}
	}
	rec, err := c.readLocked(loc, window)
	if err != nil {
		c.damaged = true
		return nil
	}
	payload := rec[12:]
	if binary.BigEndian.Uint32(rec[0:4]) != uid || crc32.ChecksumIEEE(payload) != binary.BigEndian.Uint32(rec[8:12]) ||
		int(payload[0]) != len(key) || string(payload[1:1+len(key)]) != key {
		c.index.del(cacheKey{uid, k})
		c.damaged = true
		return nil
	}
	return payload[1+len(key):]
}

// readLocked returns the record at loc, through the windows. With
// window, when none holds it, it reads a window from it: its run when
// it has neighbours of its key (a FETCH of that item goes on with
// them), else whatever follows; either up to the window this read of
// the command may have (firstWindow, doubling up to cacheWindow).
func (c *metaCache) readLocked(loc cacheLoc, window bool) ([]byte, error) {
	off, n := loc.off, 12+int(loc.n)
	if off >= c.end {
		if p := off - c.end; p+int64(n) <= int64(len(c.pend)) {
			return c.pend[p : p+int64(n) : p+int64(n)], nil
		}
		return nil, io.ErrUnexpectedEOF
	}
	c.tick++
	lru := &c.wins[0]
	for i := range c.wins {
		w := &c.wins[i]
		if off >= w.off && off+int64(n) <= w.off+int64(len(w.buf)) {
			w.used = c.tick
			return w.buf[off-w.off:][:n], nil
		}
		if w.used < lru.used {
			lru = w
		}
	}
	size, limit := int64(n), int64(min(cacheWindow, firstWindow<<min(c.reads, 6)))
	switch {
	case !window || n >= cacheWindow/2:
	case int64(loc.run) > size:
		size = max(size, min(int64(loc.run), limit, c.end-off))
	default:
		size = max(size, min(limit, c.end-off))
	}
	b := make([]byte, size)
	c.preads++
	c.reads++
	if _, err := c.fh.ReadAt(b, off); err != nil {
		return nil, err
	}
	if size > int64(n) {
		*lru = cacheWin{buf: b, off: off, used: c.tick}
	}
	return b[:n], nil
}

// get returns the cached structure of uid, or nil.
func (c *metaCache) get(uid uint32) *message.Part {
	data := c.lookup(uid, "")
	if data == nil {
		return nil
	}
	p := new(message.Part)
	if err := p.UnmarshalBinary(data); err != nil {
		c.mu.Lock()
		c.index.del(cacheKey{uid, 0})
		c.damaged = true
		c.mu.Unlock()
		return nil
	}
	return p
}

// put appends the structure of uid. Errors only cost a later re-parse.
func (c *metaCache) put(uid uint32, p *message.Part) {
	payload, err := p.MarshalBinary()
	if err != nil {
		return
	}
	c.store(uid, "", payload)
}

// store appends data for uid under key. Errors only cost deriving it
// again later. While a session batches (beginBatch), the record waits
// in memory with others (pend) until cachePend bytes are waiting or a
// run of reads ends (release): a FETCH over a folder nobody fetched
// before derives data for every message, and a write and a stat each
// would cost more than the rest. It returns the record's copy of data,
// which stays as it is (nil when nothing was kept).
func (c *metaCache) store(uid uint32, key string, data []byte) (kept []byte) {
	if len(key) > 255 || 1+len(key)+len(data) > maxCacheRecord {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded || c.damaged {
		if err := c.syncLocked(); err != nil {
			return nil
		}
	}
	k, ok := c.keyLocked(key, true)
	if !ok {
		return nil
	}
	n := 12 + 1 + len(key) + len(data)
	if c.batches > 0 && len(c.pend) > 0 && len(c.pend)+n > cachePend {
		// Full: written out before a new array is begun, rather than
		// copied into a larger one and written just after.
		c.flushLocked()
	}
	if len(c.pend)+n > cap(c.pend) {
		// A new array: slices that lookup returned of the old one stay
		// as they were. Room for more only in a batch: a record stored
		// outside one (APPEND's fingerprint) is written at once, and
		// 64 KiB for it would be most of a short session's garbage.
		size := len(c.pend) + n
		if c.batches > 0 {
			size = max(cachePend, size)
		}
		c.pend = append(make([]byte, 0, size), c.pend...)
	}
	at := len(c.pend)
	rec := c.pend[at : at+12]
	rec = append(rec, byte(len(key)))
	rec = append(append(rec, key...), data...)
	binary.BigEndian.PutUint32(rec[0:4], uid)
	binary.BigEndian.PutUint32(rec[4:8], uint32(len(rec)-12))
	binary.BigEndian.PutUint32(rec[8:12], crc32.ChecksumIEEE(rec[12:]))
	c.pend = c.pend[:at+n]
	ck := cacheKey{uid, k}
	if c.index.set(ck, cacheLoc{off: c.end + int64(at), n: uint32(n - 12), run: uint32(n)}) {
		c.dead++
	}
	c.pendKeys = append(c.pendKeys, ck)
	if c.batches == 0 || len(c.pend) >= cachePend {
		c.flushLocked()
	}
	// The array is never written again (see groupLocked); capped, as
	// lookup's are, so that an append to it cannot reach the next record.
	return rec[13+len(key) : len(rec) : len(rec)]
}

// beginBatch and endBatch bracket a session's run of reads whose new
// records may wait in memory (see store); release writes them.
func (c *metaCache) beginBatch() {
	c.mu.Lock()
	c.batches++
	c.mu.Unlock()
}

func (c *metaCache) endBatch() {
	c.mu.Lock()
	c.batches--
	c.mu.Unlock()
}

// cachePend is how many bytes of new records wait in memory at most.
const cachePend = 64 << 10

// flush writes the records waiting in memory.
func (c *metaCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

// flushLocked appends the waiting records to the file, where the index
// already places them, unless another process appended meanwhile: then
// the file is indexed again from where we last read it, theirs and ours.
func (c *metaCache) flushLocked() {
	if len(c.pend) == 0 {
		return
	}
	pend, keys := c.groupLocked(), c.pendKeys
	if len(c.pend) > 0 && len(pend) > 0 && &pend[0] != &c.pend[0] {
		// A grouped copy, read by nobody once written: its array goes
		// back for the next flush (a cold FETCH of 20,000 messages
		// made 37 MB of them).
		defer groupBuffers.Put(&pend)
	}
	c.pend, c.pendKeys = nil, nil
	written := false
	if c.damaged {
		// Cut the damaged tail before appending behind it.
		if err := c.fh.Truncate(c.end); err == nil {
			c.damaged = false
		}
	}
	if !c.damaged {
		// c.fh appends (O_APPEND). Records written to a file another
		// process has just replaced are lost, and only cost deriving
		// them again; the next sync finds the new file.
		_, err := c.fh.Write(pend)
		written = err == nil
	}
	if written {
		if fi, err := c.fh.Stat(); err == nil && fi.Size() == c.end+int64(len(pend)) {
			c.end += int64(len(pend)) // nobody else appended: the index is right
			return
		}
	}
	for _, k := range keys {
		if loc, ok := c.index.get(k); ok && loc.off >= c.end {
			c.index.del(k)
		}
	}
	if written {
		// Index what others appended before us, then our records.
		_ = c.syncLocked()
	}
}

// groupLocked returns the waiting records laid out key by key, each
// key's in the order they were stored, and moves their index entries
// along: a FETCH of one item over many messages then finds its records
// in runs, and reads those and nothing else (see readLocked), where in
// the order they were derived each message's structure, ENVELOPE and
// BODYSTRUCTURE would take turns. The waiting records keep their array
// (it is returned itself when they are grouped already): slices that
// lookup returned of it stay as they were.
func (c *metaCache) groupLocked() []byte {
	type pendRec struct {
		key   cacheKey
		at, n int
	}
	recs := make([]pendRec, len(c.pendKeys))
	at := 0
	for i, key := range c.pendKeys {
		n := 12 + int(binary.BigEndian.Uint32(c.pend[at+4:]))
		recs[i] = pendRec{key, at, n}
		at += n
	}
	byKey := func(a, b pendRec) int { return cmp.Compare(a.key.key, b.key.key) }
	// Records of one key, or already key by key (a FETCH of one
	// section), are written as they wait, without a copy.
	inOrder := slices.IsSortedFunc(recs, byKey)
	var out []byte
	if !inOrder {
		slices.SortStableFunc(recs, byKey)
		out = slices.Grow((*groupBuffers.Get().(*[]byte))[:0], len(c.pend))
	}
	pos, runEnd := 0, 0 // where r goes, and where the run of its key ends
	for i, r := range recs {
		if i == 0 || recs[i-1].key.key != r.key.key {
			runEnd = pos
			for _, next := range recs[i:] {
				if next.key.key != r.key.key {
					break
				}
				runEnd += next.n
			}
		}
		if loc, ok := c.index.get(r.key); ok && loc.off == c.end+int64(r.at) {
			// Not stored again since: the index names this record.
			c.index.set(r.key, cacheLoc{off: c.end + int64(pos), n: loc.n, run: uint32(runEnd - pos)})
		}
		if !inOrder {
			out = append(out, c.pend[r.at:r.at+r.n]...)
		}
		pos += r.n
	}
	if inOrder {
		return c.pend
	}
	return out
}

// groupBuffers lend groupLocked the arrays it lays records out in.
var groupBuffers = sync.Pool{New: func() any { return new([]byte) }}

// compact rewrites the file with live records only, when dropped ones
// outweigh them. The caller holds the folder lock.
func (c *metaCache) compact(live func(uid uint32) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
	if !c.loaded || c.dead < 1000 || c.dead < c.index.len() {
		return
	}
	// Key by key, each in UID order, as FETCH reads them: one run per
	// key (see readLocked).
	keys := slices.DeleteFunc(c.index.keys(), func(key cacheKey) bool { return !live(key.uid) })
	slices.SortFunc(keys, func(a, b cacheKey) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.uid, b.uid))
	})
	var b bytes.Buffer
	b.Write(c.header())
	for _, key := range keys {
		loc, _ := c.index.get(key)
		rec := make([]byte, 12+int(loc.n))
		if _, err := c.fh.ReadAt(rec, loc.off); err != nil {
			continue
		}
		b.Write(rec)
	}
	if err := atomicfile.WriteFileNoFollow(c.path, b.Bytes(), 0o600); err != nil {
		return
	}
	c.loaded = false
	_ = c.syncLocked()
}
