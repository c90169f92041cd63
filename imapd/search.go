package imapd

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/encoding"

	"imapd/imapd/wire"
	"imapd/maildir"
	"imapd/message"
)

// badCharsetCode lists, in NO [BADCHARSET], charsets we accept; any
// charset golang.org/x/text knows is accepted too.
const badCharsetCode = "BADCHARSET (US-ASCII UTF-8 ISO-8859-1 ISO-8859-15 WINDOWS-1252 KOI8-R SHIFT_JIS EUC-JP ISO-2022-JP GB2312 BIG5)"

// cmdSearch is SEARCH and UID SEARCH (RFC 3501 §6.4.4, §6.4.8). Every
// key of RFC 3501; strings in the given CHARSET are decoded to UTF-8 and
// match case-insensitively against decoded header and body text. With
// RETURN the answer is an ESEARCH response (RFC 4731), and SAVE keeps the
// result for "$" (RFC 5182, searchres.go).
func cmdSearch(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.SearchArgs)
	out, err := s.search(c, a)
	if err != nil && a.Return.Save {
		// RFC 5182 §2.1: a SEARCH with SAVE answered NO empties "$"; one
		// answered BAD leaves it as it was.
		if re, _ := classify(err, false); re.status == "NO" {
			s.searchRes = nil
		}
	}
	return out, err
}

// search runs SEARCH and sends its answer.
func (s *session) search(c *wire.Command, a *wire.SearchArgs) (outcome, error) {
	var dec *encoding.Decoder
	switch cs := strings.ToUpper(a.Charset); cs {
	case "", "US-ASCII", "UTF-8", "UTF8", "ASCII":
	default:
		enc := message.LookupCharset(cs)
		if enc == nil {
			return outcome{}, no(badCharsetCode, "Unknown charset")
		}
		dec = enc.NewDecoder()
	}
	crit, err := prepareKey(a.Criteria, dec)
	if err != nil {
		return outcome{}, err
	}
	if hasModSeqKey(&crit) {
		s.condStoreCommand()
	}
	view := s.sel.view // read only, while the command runs
	ev := searcher{s: s, count: uint32(len(view)), saved: s.searchRes, meta: usesMeta(&crit)}
	if len(view) > 0 {
		ev.maxUID = view[len(view)-1]
	}
	if err := ev.checkSets(crit); err != nil {
		return outcome{}, err
	}
	ctx, stop := s.commandContext()
	s.mbox.BatchWrites() // what the scan derives is kept in one write per 64 KiB
	matches, err := ev.run(ctx, view, &crit)
	stopped := stop()
	s.mbox.ReleaseBuffers()
	if stopped != nil {
		return s.abandon(c.Name, stopped), nil
	}
	if err != nil {
		return outcome{}, err
	}
	s.w.Grow()
	if a.Return.ESearch {
		s.answerESearch(c, a.Return, view, matches, hasModSeqKey(&crit))
		return outcome{}, nil
	}
	s.w.Untagged().Raw("SEARCH")
	for i, uid := range view {
		if matches[i] {
			if c.UID() {
				s.w.SP().Number(uid)
			} else {
				s.w.SP().Number(uint32(i + 1))
			}
		}
	}
	if hasModSeqKey(&crit) {
		var found []uint32
		for i, uid := range view {
			if matches[i] {
				found = append(found, uid)
			}
		}
		if m := s.highestModSeqOf(found); m != 0 {
			s.w.Raw(" (MODSEQ ").Number64(m).Raw(")")
		}
	}
	s.w.CRLF()
	return outcome{}, nil
}

// hasModSeqKey reports whether k uses MODSEQ anywhere: the SEARCH then
// enables CONDSTORE and its answer ends with the highest MODSEQ of the
// messages found (RFC 7162 §3.1.5).
func hasModSeqKey(k *wire.SearchKey) bool {
	if k.Kind == wire.SearchModSeq {
		return true
	}
	for i := range k.Keys {
		if hasModSeqKey(&k.Keys[i]) {
			return true
		}
	}
	return false
}

// highestModSeqOf returns the highest MODSEQ of the messages uids, 0 for
// none.
func (s *session) highestModSeqOf(uids []uint32) uint64 {
	var m uint64
	s.eachMessage(uids, func(_ uint32, msg maildir.Message) error {
		m = max(m, msg.ModSeq)
		return nil
	})
	return m
}

// run evaluates crit on every message of the view. Messages are
// independent, and a text search is bound by reading and decoding files,
// so the work is spread over cores in chunks; the answer keeps sequence
// order. The session's goroutine scans, and helpers too while the
// server's scanPool has tokens to spare; every scanner holds a token per
// chunk, so the whole server never scans on more than
// Limits.SearchWorkers goroutines, and a search always goes on, on its
// own goroutine, when a token is free. Only the store (whose calls lock
// what they touch) and read-only session state are used meanwhile. When
// ctx ends (the client hung up, Shutdown) the scan stops within a
// message and run returns ctx's cause.
func (ev *searcher) run(ctx context.Context, view []uint32, crit *wire.SearchKey) ([]bool, error) {
	matches := make([]bool, len(view))
	if len(view) == 0 {
		return matches, nil
	}
	const chunk = 64
	pool := ev.s.srv.scanPool
	done := ctx.Done()
	var next atomic.Int64
	var failed atomic.Bool
	// scan evaluates chunks until none is left or a scanner failed. The
	// session's goroutine waits for its tokens; a helper stops when
	// none is free.
	scan := func(wait bool) error {
		for !failed.Load() {
			if !wait {
				if !pool.tryAcquire() {
					return nil
				}
			} else if err := pool.acquire(ctx); err != nil {
				return err
			}
			start := int(next.Add(chunk)) - chunk
			err := ev.scanChunk(done, crit, view, matches, start, min(start+chunk, len(view)))
			pool.release()
			if err != nil || start+chunk >= len(view) {
				if err != nil {
					failed.Store(true)
				}
				return err
			}
		}
		return nil
	}
	helpers := min(pool.size(), (len(view)+chunk-1)/chunk) - 1
	errs := make([]error, 1+helpers)
	var wg sync.WaitGroup
	for w := 1; w <= helpers; w++ {
		wg.Go(func() { errs[w] = scan(false) })
	}
	errs[0] = scan(true)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return matches, nil
}

// usesMeta reports whether k looks at a message's metadata anywhere
// (flags, keywords, dates, size, MODSEQ): a scan then takes a chunk's at
// once, with one look at the folder instead of one a message.
func usesMeta(k *wire.SearchKey) bool {
	switch k.Kind {
	case wire.SearchAnswered, wire.SearchDeleted, wire.SearchDraft, wire.SearchFlagged, wire.SearchSeen,
		wire.SearchUnanswered, wire.SearchUndeleted, wire.SearchUndraft, wire.SearchUnflagged, wire.SearchUnseen,
		wire.SearchNew, wire.SearchOld, wire.SearchRecent, wire.SearchKeyword, wire.SearchUnkeyword,
		wire.SearchBefore, wire.SearchOn, wire.SearchSince, wire.SearchLarger, wire.SearchSmaller, wire.SearchModSeq:
		return true
	}
	for i := range k.Keys {
		if usesMeta(&k.Keys[i]) {
			return true
		}
	}
	return false
}

// errStopped ends a scan whose context ended; run reports the cause.
var errStopped = errors.New("search stopped")

// scanChunk evaluates crit on view[start:end] into matches (nothing if
// start is past the end), looking at done before each message: one
// message with a thousand text keys takes milliseconds, a chunk a second.
func (ev *searcher) scanChunk(done <-chan struct{}, crit *wire.SearchKey, view []uint32, matches []bool, start, end int) error {
	var mds []maildir.Message
	if ev.meta && start < end {
		mds = ev.s.mbox.Messages(view[start:end], make([]maildir.Message, 0, end-start))
	}
	for i := start; i < end; i++ {
		select {
		case <-done:
			return errStopped
		default:
		}
		m := &searchMsg{searcher: ev, seq: uint32(i + 1), uid: view[i]}
		if mds != nil && !mds[i-start].Expunged {
			// An expunged one is left to meta, which finds what it was.
			m.md = &mds[i-start]
		}
		match, err := m.eval(crit)
		m.close()
		if errors.Is(err, maildir.ErrExpunged) {
			// Expunged by someone else, and a key needs its content:
			// it does not match; the rest of the answer stands.
			match, err = false, nil
		}
		if err != nil {
			return err
		}
		matches[i] = match
	}
	return nil
}

// prepareKey decodes the strings of k to UTF-8 and folds them for
// case-insensitive matching, recursively; the parser bounded the depth.
func prepareKey(k wire.SearchKey, dec *encoding.Decoder) (wire.SearchKey, error) {
	if k.Value != "" {
		v := k.Value
		if dec != nil {
			b, err := dec.Bytes([]byte(v))
			if err != nil {
				return k, bad("Search string is not valid in the given charset")
			}
			v = string(b)
		}
		k.Value = fold(v)
	}
	if len(k.Keys) > 0 {
		keys := make([]wire.SearchKey, len(k.Keys))
		for i, sub := range k.Keys {
			var err error
			if keys[i], err = prepareKey(sub, dec); err != nil {
				return k, err
			}
		}
		k.Keys = keys
	}
	return k, nil
}

// fold prepares text for case-insensitive comparison.
func fold(s string) string { return strings.ToLower(s) }

// searcher holds what is shared by the evaluation of every message.
type searcher struct {
	s      *session
	count  uint32
	maxUID uint32
	saved  []uint32 // the UIDs "$" stands for (RFC 5182), ascending
	meta   bool     // the key looks at metadata (usesMeta)
}

// checkSets refuses sequence numbers beyond the mailbox (RFC 3501 §9).
func (ev *searcher) checkSets(k wire.SearchKey) error {
	if k.Kind == wire.SearchSeqSet || k.Kind == wire.SearchUID {
		if k.Kind == wire.SearchSeqSet && k.Set.MaxExplicit() > ev.count {
			return bad("Invalid message sequence number (the mailbox has " + itoa(ev.count) + " messages)")
		}
	}
	for _, sub := range k.Keys {
		if err := ev.checkSets(sub); err != nil {
			return err
		}
	}
	return nil
}

// eval reports whether the message matches k.
func (m *searchMsg) eval(k *wire.SearchKey) (bool, error) {
	switch k.Kind {
	case wire.SearchAnd:
		for i := range k.Keys {
			if ok, err := m.eval(&k.Keys[i]); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	case wire.SearchOr:
		if ok, err := m.eval(&k.Keys[0]); ok || err != nil {
			return ok, err
		}
		return m.eval(&k.Keys[1])
	case wire.SearchNot:
		ok, err := m.eval(&k.Keys[0])
		return !ok && err == nil, err
	case wire.SearchSeqSet:
		return k.Set.Contains(m.seq, m.count) || m.inSaved(k.Set), nil
	case wire.SearchUID:
		return k.Set.Contains(m.uid, m.maxUID) || m.inSaved(k.Set), nil
	case wire.SearchAll:
		return true, nil
	case wire.SearchAnswered, wire.SearchDeleted, wire.SearchDraft, wire.SearchFlagged, wire.SearchSeen:
		return m.meta().Flags&flagOfKey[k.Kind] != 0, nil
	case wire.SearchUnanswered, wire.SearchUndeleted, wire.SearchUndraft, wire.SearchUnflagged, wire.SearchUnseen:
		return m.meta().Flags&flagOfKey[k.Kind] == 0, nil
	case wire.SearchNew:
		md := m.meta()
		return md.Recent && md.Flags&maildir.FlagSeen == 0, nil
	case wire.SearchOld:
		return !m.meta().Recent, nil
	case wire.SearchRecent:
		return m.meta().Recent, nil
	case wire.SearchKeyword, wire.SearchUnkeyword:
		return m.hasKeyword(k.Flag) == (k.Kind == wire.SearchKeyword), nil
	case wire.SearchBefore, wire.SearchOn, wire.SearchSince:
		return compareDate(k.Kind, dayOf(m.meta().InternalDate), k.Date), nil
	case wire.SearchSentBefore, wire.SearchSentOn, wire.SearchSentSince:
		d, ok, err := m.sentDate()
		if err != nil || !ok {
			return false, err
		}
		return compareDate(k.Kind, d, k.Date), nil
	case wire.SearchLarger, wire.SearchSmaller:
		n := m.meta().Size // 0: not known without reading the file
		if n == 0 {
			var err error
			if n, err = m.s.mbox.Size(m.uid); err != nil {
				return false, err
			}
		}
		if k.Kind == wire.SearchLarger {
			return n > int64(k.Size), nil
		}
		return n < int64(k.Size), nil
	case wire.SearchFrom, wire.SearchTo, wire.SearchCc, wire.SearchBcc, wire.SearchSubject:
		return m.envelopeContains(k.Kind, k.Value)
	case wire.SearchHeader:
		return m.headerContains(k.Field, k.Value)
	case wire.SearchBody:
		return m.bodyContains(k.Value)
	case wire.SearchText:
		if ok, err := m.headerTextContains(k.Value); ok || err != nil {
			return ok, err
		}
		return m.bodyContains(k.Value)
	case wire.SearchModSeq:
		// One MODSEQ per message serves every entry name (RFC 7162
		// §3.1.5 lets a server without per-flag ones do so).
		return m.meta().ModSeq >= k.ModSeq, nil
	}
	return false, bad("Unsupported search key")
}

var flagOfKey = map[wire.SearchKind]maildir.Flags{
	wire.SearchAnswered: maildir.FlagAnswered, wire.SearchUnanswered: maildir.FlagAnswered,
	wire.SearchDeleted: maildir.FlagDeleted, wire.SearchUndeleted: maildir.FlagDeleted,
	wire.SearchDraft: maildir.FlagDraft, wire.SearchUndraft: maildir.FlagDraft,
	wire.SearchFlagged: maildir.FlagFlagged, wire.SearchUnflagged: maildir.FlagFlagged,
	wire.SearchSeen: maildir.FlagSeen, wire.SearchUnseen: maildir.FlagSeen,
}

func (m *searchMsg) hasKeyword(kw string) bool {
	md := m.meta()
	if f := maildir.ParseFlag(kw); f != 0 && !strings.HasPrefix(kw, `\`) {
		return md.Flags&f != 0 // $Forwarded
	}
	for _, k := range md.Keywords {
		if strings.EqualFold(k, kw) {
			return true
		}
	}
	return false
}

// dayOf is the calendar day of t in its own zone, as midnight UTC, the
// form the parser gives dates in (RFC 3501 §6.4.4: time and zone are
// disregarded).
func dayOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

func compareDate(kind wire.SearchKind, day, key time.Time) bool {
	switch kind {
	case wire.SearchBefore, wire.SearchSentBefore:
		return day.Before(key)
	case wire.SearchOn, wire.SearchSentOn:
		return day.Equal(key)
	}
	return !day.Before(key)
}

// sentDate is the day of the Date: header; ok is false without one.
func (m *searchMsg) sentDate() (time.Time, bool, error) {
	p, err := m.structure()
	if err != nil || p.Envelope == nil || p.Envelope.Date == "" {
		return time.Time{}, false, err
	}
	t, err := mail.ParseDate(p.Envelope.Date)
	if err != nil {
		return time.Time{}, false, nil
	}
	return dayOf(t), true, nil
}
