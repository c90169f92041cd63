package imapd

import (
	"io"
	"os"
	"strings"

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
	fields []headerField // the root header, decoded
	body   *string       // folded decoded text of the body parts
}

type headerField struct {
	name  string // lower case
	value string // decoded, folded
}

func (m *searchMsg) close() {
	if m.file != nil {
		m.file.Close()
	}
}

func (m *searchMsg) meta() *maildir.Message {
	if m.md == nil {
		md := m.s.mbox.Message(m.uid)
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
	p, err := m.structure()
	if err != nil {
		return nil, err
	}
	f, err := m.open()
	if err != nil {
		return nil, err
	}
	raw, err := readCRLF(f, p.HeaderStart, p.BodyStart)
	if err != nil {
		return nil, err
	}
	m.fields = parseFields(raw)
	return m.fields, nil
}

// parseFields splits a CRLF header block into decoded, folded fields.
func parseFields(raw []byte) []headerField {
	out := []headerField{}
	for _, line := range splitHeaderFields(raw) {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		out = append(out, headerField{name: strings.ToLower(strings.TrimSpace(name)),
			value: fold(message.DecodeHeaderValue(strings.TrimSpace(value)))})
	}
	return out
}

// splitHeaderFields returns each field of a header block with its
// continuation lines, up to the blank line.
func splitHeaderFields(raw []byte) []string {
	var out []string
	for _, line := range strings.Split(string(raw), "\r\n") {
		if line == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += "\r\n" + line
			continue
		}
		out = append(out, line)
	}
	return out
}

// headerContains is HEADER field value (and FROM, TO, ...): an empty
// value matches any message that has the field (RFC 3501 §6.4.4).
func (m *searchMsg) headerContains(field, value string) (bool, error) {
	fields, err := m.header()
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
	p, err := m.structure()
	if err != nil || p.Envelope == nil {
		return false, err
	}
	env := p.Envelope
	var addrs []message.Address
	switch kind {
	case wire.SearchSubject:
		return strings.Contains(fold(message.DecodeHeaderValue(env.Subject)), value), nil
	case wire.SearchFrom:
		addrs = env.From
	case wire.SearchTo:
		addrs = env.To
	case wire.SearchCc:
		addrs = env.Cc
	case wire.SearchBcc:
		addrs = env.Bcc
	}
	for _, a := range addrs {
		var b strings.Builder
		if a.Group != "" {
			b.WriteString(message.DecodeHeaderValue(a.Group))
			b.WriteString(": ")
		}
		if a.Name != "" {
			b.WriteString(message.DecodeHeaderValue(a.Name))
			b.WriteString(" ")
		}
		if a.Mailbox != "" || a.Host != "" {
			b.WriteString("<" + a.Mailbox)
			if a.Host != "" {
				b.WriteString("@" + a.Host)
			}
			b.WriteString(">")
		}
		if strings.Contains(fold(b.String()), value) {
			return true, nil
		}
	}
	return false, nil
}

// headerTextContains searches every header field, for TEXT.
func (m *searchMsg) headerTextContains(value string) (bool, error) {
	fields, err := m.header()
	if err != nil {
		return false, err
	}
	for _, f := range fields {
		if strings.Contains(f.name+": "+f.value, value) {
			return true, nil
		}
	}
	return false, nil
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
	return strings.Contains(*m.body, value), nil
}

func (m *searchMsg) bodyText() (string, error) {
	root, err := m.structure()
	if err != nil {
		return "", err
	}
	f, err := m.open()
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
		b.WriteString(fold(string(text)))
		b.WriteByte('\n')
		return true
	})
	return b.String(), walkErr
}
