package imapd

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"imapd/imapd/wire"
	"imapd/message"
)

// section returns the octets of BODY[sec]<partial> (RFC 3501 §6.4.5) as
// a reader and its exact length; ok is false when the section does not
// exist (the response is then NIL). sp holds the section with what
// fetchPlan worked out of it once per FETCH.
func (f *fetcher) section(sp *sectionPlan, partial *wire.Partial) (r io.Reader, n int64, ok bool, err error) {
	sec, key := sp.sec, sp.key
	if len(sec.Part) == 0 && sec.Text == wire.SectionAll {
		// The whole message, streamed: RFC822.SIZE octets exactly.
		fh, err := f.open()
		if err != nil {
			return nil, 0, false, err
		}
		n, err = f.s.mbox.Size(f.uid)
		if err != nil {
			return nil, 0, false, err
		}
		// The one CRLF rule of the store's RFC822.SIZE (message.CRLFCounter):
		// BODY[] has exactly that many octets.
		r = message.NewCRLFReader(io.NewSectionReader(fh, 0, math.MaxInt64))
		return cut(r, n, partial)
	}
	// HEADER.FIELDS[.NOT], what a client's message list asks of every
	// message: its result is kept in the store's cache under the field
	// list, so that it is taken from the file or the list header once.
	if key != "" {
		if d := f.s.mbox.Kept(f.uid, key); d != nil {
			return cutKept(d, partial)
		}
	}
	data, listed, err := f.keptHeaderSection(sp)
	if err != nil {
		return nil, 0, false, err
	}
	if listed {
		if key != "" {
			// A later FETCH of this list reads this result, smaller than
			// the list header, and selects nothing again. data is the
			// record as kept, a first octet 1 (see cutKept), in a
			// scratch buffer: the answer is the cache's copy.
			kept, err := f.s.mbox.KeepDerived(f.uid, key, data)
			if kept == nil && err == nil {
				kept = bytes.Clone(data)
			}
			putRecordScratch(data)
			if err != nil {
				return nil, 0, false, err
			}
			return cutKept(kept, partial)
		}
		return cut(bytes.NewReader(data), int64(len(data)), partial)
	}
	if key != "" {
		d, err := f.s.mbox.Derived(f.uid, key, func(root *message.Part) ([]byte, error) {
			data, ok, err := f.sectionData(root, sec)
			if !ok {
				return []byte{0}, err
			}
			return append([]byte{1}, data...), err
		})
		if err != nil {
			return nil, 0, false, err
		}
		return cutKept(d, partial)
	}
	root, err := f.structure()
	if err != nil {
		return nil, 0, false, err
	}
	data, ok, err = f.sectionData(root, sec)
	if err != nil || !ok {
		return nil, 0, false, err
	}
	return cut(bytes.NewReader(data), int64(len(data)), partial)
}

// cutKept applies <offset.count> to a section's result as kept under
// its field list: a first octet 1 and the data, or 0 for a section that
// does not exist.
func cutKept(d []byte, partial *wire.Partial) (io.Reader, int64, bool, error) {
	if len(d) == 0 || d[0] == 0 {
		return nil, 0, false, nil
	}
	return cut(bytes.NewReader(d[1:]), int64(len(d)-1), partial)
}

// keptHeaderSection returns the message's HEADER.FIELDS,
// HEADER.FIELDS.NOT or HEADER section from the list header the store
// keeps (Mailbox.ListHeader) when that holds all it needs: the fields
// asked for are list fields, or the list fields are the whole header.
// ok is false otherwise, and the section is read from the file. A
// section to be kept under sp.key comes as its record: after a first
// octet 1, in a scratch buffer to give back with putRecordScratch.
func (f *fetcher) keptHeaderSection(sp *sectionPlan) (data []byte, ok bool, err error) {
	sec := sp.sec
	if len(sec.Part) > 0 {
		return nil, false, nil
	}
	switch sec.Text {
	case wire.SectionHeaderFields, wire.SectionHeaderFieldsNot, wire.SectionHeader:
	default:
		return nil, false, nil
	}
	fields, whole, ok, err := f.s.mbox.ListHeader(f.uid)
	if err != nil || !ok || !(whole || sp.listed) {
		return nil, false, err
	}
	if sec.Text == wire.SectionHeader {
		return fields, true, nil
	}
	var rec []byte
	if sp.key != "" {
		rec = append(*recordScratch.Get().(*[]byte), 1)
	}
	return message.AppendHeaderFields(rec, fields, sec.Fields, sec.Text == wire.SectionHeaderFieldsNot), true, nil
}

// recordScratch holds the buffers a section to be kept is built in: the
// cache copies it, and the buffer serves the next message.
var recordScratch = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

func putRecordScratch(b []byte) {
	if cap(b) <= 64<<10 {
		b = b[:0]
		recordScratch.Put(&b)
	}
}

// ofListFields reports whether sec is HEADER.FIELDS of the message's
// own header, of list fields only: the list header the store keeps
// answers it.
func ofListFields(sec wire.Section) bool {
	return len(sec.Part) == 0 && sec.Text == wire.SectionHeaderFields && message.ListFieldsCover(sec.Fields)
}

// headerFieldsKey names the cached result of a HEADER.FIELDS[.NOT]
// section (see Mailbox.Derived): kind, part and the field names in upper
// case, sorted, once each, since neither order nor case changes the
// result. NUL separates them: no astring holds one, while a field name
// may hold spaces or be "NOT". It is "" for other sections, and for a
// key too long to keep.
func headerFieldsKey(sec wire.Section) string {
	kind := "imap.hdr"
	switch sec.Text {
	case wire.SectionHeaderFields:
	case wire.SectionHeaderFieldsNot:
		kind = "imap.hdr.not"
	default:
		return ""
	}
	fields := make([]string, len(sec.Fields))
	for i, name := range sec.Fields {
		if strings.IndexByte(name, 0) >= 0 {
			return ""
		}
		fields[i] = strings.ToUpper(name)
	}
	slices.Sort(fields)
	fields = slices.Compact(fields)
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte(0)
	for i, x := range sec.Part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	}
	for _, name := range fields {
		b.WriteByte(0)
		b.WriteString(name)
	}
	if b.Len() > 255 {
		return ""
	}
	return b.String()
}

// sectionData reads section sec (not the whole message) of the message
// whose structure is root; ok is false when the part does not exist.
func (f *fetcher) sectionData(root *message.Part, sec wire.Section) (data []byte, ok bool, err error) {
	fh, err := f.open()
	if err != nil {
		return nil, false, err
	}
	p := root
	if len(sec.Part) > 0 {
		path := make([]int, len(sec.Part))
		for i, x := range sec.Part {
			path[i] = int(x)
		}
		if p, ok = root.Find(path); !ok {
			return nil, false, nil
		}
	}
	switch sec.Text {
	case wire.SectionAll:
		data, err = readCRLF(fh, p.BodyStart, p.BodyEnd)
	case wire.SectionMIME:
		data, err = readCRLF(fh, p.HeaderStart, p.BodyStart)
	default:
		msg := p
		if len(sec.Part) > 0 {
			if !p.IsMessage() {
				// HEADER and TEXT of a part that is no message: empty.
				return nil, true, nil
			}
			msg = p.Children[0]
		}
		switch sec.Text {
		case wire.SectionTextOnly:
			data, err = readCRLF(fh, msg.BodyStart, msg.BodyEnd)
		case wire.SectionHeader:
			data, err = readCRLF(fh, msg.HeaderStart, msg.BodyStart)
		case wire.SectionHeaderFields, wire.SectionHeaderFieldsNot:
			data, err = readCRLF(fh, msg.HeaderStart, msg.BodyStart)
			data = message.HeaderFields(data, sec.Fields, sec.Text == wire.SectionHeaderFieldsNot)
		}
	}
	return data, err == nil, err
}

// cut applies <offset.count> to a reader of n octets.
func cut(r io.Reader, n int64, partial *wire.Partial) (io.Reader, int64, bool, error) {
	if partial == nil {
		return r, n, true, nil
	}
	off := min(int64(partial.Offset), n)
	cnt := min(int64(partial.Count), n-off)
	if off > 0 {
		if _, err := io.CopyN(io.Discard, r, off); err != nil {
			return nil, 0, false, err
		}
	}
	return io.LimitReader(r, cnt), cnt, true, nil
}

// readCRLF reads the raw range [start, end) with line endings made CRLF
// (message package convention, which the part sizes follow).
func readCRLF(r io.ReaderAt, start, end int64) ([]byte, error) {
	if end <= start {
		return nil, nil
	}
	raw := make([]byte, end-start)
	if _, err := r.ReadAt(raw, start); err != nil && err != io.EOF {
		return nil, err
	}
	return message.ToCRLF(make([]byte, 0, len(raw)+len(raw)/32), raw), nil
}
