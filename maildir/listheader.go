package maildir

import (
	"io"
	"slices"
	"sync"

	"imapd/message"
)

// The list header is what a client's message list asks of every
// message's header (message.ListHeader), kept in the cache under
// listHeaderKey when a message is first parsed, so that HEADER.FIELDS of
// those fields, and SEARCH of them, read no message file again. The
// record is one octet of flags, then the fields.
const (
	// listHeaderKey names list header records; its version goes with
	// message's list of fields.
	listHeaderKey = "\x00listhdr/1"

	// maxListHeader bounds the fields kept of one message: a header of a
	// megabyte (a mail loop's thousand Received lines, a hostile one)
	// keeps nothing, and is read from the file each time.
	maxListHeader = 8 << 10

	listHeaderWhole    = 1 << 0 // the fields are the whole header
	listHeaderTooLarge = 1 << 1 // nothing kept: more than maxListHeader
)

// ListHeader returns the list fields of uid's header as
// message.ListHeader gives them, and whether they are its whole header;
// ok is false when they are too large to keep (the caller reads the
// file). They come from the cache, kept when the message was first
// parsed; a message parsed before that costs one read of its header.
func (m *Mailbox) ListHeader(uid uint32) (fields []byte, whole, ok bool, err error) {
	data := m.f.cache.lookup(uid, listHeaderKey)
	if data == nil {
		p, err := m.Structure(uid) // on a first parse, keeps the list header
		if err != nil {
			return nil, false, false, err
		}
		if data = m.f.cache.lookup(uid, listHeaderKey); data == nil {
			fh, err := m.Open(uid)
			if err != nil {
				return nil, false, false, err
			}
			data, err = m.f.cache.keepListHeaderOf(uid, fh, p)
			fh.Close()
			if err != nil {
				return nil, false, false, err
			}
		}
	}
	if len(data) == 0 || data[0]&listHeaderTooLarge != 0 {
		return nil, false, false, nil
	}
	return data[1:], data[0]&listHeaderWhole != 0, true, nil
}

// HasListHeader reports whether ListHeader would answer from the cache,
// reading no message file.
func (m *Mailbox) HasListHeader(uid uint32) bool {
	return m.f.cache.lookup(uid, listHeaderKey) != nil
}

// keepListHeader keeps the list header of uid, whose raw header block
// is raw, and returns the cache's record (nil if none could be kept: the
// caller then reads the file).
func (c *metaCache) keepListHeader(uid uint32, raw []byte) []byte {
	buf := scratchBuffers.Get().(*[]byte)
	defer putScratch(buf)
	rec, whole := message.AppendListHeader(append((*buf)[:0], 0), raw)
	*buf = rec
	switch {
	case len(rec)-1 > maxListHeader:
		rec = append(rec[:0], listHeaderTooLarge)
	case whole:
		rec[0] = listHeaderWhole
	}
	return c.store(uid, listHeaderKey, rec)
}

// keepListHeaderOf is keepListHeader of the header block of the message
// p was parsed from, read from r.
func (c *metaCache) keepListHeaderOf(uid uint32, r io.ReaderAt, p *message.Part) ([]byte, error) {
	raw, err := headerBlock(r, p)
	if err != nil {
		return nil, err
	}
	defer putScratch(raw)
	return c.keepListHeader(uid, *raw), nil
}

// headerBlock reads the raw header block of the message p was parsed
// from into a buffer of its own, for the caller to give back with
// putScratch.
func headerBlock(r io.ReaderAt, p *message.Part) (*[]byte, error) {
	buf := scratchBuffers.Get().(*[]byte)
	raw := slices.Grow((*buf)[:0], int(p.BodyStart-p.HeaderStart))[:p.BodyStart-p.HeaderStart]
	*buf = raw
	if _, err := r.ReadAt(raw, p.HeaderStart); err != nil && err != io.EOF {
		putScratch(buf)
		return nil, err
	}
	return buf, nil
}

// scratchBuffers lend the buffers a header is read and its list header
// built in, each used and given back within one message's first parse.
var scratchBuffers = sync.Pool{New: func() any { return new([]byte) }}

// putScratch gives buf back unless it grew beyond what most headers need
// (a hostile header of megabytes is not kept for the next one).
func putScratch(buf *[]byte) {
	if cap(*buf) <= 64<<10 {
		scratchBuffers.Put(buf)
	}
}
