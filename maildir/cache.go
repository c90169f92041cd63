package maildir

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"

	"imapd/internal/atomicfile"
	"imapd/message"
)

// cacheFile holds, per UID, the parsed structure of a message (MIME tree
// with offsets, envelope fields, CRLF sizes). A UID's content never
// changes, so an entry is never invalidated, only dropped with its UID.
//
// Format: the 8-byte magic, then records of uid (4 bytes), length (4),
// CRC-32 of the payload (4) and the payload (message.Part's binary form),
// all big-endian. Records are appended; a damaged or truncated tail is cut
// off at the first bad record and rebuilt from the messages on demand.
const cacheFile = "imapd-cache"

var cacheMagic = []byte("IMAPDC1\n")

const maxCacheRecord = 16 << 20

// metaCache is the in-memory index of a folder's cache file.
type metaCache struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	index   map[uint32]int64 // UID -> offset of the record's payload
	lens    map[uint32]uint32
	loaded  bool
	ino     uint64
	end     int64 // bytes of the file indexed
	dead    int   // records of dropped UIDs still in the file
	fh      *os.File
	damaged bool
}

func newMetaCache(path string, log *slog.Logger) *metaCache {
	return &metaCache{path: path, log: log}
}

func (c *metaCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fh != nil {
		c.fh.Close()
		c.fh = nil
	}
	c.loaded = false
}

// drop forgets uid; the file is compacted when enough is dead.
func (c *metaCache) drop(uid uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.index[uid]; ok {
		delete(c.index, uid)
		delete(c.lens, uid)
		c.dead++
	}
}

// syncLocked opens the file if needed and indexes records appended since.
func (c *metaCache) syncLocked() error {
	fi, err := os.Stat(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(c.path, cacheMagic, 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, err = os.Stat(c.path)
	}
	if err != nil {
		return err
	}
	if !c.loaded || inodeOf(fi) != c.ino || fi.Size() < c.end {
		if c.fh != nil {
			c.fh.Close()
		}
		fh, err := os.OpenFile(c.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		c.fh, c.ino, c.end, c.loaded = fh, inodeOf(fi), 0, true
		c.index, c.lens, c.dead = map[uint32]int64{}, map[uint32]uint32{}, 0
		var magic [8]byte
		if _, err := c.fh.ReadAt(magic[:], 0); err != nil || !bytes.Equal(magic[:], cacheMagic) {
			return c.resetLocked("bad magic")
		}
		c.end = int64(len(cacheMagic))
	}
	if fi.Size() == c.end {
		return nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(c.fh, c.end, fi.Size()-c.end), 64<<10)
	var hdr [12]byte
	pos := c.end
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err != io.EOF {
				c.damaged = true // a torn record at the end: ignored, cut at the next write
			}
			break
		}
		uid := binary.BigEndian.Uint32(hdr[0:4])
		n := binary.BigEndian.Uint32(hdr[4:8])
		if uid == 0 || n > maxCacheRecord {
			c.damaged = true
			break
		}
		if _, err := br.Discard(int(n)); err != nil {
			c.damaged = true
			break
		}
		if _, dup := c.index[uid]; dup {
			c.dead++
		}
		c.index[uid] = pos + 12
		c.lens[uid] = n
		pos += 12 + int64(n)
	}
	c.end = pos
	return nil
}

// resetLocked starts an empty cache file, replacing a damaged one.
func (c *metaCache) resetLocked(why string) error {
	c.log.Warn("message cache damaged, rebuilding it", "path", c.path, "why", why)
	if err := atomicfile.WriteFile(c.path, cacheMagic, 0o600); err != nil {
		return err
	}
	c.loaded = false
	return c.syncLocked()
}

// get returns the cached structure of uid, or nil.
func (c *metaCache) get(uid uint32) *message.Part {
	c.mu.Lock()
	defer c.mu.Unlock()
	off, ok := c.index[uid]
	if !ok || !c.loaded {
		// Not indexed yet: perhaps another process appended it.
		if err := c.syncLocked(); err != nil {
			return nil
		}
		if off, ok = c.index[uid]; !ok {
			return nil
		}
	}
	hdr := make([]byte, 12+int(c.lens[uid]))
	if _, err := c.fh.ReadAt(hdr, off-12); err != nil {
		c.damaged = true
		return nil
	}
	payload := hdr[12:]
	if crc32.ChecksumIEEE(payload) != binary.BigEndian.Uint32(hdr[8:12]) {
		delete(c.index, uid)
		c.damaged = true
		return nil
	}
	p := new(message.Part)
	if err := p.UnmarshalBinary(payload); err != nil {
		delete(c.index, uid)
		c.damaged = true
		return nil
	}
	return p
}

// put appends the structure of uid. Errors only cost a later re-parse.
func (c *metaCache) put(uid uint32, p *message.Part) {
	payload, err := p.MarshalBinary()
	if err != nil || len(payload) > maxCacheRecord {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.syncLocked(); err != nil {
		return
	}
	if c.damaged {
		// Cut the damaged tail before appending behind it.
		if err := c.fh.Truncate(c.end); err != nil {
			return
		}
		c.damaged = false
	}
	rec := make([]byte, 12+len(payload))
	binary.BigEndian.PutUint32(rec[0:4], uid)
	binary.BigEndian.PutUint32(rec[4:8], uint32(len(payload)))
	binary.BigEndian.PutUint32(rec[8:12], crc32.ChecksumIEEE(payload))
	copy(rec[12:], payload)
	fh, err := os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil || inodeOf(fi) != c.ino {
		return
	}
	if _, err := fh.Write(rec); err != nil {
		return
	}
	// Index what others appended before us, then our record.
	_ = c.syncLocked()
}

// compactLocked rewrites the file with live records only, when dropped
// ones outweigh them. The caller holds the folder lock.
func (c *metaCache) compact(live func(uid uint32) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded || c.dead < 1000 || c.dead < len(c.index) {
		return
	}
	var b bytes.Buffer
	b.Write(cacheMagic)
	for uid, off := range c.index {
		if !live(uid) {
			continue
		}
		rec := make([]byte, 12+int(c.lens[uid]))
		if _, err := c.fh.ReadAt(rec, off-12); err != nil {
			continue
		}
		b.Write(rec)
	}
	if err := atomicfile.WriteFile(c.path, b.Bytes(), 0o600); err != nil {
		return
	}
	c.loaded = false
	_ = c.syncLocked()
}
