package maildir

import (
	"errors"
	"hash"
	"io"
	"os"
	"sync"

	"imapd/internal/atomicfile"
	"imapd/message"
)

// Structure returns the parsed structure of uid (MIME tree with offsets,
// envelope, CRLF sizes), from the cache or by parsing the file once.
func (m *Mailbox) Structure(uid uint32) (*message.Part, error) {
	if p := m.f.cache.get(uid); p != nil {
		return p, nil
	}
	fh, err := m.Open(uid)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	// The octets pass by once: their fingerprint is taken on the way,
	// once per message (see fingerprint.go).
	_, _, _, fingerprinted := m.f.cache.fingerprint(uid)
	var hr *hashingReader
	var src io.ReaderAt = fh
	if !fingerprinted {
		hr = &hashingReader{r: fh, h: newFingerprintHash()}
		src = hr
	}
	p, err := message.Parse(src, fi.Size())
	if err != nil {
		return nil, err
	}
	m.f.cache.put(uid, p)
	// Read once more while the file is open (from the page cache, a few
	// KiB): what a message list asks of the header is then read from the
	// cache, never from the file (listheader.go).
	m.f.cache.keepListHeaderOf(uid, fh, p)
	m.noteSize(uid, p.HeaderSize+p.BodySize)
	if hr != nil {
		if fp, err := hr.sum(fi.Size()); err == nil {
			m.f.cache.putFingerprint(uid, fp, 0, 0, false)
		}
		releaseFingerprintHash(hr.h)
	}
	return p, nil
}

// hashingReader is the io.ReaderAt a message is parsed through when it
// has no fingerprint yet: it hashes the octets as the parser reads them
// (in order, a window at a time), so that the fingerprint costs no second
// pass over the file. sum reads what the parser skipped.
type hashingReader struct {
	r   io.ReaderAt
	h   hash.Hash
	pos int64 // [0, pos) is hashed
}

func (hr *hashingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := hr.r.ReadAt(p, off)
	if off <= hr.pos && off+int64(n) > hr.pos {
		hr.h.Write(p[hr.pos-off : n])
		hr.pos = off + int64(n)
	}
	return n, err
}

// sum returns the fingerprint of the first size octets.
func (hr *hashingReader) sum(size int64) (fingerprint, error) {
	if hr.pos > size {
		// Read past size (the file grew): hash [0, size) afresh.
		return hashOf(io.NewSectionReader(hr.r, 0, size))
	}
	if hr.pos < size {
		// io.Copy would allocate 32 KiB for each message, mostly for
		// nothing: the parser reads most messages to their end.
		buf := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(buf)
		if _, err := io.CopyBuffer(hr.h, io.NewSectionReader(hr.r, hr.pos, size-hr.pos), *buf); err != nil {
			return fingerprint{}, err
		}
	}
	return sumOf(hr.h), nil
}

// Derived returns data the caller derives from uid's message and names
// key (1 to 255 bytes, not beginning with a NUL byte, which names our
// own records; an IMAP BODYSTRUCTURE rendered once, say): from
// the cache, or by calling build with the structure and keeping what it
// returns for every later call, in any process. build may read the
// message itself (Open); what it derives must depend on the message
// only, since a UID's content never changes. The result must not be
// modified. A folder keeps data under a bounded number of distinct keys;
// beyond that, build is called every time.
func (m *Mailbox) Derived(uid uint32, key string, build func(*message.Part) ([]byte, error)) ([]byte, error) {
	if err := checkDerivedKey(key); err != nil {
		return nil, err
	}
	if data := m.f.cache.lookup(uid, key); data != nil {
		return data, nil
	}
	p, err := m.Structure(uid)
	if err != nil {
		return nil, err
	}
	data, err := build(p)
	if err != nil {
		return nil, err
	}
	m.f.cache.store(uid, key, data)
	return data, nil
}

// KeepDerived keeps data under key for uid as Derived would: for data
// that a build derives along with its own from the structure at hand,
// so that a later Derived of key finds it rather than decoding the
// structure again. The same rules hold: it depends on the message only.
// It returns the cache's copy of data, as Kept would (nil when the
// cache could not keep it): data itself may be reused at once.
func (m *Mailbox) KeepDerived(uid uint32, key string, data []byte) (kept []byte, err error) {
	if err := checkDerivedKey(key); err != nil {
		return nil, err
	}
	return m.f.cache.store(uid, key, data), nil
}

func checkDerivedKey(key string) error {
	if key == "" || key[0] == 0 {
		return errors.New("maildir: derived data needs a key that does not begin with a NUL byte")
	}
	return nil
}

// HasDerived reports whether Derived would answer uid's key from the
// cache, deriving nothing.
func (m *Mailbox) HasDerived(uid uint32, key string) bool {
	return m.Kept(uid, key) != nil
}

// Kept returns what Derived or KeepDerived kept for uid under key, nil
// when the cache has nothing: for a caller that derives the data from
// something other than the structure. The result must not be modified.
func (m *Mailbox) Kept(uid uint32, key string) []byte {
	return m.f.cache.lookup(uid, key)
}

// BatchWrites lets what Structure and Derived keep from now on wait in
// memory, to be written to the cache file together (up to 64 KiB at a
// time) rather than one record per message, until ReleaseBuffers: for a
// command that reads many messages. Until then other processes do not
// find those records, and derive the data again if they need it.
func (m *Mailbox) BatchWrites() {
	if !m.batching {
		m.batching = true
		m.f.cache.beginBatch()
	}
}

// ReleaseBuffers writes what BatchWrites held back and lets go of what
// reading the folder's cache built up for a run of reads (up to a few
// hundred KiB). A session calls it when a command that read the cache is
// done, so that a folder selected and then idle holds no more than its
// index.
func (m *Mailbox) ReleaseBuffers() {
	if m.batching {
		m.batching = false
		m.f.cache.endBatch()
	}
	m.f.cache.release()
}

// Size returns RFC822.SIZE of uid: the size with CRLF line endings. It
// comes from the sidecar, the file name (",W="), or one read of the file,
// whose result is kept.
func (m *Mailbox) Size(uid uint32) (int64, error) {
	f := m.f
	f.mu.Lock()
	r := f.side.get(uid)
	var vs int64
	if r != nil {
		vs = r.vsize
	}
	f.mu.Unlock()
	if r == nil {
		return 0, ErrExpunged
	}
	if vs > 0 {
		return vs, nil
	}
	fh, err := m.Open(uid)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	vs, err = crlfSize(fh)
	if err != nil {
		return 0, err
	}
	m.noteSize(uid, vs)
	return vs, nil
}

// SizeKnown reports whether Size answers uid without reading the file.
func (m *Mailbox) SizeKnown(uid uint32) bool {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.side.get(uid)
	return r == nil || r.vsize > 0
}

func (m *Mailbox) noteSize(uid uint32, vs int64) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.side.get(uid); r != nil && r.vsize == 0 && vs > 0 {
		r.vsize = vs
		f.dirtyVSz = append(f.dirtyVSz, r)
	}
}

// crlfSize counts the bytes of r in CRLF form (message.CRLFCounter).
func crlfSize(r io.Reader) (int64, error) {
	var c message.CRLFCounter
	if _, err := io.Copy(&c, r); err != nil {
		return 0, err
	}
	return c.N, nil
}

// flushLearnedLocked writes what was learned of messages after they got
// their UIDs (CRLF sizes, mtimes) to the sidecar. The caller holds f.mu;
// the file lock is taken here.
func (f *folder) flushLearnedLocked() error {
	if len(f.dirtyVSz)+len(f.dirtyTimes) == 0 || f.lk == nil || f.gone {
		return nil
	}
	if err := f.lk.lock(); err != nil {
		return err
	}
	defer f.lk.unlock()
	if err := f.side.sync(); err != nil {
		return err
	}
	return f.side.appendLines(f.learnedLinesLocked(), false)
}

// learnedLinesLocked returns the 's' and 't' records of what
// flushLearnedLocked writes, and forgets it.
func (f *folder) learnedLinesLocked() []byte {
	var b []byte
	for _, r := range f.dirtyVSz {
		if f.side.get(r.uid) == r {
			b = append(b, sizeLine(r)...)
		}
	}
	for _, r := range f.dirtyTimes {
		if f.side.get(r.uid) == r {
			b = append(b, timeLine(r)...)
		}
	}
	f.dirtyVSz, f.dirtyTimes = nil, nil
	return b
}

// Check is RFC 3501 CHECK: a checkpoint. It finds changes made on disk by
// anyone (stat'ing every file, so content rewritten in place is seen),
// writes what is only in memory (computed sizes) and forces the sidecar
// and the folder's directories to stable storage.
func (m *Mailbox) Check() error {
	f := m.f
	err := f.update(true, func() error {
		if err := f.side.appendLines(f.learnedLinesLocked(), false); err != nil {
			return err
		}
		f.cache.compact(func(uid uint32) bool { return f.side.get(uid) != nil })
		return nil
	})
	if err != nil {
		return err
	}
	// Forced all at once: they join the same journal commits, where one
	// after the other each waited for its own (CHECK took 4.9 ms in a
	// stress run with other sessions writing, against NOOP's 1.3).
	files := []string{f.side.path, f.cache.path}
	dirs := []string{f.dir, f.dir + "/cur", f.dir + "/new"}
	errs := make([]error, len(files)+len(dirs))
	var wg sync.WaitGroup
	for i, p := range files {
		wg.Go(func() { errs[i] = syncIfThere(p) })
	}
	for i, d := range dirs {
		wg.Go(func() { errs[len(files)+i] = atomicfile.SyncDir(d) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// syncIfThere forces the regular file at p to disk; one not there has
// nothing to force.
func syncIfThere(p string) error {
	fh, err := openRegular(p, os.O_RDONLY, 0)
	if err != nil {
		return nil
	}
	defer fh.Close()
	return fh.Sync()
}

// copyBuffers lend the buffers of short copies (hashingReader.sum).
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}
