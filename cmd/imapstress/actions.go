package main

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The random commands. Each picks its arguments from what the session
// knows (sequence numbers up to the count it was told, UIDs it was told)
// so that a command that must succeed can be held to it.

var flagPool = []string{`\Seen`, `\Flagged`, `\Answered`, `\Draft`,
	"$Label1", "$Label2", "$Label3", "$Label4", "$Label5", "$Label6", "$Label7", "$Label8", "$Label9",
	"$Forwarded", "$Junk", "$NotJunk"}

// step runs one random command.
func (s *session) step() error {
	if s.sel == nil || s.rng.IntN(100) < 4 {
		return s.doSelect(s.pickBox(), s.rng.IntN(5) == 0)
	}
	if s.condstore && s.rng.IntN(100) < 12 {
		switch p := s.rng.IntN(3); {
		case p == 0 && !s.sel.readOnly:
			return s.doUnchangedSince()
		case p == 1:
			return s.doSearchModSeq()
		default:
			return s.doChangedSince()
		}
	}
	switch p := s.rng.IntN(100); {
	case p < 18:
		return s.doFetch(true)
	case p < 28:
		return s.doFetch(false)
	case p < 37:
		return s.doStore(true)
	case p < 46:
		return s.doStore(false)
	case p < 50:
		return s.doExpunge()
	case p < 58:
		return s.doAppend(s.pickBox())
	case p < 65:
		return s.doCopy()
	case p < 76:
		return s.doSearch()
	case p < 86:
		return s.do(&command{kind: "NOOP", mustOK: true}, "NOOP", nil)
	case p < 94:
		if !s.caps["IDLE"] {
			return s.do(&command{kind: "NOOP", mustOK: true}, "NOOP", nil)
		}
		return s.do(&command{kind: "IDLE", mustOK: true}, "IDLE", nil)
	case p < 95:
		// A whole new session now and then: login and first SELECT too.
		s.logout()
		return s.connect()
	default:
		return s.do(&command{kind: "CHECK", mustOK: true}, "CHECK", nil)
	}
}

func (s *session) pickBox() string {
	b := s.st.cfg.Mailboxes
	return b[s.rng.IntN(len(b))]
}

// doSelect selects (or examines) mbox and learns its UIDs and flags.
func (s *session) doSelect(mbox string, readOnly bool) error {
	verb := "SELECT"
	if readOnly {
		verb = "EXAMINE"
	}
	s.remember()
	s.sel = &selection{mbox: mbox, readOnly: readOnly, keywords: map[string]bool{}}
	c := &command{kind: verb, mustOK: true, highestBefore: s.st.reg.highestModSeq(s.cred.user, mbox)}
	params, qc := s.selectParams(mbox, c)
	if err := s.do(c, verb+" "+quote(mbox)+params, nil); err != nil {
		return err
	}
	if c.tagged.Type != "OK" {
		s.sel = nil
		return nil
	}
	if !s.sel.gotExists || !s.sel.gotFlags || s.sel.uidv == 0 {
		s.violate(vSelect, "%s OK without EXISTS (%v), FLAGS (%v) or UIDVALIDITY (%v)", verb,
			s.sel.gotExists, s.sel.gotFlags, s.sel.uidv != 0)
	}
	s.sel.gotExists = true
	if s.count() == 0 {
		return nil
	}
	c = &command{kind: "FETCH", bySeq: true, mustOK: true, gotSeq: map[int]bool{}, wantLo: 1, wantHi: s.count()}
	if err := s.do(c, "FETCH 1:* (UID FLAGS)", nil); err != nil {
		return err
	}
	if qc != nil && c.tagged.Type == "OK" {
		s.checkQResync(qc)
	}
	return nil
}

// seqRange picks a range of at most max known sequence numbers.
func (s *session) seqRange(max int) (lo, hi int) {
	n := s.count()
	lo = 1 + s.rng.IntN(n)
	hi = lo + s.rng.IntN(max)
	if hi > n {
		hi = n
	}
	return lo, hi
}

// knownUIDs returns the known UIDs of up to max messages from a random
// place, in order.
func (s *session) knownUIDs(max int) []uint32 {
	lo, hi := s.seqRange(max)
	var out []uint32
	for i := lo; i <= hi; i++ {
		if u := s.sel.slots[i-1].uid; u != 0 {
			out = append(out, u)
		}
	}
	return out
}

func uidSet(uids []uint32) string {
	parts := make([]string, len(uids))
	for i, u := range uids {
		parts[i] = strconv.FormatUint(uint64(u), 10)
	}
	return strings.Join(parts, ",")
}

func (s *session) fetchItems(body bool) string {
	items := []string{}
	for _, it := range []string{"FLAGS", "UID", "RFC822.SIZE", "INTERNALDATE", "ENVELOPE",
		"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]"} {
		if s.rng.IntN(2) == 0 {
			items = append(items, it)
		}
	}
	if body {
		items = append(items, "BODY.PEEK[]", "RFC822.SIZE")
	}
	if len(items) == 0 {
		items = append(items, "FLAGS")
	}
	return "(" + strings.Join(items, " ") + ")"
}

func (s *session) doFetch(bySeq bool) error {
	if s.count() == 0 {
		return s.do(&command{kind: "UID FETCH", mustOK: true}, "UID FETCH 1:* (UID FLAGS)", nil)
	}
	body := s.rng.IntN(4) == 0
	max := 30
	if body {
		max = 3
	}
	items := s.fetchItems(body)
	if bySeq {
		c := &command{kind: "FETCH", bySeq: true, mustOK: true, gotSeq: map[int]bool{}}
		set := ""
		if !body && s.rng.IntN(8) == 0 {
			set = "1:*"
			c.wantLo, c.wantHi = 1, s.count()
		} else {
			c.wantLo, c.wantHi = s.seqRange(max)
			set = fmt.Sprintf("%d:%d", c.wantLo, c.wantHi)
		}
		return s.do(c, "FETCH "+set+" "+items, nil)
	}
	set := uidSet(s.knownUIDs(max))
	if set == "" || (!body && s.rng.IntN(8) == 0) {
		set = "1:*"
		if body {
			set = "*"
		}
	}
	return s.do(&command{kind: "UID FETCH", mustOK: true}, "UID FETCH "+set+" "+items, nil)
}

func (s *session) pickFlags(n int) []string {
	out := []string{}
	for i := 0; i < n; i++ {
		out = append(out, flagPool[s.rng.IntN(len(flagPool))])
	}
	return out
}

func (s *session) doStore(bySeq bool) error {
	if s.sel.readOnly || s.count() == 0 {
		return s.doFetch(bySeq)
	}
	k := s.sel.key(s.cred.user)
	if !bySeq && s.rng.IntN(6) == 0 {
		// \Deleted only on UIDs the client knows, registered before the
		// command goes out, so an EXPUNGE of anything else is a loss.
		uids := s.knownUIDs(3)
		if len(uids) == 0 {
			return s.doFetch(false)
		}
		s.st.reg.markDeleted(k, uids...)
		return s.do(&command{kind: "UID STORE", mustOK: true}, "UID STORE "+uidSet(uids)+` +FLAGS.SILENT (\Deleted)`, nil)
	}
	op := []string{"+FLAGS", "+FLAGS", "-FLAGS", "-FLAGS", "FLAGS"}[s.rng.IntN(5)]
	if s.rng.IntN(3) == 0 {
		op += ".SILENT"
	}
	flags := "(" + strings.Join(s.pickFlags(1+s.rng.IntN(3)), " ") + ")"
	if bySeq {
		lo, hi := s.seqRange(10)
		if op == "FLAGS" || op == "FLAGS.SILENT" {
			// Replacing flags would drop \Deleted on messages whose UID
			// may be unknown; harmless, but keep replacing to known ones.
			hi = lo
		}
		return s.do(&command{kind: "STORE", bySeq: true, mustOK: true},
			fmt.Sprintf("STORE %d:%d %s %s", lo, hi, op, flags), nil)
	}
	set := uidSet(s.knownUIDs(10))
	if set == "" {
		set = "1:*"
	}
	return s.do(&command{kind: "UID STORE", mustOK: true}, "UID STORE "+set+" "+op+" "+flags, nil)
}

func (s *session) doExpunge() error {
	if s.sel.readOnly {
		return s.do(&command{kind: "NOOP", mustOK: true}, "NOOP", nil)
	}
	if s.caps["UIDPLUS"] && s.rng.IntN(2) == 0 && s.count() > 0 {
		set := uidSet(s.knownUIDs(20))
		if set != "" {
			return s.do(&command{kind: "UID EXPUNGE", mustOK: true}, "UID EXPUNGE "+set, nil)
		}
	}
	return s.do(&command{kind: "EXPUNGE", mustOK: true}, "EXPUNGE", nil)
}

// message makes a small random message with CRLF line ends.
func (s *session) message() []byte {
	var b strings.Builder
	n := s.st.msgSeq.Add(1)
	fmt.Fprintf(&b, "From: Stress %d <stress%d@example.org>\r\n", s.id, s.id)
	fmt.Fprintf(&b, "To: %s <%s@example.org>\r\n", s.cred.user, s.cred.user)
	fmt.Fprintf(&b, "Subject: stress %d %s\r\n", n, words[s.rng.IntN(len(words))])
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <stress.%d.%d@example.org>\r\n\r\n", n, s.st.cfg.Seed)
	lines := 1 + s.rng.IntN(200)
	for i := 0; i < lines; i++ {
		for j := 0; j < 1+s.rng.IntN(10); j++ {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[s.rng.IntN(len(words))])
		}
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

var words = strings.Fields(`alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima
mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu invoice
quokka meeting report Grüße naïve`)

func (s *session) doAppend(mbox string) error {
	msg := s.message()
	flags := s.pickFlags(s.rng.IntN(3))
	lit := fmt.Sprintf("{%d}", len(msg))
	if s.caps["LITERAL+"] && s.rng.IntN(2) == 0 {
		lit = fmt.Sprintf("{%d+}", len(msg))
	}
	line := fmt.Sprintf("APPEND %s (%s) %s", quote(mbox), strings.Join(flags, " "), lit)
	c := &command{kind: "APPEND", mustOK: true}
	if err := s.do(c, line, msg); err != nil || c.tagged.Type != "OK" {
		return err
	}
	if c.tagged.Code == "APPENDUID" {
		f := strings.Fields(c.tagged.CodeArg)
		if len(f) != 2 {
			s.violate(vMalformed, "APPENDUID %q", c.tagged.CodeArg)
			return nil
		}
		v, err1 := strconv.ParseUint(f[0], 10, 32)
		u, err2 := strconv.ParseUint(f[1], 10, 32)
		if err1 != nil || err2 != nil {
			s.violate(vMalformed, "APPENDUID %q", c.tagged.CodeArg)
			return nil
		}
		if old, changed := s.st.reg.noteUIDValidity(s.cred.user, mbox, uint32(v)); changed {
			s.violate(vUIDValidity, "APPENDUID says UIDVALIDITY of %s is %d, was %d", mbox, v, old)
		}
		fp := &fingerprint{size: int64(len(msg)), hasSize: true, body: sha256.Sum256(msg), hasBody: true}
		s.st.reg.known(boxKey{s.cred.user, mbox, uint32(v)}, uint32(u), fp)
	}
	return nil
}

func (s *session) doCopy() error {
	if s.count() == 0 {
		return s.do(&command{kind: "NOOP", mustOK: true}, "NOOP", nil)
	}
	dest := s.pickBox()
	verb := "COPY"
	// MOVE into the selected mailbox itself is left out: RFC 6851 does
	// not say what it means, and servers differ (Dovecot moves, imapd
	// refuses with NO [CANNOT]).
	if s.caps["MOVE"] && !s.sel.readOnly && dest != s.sel.mbox && s.rng.IntN(2) == 0 {
		verb = "MOVE"
	}
	c := &command{dest: dest, move: verb == "MOVE", mustOK: true}
	k := s.sel.key(s.cred.user)
	if s.rng.IntN(2) == 0 {
		lo, hi := s.seqRange(5)
		want := map[uint32]bool{}
		for i := lo; i <= hi; i++ {
			u := s.sel.slots[i-1].uid
			if u == 0 {
				want = nil
				break
			}
			want[u] = true
		}
		if want == nil && c.move {
			// A MOVE must name only what the client knows, so that
			// whatever leaves is accounted for.
			verb, c.move = "COPY", false
		}
		c.kind, c.wantSrc = verb, want
		if c.move {
			s.st.reg.markMoved(k, keys(want)...)
		}
		return s.do(c, fmt.Sprintf("%s %d:%d %s", verb, lo, hi, quote(dest)), nil)
	}
	uids := s.knownUIDs(5)
	if len(uids) == 0 {
		return s.do(&command{kind: "NOOP", mustOK: true}, "NOOP", nil)
	}
	c.kind = "UID " + verb
	c.wantSrc = map[uint32]bool{}
	for _, u := range uids {
		c.wantSrc[u] = true
	}
	if c.move {
		s.st.reg.markMoved(k, uids...)
	}
	return s.do(c, fmt.Sprintf("UID %s %s %s", verb, uidSet(uids), quote(dest)), nil)
}

func keys(m map[uint32]bool) []uint32 {
	out := make([]uint32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (s *session) searchKey() string {
	switch s.rng.IntN(14) {
	case 0:
		return "ALL"
	case 1:
		return "UNSEEN"
	case 2:
		return "FLAGGED"
	case 3:
		return "KEYWORD " + flagPool[4+s.rng.IntN(9)]
	case 4:
		return "UNKEYWORD " + flagPool[4+s.rng.IntN(9)]
	case 5:
		return "DELETED"
	case 6:
		return fmt.Sprintf("LARGER %d", s.rng.IntN(20000))
	case 7:
		return fmt.Sprintf("SMALLER %d", s.rng.IntN(20000))
	case 8:
		return "FROM " + quote("stress")
	case 9:
		return "SUBJECT " + quote(words[s.rng.IntN(len(words))])
	case 10:
		if s.count() > 0 {
			lo, hi := s.seqRange(20)
			return fmt.Sprintf("%d:%d", lo, hi)
		}
		return "ALL"
	case 11:
		return "OR SEEN KEYWORD " + flagPool[4+s.rng.IntN(9)]
	case 12:
		return "NOT ANSWERED"
	default:
		return "SINCE 1-Jan-2020"
	}
}

func (s *session) doSearch() error {
	crit := s.searchKey()
	if s.rng.IntN(3) == 0 {
		crit += " " + s.searchKey()
	}
	if s.rng.IntN(2) == 0 {
		return s.do(&command{kind: "SEARCH", bySeq: true, mustOK: true}, "SEARCH "+crit, nil)
	}
	return s.do(&command{kind: "UID SEARCH", mustOK: true}, "UID SEARCH "+crit, nil)
}
