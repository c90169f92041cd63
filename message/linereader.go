package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// windowSize is the size of the line reader's buffer. Lines up to this long
// are returned whole; longer lines are returned as their first windowSize
// bytes and counted, not stored.
const windowSize = 32 << 10

// mark is a position in the message, in both coordinates: raw and CRLF space.
type mark struct {
	raw   int64 // raw byte offset
	crlf  int64 // offset in CRLF space
	terms int64 // line endings before raw
	// midLine is set when raw is inside a line (after at least one content
	// byte of it), so that a range ending here ends with a partial line.
	midLine bool
}

// linesTo counts the text lines of [m, end), m being at a line start.
func (m mark) linesTo(end mark) int64 {
	if end.raw <= m.raw {
		return 0
	}
	n := end.terms - m.terms
	if end.midLine {
		n++
	}
	return n
}

// line is one line of the message. A line ends at LF, CRLF or a bare CR.
type line struct {
	start mark  // position of the first byte
	n     int64 // content length, line ending excluded
	term  int64 // raw length of the line ending: 0 (end of data), 1 or 2
	// text is the content, or its first windowSize bytes when long is set.
	// It is only valid until the next call to lineReader.next.
	text []byte
	long bool
	// blankTail is set when the bytes beyond text are all SP or HTAB
	// (trivially so when long is unset).
	blankTail bool
}

// contentEnd is the position just after the content, before the ending.
func (l *line) contentEnd() mark {
	return mark{raw: l.start.raw + l.n, crlf: l.start.crlf + l.n, terms: l.start.terms, midLine: l.n > 0}
}

// end is the position after the line ending: the start of the next line,
// or the content end for a last line without an ending.
func (l *line) end() mark {
	if l.term == 0 {
		return l.contentEnd()
	}
	return mark{raw: l.start.raw + l.n + l.term, crlf: l.start.crlf + l.n + 2, terms: l.start.terms + 1}
}

// lineReader splits [0, size) of an io.ReaderAt into lines through a fixed
// window, tracking both coordinate spaces. It is written over ReaderAt rather
// than bufio.Reader because a bare CR needs one byte of look-ahead across
// refills and every line needs its raw offset; both are simplest when the
// reader owns its window.
type lineReader struct {
	src  io.ReaderAt
	size int64

	buf  []byte // the window
	base int64  // raw offset of buf[0]
	r, w int    // unread bytes are buf[r:w]
	head []byte // copy of a long line's first bytes

	pos mark // position of the next line
}

// windows holds windows (*[windowSize]byte) between parses: a folder's
// first listing parses thousands of messages, and a fresh 32 KiB window
// each time is most of what a parse allocates and clears.
var windows sync.Pool

func newLineReader(src io.ReaderAt, size int64) *lineReader {
	w, _ := windows.Get().(*[windowSize]byte)
	if w == nil {
		w = new([windowSize]byte)
	}
	return &lineReader{src: src, size: size, buf: w[:max(1, min(windowSize, size))]}
}

// release gives the window back; the reader and every line it returned
// are then unusable.
func (lr *lineReader) release() {
	if cap(lr.buf) == windowSize {
		windows.Put((*[windowSize]byte)(lr.buf[:windowSize]))
	}
	lr.buf = nil
}

// atEOF reports whether the window holds the last bytes of the data.
func (lr *lineReader) atEOF() bool {
	return lr.base+int64(lr.w) >= lr.size
}

// fill moves the unread bytes to the front of the window and reads more.
func (lr *lineReader) fill() error {
	if lr.r > 0 {
		copy(lr.buf, lr.buf[lr.r:lr.w])
		lr.base += int64(lr.r)
		lr.w -= lr.r
		lr.r = 0
	}
	want := min(int64(len(lr.buf)-lr.w), lr.size-(lr.base+int64(lr.w)))
	if want <= 0 {
		return nil
	}
	n, err := lr.src.ReadAt(lr.buf[lr.w:lr.w+int(want)], lr.base+int64(lr.w))
	lr.w += n
	if n == int(want) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("message: read at %d: %w", lr.base+int64(lr.w), err)
}

// next returns the next line, or ok == false at the end of the data.
func (lr *lineReader) next() (l line, ok bool, err error) {
	if lr.pos.raw >= lr.size {
		return line{}, false, nil
	}
	l.start = lr.pos
	l.blankTail = true
	for {
		seg := lr.buf[lr.r:lr.w]
		i := indexEOL(seg)
		decidable := i >= 0 && (seg[i] == '\n' || i+1 < len(seg) || lr.atEOF())
		if decidable || (i < 0 && lr.atEOF()) {
			content := seg
			if i >= 0 {
				content = seg[:i]
				l.term = 1
				if seg[i] == '\r' && i+1 < len(seg) && seg[i+1] == '\n' {
					l.term = 2
				}
			}
			lr.take(&l, content)
			lr.r += len(content) + int(l.term)
			lr.pos = l.end()
			return l, true, nil
		}
		if l.long || (lr.r == 0 && lr.w == len(lr.buf)) {
			// The line does not fit in the window: keep its head, count
			// the rest. A trailing CR stays for the look-ahead.
			k := len(seg)
			if seg[k-1] == '\r' {
				k--
			}
			if !l.long {
				lr.head = append(lr.head[:0], seg[:k]...)
				l.long = true
				l.text = lr.head
				l.n = int64(k)
			} else {
				lr.take(&l, seg[:k])
			}
			lr.r += k
		}
		if err := lr.fill(); err != nil {
			return line{}, false, err
		}
	}
}

// take appends content to l: as its text for a short line, or counted
// against its blank tail for a long one.
func (lr *lineReader) take(l *line, content []byte) {
	if !l.long {
		l.text = content
		l.n = int64(len(content))
		return
	}
	l.n += int64(len(content))
	if l.blankTail {
		for _, c := range content {
			if c != ' ' && c != '\t' {
				l.blankTail = false
				break
			}
		}
	}
}

// indexEOL returns the index of the first CR or LF in b, or -1. Mail is
// mostly LF-terminated, so the LF is found first (IndexByte is the
// vectorised search) and the line before it searched for a bare CR.
func indexEOL(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}

// skipLines moves past the whole lines at the front of the window that
// the parser only needs to count: every complete line, or with dashes
// set, those before the first line beginning with "--" (a possible
// delimiter, which the caller reads with next). It returns the content
// end of the last line skipped, and false if it skipped none.
//
// A body is most of a message, and a line at a time (next) it is most of
// a parse; counted here a window at a time with vectorised searches it is
// a small part.
func (lr *lineReader) skipLines(dashes bool) (last mark, ok bool) {
	seg := lr.buf[lr.r:lr.w]
	// Whole lines only: up to the last LF. A bare CR after it, whose
	// line ending cannot always be decided yet, is left to next.
	end := bytes.LastIndexByte(seg, '\n') + 1
	if end == 0 {
		return mark{}, false
	}
	seg = seg[:end]
	if dashes {
		if len(seg) >= 2 && seg[0] == '-' && seg[1] == '-' {
			return mark{}, false
		}
		seg = seg[:dashLine(seg)]
	}
	// seg is now whole lines: it ends with LF, or with a bare CR followed
	// by "--" in the window. Each CRLF is one line ending of two bytes;
	// each other CR or LF one of one byte, which CRLF space doubles.
	lfs := int64(bytes.Count(seg, lf))
	crs, pairs := int64(0), int64(0)
	if bytes.IndexByte(seg, '\r') >= 0 {
		crs = int64(bytes.Count(seg, cr))
		pairs = int64(bytes.Count(seg, crlfPair))
	}
	terms := lfs + crs - pairs
	n := int64(len(seg))
	next := mark{
		raw:   lr.pos.raw + n,
		crlf:  lr.pos.crlf + n + terms - pairs,
		terms: lr.pos.terms + terms,
	}
	// The last line's ending, and whether it had content.
	term := 1
	if len(seg) >= 2 && seg[len(seg)-2] == '\r' && seg[len(seg)-1] == '\n' {
		term = 2
	}
	contentEnd := len(seg) - term
	last = mark{
		raw:     next.raw - int64(term),
		crlf:    next.crlf - 2,
		terms:   next.terms - 1,
		midLine: contentEnd > 0 && seg[contentEnd-1] != '\n' && seg[contentEnd-1] != '\r',
	}
	lr.r += len(seg)
	lr.pos = next
	return last, true
}

// dashLine returns the offset of the first line of b, after the first,
// that begins with "--", or len(b). b begins at a line start. It looks
// for the dashes, rarer than line endings in most bodies (none in
// base64), then at what precedes them.
func dashLine(b []byte) int {
	for from := 1; from < len(b); {
		i := bytes.IndexByte(b[from:], '-')
		if i < 0 {
			break
		}
		i += from
		if i+1 < len(b) && b[i+1] == '-' && (b[i-1] == '\n' || b[i-1] == '\r') {
			return i
		}
		from = i + 1
	}
	return len(b)
}
