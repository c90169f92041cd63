package maildir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"imapd/message"
)

// listHeaderMessages: plain CRLF, bare LF with folding, duplicates and
// 8-bit octets, a header of list fields only (kept whole), a message
// with no list field, one whose list fields pass maxListHeader, and one
// with no body and no blank line.
var listHeaderMessages = []string{
	"From: a@example.org\r\nReceived: from x by y\r\nSubject: one\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n",
	"Received: from x\n\tby y\nFrom: b@example.org\nTo: c@example.org,\n d@example.org\nSubject: caf\xc3\xa9\nsubject: again\nX-Spam: no\n\nbody\n",
	"From: whole@example.org\nSubject: only list fields\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody\n",
	"X-Only: nothing a list asks for\n\nbody\n",
	"From: big@example.org\nReferences:" + strings.Repeat(" <a-long-message-id@example.org>\n", 400) + "Subject: big\n\nbody\n",
	"From: nobody@example.org\nSubject: no body",
}

// rawHeaderOf reads the header block of uid's message from its file.
func rawHeaderOf(t *testing.T, m *Mailbox, uid uint32) []byte {
	t.Helper()
	p := parseFile(t, m, uid)
	fh, err := m.Open(uid)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	raw, err := headerBlock(fh, p)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(*raw)
}

// checkListHeader fails unless m's ListHeader of uid is what
// message.ListHeader makes of the header in its file, or nothing kept
// when that is larger than maxListHeader.
func checkListHeader(t *testing.T, m *Mailbox, uid uint32) {
	t.Helper()
	fields, whole, ok, err := m.ListHeader(uid)
	if err != nil {
		t.Fatalf("ListHeader(%d): %v", uid, err)
	}
	want, wantWhole := message.ListHeader(rawHeaderOf(t, m, uid))
	switch {
	case len(want) > maxListHeader:
		if ok {
			t.Errorf("ListHeader(%d): %d octets kept, more than maxListHeader", uid, len(fields))
		}
	case !ok || !bytes.Equal(fields, want) || whole != wantWhole:
		t.Errorf("ListHeader(%d) = %q whole %v ok %v, want %q whole %v", uid, fields, whole, ok, want, wantWhole)
	}
}

// TestListHeaderKeptAtFirstParse: the first parse of a message keeps its
// list header; another process then has it from the cache file, reading
// no message, and the same as from the file.
func TestListHeaderKeptAtFirstParse(t *testing.T) {
	_, s := newStore(t)
	for _, msg := range listHeaderMessages {
		deliver(t, filepath.Join(s.Root()), msg)
	}
	m := mustSelect(t, s, Inbox)
	uids := m.UIDs()
	if len(uids) != len(listHeaderMessages) {
		t.Fatalf("%d messages, want %d", len(uids), len(listHeaderMessages))
	}
	for _, uid := range uids {
		if _, err := m.Structure(uid); err != nil {
			t.Fatal(err)
		}
	}
	h := NewHub(Options{NoSync: true})
	t.Cleanup(func() { h.Close() })
	s2, err := h.Open(s.Root(), false)
	if err != nil {
		t.Fatal(err)
	}
	other := mustSelect(t, s2, Inbox)
	for _, uid := range uids {
		if _, _, _, err := other.ListHeader(uid); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Stats().MessageReads.Load(); n != 0 {
		t.Errorf("%d message files opened for list headers kept at the first parse", n)
	}
	for _, uid := range uids {
		checkListHeader(t, other, uid)
	}
}

// TestListHeaderOfCachedStructure: a message whose structure was cached
// without its list header (by an older imapd) has it read from the file
// once, then kept.
func TestListHeaderOfCachedStructure(t *testing.T) {
	_, s := newStore(t)
	deliver(t, s.Root(), listHeaderMessages[1])
	m := mustSelect(t, s, Inbox)
	uid := m.UIDs()[0]
	p := parseFile(t, m, uid)
	m.f.cache.put(uid, p) // the structure alone
	checkListHeader(t, m, uid)
	reads := m.f.hub.stats.MessageReads.Load()
	checkListHeader(t, m, uid)
	if n := m.f.hub.stats.MessageReads.Load() - reads - 2; n != 0 { // checkListHeader's own two
		t.Errorf("the kept list header read the message %d more times", n)
	}
}

// TestListHeaderOfReplacedMessage: a message another program rewrote
// gets a new UID, whose list header is the new content's; the old UID's
// is gone with it, never served for the new one.
func TestListHeaderOfReplacedMessage(t *testing.T) {
	_, s := newStore(t)
	name := deliver(t, s.Root(), "From: old@example.org\nSubject: old\n\nold body\n")
	m := mustSelect(t, s, Inbox)
	old := m.UIDs()[0]
	if _, _, _, err := m.ListHeader(old); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(s.Root(), "*", name+"*"))
	if len(paths) != 1 {
		t.Fatalf("files of %s: %v", name, paths)
	}
	path := paths[0]
	if err := os.WriteFile(path, []byte("From: new@example.org\nSubject: a new and longer subject\n\nnew body\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	expunged, added := changesOf(m)
	if len(expunged) != 1 || expunged[0] != old || len(added) != 1 {
		t.Fatalf("expunged %v added %v after the rewrite, want [%d] and a new UID", expunged, added, old)
	}
	fields, _, _, err := m.ListHeader(added[0])
	if err != nil || !bytes.Contains(fields, []byte("new@example.org")) || bytes.Contains(fields, []byte("old")) {
		t.Fatalf("ListHeader of the new UID = %q, %v", fields, err)
	}
	if _, _, _, err := m.ListHeader(old); !errors.Is(err, ErrExpunged) {
		t.Errorf("ListHeader of the old UID: %v, want ErrExpunged", err)
	}
	checkListHeader(t, m, added[0])
}

// TestScratchBuffersBounded: the buffer a hostile header of a megabyte
// was read into is not kept for the next message.
func TestScratchBuffersBounded(t *testing.T) {
	big := make([]byte, 1<<20)
	putScratch(&big)
	for range 4 {
		if b := scratchBuffers.Get().(*[]byte); cap(*b) > 64<<10 {
			t.Fatalf("a pooled scratch buffer of %d bytes", cap(*b))
		}
	}
}
