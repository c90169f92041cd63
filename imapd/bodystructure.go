package imapd

import (
	"strings"

	"imapd/imapd/wire"
	"imapd/message"
)

// writeBodyStructure writes BODY (ext false) or BODYSTRUCTURE (ext true)
// of p (RFC 3501 §7.4.2). The tree's depth is bounded by the parser.
func writeBodyStructure(w *wire.Writer, p *message.Part, ext bool) {
	w.BeginList()
	if p.IsMultipart() {
		for _, c := range p.Children {
			writeBodyStructure(w, c, ext)
		}
		w.SP().String(p.Subtype)
		if ext {
			w.SP()
			writeParams(w, p.Params)
			writeExtTail(w, p)
		}
		w.EndList()
		return
	}
	w.String(p.Type).SP().String(p.Subtype).SP()
	params := p.Params
	if p.Type == "text" && message.ParamValue(params, "charset") == "" {
		// Like Dovecot: a text part without charset is us-ascii (RFC
		// 2045 §5.2), and clients want to be told.
		params = append([]message.Param{{Name: "charset", Value: "us-ascii"}}, params...)
	}
	writeParams(w, params)
	w.SP()
	nstring(w, p.ID)
	w.SP()
	nstring(w, p.Description)
	w.SP().String(p.Encoding).SP().Number64(uint64(p.BodySize))
	switch {
	case p.IsMessage():
		inner := p.Children[0]
		w.SP()
		writeEnvelope(w, inner.Envelope)
		w.SP()
		writeBodyStructure(w, inner, ext)
		w.SP().Number64(uint64(p.BodyLines))
	case p.Type == "text":
		w.SP().Number64(uint64(p.BodyLines))
	}
	if ext {
		w.SP()
		nstring(w, p.MD5)
		writeExtTail(w, p)
	}
	w.EndList()
}

// writeExtTail writes the extension fields every body type ends with
// (RFC 3501 §7.4.2): disposition, language, location, each after a space.
func writeExtTail(w *wire.Writer, p *message.Part) {
	w.SP()
	writeDisposition(w, p)
	w.SP()
	writeLanguage(w, p.Language)
	w.SP()
	nstring(w, p.Location)
}

// nstring writes s, or NIL when it is empty.
func nstring(w *wire.Writer, s string) {
	if s == "" {
		w.Nil()
		return
	}
	w.String(s)
}

func writeParams(w *wire.Writer, params []message.Param) {
	if len(params) == 0 {
		w.Nil()
		return
	}
	w.BeginList()
	for i, p := range params {
		if i > 0 {
			w.SP()
		}
		w.String(p.Name).SP().String(p.Value)
	}
	w.EndList()
}

func writeDisposition(w *wire.Writer, p *message.Part) {
	if p.Disposition == "" {
		w.Nil()
		return
	}
	w.BeginList().String(p.Disposition).SP()
	writeParams(w, p.DispositionParams)
	w.EndList()
}

func writeLanguage(w *wire.Writer, langs []string) {
	switch len(langs) {
	case 0:
		w.Nil()
	case 1:
		w.String(langs[0])
	default:
		w.BeginList()
		for i, l := range langs {
			if i > 0 {
				w.SP()
			}
			w.String(l)
		}
		w.EndList()
	}
}

// writeEnvelope writes ENVELOPE (RFC 3501 §7.4.2). Sender and Reply-To
// default to From, as the RFC asks of the server.
func writeEnvelope(w *wire.Writer, e *message.Envelope) {
	if e == nil {
		e = &message.Envelope{}
	}
	w.BeginList()
	nstring(w, e.Date)
	w.SP()
	nstring(w, e.Subject)
	sender, replyTo := e.Sender, e.ReplyTo
	if len(sender) == 0 {
		sender = e.From
	}
	if len(replyTo) == 0 {
		replyTo = e.From
	}
	for _, list := range [][]message.Address{e.From, sender, replyTo, e.To, e.Cc, e.Bcc} {
		w.SP()
		writeAddresses(w, list)
	}
	w.SP()
	nstring(w, e.InReplyTo)
	w.SP()
	nstring(w, e.MessageID)
	w.EndList()
}

func writeAddresses(w *wire.Writer, list []message.Address) {
	if len(list) == 0 {
		w.Nil()
		return
	}
	w.BeginList()
	for _, a := range list {
		switch {
		case a.GroupEnd:
			w.Raw("(NIL NIL NIL NIL)")
		case a.Group != "":
			w.Raw("(NIL NIL ").String(a.Group).Raw(" NIL)")
		default:
			mbox, host := a.Mailbox, a.Host
			if mbox == "" {
				mbox = "MISSING_MAILBOX"
			}
			if host == "" {
				host = "MISSING_DOMAIN" // NIL would mean a group (as Dovecot)
			}
			w.BeginList()
			nstring(w, a.Name)
			w.SP()
			nstring(w, a.Adl)
			w.SP().String(mbox).SP().String(host).EndList()
		}
	}
	w.EndList()
}

// lowerASCII is strings.ToLower for the field-name comparisons of
// HEADER.FIELDS.
func lowerASCII(s string) string { return strings.ToLower(s) }
