package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// The classes of violation, each a rule the server broke. The first
// group is what RFC 3501 lets a client rely on; fatal classes (loss and
// content change) must never happen on any server and fail the test.
const (
	vSeqRange       = "seq-out-of-range"       // sequence number 0 or above the count the client knows
	vKeyword        = "unannounced-keyword"    // FETCH FLAGS keyword no * FLAGS announced (§7.2.6)
	vContent        = "content-changed"        // size, date, body, header or envelope of a UID changed
	vBodySize       = "body-size"              // BODY[] length differs from RFC822.SIZE
	vExistsShrank   = "exists-shrank"          // EXISTS below the count, without EXPUNGE
	vUIDOrder       = "uid-order"              // UIDs not ascending with sequence numbers, or changed
	vCommandFailed  = "command-failed"         // tagged NO/BAD on a command that must succeed
	vExpungeIssued  = "expungeissued"          // tagged NO [EXPUNGEISSUED] on such a command
	vAfterCompleted = "after-completion"       // tagged response for no command, or EXPUNGE with no command
	vExpungeInSeq   = "expunge-during-seq-cmd" // EXPUNGE during FETCH, STORE or SEARCH (§7.4.1)
	vFetchMissing   = "fetch-incomplete"       // FETCH by sequence number OK without data for a number asked
	vLost           = "lost"                   // a message vanished that no session removed
	vUIDValidity    = "uidvalidity-changed"    // UIDVALIDITY of a mailbox changed
	vSelect         = "select-incomplete"      // SELECT/EXAMINE OK without FLAGS, EXISTS or UIDVALIDITY
	vMalformed      = "malformed"              // response that does not parse
	vModSeq         = "modseq"                 // MODSEQ fell, HIGHESTMODSEQ behind, or a FETCH breaking CHANGEDSINCE (RFC 7162)
	vVanished       = "vanished-unknown"       // VANISHED of a UID the session did not know, or a vanished UID seen again
	vQResync        = "qresync-missed"         // after a QRESYNC SELECT, a known UID gone without VANISHED
	vConn           = "connection"             // connection lost, BYE or timeout mid-session
)

// nExpungedEmpty is not a violation: a FETCH of a message another
// session expunged answered with empty data (RFC 2180 §4.1.3 lets a
// server do this; Dovecot does when the file is already gone). Counted
// so that the report shows how often it happened.
const nExpungedEmpty = "empty-fetch-of-expunged"

// nSkippedUnknown is not a violation either: a FETCH that ended OK
// [EXPUNGEISSUED] left out a message whose UID the session never learnt,
// so it cannot check that someone removed it.
const nSkippedUnknown = "skipped-unknown-uid"

// allClasses is the report order.
var allClasses = []string{vSeqRange, vKeyword, vContent, vBodySize, vExistsShrank, vUIDOrder,
	vCommandFailed, vExpungeIssued, vAfterCompleted, vExpungeInSeq, vFetchMissing, vLost, vUIDValidity,
	vSelect, vMalformed, vModSeq, vVanished, vQResync, vConn}

// fatalClasses must be zero on every server, today included.
var fatalClasses = map[string]bool{vContent: true, vBodySize: true, vLost: true}

// Violation is one broken rule with what the session saw before it.
type Violation struct {
	Class      string   `json:"class"`
	Session    int      `json:"session"`
	User       string   `json:"user"`
	Mailbox    string   `json:"mailbox"`
	Detail     string   `json:"detail"`
	Transcript []string `json:"transcript"`
}

// recorder counts violations per class and keeps the first few of each
// with their transcripts.
type recorder struct {
	mu       sync.Mutex
	counts   map[string]int
	examples []Violation
	perClass map[string]int // examples kept per class
	keep     int            // examples to keep per class
	verbose  io.Writer      // every violation as it happens, or nil
}

func newRecorder(keep int, verbose io.Writer) *recorder {
	return &recorder{counts: map[string]int{}, perClass: map[string]int{}, keep: keep, verbose: verbose}
}

func (r *recorder) add(v Violation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[v.Class]++
	if r.perClass[v.Class] < r.keep {
		r.perClass[v.Class]++
		r.examples = append(r.examples, v)
	}
	if r.verbose != nil {
		fmt.Fprintf(r.verbose, "VIOLATION %s (session %d, %s, %s): %s\n  %s\n", v.Class, v.Session, v.User,
			v.Mailbox, v.Detail, strings.Join(v.Transcript, "\n  "))
	}
}

// note counts an event that is not a violation.
func (r *recorder) note(class string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[class]++
}

func (r *recorder) snapshot() (map[string]int, []Violation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		c[k] = v
	}
	return c, append([]Violation(nil), r.examples...)
}

// fingerprint is what must never change under one UID (DESIGN.md: "A
// message's content never changes under a UID"). Each part is set the
// first time any session sees it.
type fingerprint struct {
	size            int64
	hasSize         bool
	date            time.Time
	hasDate         bool
	body, hdr, env  [32]byte
	hasBody, hasHdr bool
	hasEnv          bool
}

// boxKey names one mailbox incarnation: UIDs mean nothing across
// UIDVALIDITY values.
type boxKey struct {
	user, mbox string
	uidv       uint32
}

// boxState is what all sessions together know of one mailbox.
type boxState struct {
	msgs map[uint32]*fingerprint
	// deleted holds UIDs some session stored \Deleted on (before sending
	// the STORE) or saw with \Deleted; moved those it moved away (before
	// sending the MOVE). A UID expunged that is in neither was lost.
	deleted, moved map[uint32]bool
}

// registry is shared by all sessions.
type registry struct {
	mu    sync.Mutex
	boxes map[boxKey]*boxState
	uidv  map[[2]string]uint32 // (user, mailbox) → the UIDVALIDITY first seen
	// modseq is the highest MODSEQ any session saw in a mailbox.
	modseq map[boxKey]uint64
}

func newRegistry() *registry {
	return &registry{boxes: map[boxKey]*boxState{}, uidv: map[[2]string]uint32{}, modseq: map[boxKey]uint64{}}
}

// noteModSeq records that some session saw MODSEQ m in k.
func (g *registry) noteModSeq(k boxKey, m uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.modseq[k] = max(g.modseq[k], m)
}

// highestModSeq is the highest MODSEQ any session saw so far in the
// mailbox (of the UIDVALIDITY first seen).
func (g *registry) highestModSeq(user, mbox string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.modseq[boxKey{user: user, mbox: mbox, uidv: g.uidv[[2]string{user, mbox}]}]
}

// isKnown reports whether some session saw uid in k.
func (g *registry) isKnown(k boxKey, uid uint32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.box(k).msgs[uid] != nil
}

func (g *registry) box(k boxKey) *boxState {
	b := g.boxes[k]
	if b == nil {
		b = &boxState{msgs: map[uint32]*fingerprint{}, deleted: map[uint32]bool{}, moved: map[uint32]bool{}}
		g.boxes[k] = b
	}
	return b
}

// noteUIDValidity records v for (user, mbox) and returns the value seen
// before if it differs.
func (g *registry) noteUIDValidity(user, mbox string, v uint32) (old uint32, changed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := [2]string{user, mbox}
	old, ok := g.uidv[k]
	if !ok {
		g.uidv[k] = v
		return 0, false
	}
	return old, old != v
}

// seen is one FETCH's facts about a UID; nil fields were not fetched.
type seen struct {
	size *int64
	date *time.Time
	body *string
	hdr  *string
	env  *string
}

// empty reports whether every fetched part of s is empty: size 0, no
// bytes, an all-NIL envelope, the epoch as date.
func (s seen) empty() bool {
	if s.size == nil && s.body == nil && s.hdr == nil && s.env == nil && s.date == nil {
		return false
	}
	return (s.size == nil || *s.size == 0) && (s.body == nil || *s.body == "") &&
		(s.hdr == nil || *s.hdr == "") && (s.date == nil || s.date.Unix() <= 0) &&
		(s.env == nil || strings.Trim(strings.ReplaceAll(*s.env, "NIL", ""), "() ") == "")
}

// check merges s into the UID's fingerprint and returns what differs.
// Empty data for a UID some session deleted or moved is no difference
// (RFC 2180 §4.1.3); emptied says it was that.
func (g *registry) check(k boxKey, uid uint32, s seen) (diffs []string, emptied bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.box(k)
	if (b.deleted[uid] || b.moved[uid]) && s.empty() {
		return nil, true
	}
	fp := b.msgs[uid]
	if fp == nil {
		fp = &fingerprint{}
		b.msgs[uid] = fp
	}
	if s.size != nil {
		if fp.hasSize && fp.size != *s.size {
			diffs = append(diffs, fmt.Sprintf("RFC822.SIZE %d, before %d", *s.size, fp.size))
		} else {
			fp.size, fp.hasSize = *s.size, true
		}
	}
	if s.date != nil {
		if fp.hasDate && !fp.date.Equal(*s.date) {
			diffs = append(diffs, fmt.Sprintf("INTERNALDATE %s, before %s", s.date.Format(time.RFC3339), fp.date.Format(time.RFC3339)))
		} else {
			fp.date, fp.hasDate = *s.date, true
		}
	}
	hashCheck := func(name string, in *string, have *bool, h *[32]byte) {
		if in == nil {
			return
		}
		sum := sha256.Sum256([]byte(*in))
		if *have && *h != sum {
			diffs = append(diffs, name+" differs from an earlier fetch")
			return
		}
		*h, *have = sum, true
	}
	hashCheck("BODY[]", s.body, &fp.hasBody, &fp.body)
	hashCheck("BODY[HEADER.FIELDS (FROM SUBJECT)]", s.hdr, &fp.hasHdr, &fp.hdr)
	hashCheck("ENVELOPE", s.env, &fp.hasEnv, &fp.env)
	return diffs, false
}

// known records that uid exists (APPENDUID, a first sighting), with the
// fingerprint of what was sent when that is known.
func (g *registry) known(k boxKey, uid uint32, fp *fingerprint) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.box(k)
	if b.msgs[uid] == nil {
		if fp == nil {
			fp = &fingerprint{}
		}
		b.msgs[uid] = fp
	}
}

// copied gives each destination UID the content part of its source's
// fingerprint (COPYUID, RFC 4315), and the source's removability: a
// copy of a \Deleted message is \Deleted too (RFC 3501 §6.4.7).
func (g *registry) copied(src, dst boxKey, pairs [][2]uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	sb, db := g.box(src), g.box(dst)
	for _, p := range pairs {
		if sb.deleted[p[0]] {
			db.deleted[p[1]] = true
		}
		if db.msgs[p[1]] != nil {
			continue
		}
		fp := &fingerprint{}
		if s := sb.msgs[p[0]]; s != nil {
			// INTERNALDATE is only a SHOULD across COPY; the rest is the
			// message itself.
			*fp = *s
			fp.hasDate = false
		}
		db.msgs[p[1]] = fp
	}
}

// markDeleted is called before a STORE of \Deleted on uids, and when a
// FETCH shows \Deleted.
func (g *registry) markDeleted(k boxKey, uids ...uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.box(k)
	for _, u := range uids {
		b.deleted[u] = true
	}
}

// markMoved is called before a MOVE of uids.
func (g *registry) markMoved(k boxKey, uids ...uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.box(k)
	for _, u := range uids {
		b.moved[u] = true
	}
}

func (g *registry) isRemovable(k boxKey, uid uint32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.box(k)
	return b.deleted[uid] || b.moved[uid]
}

// survivors lists the UIDs of (user, mbox) that must still be there:
// seen by someone, never made removable.
func (g *registry) survivors(k boxKey) []uint32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.box(k)
	var out []uint32
	for u := range b.msgs {
		if !b.deleted[u] && !b.moved[u] {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// transcript keeps a session's last lines.
type transcript struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

const transcriptLines = 20

func (t *transcript) add(prefix, line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(line) > 300 {
		line = line[:300] + "..."
	}
	line = prefix + line
	if t.lines == nil {
		t.lines = make([]string, transcriptLines)
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % transcriptLines
	if t.next == 0 {
		t.full = true
	}
}

func (t *transcript) last() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	return append(append([]string(nil), t.lines[t.next:]...), t.lines[:t.next]...)
}
