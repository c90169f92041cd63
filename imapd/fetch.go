package imapd

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"

	"imapd/imapd/wire"
	"imapd/maildir"
	"imapd/message"
)

// cmdFetch is FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8). A body
// fetch without .PEEK on a read-write selection sets \Seen first, and
// FLAGS then goes out with the message even if not asked for. With
// CHANGEDSINCE (RFC 7162 §3.1.4.1) only messages changed since are
// answered, with their MODSEQ; with VANISHED as well (§3.2.6, UID FETCH
// and QRESYNC only), the UIDs of the set expunged since come first.
func cmdFetch(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.FetchArgs)
	if a.Vanished && (!c.UID() || !s.qresync()) {
		return outcome{}, bad("VANISHED needs UID FETCH and ENABLE QRESYNC first")
	}
	items := a.Items
	if a.ChangedSince != 0 && !hasItem(items, wire.FetchModSeq) {
		items = append(items, wire.FetchItem{Kind: wire.FetchModSeq})
	}
	hasUID, hasFlags, setsSeen := false, false, false
	for _, it := range items {
		switch it.Kind {
		case wire.FetchModSeq:
			s.condStoreCommand()
		case wire.FetchUID:
			hasUID = true
		case wire.FetchFlags:
			hasFlags = true
		}
		setsSeen = setsSeen || it.SetsSeen()
	}
	if c.UID() && !hasUID {
		// RFC 3501 §6.4.8: UID FETCH always returns the UID.
		items = append([]wire.FetchItem{{Kind: wire.FetchUID}}, items...)
	}
	var uids []uint32
	var err error
	if a.ChangedSince != 0 {
		uids, err = s.changedInSet(a.Set, c.UID(), a.ChangedSince)
	} else {
		uids, err = s.resolveSet(a.Set, c.UID())
	}
	if err != nil {
		return outcome{}, err
	}
	if a.Vanished {
		s.writeVanished(s.vanishedEarlier(a.Set, a.ChangedSince), true)
	}
	defer s.mbox.ReleaseBuffers()
	if len(uids) > 1 {
		// A FETCH of many messages nobody fetched before keeps what it
		// derives for each: written together, not a write per message.
		s.mbox.BatchWrites()
	}
	seenNow := map[uint32]bool{}
	if setsSeen && !s.mbox.ReadOnly() {
		var unseen []uint32
		s.eachMessage(uids, func(uid uint32, m maildir.Message) error {
			if !m.Expunged && m.Flags&maildir.FlagSeen == 0 {
				unseen = append(unseen, uid)
			}
			return nil
		})
		if len(unseen) > 0 {
			changed, _, err := s.mbox.SetFlags(unseen, maildir.FlagsAdd, maildir.FlagSeen, nil, 0)
			if err != nil {
				return outcome{}, err
			}
			for _, u := range changed {
				seenNow[u] = true
			}
		}
	}
	// A message expunged by someone else but still in this client's view
	// (RFC 2180 §4.1) is answered from its last metadata when that is all
	// the items need (UID, FLAGS, INTERNALDATE, RFC822.SIZE: what a sync
	// client such as mbsync asks for); otherwise it is skipped, every
	// other message is served, and the tagged OK says [EXPUNGEISSUED]
	// (RFC 5530), as a successful command with a caveat: clients take a
	// NO as a failed sync.
	gone := false
	if len(uids) > 1 {
		s.w.Grow()
	}
	plan := newFetchPlan(items)
	ahead := s.deriveAhead(plan, uids)
	defer ahead.stop()
	var stopped error
	i := 0
	err = s.eachMessage(uids, func(uid uint32, msg maildir.Message) error {
		if stopped = s.stopCause(); stopped != nil {
			return stopped
		}
		ahead.reach(i)
		i++
		f := fetcher{s: s, uid: uid, msg: msg}
		if f.msg.Expunged {
			last, ok := s.sel.expunged(uid)
			if !ok || !fromMetadata(items, last) {
				gone = true
				return nil
			}
			f.msg = last
		}
		err := f.write(plan, seenNow[uid] && !hasFlags)
		f.close()
		if errors.Is(err, maildir.ErrExpunged) {
			gone = true // expunged while we were reading it
			return nil
		}
		return err
	})
	if stopped != nil {
		return s.abandon(c.Name, stopped), nil
	}
	if err != nil {
		return outcome{}, err
	}
	if gone {
		return outcome{code: "EXPUNGEISSUED", text: "Some messages were expunged by another session and are not shown"}, nil
	}
	return outcome{}, nil
}

// hasItem reports whether items asks for kind.
func hasItem(items []wire.FetchItem, kind wire.FetchKind) bool {
	for _, it := range items {
		if it.Kind == kind {
			return true
		}
	}
	return false
}

// fromMetadata reports whether items can all be answered from a
// message's metadata alone (last, as it was when it was expunged).
func fromMetadata(items []wire.FetchItem, last maildir.Message) bool {
	for _, it := range items {
		switch it.Kind {
		case wire.FetchUID, wire.FetchFlags, wire.FetchInternalDate, wire.FetchModSeq:
		case wire.FetchRFC822Size:
			if last.Size == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// eachMessage calls fn with each of uids and its current metadata,
// stopping at the first error. The metadata of a run of messages is read
// with one look at the folder (Mailbox.Messages), just before fn sees
// them: FETCH and STORE go over whole mailboxes.
func (s *session) eachMessage(uids []uint32, fn func(uid uint32, msg maildir.Message) error) error {
	// From a pool shared by the sessions: a short session (log in,
	// FETCH, log out) would otherwise allocate a run's metadata each
	// time, and an idle one keep it.
	pm := metaRuns.Get().(*[]maildir.Message)
	metas, used := *pm, 0
	defer func() {
		clear(metas[:used]) // let go of keyword lists
		*pm = metas[:0]
		metaRuns.Put(pm)
	}()
	for len(uids) > 0 {
		run := uids[:min(len(uids), messageRun)]
		uids = uids[len(run):]
		metas = s.mbox.Messages(run, metas[:0])
		used = max(used, len(metas))
		for i, uid := range run {
			if err := fn(uid, metas[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// messageRun is how many messages' metadata eachMessage reads at a time.
const messageRun = 256

// metaRuns holds eachMessage's scratch: room for a run's metadata.
var metaRuns = sync.Pool{New: func() any {
	m := make([]maildir.Message, 0, messageRun)
	return &m
}}

// fetcher writes one message's FETCH response, opening the file and
// parsing its structure only if an item needs them.
type fetcher struct {
	s    *session
	uid  uint32
	msg  maildir.Message
	file *os.File
	part *message.Part

	// broken is set when the message's header or MIME structure could
	// not be parsed cleanly: known from part, or from rendered data.
	broken bool
}

func (f *fetcher) close() {
	if f.file != nil {
		f.file.Close()
	}
}

func (f *fetcher) structure() (*message.Part, error) {
	if f.part == nil {
		p, err := f.s.mbox.Structure(f.uid)
		if err != nil {
			return nil, err
		}
		f.part = p
	}
	return f.part, nil
}

func (f *fetcher) open() (*os.File, error) {
	if f.file == nil {
		fh, err := f.s.mbox.Open(f.uid)
		if err != nil {
			return nil, err
		}
		f.file = fh
	}
	return f.file, nil
}

// fetchPlan is what a FETCH works out once for its items rather than for
// each message: the name each is answered under, the section a body
// item reads, and the key its result is kept under in the store's cache
// (headerFieldsKey; "" for none).
type fetchPlan struct {
	items []wire.FetchItem
	names []string
	secs  []sectionPlan
}

// sectionPlan is what a body section item needs of its section, worked
// out once per FETCH: the section, the key of its kept result
// (headerFieldsKey) and whether the list header answers it
// (ofListFields).
type sectionPlan struct {
	sec    wire.Section
	key    string
	listed bool
}

func newFetchPlan(items []wire.FetchItem) *fetchPlan {
	p := &fetchPlan{items: items, names: make([]string, len(items)), secs: make([]sectionPlan, len(items))}
	for i, it := range items {
		p.names[i] = it.ResponseName()
		sec := it.Section
		switch it.Kind {
		case wire.FetchRFC822Header:
			sec = wire.Section{Text: wire.SectionHeader}
		case wire.FetchRFC822Text:
			sec = wire.Section{Text: wire.SectionTextOnly}
		case wire.FetchRFC822:
			sec = wire.Section{}
		case wire.FetchBodySection:
		default:
			continue
		}
		p.secs[i] = sectionPlan{sec: sec, key: headerFieldsKey(sec), listed: ofListFields(sec)}
	}
	return p
}

// fetchValue is an item's data that could fail to be had: gathered
// before the response line starts.
type fetchValue struct {
	raw  []byte    // rendered syntax
	r    io.Reader // a literal's octets
	n    int64     // the literal's length, or RFC822.SIZE
	nil_ bool      // a section that does not exist
}

// write writes "* n FETCH (...)". The items' data is gathered before
// the line starts where an error is possible, so that a failure never
// leaves half a response on the wire.
func (f *fetcher) write(plan *fetchPlan, addFlags bool) error {
	items := plan.items
	vals := f.s.fetchVals[:0]
	for i, it := range items {
		var v fetchValue
		switch it.Kind {
		case wire.FetchRFC822Size:
			v.n = f.msg.Size // known from the sidecar: no second look-up
			if v.n == 0 {
				var err error
				if v.n, err = f.s.mbox.Size(f.uid); err != nil {
					return err
				}
			}
		case wire.FetchEnvelope, wire.FetchBody, wire.FetchBodyStructure:
			b, err := f.rendered(it.Kind)
			if err != nil {
				return err
			}
			v.raw = b
		case wire.FetchRFC822, wire.FetchRFC822Header, wire.FetchRFC822Text, wire.FetchBodySection:
			r, n, ok, err := f.section(&plan.secs[i], it.Partial)
			if err != nil {
				return err
			}
			v.r, v.n, v.nil_ = r, n, !ok
		}
		vals = append(vals, v)
	}
	f.s.fetchVals = vals
	w := f.s.w
	seq := f.s.sel.seq(f.uid)
	if addFlags || hasItem(items, wire.FetchFlags) {
		f.s.announceKeywords(f.msg)
	}
	if f.part != nil {
		f.broken = f.broken || isBroken(f.part)
	}
	if f.broken {
		f.s.warnParse(f.uid, seq)
	}
	w.Untagged().Number(seq).Raw(" FETCH (")
	for i, it := range items {
		if i > 0 {
			w.SP()
		}
		w.Raw(plan.names[i]).SP()
		switch v := &vals[i]; it.Kind {
		case wire.FetchUID:
			w.Number(f.uid)
		case wire.FetchFlags:
			w.Flags(f.s.flagList(f.msg))
		case wire.FetchInternalDate:
			w.DateTime(f.msg.InternalDate)
		case wire.FetchModSeq:
			w.BeginList().Number64(f.msg.ModSeq).EndList()
		case wire.FetchRFC822Size:
			w.Number64(uint64(v.n))
		case wire.FetchEnvelope, wire.FetchBody, wire.FetchBodyStructure:
			w.RawBytes(v.raw)
		default:
			switch {
			case v.nil_:
				w.Nil()
			case v.n == 0:
				// An empty section (a partial fetch from beyond the end,
				// RFC 3501 §6.4.5) is the empty string, written as
				// Dovecot does.
				w.Raw(`""`)
			default:
				w.LiteralFrom(v.r, v.n)
			}
		}
	}
	if addFlags {
		// \Seen set by this FETCH: a flag change the client did not
		// ask to see, told as CONDSTORE and QRESYNC want it (RFC 7162
		// §3.1), unless the items carry MODSEQ already.
		w.Raw(" FLAGS ").Flags(f.s.flagList(f.msg))
		if !hasItem(items, wire.FetchModSeq) {
			f.s.writeModSeqItems(f.msg, hasItem(items, wire.FetchUID))
		}
	}
	w.Raw(")")
	clear(vals) // let go of readers and rendered data
	return w.CRLF()
}

// warnParse sends "* OK [PARSE]" (RFC 3501 §7.1) the first time in a
// selection that a message whose header or MIME structure could not be
// parsed cleanly is served: the data goes out all the same, as parsed.
func (s *session) warnParse(uid, seq uint32) {
	if _, done := s.parseWarned[uid]; done {
		return
	}
	if s.parseWarned == nil {
		s.parseWarned = map[uint32]struct{}{}
	}
	s.parseWarned[uid] = struct{}{}
	s.w.Status("", "OK", "PARSE", "Message "+itoa(seq)+" (UID "+itoa(uid)+") has a malformed header or MIME structure; served as parsed")
}

// isBroken reports whether any part of the tree was parsed with errors.
func isBroken(root *message.Part) bool {
	broken := false
	root.Walk(func(p *message.Part) bool {
		broken = broken || p.Broken
		return !broken
	})
	return broken
}

// Keys of the store's derived data (maildir.Mailbox.Derived) for the
// items that need a message's structure: their response syntax, rendered
// once per message and kept, so that a later FETCH neither decodes the
// structure nor renders it again. The first octet of the data is 1 when
// the message is broken (see warnParse), else 0.
var renderKeys = map[wire.FetchKind]string{
	wire.FetchEnvelope:      "imap.envelope",
	wire.FetchBody:          "imap.body",
	wire.FetchBodyStructure: "imap.bodystructure",
}

// rendered returns ENVELOPE, BODY or BODYSTRUCTURE of the message in
// response syntax.
func (f *fetcher) rendered(kind wire.FetchKind) ([]byte, error) {
	data, err := f.s.mbox.Derived(f.uid, renderKeys[kind], func(p *message.Part) ([]byte, error) {
		var b bytes.Buffer
		if isBroken(p) {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
		w := wire.NewWriter(&b)
		switch kind {
		case wire.FetchEnvelope:
			writeEnvelope(w, p.Envelope)
			// SEARCH FROM, TO, CC, BCC and SUBJECT match these fields:
			// their text is kept now, from the structure at hand, so that
			// a SEARCH after a client's first listing decodes no
			// structure again (see envelopeContains).
			if _, err := f.s.mbox.KeepDerived(f.uid, searchEnvelopeKey, envelopeText(p.Envelope)); err != nil {
				return nil, err
			}
		default:
			writeBodyStructure(w, p, kind == wire.FetchBodyStructure)
		}
		err := w.Flush()
		w.Idle() // the writer's buffer back to the pool, not to the collector
		return b.Bytes(), err
	})
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, errors.New("empty rendered " + renderKeys[kind])
	}
	f.broken = f.broken || data[0] == 1
	return data[1:], nil
}
