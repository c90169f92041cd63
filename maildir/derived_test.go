package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"imapd/message"
)

// Tests of Mailbox.Derived: data derived from a message, kept under a key
// in the folder's imapd-cache, built once and read back by any process.

// deriver calls Mailbox.Derived with a build that counts its calls and
// derives the key, the message's Message-ID and pad octets of filler: data
// that belongs to one message and one key only.
type deriver struct {
	t     *testing.T
	pad   func(uid uint32) int // filler length per UID; nil: none
	calls map[string]int       // "uid key" -> builds
}

func newDeriver(t *testing.T) *deriver {
	return &deriver{t: t, calls: map[string]int{}}
}

// want is what build derives for uid's message under key.
func (d *deriver) want(uid uint32, key string, p *message.Part) []byte {
	id := "<none>"
	if p.Envelope != nil {
		id = p.Envelope.MessageID
	}
	b := []byte(fmt.Sprintf("%s of uid %d: %s;", key, uid, id))
	if d.pad != nil {
		for i := range d.pad(uid) {
			b = append(b, byte('a'+(int(uid)+i)%26))
		}
	}
	return b
}

// get returns Derived's data for uid and key, and whether build ran.
func (d *deriver) get(m *Mailbox, uid uint32, key string) (data []byte, built bool) {
	d.t.Helper()
	data, err := m.Derived(uid, key, func(p *message.Part) ([]byte, error) {
		built = true
		d.calls[fmt.Sprint(uid, " ", key)]++
		return d.want(uid, key, p), nil
	})
	if err != nil {
		d.t.Fatalf("Derived(%d, %.20q): %v", uid, key, err)
	}
	return data, built
}

// expect fails unless Derived returns data equal to what build derives
// from uid's message (parsed afresh from its file), and ran build exactly
// when built says so.
func (d *deriver) expect(m *Mailbox, uid uint32, key string, built bool) {
	d.t.Helper()
	got, ran := d.get(m, uid, key)
	if ran != built {
		d.t.Errorf("Derived(%d, %.20q): build ran: %v, want %v", uid, key, ran, built)
	}
	if want := d.want(uid, key, parseFile(d.t, m, uid)); !bytes.Equal(got, want) {
		d.t.Errorf("Derived(%d, %.20q) = %.60q (%d octets), want %.60q (%d octets)", uid, key, got, len(got), want, len(want))
	}
}

// parseFile parses uid's message from its file, bypassing the cache.
func parseFile(t *testing.T, m *Mailbox, uid uint32) *message.Part {
	t.Helper()
	fh, err := m.Open(uid)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	p, err := message.Parse(fh, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// appendMsgs appends messages from..to (msg(i)) to INBOX.
func appendMsgs(t *testing.T, s *Store, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := s.Append(Inbox, strings.NewReader(msg(i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func readCache(t *testing.T, s *Store) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Root(), cacheFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDerivedBuiltOnce: build runs once per UID and key; later calls, and
// another process (a fresh Hub on the same Maildir), get the same octets
// from the cache file.
func TestDerivedBuiltOnce(t *testing.T) {
	_, s := newStore(t)
	appendMsgs(t, s, 1, 3)
	m := mustSelect(t, s, Inbox)
	d := newDeriver(t)
	for _, uid := range m.UIDs() {
		d.expect(m, uid, "test.id", true)
	}
	for _, uid := range m.UIDs() {
		d.expect(m, uid, "test.id", false)
	}
	other := mustSelect(t, reopen(t, s), Inbox)
	for _, uid := range slices.Backward(other.UIDs()) {
		d.expect(other, uid, "test.id", false)
	}
	for k, n := range d.calls {
		if n != 1 {
			t.Errorf("%s built %d times", k, n)
		}
	}
}

// TestDerivedKeysIndependent: keys of one UID are kept apart, and the
// structure records among the derived ones are still read right, in this
// process and the next.
func TestDerivedKeysIndependent(t *testing.T) {
	multipart := "From: a@example.org\nSubject: parts\nMessage-ID: <mp@test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nhello\n--B\nContent-Type: message/rfc822\n\nFrom: b@example.org\nSubject: inner\n\ninner body\n--B--\n"
	_, s := newStore(t)
	appendMsgs(t, s, 1, 2)
	if _, err := s.Append(Inbox, strings.NewReader(multipart), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	appendMsgs(t, s, 4, 4)
	m := mustSelect(t, s, Inbox)
	d := newDeriver(t)
	// Records of all kinds interleaved: a structure, then keys a and b
	// for each UID in turn.
	for _, uid := range m.UIDs() {
		d.expect(m, uid, "a", true)
		d.expect(m, uid, "b", true)
	}
	for _, uid := range m.UIDs() {
		d.expect(m, uid, "b", false)
		d.expect(m, uid, "a", false)
		if a, _ := d.get(m, uid, "a"); bytes.Contains(a, []byte("b of")) {
			t.Errorf("uid %d: key a holds b's data %q", uid, a)
		}
	}
	recs := cacheRecordStarts(t, filepath.Join(s.Root(), cacheFile))
	if want := 5 * len(m.UIDs()); len(recs) != want {
		t.Errorf("%d records in the cache file, want %d (a fingerprint, a structure, its list header and two keys per message)", len(recs), want)
	}

	other := mustSelect(t, reopen(t, s), Inbox)
	for _, uid := range other.UIDs() {
		want := parseFile(t, other, uid)
		if p := other.f.cache.get(uid); !reflect.DeepEqual(p, want) {
			t.Errorf("uid %d: cached structure %+v, want %+v", uid, p, want)
		}
		p, err := other.Structure(uid)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("uid %d: Structure %+v, want %+v", uid, p, want)
		}
		d.expect(other, uid, "a", false)
		d.expect(other, uid, "b", false)
	}
	if p, _ := other.Structure(3); len(p.Children) != 2 || !p.Children[1].IsMessage() ||
		p.Children[1].Children[0].Envelope == nil || p.Children[1].Children[0].Envelope.Subject != "inner" {
		t.Errorf("uid 3's structure lost its nested message: %+v", p)
	}
}

// TestDerivedForgottenOnExpunge: an expunged UID's data is not served
// for it any more, and a new message gets its own.
func TestDerivedForgottenOnExpunge(t *testing.T) {
	_, s := newStore(t)
	appendMsgs(t, s, 1, 3)
	m := mustSelect(t, s, Inbox)
	d := newDeriver(t)
	for _, uid := range m.UIDs() {
		d.expect(m, uid, "k", true)
	}
	if _, _, err := m.SetFlags([]uint32{2}, FlagsAdd, FlagDeleted, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Expunge(nil); err != nil {
		t.Fatal(err)
	}
	m.Changes()
	built := false
	data, err := m.Derived(2, "k", func(p *message.Part) ([]byte, error) {
		built = true
		return []byte("rebuilt"), nil
	})
	if !errors.Is(err, ErrExpunged) || data != nil || built {
		t.Errorf("Derived of the expunged uid 2 = %q, %v (build ran: %v), want ErrExpunged", data, err, built)
	}
	if got := m.f.cache.lookup(2, "k"); got != nil {
		t.Errorf("the cache still serves uid 2's data: %q", got)
	}
	d.expect(m, 1, "k", false)
	d.expect(m, 3, "k", false)

	// A new message: a new UID, its own data.
	appendMsgs(t, s, 4, 4)
	m.Changes()
	if got := m.UIDs(); !reflect.DeepEqual(got, []uint32{1, 3, 4}) {
		t.Fatalf("uids %v", got)
	}
	d.expect(m, 4, "k", true)
	d.expect(m, 4, "k", false)

	other := mustSelect(t, reopen(t, s), Inbox)
	for _, uid := range other.UIDs() {
		d.expect(other, uid, "k", false)
	}
}

// TestDerivedKeyLimit: a folder keeps data under at most maxCacheKeys
// keys, the structure's empty key among them; under a further key, or
// one longer than 255 octets, build runs every time and nothing is
// written.
func TestDerivedKeyLimit(t *testing.T) {
	_, s := newStore(t)
	appendMsgs(t, s, 1, 2)
	m := mustSelect(t, s, Inbox)
	d := newDeriver(t)
	key := func(i int) string { return fmt.Sprintf("key-%03d", i) }
	long := strings.Repeat("L", 256)

	d.expect(m, 1, long, true)
	d.expect(m, 1, long, true)
	// keys[0] is the structure's: room for maxCacheKeys-1 more, the
	// last one 255 octets long.
	fill := maxCacheKeys - 1
	for i := range fill - 1 {
		d.expect(m, 1, key(i), true)
	}
	max255 := strings.Repeat("M", 255)
	d.expect(m, 1, max255, true)
	d.expect(m, 1, max255, false)
	for i := range fill - 1 {
		d.expect(m, 1, key(i), false)
	}
	before := readCache(t, s)

	over := key(fill)
	for range 3 {
		d.expect(m, 1, over, true)
		d.expect(m, 2, over, true)
	}
	// Known keys still work, for another UID too.
	d.expect(m, 2, key(0), true)
	d.expect(m, 2, key(0), false)
	d.expect(m, 2, max255, true)
	d.expect(m, 2, max255, false)

	after := readCache(t, s)
	if bytes.Contains(after, []byte(over)) || bytes.Contains(after, []byte(long)) {
		t.Errorf("a key beyond the limit or too long was written to the cache file")
	}
	if !bytes.HasPrefix(after, before) || len(after) == len(before) {
		t.Errorf("the cache file was not appended to: %d octets, then %d", len(before), len(after))
	}

	other := mustSelect(t, reopen(t, s), Inbox)
	d.expect(other, 1, over, true)
	d.expect(other, 1, over, true)
	d.expect(other, 1, long, true)
	d.expect(other, 1, max255, false)
	d.expect(other, 2, key(0), false)
	for i := range fill - 1 {
		d.expect(other, 1, key(i), false)
	}
}

// TestDerivedBuildError: build's error is returned and nothing is kept;
// the next call builds again.
func TestDerivedBuildError(t *testing.T) {
	_, s := newStore(t)
	appendMsgs(t, s, 1, 1)
	m := mustSelect(t, s, Inbox)
	if _, err := m.Structure(1); err != nil {
		t.Fatal(err)
	}
	before := readCache(t, s)
	errBuild := errors.New("build failed")
	for range 2 {
		calls := 0
		data, err := m.Derived(1, "k", func(*message.Part) ([]byte, error) {
			calls++
			return []byte("half done"), errBuild
		})
		if !errors.Is(err, errBuild) || data != nil || calls != 1 {
			t.Fatalf("Derived with a failing build = %q, %v after %d builds, want the build's error after 1", data, err, calls)
		}
	}
	if after := readCache(t, s); !bytes.Equal(after, before) {
		t.Errorf("a failed build changed the cache file: %d octets, was %d", len(after), len(before))
	}
	d := newDeriver(t)
	d.expect(m, 1, "k", true)
	d.expect(m, 1, "k", false)
	d.expect(mustSelect(t, reopen(t, s), Inbox), 1, "k", false)
}

// syncBuffer is a bytes.Buffer safe for a logger's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDerivedOldFormatReplaced: a cache file of format 1 is replaced by
// an empty one of the current format, with a line at Info, and the
// structure and derived data work as ever.
func TestDerivedOldFormatReplaced(t *testing.T) {
	_, s := newStore(t)
	appendMsgs(t, s, 1, 3)
	old := append([]byte("IMAPDC1\n"), "\x00\x00\x00\x01\x00\x00\x00\x20junk of the old format, not a record"...)
	path := filepath.Join(s.Root(), cacheFile)
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	var logged syncBuffer
	h := NewHub(Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	t.Cleanup(func() { h.Close() })
	s2, err := h.Open(s.Root(), false)
	if err != nil {
		t.Fatal(err)
	}
	m := mustSelect(t, s2, Inbox)
	d := newDeriver(t)
	for _, uid := range m.UIDs() {
		p, err := m.Structure(uid)
		if err != nil {
			t.Fatal(err)
		}
		if want := parseFile(t, m, uid); !reflect.DeepEqual(p, want) {
			t.Errorf("uid %d: structure %+v, want %+v", uid, p, want)
		}
		d.expect(m, uid, "k", true)
		d.expect(m, uid, "k", false)
	}
	b := readCache(t, s)
	if !bytes.HasPrefix(b, cacheMagic) || bytes.Contains(b, []byte("junk")) {
		t.Errorf("cache file not replaced: starts %.30q", b)
	}
	// Per message a structure, its list header, its key k and the
	// fingerprint (the old file's were lost with it).
	if recs := cacheRecordStarts(t, path); len(recs) != 12 {
		t.Errorf("%d records in the new cache file, want 12", len(recs))
	}
	log := logged.String()
	if !strings.Contains(log, "level=INFO") || !strings.Contains(log, "older format") || strings.Contains(log, "level=WARN") {
		t.Errorf("the old format was not logged at Info alone:\n%s", log)
	}
	other := mustSelect(t, reopen(t, s), Inbox)
	for _, uid := range other.UIDs() {
		d.expect(other, uid, "k", false)
	}
}

// bigDerived returns a store whose INBOX holds n messages, each with
// derived data of pad(uid) octets under "big", built (and checked) once,
// with the deriver that built them.
func bigDerived(t *testing.T, n int, pad func(uint32) int) (*Store, *Mailbox, *deriver, []uint32) {
	t.Helper()
	_, s := newStore(t)
	appendMsgs(t, s, 1, n)
	m := mustSelect(t, s, Inbox)
	d := newDeriver(t)
	d.pad = pad
	uids := m.UIDs()
	if len(uids) != n {
		t.Fatalf("%d messages", len(uids))
	}
	for _, uid := range uids {
		d.expect(m, uid, "big", true)
	}
	return s, m, d, uids
}

// TestDerivedReadWindow: records spread over more than one read window
// (cacheWindow), some larger than half a window or than a whole one, are
// read back exactly, in UID order, in reverse and in strides.
func TestDerivedReadWindow(t *testing.T) {
	const n = 300
	pad := func(uid uint32) int {
		switch uid {
		case 100:
			return cacheWindow/2 + 10
		case 200:
			return cacheWindow + 1000
		}
		return 2048 + int(uid*37%101)
	}
	s, m, _, uids := bigDerived(t, n, pad)
	if size := len(readCache(t, s)); size < 3*cacheWindow {
		t.Fatalf("cache file of %d octets: too small to need several windows", size)
	}
	reverse := slices.Clone(uids)
	slices.Reverse(reverse)
	var strided []uint32
	for start := range 7 {
		for i := start; i < n; i += 7 {
			strided = append(strided, uids[i])
		}
	}
	for _, order := range []struct {
		name string
		uids []uint32
	}{{"uid order", uids}, {"reverse", reverse}, {"strides", strided}} {
		t.Run(order.name, func(t *testing.T) {
			d := newDeriver(t)
			d.pad = pad
			// Another process, so that every record comes from the file.
			other := mustSelect(t, reopen(t, s), Inbox)
			for _, uid := range order.uids {
				d.expect(other, uid, "big", false)
			}
			// And this one, whose window is wherever the last read left it.
			for _, uid := range order.uids {
				d.expect(m, uid, "big", false)
			}
		})
	}
}

// TestReleaseBuffers: reads through the cache keep windows of the file
// (one per reader), ReleaseBuffers lets go of them, and reads afterwards
// are right again; two readers going forward far apart keep one window
// each instead of evicting each other's.
func TestReleaseBuffers(t *testing.T) {
	const n = 300
	s, _, d, uids := bigDerived(t, n, func(uid uint32) int { return 2048 + int(uid%17) })
	other := mustSelect(t, reopen(t, s), Inbox)
	c := other.f.cache
	windows := func() (held int, octets int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, w := range c.wins {
			if w.buf != nil {
				held++
				octets += len(w.buf)
			}
		}
		return held, octets
	}
	reads := func() {
		// Two readers, one from each half of the folder, in turns (as
		// SEARCH's workers go).
		for i := range n / 2 {
			d.expect(other, uids[i], "big", false)
			d.expect(other, uids[n/2+i], "big", false)
		}
	}
	reads()
	if held, _ := windows(); held != cacheWindows {
		t.Fatalf("%d windows held after reading, want %d", held, cacheWindows)
	}
	// With one window per reader, the file is read about once per
	// cacheWindow octets of records each: far fewer reads than records.
	c.mu.Lock()
	preads := c.preads
	c.mu.Unlock()
	if preads > n/10 {
		t.Fatalf("%d reads of the file for %d records: the readers evict each other's windows", preads, 2*n)
	}
	other.ReleaseBuffers()
	if held, octets := windows(); held != 0 || octets != 0 {
		t.Fatalf("after ReleaseBuffers: %d windows, %d octets held", held, octets)
	}
	reads()
}

// TestFirstReadsSmall: a command's first read of the cache brings in
// firstWindow octets, not cacheWindow, so a FETCH of one message reads
// and holds a few KiB; the windows double with each read after, so a
// FETCH over the folder still reads the file a full window at a time.
func TestFirstReadsSmall(t *testing.T) {
	const n = 600
	_, s := newStore(t)
	appendMsgs(t, s, 1, n)
	m := mustSelect(t, s, Inbox)
	uids := m.UIDs()
	// The structures first, so that the records under "big" follow one
	// another (a run, as a FETCH 1:* of one item writes them); some
	// larger than the first window, which is then the record alone.
	for _, uid := range uids {
		if _, err := m.Structure(uid); err != nil {
			t.Fatal(err)
		}
	}
	d := newDeriver(t)
	d.pad = func(uid uint32) int { return 1024 + int(uid%17) + int(uid%50/49)*3*firstWindow }
	for _, uid := range uids {
		d.expect(m, uid, "big", true)
	}
	other := mustSelect(t, reopen(t, s), Inbox)
	c := other.f.cache
	held := func() (octets int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, w := range c.wins {
			octets += len(w.buf)
		}
		return octets
	}
	preads := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.preads
	}
	for _, uid := range []uint32{uids[n/2], uids[7], uids[n-3], uids[48]} {
		d.expect(other, uid, "big", false)
		if got := held(); got > firstWindow {
			t.Fatalf("one message's record: %d octets of the file held, want at most %d", got, firstWindow)
		}
		other.ReleaseBuffers()
	}
	before := preads()
	for _, uid := range uids {
		d.expect(other, uid, "big", false)
	}
	// About 620 KiB of records: the doubling windows to 256 KiB (seven
	// reads), then full ones.
	if got := preads() - before; got > 10 {
		t.Fatalf("%d reads of the file for %d records in a row", got, n)
	}
	other.ReleaseBuffers()
}

// TestBatchWrites: under BatchWrites, what Derived keeps is read back at
// once in this process, written to the file together at ReleaseBuffers
// (not one write per record), and then found by another process; records
// another process appended meanwhile are indexed where they landed, and
// ours after them.
func TestBatchWrites(t *testing.T) {
	_, s := newStore(t)
	appendMsgs(t, s, 1, 6)
	m := mustSelect(t, s, Inbox)
	other := mustSelect(t, reopen(t, s), Inbox)
	uids := m.UIDs()
	d := newDeriver(t)
	for _, uid := range uids {
		m.Structure(uid) // structures on disk, in both processes
	}
	before := len(readCache(t, s))

	m.BatchWrites()
	for _, uid := range uids[:3] {
		d.expect(m, uid, "batched", true)
		d.expect(m, uid, "batched", false) // from memory
	}
	if n := len(readCache(t, s)); n != before {
		t.Fatalf("cache file grew by %d octets before ReleaseBuffers", n-before)
	}
	// Another process appends its own records meanwhile.
	for _, uid := range uids[3:] {
		d.expect(other, uid, "batched", true)
	}
	m.ReleaseBuffers()
	for _, uid := range uids {
		d.expect(m, uid, "batched", false)
	}
	third := mustSelect(t, reopen(t, s), Inbox)
	for _, uid := range uids {
		d.expect(third, uid, "batched", false)
	}
	// Without BatchWrites, a record is in the file when Derived returns.
	d.expect(m, uids[0], "unbatched", true)
	fourth := mustSelect(t, reopen(t, s), Inbox)
	d.expect(fourth, uids[0], "unbatched", false)
}
