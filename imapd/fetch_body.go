package imapd

import (
	"bytes"
	"io"
	"math"

	"imapd/imapd/wire"
	"imapd/message"
)

// section returns the octets of BODY[sec]<partial> (RFC 3501 §6.4.5) as
// a reader and its exact length; ok is false when the section does not
// exist (the response is then NIL).
func (f *fetcher) section(sec wire.Section, partial *wire.Partial) (r io.Reader, n int64, ok bool, err error) {
	fh, err := f.open()
	if err != nil {
		return nil, 0, false, err
	}
	if len(sec.Part) == 0 && sec.Text == wire.SectionAll {
		// The whole message, streamed: RFC822.SIZE octets exactly.
		n, err = f.s.mbox.Size(f.uid)
		if err != nil {
			return nil, 0, false, err
		}
		// The one CRLF rule of the store's RFC822.SIZE (message.CRLFCounter):
		// BODY[] has exactly that many octets.
		r = message.NewCRLFReader(io.NewSectionReader(fh, 0, math.MaxInt64))
		return cut(r, n, partial)
	}
	root, err := f.structure()
	if err != nil {
		return nil, 0, false, err
	}
	p := root
	if len(sec.Part) > 0 {
		path := make([]int, len(sec.Part))
		for i, x := range sec.Part {
			path[i] = int(x)
		}
		if p, ok = root.Find(path); !ok {
			return nil, 0, false, nil
		}
	}
	var data []byte
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
				return cut(bytes.NewReader(nil), 0, partial)
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
	if err != nil {
		return nil, 0, false, err
	}
	return cut(bytes.NewReader(data), int64(len(data)), partial)
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
