package maildir

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

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
	p, err := message.Parse(fh, fi.Size())
	if err != nil {
		return nil, err
	}
	m.f.cache.put(uid, p)
	m.noteSize(uid, p.HeaderSize+p.BodySize)
	// The octets are in the page cache now: their fingerprint costs one
	// more pass over them, once per message (see fingerprint.go).
	if _, _, _, ok := m.f.cache.fingerprint(uid); !ok {
		if fp, err := hashOf(io.NewSectionReader(fh, 0, fi.Size())); err == nil {
			m.f.cache.putFingerprint(uid, fp, 0, 0, false)
		}
	}
	return p, nil
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
	if key == "" || key[0] == 0 {
		return nil, errors.New("maildir: Derived needs a key that does not begin with a NUL byte")
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

// flushSizesLocked writes computed CRLF sizes to the sidecar. The caller
// holds f.mu; the file lock is taken here.
func (f *folder) flushSizesLocked() error {
	if len(f.dirtyVSz) == 0 || f.lk == nil || f.gone {
		return nil
	}
	if err := f.lk.lock(); err != nil {
		return err
	}
	defer f.lk.unlock()
	if err := f.side.sync(); err != nil {
		return err
	}
	var b strings.Builder
	for _, r := range f.dirtyVSz {
		if f.side.get(r.uid) == r {
			b.WriteString("s " + strconv.FormatUint(uint64(r.uid), 10) + " " + strconv.FormatInt(r.vsize, 10) + "\n")
		}
	}
	f.dirtyVSz = nil
	return f.side.appendLines([]byte(b.String()), false)
}

// Check is RFC 3501 CHECK: a checkpoint. It finds changes made on disk by
// anyone (stat'ing every file, so content rewritten in place is seen),
// writes what is only in memory (computed sizes) and forces the sidecar
// and the folder's directories to stable storage.
func (m *Mailbox) Check() error {
	f := m.f
	err := f.update(true, func() error {
		if len(f.dirtyVSz) > 0 {
			var b strings.Builder
			for _, r := range f.dirtyVSz {
				if f.side.get(r.uid) == r {
					b.WriteString("s " + strconv.FormatUint(uint64(r.uid), 10) + " " + strconv.FormatInt(r.vsize, 10) + "\n")
				}
			}
			f.dirtyVSz = nil
			if err := f.side.appendLines([]byte(b.String()), false); err != nil {
				return err
			}
		}
		f.cache.compact(func(uid uint32) bool { return f.side.get(uid) != nil })
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range []string{f.side.path, f.cache.path} {
		if fh, err := openRegular(p, os.O_RDONLY, 0); err == nil {
			serr := fh.Sync()
			fh.Close()
			if serr != nil {
				return serr
			}
		}
	}
	for _, d := range []string{f.dir, f.dir + "/cur", f.dir + "/new"} {
		if err := atomicfile.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}
