package main

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A session is one connection. Its picture of the selected mailbox comes
// from the server's responses alone (RFC 3501 §7: EXISTS, EXPUNGE, FETCH,
// FLAGS), never from what it asked for, so any response that does not fit
// that picture is the server's fault.

// slot is one message of the selected mailbox as the client knows it.
type slot struct {
	uid   uint32 // 0 until a FETCH reports it
	floor uint32 // the UID must be above this: the highest UID in view when EXISTS announced the slot
}

// selection is the selected mailbox as the session knows it.
type selection struct {
	mbox     string
	readOnly bool
	uidv     uint32 // 0 until [UIDVALIDITY n]
	slots    []slot // index = sequence number - 1
	maxUID   uint32 // highest UID ever in view
	keywords map[string]bool
	// CONDSTORE and QRESYNC (modseq.go): HIGHESTMODSEQ at selection,
	// the last MODSEQ seen of each UID, the UIDs told gone.
	hms     uint64
	modseqs map[uint32]uint64
	gone    map[uint32]bool
	// set during SELECT: the responses RFC 3501 §6.3.1 requires
	gotExists, gotFlags bool
}

func (sel *selection) key(user string) boxKey {
	return boxKey{user: user, mbox: sel.mbox, uidv: sel.uidv}
}

// command is one command in flight and what its responses said.
type command struct {
	kind     string // for the statistics: "FETCH", "UID STORE", ...
	bySeq    bool   // FETCH, STORE or SEARCH by sequence number: no EXPUNGE allowed (§7.4.1)
	mustOK   bool   // a tagged NO or BAD is a violation
	search   []uint32
	expunged []uint32        // UIDs expunged while it ran
	copyUID  string          // COPYUID response code argument, untagged or tagged
	dest     string          // COPY/MOVE: the destination mailbox
	move     bool            // MOVE: the source UIDs leave the mailbox
	wantSrc  map[uint32]bool // MOVE/COPY of known UIDs: the UIDs meant; nil: not known
	// FETCH by sequence number: the range asked for (0 if not that)
	// and the numbers the server answered.
	wantLo, wantHi int
	gotSeq         map[int]bool
	tagged         *Response
	// changedSince: every MODSEQ in a FETCH it brings must be above it
	// (CHANGEDSINCE, a QRESYNC SELECT). highestBefore: the highest
	// MODSEQ any session saw in the mailbox before a SELECT was sent.
	// staleQResync: a QRESYNC SELECT with a wrong UIDVALIDITY.
	changedSince, highestBefore uint64
	staleQResync                bool
}

type cred struct{ user, pass string }

// session is one connection's state; only its own goroutine touches it
// (the IDLE timer only writes DONE, under wmu).
type session struct {
	st   *stress
	id   int
	cred cred
	rng  *rand.Rand
	conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex
	tr   transcript
	tagN int
	caps map[string]bool
	sel  *selection
	// between is true while responses arrive that no command asked for.
	between bool
	// condstore and qresync are on for this connection (modseq.go);
	// cache outlives connections, as a client's does.
	condstore, qresync bool
	cache              map[string]qresyncCache
}

// errBye is a BYE the session did not ask for.
var errBye = errors.New("server sent BYE")

func (s *session) violate(class, format string, args ...any) {
	mbox := ""
	if s.sel != nil {
		mbox = s.sel.mbox
	}
	s.st.rec.add(Violation{Class: class, Session: s.id, User: s.cred.user, Mailbox: mbox,
		Detail: fmt.Sprintf(format, args...), Transcript: s.tr.last()})
}

func (s *session) write(p string, show string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.conn == nil {
		return net.ErrClosed // an IDLE timer after the connection failed
	}
	s.tr.add("C: ", show)
	s.conn.SetWriteDeadline(time.Now().Add(s.st.cfg.Timeout))
	_, err := s.conn.Write([]byte(p))
	return err
}

// connect dials, reads the greeting and logs in.
func (s *session) connect() error {
	c, err := net.DialTimeout("tcp", s.st.cfg.Addr, s.st.cfg.Timeout)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	s.conn, s.br = c, bufio.NewReaderSize(c, 64<<10)
	s.wmu.Unlock()
	s.sel, s.caps, s.tagN = nil, map[string]bool{}, 0
	s.condstore, s.qresync = false, false
	r, err := s.read()
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if r.Tag != "*" || r.Type != "OK" {
		return fmt.Errorf("greeting: %s", r.Summary)
	}
	c0 := &command{kind: "LOGIN", mustOK: true}
	if err := s.do(c0, "LOGIN "+quote(s.cred.user)+" "+quote(s.cred.pass), nil); err != nil {
		return err
	}
	if c0.tagged.Type != "OK" {
		return fmt.Errorf("LOGIN %s: %s", s.cred.user, c0.tagged.Summary)
	}
	if len(s.caps) == 0 || c0.tagged.Code != "CAPABILITY" {
		c1 := &command{kind: "CAPABILITY", mustOK: true}
		if err := s.do(c1, "CAPABILITY", nil); err != nil {
			return err
		}
	}
	if c0.tagged.Code == "CAPABILITY" {
		s.setCaps(strings.Fields(c0.tagged.CodeArg))
	}
	return s.enableModSeq()
}

func (s *session) close() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

func (s *session) logout() {
	if s.conn == nil {
		return
	}
	s.do(&command{kind: "LOGOUT"}, "LOGOUT", nil)
	s.close()
}

func (s *session) setCaps(words []string) {
	s.caps = map[string]bool{}
	for _, w := range words {
		s.caps[strings.ToUpper(w)] = true
	}
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// read reads and parses one response. A response that reads whole but
// does not parse is a violation and comes back with Type "" so callers
// skip it; one that cannot be read ends the connection.
func (s *session) read() (*Response, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.st.cfg.Timeout))
	raw, sum, err := readRaw(s.br)
	if err != nil {
		s.tr.add("S: ", sum)
		if errors.Is(err, errMalformed) {
			s.violate(vMalformed, "%v", err)
		}
		return nil, err
	}
	s.tr.add("S: ", sum)
	r, err := parseResponse(raw, sum)
	if err != nil {
		s.violate(vMalformed, "%v", err)
		if r.Tag != "*" && r.Tag != "+" {
			// A tagged line we could not parse still ends its command.
			r.Type = "BAD"
			return r, nil
		}
		r.Type = ""
	}
	return r, nil
}

// do runs one command: line (without tag and CRLF) and, for APPEND, the
// literal that goes after the continuation. c.tagged is set when it
// returns nil.
func (s *session) do(c *command, line string, lit []byte) error {
	if err := s.drain(); err != nil {
		return err
	}
	s.tagN++
	tag := fmt.Sprintf("s%d.%d", s.id, s.tagN)
	start := time.Now()
	// A non-synchronising literal (RFC 7888) goes with its line at once.
	nonSync := lit != nil && strings.HasSuffix(line, "+}")
	if nonSync {
		err := s.write(tag+" "+line+"\r\n"+string(lit)+"\r\n", fmt.Sprintf("%s %s <%d bytes>", tag, line, len(lit)))
		if err != nil {
			return err
		}
	} else if err := s.write(tag+" "+line+"\r\n", tag+" "+line); err != nil {
		return err
	}
	idle := line == "IDLE"
	if (lit != nil && !nonSync) || idle {
		// Wait for the continuation; untagged data may come first, and a
		// tagged reply means the server refused.
		for c.tagged == nil {
			r, err := s.read()
			if err != nil {
				return err
			}
			if r.Tag == "+" {
				break
			}
			if err := s.handle(r, c, tag); err != nil {
				return err
			}
		}
		if c.tagged == nil && lit != nil {
			if err := s.write(string(lit)+"\r\n", fmt.Sprintf("<%d bytes>", len(lit))); err != nil {
				return err
			}
		}
		if c.tagged == nil && idle {
			most := s.st.cfg.IdleMax
			d := most/10 + time.Duration(s.rng.Int64N(int64(most-most/10)))
			t := time.AfterFunc(d, func() { s.write("DONE\r\n", "DONE") })
			defer t.Stop()
		}
	}
	for c.tagged == nil {
		r, err := s.read()
		if err != nil {
			return err
		}
		if err := s.handle(r, c, tag); err != nil {
			return err
		}
	}
	s.st.stats.add(c.kind, time.Since(start), c.tagged.Type == "OK")
	if c.tagged.Type != "OK" && c.mustOK {
		if c.tagged.Code == "EXPUNGEISSUED" {
			s.violate(vExpungeIssued, "%s answered %s", c.kind, c.tagged.Summary)
		} else {
			s.violate(vCommandFailed, "%s answered %s", c.kind, c.tagged.Summary)
		}
	}
	if c.copyUID != "" {
		s.onCopyUID(c)
	}
	if c.wantLo > 0 && c.tagged.Type == "OK" && len(c.expunged) == 0 {
		var missing []string
		for n := c.wantLo; n <= c.wantHi; n++ {
			if !c.gotSeq[n] && !s.skippedExpunged(c, n) {
				missing = append(missing, strconv.Itoa(n))
			}
		}
		if len(missing) > 0 {
			s.violate(vFetchMissing, "%s OK without data for message %s", c.kind, strings.Join(missing, ","))
		}
	}
	if s.sel != nil && s.sel.uidv != 0 {
		for _, u := range c.expunged {
			if !s.st.reg.isRemovable(s.sel.key(s.cred.user), u) {
				s.violate(vLost, "UID %d was expunged but no session stored \\Deleted on it or moved it", u)
			}
		}
	}
	return nil
}

// drain handles responses that arrived after the last tagged completion
// and before the next command: a tagged one is a violation, so is an
// EXPUNGE (RFC 3501 §7.4.1: "MUST NOT be sent when no command is in
// progress"). Only bytes already received are looked at, so this costs
// nothing when there are none.
func (s *session) drain() error {
	if s.br.Buffered() == 0 {
		return nil
	}
	s.between = true
	defer func() { s.between = false }()
	c := &command{kind: "(none)"}
	for s.br.Buffered() > 0 {
		r, err := s.read()
		if err != nil {
			return err
		}
		if err := s.handle(r, c, ""); err != nil {
			return err
		}
	}
	if s.sel != nil && s.sel.uidv != 0 {
		for _, u := range c.expunged {
			if !s.st.reg.isRemovable(s.sel.key(s.cred.user), u) {
				s.violate(vLost, "UID %d was expunged but no session stored \\Deleted on it or moved it", u)
			}
		}
	}
	return nil
}

// handle applies one response to the session's picture, checking it.
func (s *session) handle(r *Response, c *command, tag string) error {
	if r.Type == "" {
		return nil // malformed, already reported
	}
	if r.Tag == "+" {
		s.violate(vAfterCompleted, "continuation request while none was expected")
		return nil
	}
	if r.Tag != "*" {
		if r.Tag != tag || s.between {
			s.violate(vAfterCompleted, "tagged response %q while the command in progress is %q", r.Tag, tag)
			return nil
		}
		c.tagged = r
		if r.Code == "COPYUID" {
			c.copyUID = r.CodeArg
		}
		if r.Code == "CAPABILITY" {
			s.setCaps(strings.Fields(r.CodeArg))
		}
		return nil
	}
	switch r.Type {
	case "BYE":
		if c.kind == "LOGOUT" {
			return nil
		}
		return fmt.Errorf("%w: %s", errBye, r.Summary)
	case "OK", "NO", "BAD", "PREAUTH":
		s.onCode(r, c)
	case "CAPABILITY":
		var w []string
		for _, v := range r.Data {
			w = append(w, v.S)
		}
		s.setCaps(w)
	case "FLAGS":
		if s.sel == nil {
			s.violate(vSeqRange, "FLAGS with no mailbox selected")
			return nil
		}
		if len(r.Data) != 1 || r.Data[0].Kind != kList {
			s.violate(vMalformed, "FLAGS without one list")
			return nil
		}
		s.sel.gotFlags = true
		s.sel.keywords = map[string]bool{}
		for _, f := range r.Data[0].L {
			s.sel.keywords[strings.ToLower(f.S)] = true
		}
	case "EXISTS":
		s.onExists(r)
	case "RECENT":
	case "EXPUNGE":
		s.onExpunge(r, c)
	case "VANISHED":
		s.onVanished(r, c)
	case "FETCH":
		s.onFetch(r, c)
	case "SEARCH":
		for i, v := range r.Data {
			if v.Kind == kList && i == len(r.Data)-1 {
				continue // (MODSEQ n) after SEARCH MODSEQ (RFC 7162 §3.1.5)
			}
			n, err := strconv.ParseUint(v.S, 10, 32)
			if err != nil || n == 0 {
				s.violate(vMalformed, "SEARCH result %q", v.String())
				continue
			}
			if c.bySeq && (s.sel == nil || int(n) > len(s.sel.slots)) {
				s.violate(vSeqRange, "SEARCH result %d, client knows %d messages", n, s.count())
			}
			c.search = append(c.search, uint32(n))
		}
	}
	return nil
}

func (s *session) count() int {
	if s.sel == nil {
		return 0
	}
	return len(s.sel.slots)
}

func (s *session) onCode(r *Response, c *command) {
	switch r.Code {
	case "UIDVALIDITY":
		if s.sel == nil {
			return
		}
		v, err := strconv.ParseUint(r.CodeArg, 10, 32)
		if err != nil || v == 0 {
			s.violate(vMalformed, "UIDVALIDITY %q", r.CodeArg)
			return
		}
		s.sel.uidv = uint32(v)
		if old, changed := s.st.reg.noteUIDValidity(s.cred.user, s.sel.mbox, uint32(v)); changed {
			s.violate(vUIDValidity, "UIDVALIDITY of %s is %d, was %d", s.sel.mbox, v, old)
		}
	case "COPYUID":
		c.copyUID = r.CodeArg
	case "CAPABILITY":
		s.setCaps(strings.Fields(r.CodeArg))
	case "HIGHESTMODSEQ":
		s.onHighestModSeq(r, c)
	case "NOMODSEQ":
		s.violate(vModSeq, "NOMODSEQ from a server that offers CONDSTORE")
	}
}

func (s *session) onExists(r *Response) {
	sel := s.sel
	if sel == nil {
		s.violate(vSeqRange, "EXISTS with no mailbox selected")
		return
	}
	n := int(r.Num)
	if !sel.gotExists {
		sel.gotExists = true
		if len(sel.slots) == 0 {
			sel.slots = make([]slot, n)
			return
		}
	}
	if n < len(sel.slots) {
		s.violate(vExistsShrank, "%d EXISTS, client knows %d messages and was told of no EXPUNGE", n, len(sel.slots))
		// Believe the server, so one fault is reported once.
		sel.slots = sel.slots[:n]
		return
	}
	for len(sel.slots) < n {
		sel.slots = append(sel.slots, slot{floor: sel.maxUID})
	}
}

func (s *session) onExpunge(r *Response, c *command) {
	sel := s.sel
	if sel == nil {
		s.violate(vSeqRange, "EXPUNGE with no mailbox selected")
		return
	}
	if s.between {
		s.violate(vAfterCompleted, "EXPUNGE %d with no command in progress", r.Num)
	}
	if c.bySeq {
		s.violate(vExpungeInSeq, "EXPUNGE %d during %s", r.Num, c.kind)
	}
	n := int(r.Num)
	if n == 0 || n > len(sel.slots) {
		s.violate(vSeqRange, "%d EXPUNGE, client knows %d messages", n, len(sel.slots))
		return
	}
	if u := sel.slots[n-1].uid; u != 0 {
		c.expunged = append(c.expunged, u)
	}
	sel.slots = append(sel.slots[:n-1], sel.slots[n:]...)
}

// learnUID records that sequence number n has uid, checking it against
// what the session knows of the order.
func (s *session) learnUID(n int, uid uint32) {
	sel := s.sel
	sl := &sel.slots[n-1]
	if sl.uid != 0 {
		if sl.uid != uid {
			s.violate(vUIDOrder, "FETCH %d says UID %d, earlier UID %d", n, uid, sl.uid)
			sl.uid = uid
		}
		return
	}
	if sel.gone[uid] {
		s.violate(vVanished, "message %d has UID %d, which VANISHED said was gone", n, uid)
	}
	if uid <= sl.floor {
		s.violate(vUIDOrder, "message %d, announced after UID %d was in view, has UID %d", n, sl.floor, uid)
	}
	for i := n - 2; i >= 0; i-- {
		if u := sel.slots[i].uid; u != 0 {
			if u >= uid {
				s.violate(vUIDOrder, "message %d has UID %d, not above message %d's UID %d", n, uid, i+1, u)
			}
			break
		}
	}
	for i := n; i < len(sel.slots); i++ {
		if u := sel.slots[i].uid; u != 0 {
			if u <= uid {
				s.violate(vUIDOrder, "message %d has UID %d, not below message %d's UID %d", n, uid, i+1, u)
			}
			break
		}
	}
	sl.uid = uid
	if uid > sel.maxUID {
		sel.maxUID = uid
	}
	if sel.uidv != 0 {
		s.st.reg.known(sel.key(s.cred.user), uid, nil)
	}
}

func (s *session) onFetch(r *Response, c *command) {
	sel := s.sel
	if sel == nil {
		s.violate(vSeqRange, "FETCH with no mailbox selected")
		return
	}
	n := int(r.Num)
	if n == 0 || n > len(sel.slots) {
		s.violate(vSeqRange, "%d FETCH, client knows %d messages", n, len(sel.slots))
		return
	}
	if len(r.Data) != 1 || r.Data[0].Kind != kList || len(r.Data[0].L)%2 != 0 {
		s.violate(vMalformed, "FETCH data is not one list of name/value pairs")
		return
	}
	if c.gotSeq != nil {
		c.gotSeq[n] = true
	}
	var fs seen
	var uid uint32
	var flags *Value
	var modseq uint64
	items := r.Data[0].L
	for i := 0; i < len(items); i += 2 {
		name, v := strings.ToUpper(items[i].S), items[i+1]
		switch {
		case name == "UID":
			u, err := strconv.ParseUint(v.S, 10, 32)
			if err != nil || u == 0 {
				s.violate(vMalformed, "UID %q", v.String())
				continue
			}
			uid = uint32(u)
		case name == "FLAGS":
			if v.Kind != kList {
				s.violate(vMalformed, "FLAGS is not a list")
				continue
			}
			flags = &items[i+1]
		case name == "RFC822.SIZE":
			z, err := strconv.ParseInt(v.S, 10, 64)
			if err != nil {
				s.violate(vMalformed, "RFC822.SIZE %q", v.String())
				continue
			}
			fs.size = &z
		case name == "INTERNALDATE":
			t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", v.S)
			if err != nil || v.Kind != kString {
				s.violate(vMalformed, "INTERNALDATE %q", v.String())
				continue
			}
			fs.date = &t
		case name == "BODY[]":
			if v.Kind != kString {
				s.violate(vMalformed, "BODY[] is %s", v.String())
				continue
			}
			fs.body = &v.S
		case strings.HasPrefix(name, "BODY[HEADER.FIELDS "):
			if v.Kind != kString {
				s.violate(vMalformed, "%s is %s", name, v.String())
				continue
			}
			fs.hdr = &v.S
		case name == "ENVELOPE":
			e := v.String()
			fs.env = &e
		case name == "MODSEQ":
			m, ok := parseModSeq(v)
			if !ok {
				s.violate(vMalformed, "MODSEQ %s", v.String())
				continue
			}
			modseq = m
		}
	}
	if flags != nil && s.condstore && !strings.Contains(c.kind, "FETCH") && (modseq == 0 || (s.qresync && uid == 0)) {
		// RFC 7162 §3.1: once CONDSTORE is on, a flag change the client
		// did not fetch comes with MODSEQ (and, with QRESYNC, UID).
		s.violate(vModSeq, "FETCH %d of FLAGS during %s without MODSEQ (or UID, with QRESYNC)", n, c.kind)
	}
	if uid != 0 {
		s.learnUID(n, uid)
	} else {
		uid = sel.slots[n-1].uid
	}
	if modseq != 0 {
		s.onModSeq(uid, modseq, c)
	}
	if flags != nil {
		deleted := false
		for _, f := range flags.L {
			lf := strings.ToLower(f.S)
			if lf == `\deleted` {
				deleted = true
			}
			if !strings.HasPrefix(lf, `\`) && !sel.keywords[lf] {
				s.violate(vKeyword, "FETCH %d FLAGS has %s, not in the last * FLAGS", n, f.S)
			}
		}
		if deleted && uid != 0 && sel.uidv != 0 {
			s.st.reg.markDeleted(sel.key(s.cred.user), uid)
		}
	}
	if uid == 0 || sel.uidv == 0 {
		return
	}
	diffs, emptied := s.st.reg.check(sel.key(s.cred.user), uid, fs)
	if emptied {
		s.st.rec.note(nExpungedEmpty)
		return
	}
	for _, d := range diffs {
		s.violate(vContent, "UID %d: %s", uid, d)
	}
	if fs.body != nil && fs.size != nil && int64(len(*fs.body)) != *fs.size {
		s.violate(vBodySize, "UID %d: BODY[] has %d bytes, RFC822.SIZE says %d", uid, len(*fs.body), *fs.size)
	}
}

// onCopyUID carries fingerprints from source to destination UIDs.
func (s *session) onCopyUID(c *command) {
	if s.sel == nil || s.sel.uidv == 0 || c.dest == "" {
		return
	}
	f := strings.Fields(c.copyUID)
	if len(f) != 3 {
		s.violate(vMalformed, "COPYUID %q", c.copyUID)
		return
	}
	v, err1 := strconv.ParseUint(f[0], 10, 32)
	src, err2 := parseSet(f[1])
	dst, err3 := parseSet(f[2])
	if err1 != nil || err2 != nil || err3 != nil || len(src) != len(dst) {
		s.violate(vMalformed, "COPYUID %q", c.copyUID)
		return
	}
	if old, changed := s.st.reg.noteUIDValidity(s.cred.user, c.dest, uint32(v)); changed {
		s.violate(vUIDValidity, "COPYUID says UIDVALIDITY of %s is %d, was %d", c.dest, v, old)
	}
	if c.wantSrc != nil {
		for _, u := range src {
			if !c.wantSrc[u] {
				s.violate(vUIDOrder, "%s moved UID %d, which was not in the set the client meant", c.kind, u)
			}
		}
	}
	if c.move {
		s.st.reg.markMoved(s.sel.key(s.cred.user), src...)
	}
	pairs := make([][2]uint32, len(src))
	for i := range src {
		pairs[i] = [2]uint32{src[i], dst[i]}
	}
	s.st.reg.copied(s.sel.key(s.cred.user), boxKey{user: s.cred.user, mbox: c.dest, uidv: uint32(v)}, pairs)
}

// skippedExpunged reports whether message n may be missing from a FETCH
// that ended OK: the server said [EXPUNGEISSUED] (RFC 5530: someone else
// expunged messages), and n is a message some session removed. A server
// that leaves out what it can no longer serve, and says so, tells the
// client no untruth; empty data would (RFC 2180 §4.1.3 allows both).
func (s *session) skippedExpunged(c *command, n int) bool {
	if c.tagged.Code != "EXPUNGEISSUED" || s.sel == nil || s.sel.uidv == 0 || n > len(s.sel.slots) {
		return false
	}
	uid := s.sel.slots[n-1].uid
	if uid == 0 {
		// The session never learnt this message's UID, so it cannot
		// tell; the server's word stands, and the report counts it.
		s.st.rec.note(nSkippedUnknown)
		return true
	}
	return s.st.reg.isRemovable(s.sel.key(s.cred.user), uid)
}
