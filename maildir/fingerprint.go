package maildir

import (
	"encoding/binary"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/zeebo/xxh3"
)

// A message's content fingerprint settles what size and mtime cannot:
// whether a file found under a known base name on another inode, or with
// its mtime cut to the second, still holds the message its UID names (a
// restored copy) or was rewritten to the same size with its mtime put
// back (a new message). It is the XXH3-128 of the file's octets: a
// rewrite is told from a copy by accident, not against an adversary
// (whoever can rewrite the files owns the mailbox anyway), so a
// non-cryptographic hash does, and 128 bits make an accidental match out
// of reach while keeping the record small, one per message. It is taken
// as a message is first parsed, where SHA-256 (1.5 GB/s here, against
// tens of GB/s) was a sixth of the work of a folder's first listing.
//
// It is kept in the cache under fpKey, recorded when we have the octets
// in hand anyway: when APPEND writes the file, and when the structure is
// first parsed (a message delivered by another program and never read
// has none). The record may carry the inode and mtime the file last
// matched with, so that a file seen again as it was is not hashed again.
// A message is hashed only in that ambiguous case (fingerprintSame), never
// when a listing matches its recorded inode, size and mtime.

// fpKey names fingerprint records in the cache. Callers' keys (Derived)
// never begin with a NUL byte. Records under the key of SHA-256, which
// earlier versions kept, are not read: such a message has none.
const fpKey = "\x00xxh3/128"

const fpLen = 16

type fingerprint [fpLen]byte

// newFingerprintHash returns the hash fingerprints are taken with, reset;
// give it back with releaseFingerprintHash when its sum is taken. Each
// holds 1.5 KiB of buffer, and a folder's first listing hashes every
// message it parses: 29 MB for 20,000 when each took a new one.
func newFingerprintHash() hash.Hash { return fingerprintHashes.Get().(*xxh3.Hasher128) }

func releaseFingerprintHash(h hash.Hash) {
	h.Reset()
	fingerprintHashes.Put(h)
}

var fingerprintHashes = sync.Pool{New: func() any { return xxh3.New128() }}

func hashOf(r io.Reader) (fingerprint, error) {
	h := newFingerprintHash()
	defer releaseFingerprintHash(h)
	if _, err := io.Copy(h, r); err != nil {
		return fingerprint{}, err
	}
	return sumOf(h), nil
}

// sumOf is the fingerprint h has taken.
func sumOf(h hash.Hash) fingerprint {
	var fp fingerprint
	copy(fp[:], h.Sum(nil))
	return fp
}

// putFingerprint records uid's fingerprint, with the inode and mtime of
// the file it was verified against when ino is not 0. Taken while a
// message is parsed, it waits with the other new records (store);
// taken from the octets of an APPEND or a verification, it is written
// at once, for other processes to find.
func (c *metaCache) putFingerprint(uid uint32, fp fingerprint, ino uint64, mtime int64, now bool) {
	data := append([]byte(nil), fp[:]...)
	if ino != 0 {
		data = binary.BigEndian.AppendUint64(data, ino)
		data = binary.BigEndian.AppendUint64(data, uint64(mtime))
	}
	c.store(uid, fpKey, data)
	if now {
		c.flush()
	}
}

// fingerprint returns uid's recorded fingerprint, and the inode and mtime
// it was last verified against (ino 0: none).
func (c *metaCache) fingerprint(uid uint32) (fp fingerprint, ino uint64, mtime int64, ok bool) {
	// Asked in the order of a listing, not of UIDs: no read windows.
	data := c.lookupVia(uid, fpKey, false)
	switch len(data) {
	case fpLen + 16:
		ino = binary.BigEndian.Uint64(data[fpLen:])
		mtime = int64(binary.BigEndian.Uint64(data[fpLen+8:]))
	case fpLen:
	default:
		return fp, 0, 0, false
	}
	copy(fp[:], data)
	return fp, ino, mtime, true
}

// fingerprintSame decides the ambiguous case: the file at path (stat'ed
// with inode ino, size and mtime) passes sameContent for r but is on
// another inode or has another mtime than recorded. With a fingerprint
// recorded for r's UID, the file is hashed (unless it is the file last
// verified, same inode and mtime) and it is r's message only if the
// hashes match; a match is recorded with the file's inode and mtime when
// the mtime is not the recorded one (the inode is recorded by the
// caller). Without a fingerprint, or when the file cannot be read, it is
// r's message, as size and mtime say.
func (f *folder) fingerprintSame(r *msgRec, path string, ino uint64, size, mtime int64) bool {
	want, vino, vmtime, ok := f.cache.fingerprint(r.uid)
	if !ok {
		return true
	}
	if vino != 0 && vino == ino && vmtime == mtime {
		return true
	}
	fh, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return true // gone, renamed or not a regular file: the next listing sees to it
	}
	defer fh.Close()
	if fst, err := fh.Stat(); err != nil || inodeOf(fst) != ino {
		return true // replaced since the stat: the next rescan sees to it
	}
	f.hub.stats.Fingerprints.Add(1)
	got, err := hashOf(io.LimitReader(fh, size+1))
	if err != nil {
		return true
	}
	if got != want {
		return false
	}
	if mtime != r.mtime {
		// The recorded inode will match from now on (an "i" record), the
		// mtime never will: remember the file that matched.
		f.cache.putFingerprint(r.uid, want, ino, mtime, true)
	}
	return true
}
