package imapd

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"imapd/imapd/wire"
	"imapd/maildir"
	"imapd/message"
)

// searchMsg is one message under evaluation; what a key needs (metadata,
// structure, header fields, body text) is loaded once, on demand.
type searchMsg struct {
	*searcher
	seq, uid uint32

	md     *maildir.Message
	part   *message.Part
	file   *os.File
	ra     io.ReaderAt   // see content
	buf    *[]byte       // the whole file, from contentBuffers
	raw    []byte        // the root header, raw
	fields []headerField // the root header, decoded
	// list is the list header the store keeps (Mailbox.ListHeader),
	// nil when it keeps none; whole when it is all of the header.
	// listFields is list decoded.
	list       []byte
	listWhole  bool
	listLoaded bool
	listFields []headerField
	envText    []byte  // envelopeText, from the store's cache
	body       *string // decoded text of the body parts (see containsFold)
	// rawFolded is the raw header with its line breaks removed, folded,
	// made once for every TEXT key (rawHeaderLacks); plain: it can be
	// used (the header has no encoded word).
	rawFolded *string
	plain     bool
}

type headerField struct {
	name  string // lower case
	value string // decoded, folded
}

func (m *searchMsg) close() {
	if m.file != nil {
		m.file.Close()
	}
	if m.buf != nil {
		contentBuffers.Put(m.buf)
	}
}

// content returns the message's octets to read the header and the text
// parts from: a small message (most are) is read whole at once, so that
// they cost one read, a large one is read part by part from its file.
func (m *searchMsg) content() (io.ReaderAt, error) {
	if m.ra != nil {
		return m.ra, nil
	}
	root, err := m.structure()
	if err != nil {
		return nil, err
	}
	f, err := m.open()
	if err != nil {
		return nil, err
	}
	m.ra = f
	if size := root.BodyEnd; size <= contentBuffer {
		m.buf = contentBuffers.Get().(*[]byte)
		n, err := f.ReadAt((*m.buf)[:size], 0)
		if err != nil && err != io.EOF {
			return nil, err
		}
		m.ra = bytes.NewReader((*m.buf)[:n])
	}
	return m.ra, nil
}

// contentBuffer is the size of the largest message content reads whole.
const contentBuffer = 256 << 10

var contentBuffers = sync.Pool{New: func() any {
	b := make([]byte, contentBuffer)
	return &b
}}

func (m *searchMsg) meta() *maildir.Message {
	if m.md == nil {
		md := m.s.mbox.Message(m.uid)
		if md.Expunged {
			// Expunged by someone else, not yet told: its keys are
			// tested on what it was (the tracker is only read while a
			// command runs).
			if last, ok := m.s.sel.expunged(m.uid); ok {
				md = last
			}
		}
		m.md = &md
	}
	return m.md
}

func (m *searchMsg) structure() (*message.Part, error) {
	if m.part == nil {
		p, err := m.s.mbox.Structure(m.uid)
		if err != nil {
			return nil, err
		}
		m.part = p
	}
	return m.part, nil
}

func (m *searchMsg) open() (*os.File, error) {
	if m.file == nil {
		f, err := m.s.mbox.Open(m.uid)
		if err != nil {
			return nil, err
		}
		m.file = f
	}
	return m.file, nil
}

// header returns the root header's fields, decoded and folded.
func (m *searchMsg) header() ([]headerField, error) {
	if m.fields != nil {
		return m.fields, nil
	}
	raw, err := m.rawHeader()
	if err != nil {
		return nil, err
	}
	m.fields = parseFields(raw)
	return m.fields, nil
}

// loadListHeader loads the list header the store keeps, once.
func (m *searchMsg) loadListHeader() error {
	if m.listLoaded {
		return nil
	}
	list, whole, ok, err := m.s.mbox.ListHeader(m.uid)
	if err != nil {
		return err
	}
	m.listLoaded = true
	if ok {
		m.list, m.listWhole = list, whole
	}
	return nil
}

// fieldsWith returns decoded fields of the root header, among them every
// field called name: the list header's when name is a list field (the
// store keeps them: no file is read), else the whole header's.
func (m *searchMsg) fieldsWith(name string) ([]headerField, error) {
	if m.fields == nil && message.ListFieldsCover([]string{name}) {
		if err := m.loadListHeader(); err != nil {
			return nil, err
		}
		if m.list != nil {
			if m.listFields == nil {
				m.listFields = parseFields(m.list)
			}
			return m.listFields, nil
		}
	}
	return m.header()
}

// rawHeader returns the root header as it is in the file, CRLF-ended:
// the list header the store keeps when that is all of it.
func (m *searchMsg) rawHeader() ([]byte, error) {
	if m.raw != nil {
		return m.raw, nil
	}
	if err := m.loadListHeader(); err != nil {
		return nil, err
	}
	if m.list != nil && m.listWhole {
		m.raw = m.list // never nil: it ends with the blank line
		return m.raw, nil
	}
	p, err := m.structure()
	if err != nil {
		return nil, err
	}
	f, err := m.content()
	if err != nil {
		return nil, err
	}
	raw, err := readCRLF(f, p.HeaderStart, p.BodyStart)
	if err != nil {
		return nil, err
	}
	m.raw = append(raw, 0)[:len(raw)] // never nil
	return m.raw, nil
}

// parseFields splits a CRLF header block into decoded, folded fields.
func parseFields(raw []byte) []headerField {
	out := []headerField{}
	for _, line := range splitHeaderFields(raw) {
		name, value, ok := strings.Cut(line, ":")
		if name = strings.TrimRight(name, " \t"); !ok || !message.IsFieldName(name) {
			continue // not a field, as message.HeaderFields sees it
		}
		out = append(out, headerField{name: lowerASCII(name),
			value: fold(message.DecodeHeaderValue(strings.TrimSpace(value)))})
	}
	return out
}

// splitHeaderFields returns each field of a header block with its
// continuation lines, up to the blank line. Continuation lines before
// the first field belong to no field, as in message.HeaderFields: the
// fields of a name are then the same in the whole header and in the
// list header the store keeps.
func splitHeaderFields(raw []byte) []string {
	var out []string
	for _, line := range strings.Split(string(raw), "\r\n") {
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(out) > 0 {
				out[len(out)-1] += "\r\n" + line
			}
			continue
		}
		out = append(out, line)
	}
	return out
}

// headerContains is HEADER field value (and FROM, TO, ...): an empty
// value matches any message that has the field (RFC 3501 §6.4.4).
func (m *searchMsg) headerContains(field, value string) (bool, error) {
	fields, err := m.fieldsWith(field)
	if err != nil {
		return false, err
	}
	field = strings.ToLower(field)
	for _, f := range fields {
		if f.name == field && strings.Contains(f.value, value) {
			return true, nil
		}
	}
	return false, nil
}

// envelopeContains is FROM, TO, CC, BCC and SUBJECT: RFC 3501 §6.4.4
// matches them against "the envelope structure's" field, which the
// store's cache holds, so no message file is read. An address matches by
// its decoded display name, its address, or "Name <local@host>".
func (m *searchMsg) envelopeContains(kind wire.SearchKind, value string) (bool, error) {
	if m.envText == nil {
		data, err := m.s.mbox.Derived(m.uid, searchEnvelopeKey, func(p *message.Part) ([]byte, error) {
			return envelopeText(p.Envelope), nil
		})
		if err != nil {
			return false, err
		}
		m.envText = data
	}
	// The fields in envelopeText's order; within one, the strings.
	field := m.envText
	for i := range searchEnvelopeFields {
		end := bytes.IndexByte(field, envFieldSep)
		if end < 0 {
			end = len(field)
		}
		if searchEnvelopeFields[i] == kind {
			for s := range bytes.SplitSeq(field[:end], []byte{envStringSep}) {
				if bytes.Contains(s, []byte(value)) {
					return true, nil
				}
			}
			return false, nil
		}
		field = field[min(end+1, len(field)):]
	}
	return false, nil
}

// searchEnvelopeKey names the folded text of the envelope fields SEARCH
// matches (Mailbox.Derived), kept so that SEARCH FROM neither decodes a
// structure nor decodes RFC 2047 words again.
const searchEnvelopeKey = "search.envelope"

var searchEnvelopeFields = [...]wire.SearchKind{wire.SearchSubject, wire.SearchFrom, wire.SearchTo, wire.SearchCc, wire.SearchBcc}

// Separators of envelopeText: prepareKey's folded search strings never
// hold them (a key with a control character is matched all the same:
// it finds nothing, as no field holds one either).
const (
	envFieldSep  = 0x01
	envStringSep = 0x00
)

// envelopeText is the subject and the address lists in the order of
// searchEnvelopeFields, each decoded and folded, fields separated by
// envFieldSep and an address list's entries by envStringSep.
func envelopeText(env *message.Envelope) []byte {
	if env == nil {
		env = &message.Envelope{}
	}
	var b strings.Builder
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == envFieldSep || r == envStringSep {
				return ' '
			}
			return r
		}, fold(s))
	}
	b.WriteString(clean(message.DecodeHeaderValue(env.Subject)))
	for _, addrs := range [][]message.Address{env.From, env.To, env.Cc, env.Bcc} {
		b.WriteByte(envFieldSep)
		for i, a := range addrs {
			if i > 0 {
				b.WriteByte(envStringSep)
			}
			var e strings.Builder
			if a.Group != "" {
				e.WriteString(message.DecodeHeaderValue(a.Group))
				e.WriteString(": ")
			}
			if a.Name != "" {
				e.WriteString(message.DecodeHeaderValue(a.Name))
				e.WriteString(" ")
			}
			if a.Mailbox != "" || a.Host != "" {
				e.WriteString("<" + a.Mailbox)
				if a.Host != "" {
					e.WriteString("@" + a.Host)
				}
				e.WriteString(">")
			}
			b.WriteString(clean(e.String()))
		}
	}
	return []byte(b.String())
}

// headerTextContains searches every header field, for TEXT.
func (m *searchMsg) headerTextContains(value string) (bool, error) {
	raw, err := m.rawHeader()
	if err != nil {
		return false, err
	}
	if m.rawFolded == nil {
		s := ""
		m.plain = !bytes.Contains(raw, []byte("=?"))
		if m.plain {
			s = foldedJoin(raw)
		}
		m.rawFolded = &s
	}
	if m.plain && rawLacks(*m.rawFolded, value) {
		return false, nil
	}
	fields, err := m.header()
	if err != nil {
		return false, err
	}
	return fieldsContain(fields, value), nil
}

// fieldsContain is TEXT's test of a header: value is in some field's
// "name: value", decoded and folded.
func fieldsContain(fields []headerField, value string) bool {
	// Without a ':' or a leading space, a match cannot take in the ": ".
	apart := !strings.ContainsRune(value, ':') && !strings.HasPrefix(value, " ")
	for _, f := range fields {
		if apart {
			if strings.Contains(f.name, value) || strings.Contains(f.value, value) {
				return true
			}
		} else if strings.Contains(f.name+": "+f.value, value) {
			return true
		}
	}
	return false
}

// rawHeaderLacks reports, for most headers that do not match, that
// fieldsContain(parseFields(raw), value) is false, without decoding field
// by field; false means "maybe". Without encoded words, each "name:
// value" is the raw field trimmed, its lines joined and folded, so a
// match that does not cross the ": " (which would need a ':', or a
// leading space where the raw field may have none) is in the whole raw
// header with its line breaks removed, folded.
func rawHeaderLacks(raw []byte, value string) bool {
	if bytes.Contains(raw, []byte("=?")) {
		return false
	}
	return rawLacks(foldedJoin(raw), value)
}

// foldedJoin is raw with its line breaks removed, folded.
func foldedJoin(raw []byte) string {
	joined := bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r"), nil), []byte("\n"), nil)
	return fold(string(joined))
}

// rawLacks is rawHeaderLacks on foldedJoin of a header without encoded
// words.
func rawLacks(folded, value string) bool {
	if strings.ContainsRune(value, ':') || strings.HasPrefix(value, " ") {
		return false
	}
	return !strings.Contains(folded, value)
}

// bodyContains searches the decoded text of the body: every text part
// (transfer encoding undone, charset converted), and the headers of
// nested messages.
func (m *searchMsg) bodyContains(value string) (bool, error) {
	if m.body == nil {
		text, err := m.bodyText()
		if err != nil {
			return false, err
		}
		m.body = &text
	}
	return containsFold(*m.body, value), nil
}

// containsFold reports whether fold(text) contains value, which is folded
// already. For an ASCII value (what is searched for most) it does not
// fold text: only two runes lower-case to ASCII (U+0130 to 'i', the
// Kelvin sign U+212A to 'k'), and without them every match of an ASCII
// value in fold(text) is a run of ASCII octets in text, letters in either
// case.
func containsFold(text, value string) bool {
	if value == "" {
		return true
	}
	for i := 0; i < len(value); i++ {
		if value[i] >= utf8.RuneSelf {
			return strings.Contains(fold(text), value)
		}
	}
	if strings.Contains(text, "\u0130") || strings.Contains(text, "\u212a") {
		return strings.Contains(fold(text), value)
	}
	// Candidates are where value's first octet is, in either case; the
	// next of each is found by IndexByte and kept until passed.
	first, upper := value[0], value[0]
	if 'a' <= first && first <= 'z' {
		upper = first - 'a' + 'A'
	}
	last := len(text) - len(value)
	nextLower, nextUpper := -1, -1
	for i := 0; i <= last; {
		if nextLower < i {
			nextLower = indexFrom(text, first, i)
		}
		if nextUpper < i {
			nextUpper = indexFrom(text, upper, i)
		}
		j := min(nextLower, nextUpper)
		if j > last {
			return false
		}
		if equalFoldASCII(text[j+1:j+len(value)], value[1:]) {
			return true
		}
		i = j + 1
	}
	return false
}

// indexFrom is the index of c in s at or after i, or len(s).
func indexFrom(s string, c byte, i int) int {
	if k := strings.IndexByte(s[i:], c); k >= 0 {
		return i + k
	}
	return len(s)
}

// equalFoldASCII reports whether s, with ASCII letters lower-cased, is
// lower (which is lower case already).
func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func (m *searchMsg) bodyText() (string, error) {
	root, err := m.structure()
	if err != nil {
		return "", err
	}
	f, err := m.content()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	var walkErr error
	root.Walk(func(p *message.Part) bool {
		if p != root && p.Envelope != nil {
			// A nested message's header is text of the outer body.
			raw, err := readCRLF(f, p.HeaderStart, p.BodyStart)
			if err != nil {
				walkErr = err
				return false
			}
			for _, fl := range parseFields(raw) {
				b.WriteString(fl.name + ": " + fl.value + "\n")
			}
		}
		// Leaves of type text/* and message/* (delivery-status,
		// disposition-notification, a demoted rfc822) are text to search,
		// as Dovecot has it; images and other attachments are not.
		if len(p.Children) > 0 || (p.Type != "text" && p.Type != "message") {
			return true
		}
		text, err := io.ReadAll(message.DecodedBody(p, f))
		if err != nil {
			walkErr = err
			return false
		}
		b.Write(text)
		b.WriteByte('\n')
		return true
	})
	return b.String(), walkErr
}
