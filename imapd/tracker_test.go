package imapd

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"imapd/maildir"
)

func added(uids ...uint32) []maildir.Change {
	var out []maildir.Change
	for _, u := range uids {
		out = append(out, maildir.Change{Kind: maildir.Added, UID: u})
	}
	return out
}

func expunged(uids ...uint32) []maildir.Change {
	var out []maildir.Change
	for _, u := range uids {
		out = append(out, maildir.Change{Kind: maildir.Expunged, UID: u, Last: maildir.Message{UID: u, Expunged: true}})
	}
	return out
}

func flagged(uids ...uint32) []maildir.Change {
	var out []maildir.Change
	for _, u := range uids {
		out = append(out, maildir.Change{Kind: maildir.FlagsChanged, UID: u})
	}
	return out
}

func updatesString(ups []update) string {
	s := ""
	for _, u := range ups {
		switch u.kind {
		case updExpunge:
			s += fmt.Sprintf("* %d EXPUNGE|", u.seq)
		case updExists:
			s += fmt.Sprintf("* %d EXISTS|", u.seq)
		case updFlags:
			s += fmt.Sprintf("* %d FETCH uid %d|", u.seq, u.uid)
		case updVanished:
			s += fmt.Sprintf("* VANISHED %v|", u.uids)
		}
	}
	return s
}

// The tracker's answers, as tables: one row a feed and a flush.
func TestTracker(t *testing.T) {
	type step struct {
		feed  []maildir.Change
		allow bool   // EXPUNGE allowed in this flush
		want  string // the responses
		view  []uint32
	}
	for _, tc := range []struct {
		name    string
		initial []uint32
		steps   []step
		qresync bool
	}{
		{"class 1: a delivery and its expunge in one batch are never told", []uint32{1, 2, 3},
			[]step{{feed: append(added(4), expunged(4)...), allow: true, want: "", view: []uint32{1, 2, 3}}}, false},
		{"class 1: an expunge of an announced message and a new one: EXPUNGE numbers the client knows", []uint32{1, 2, 3},
			[]step{{feed: append(added(4), expunged(3)...), allow: true, want: "* 3 EXPUNGE|* 3 EXISTS|", view: []uint32{1, 2, 4}}}, false},
		{"expunges ascending, each counted after the ones before", []uint32{1, 2, 3, 4, 5},
			[]step{{feed: expunged(5, 2, 3), allow: true, want: "* 2 EXPUNGE|* 2 EXPUNGE|* 3 EXPUNGE|", view: []uint32{1, 4}}}, false},
		{"held back during FETCH by sequence number; new messages still told", []uint32{1, 2, 3},
			[]step{
				{feed: append(expunged(2), added(7)...), allow: false, want: "* 4 EXISTS|", view: []uint32{1, 2, 3, 7}},
				{allow: true, want: "* 2 EXPUNGE|", view: []uint32{1, 3, 7}},
			}, false},
		{"class 5: a UID below one announced is never put in the middle", []uint32{1, 5},
			[]step{{feed: added(3, 6), allow: true, want: "* 3 EXISTS|", view: []uint32{1, 5, 6}}}, false},
		{"flags of others: by sequence number, not for messages going", []uint32{1, 2, 3},
			[]step{
				{feed: append(flagged(3, 1), expunged(2)...), allow: false, want: "* 1 FETCH uid 1|* 3 FETCH uid 3|", view: []uint32{1, 2, 3}},
				{feed: append(flagged(3), expunged(3)...), allow: true, want: "* 2 EXPUNGE|* 2 EXPUNGE|", view: []uint32{1}},
			}, false},
		{"QRESYNC: one VANISHED of UIDs instead of EXPUNGEs, held back likewise", []uint32{1, 2, 3, 4, 5},
			[]step{
				{feed: expunged(5, 2, 3), allow: false, want: "", view: []uint32{1, 2, 3, 4, 5}},
				{feed: append(added(6, 7), expunged(6)...), allow: true, want: "* VANISHED [2 3 5]|* 3 EXISTS|", view: []uint32{1, 4, 7}},
			}, true},
		{"QRESYNC: a message added and expunged unseen is not named", []uint32{1},
			[]step{{feed: append(added(2), expunged(2)...), allow: true, want: "", view: []uint32{1}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(slices.Clone(tc.initial), nil)
			tr.qresync = tc.qresync
			for i, st := range tc.steps {
				tr.feed(st.feed)
				if got := updatesString(tr.flush(st.allow, nil)); got != st.want {
					t.Fatalf("step %d: %q, want %q", i, got, st.want)
				}
				if !slices.Equal(tr.view, st.view) {
					t.Fatalf("step %d: view %v, want %v", i, tr.view, st.view)
				}
			}
		})
	}
}

func TestTrackerSeq(t *testing.T) {
	tr := newTracker([]uint32{2, 3, 5, 8, 13, 21, 34, 55, 89}, nil)
	for _, uid := range []uint32{2, 3, 5, 8, 13, 21, 34, 55, 89, 1, 89, 4, 34, 2, 90, 13, 0, 55} {
		want := uint32(0)
		if i := slices.Index(tr.view, uid); i >= 0 {
			want = uint32(i + 1)
		}
		if got := tr.seq(uid); got != want {
			t.Fatalf("seq(%d) = %d, want %d", uid, got, want)
		}
	}
}

func TestTrackerKeywords(t *testing.T) {
	tr := newTracker(nil, []string{"$Junk"})
	if tr.unknownKeywords([]string{"$Junk"}) || !tr.unknownKeywords([]string{"$Junk", "$Label5"}) {
		t.Fatal("unknownKeywords")
	}
	tr.setKeywords([]string{"$Junk", "$Label5"})
	if tr.unknownKeywords([]string{"$Label5"}) {
		t.Fatal("announced keyword still unknown")
	}
}

// trackerModel drives a tracker with the changes a folder goes through
// and checks what a client that follows the responses would see.
type trackerModel struct {
	t      testing.TB
	tr     *tracker
	store  []uint32 // UIDs in the folder, ascending
	next   uint32   // the next UID the store gives
	client []uint32 // the view as the client rebuilds it from responses
}

// check flushes and applies the responses as a client does, asserting
// the tracker's invariants.
func (m *trackerModel) check(allow bool) {
	ups := m.tr.flush(allow, nil)
	for _, u := range ups {
		switch u.kind {
		case updExpunge:
			if !allow {
				m.t.Fatalf("EXPUNGE while not allowed")
			}
			if u.seq == 0 || int(u.seq) > len(m.client) {
				m.t.Fatalf("* %d EXPUNGE with %d messages known", u.seq, len(m.client))
			}
			m.client = slices.Delete(m.client, int(u.seq-1), int(u.seq))
		case updVanished:
			if !allow || !m.tr.qresync {
				m.t.Fatalf("VANISHED while not allowed (allow %v, qresync %v)", allow, m.tr.qresync)
			}
			for _, uid := range u.uids {
				i, ok := slices.BinarySearch(m.client, uid)
				if !ok {
					m.t.Fatalf("VANISHED names UID %d, which the client does not know (%v)", uid, m.client)
				}
				m.client = slices.Delete(m.client, i, i+1)
			}
		case updExists:
			if int(u.seq) < len(m.client) {
				m.t.Fatalf("EXISTS %d below the %d known", u.seq, len(m.client))
			}
			// The client learns the new UIDs (UID FETCH); they follow
			// the ones it knows.
			m.client = append(m.client, m.tr.view[len(m.client):u.seq]...)
		case updFlags:
			if u.seq == 0 || int(u.seq) > len(m.client) || m.client[u.seq-1] != u.uid {
				m.t.Fatalf("* %d FETCH for UID %d; client knows %v", u.seq, u.uid, m.client)
			}
		}
	}
	if !slices.Equal(m.client, m.tr.view) {
		m.t.Fatalf("client %v, tracker %v", m.client, m.tr.view)
	}
	for i := 1; i < len(m.tr.view); i++ {
		if m.tr.view[i-1] >= m.tr.view[i] {
			m.t.Fatalf("view not ascending: %v", m.tr.view)
		}
	}
	if allow {
		// Every message told is in the folder, and every one in the
		// folder is told (but for those given out-of-order UIDs).
		for _, uid := range m.tr.view {
			if _, ok := slices.BinarySearch(m.store, uid); !ok {
				m.t.Fatalf("UID %d told but expunged", uid)
			}
		}
	}
}

// run applies a program of operations from data.
func (m *trackerModel) run(data []byte) {
	for len(data) >= 2 {
		op, arg := data[0]%8, data[1]
		data = data[2:]
		var chs []maildir.Change
		switch op {
		case 0, 1: // deliveries
			for range int(arg%3) + 1 {
				m.store = append(m.store, m.next)
				chs = append(chs, added(m.next)...)
				m.next++
			}
		case 2, 3: // expunge some
			for i := 0; i < len(m.store); i++ {
				if (m.store[i]+uint32(arg))%3 == 0 {
					chs = append(chs, expunged(m.store[i])...)
					m.store = slices.Delete(m.store, i, i+1)
					i--
				}
			}
		case 4: // flags
			for _, uid := range m.store {
				if (uid+uint32(arg))%2 == 0 {
					chs = append(chs, flagged(uid)...)
				}
			}
		case 5: // a UID out of order (a migrated list): never told
			if len(m.store) > 0 {
				chs = append(chs, added(m.store[0])...)
			}
		case 6:
			m.tr.feed(nil)
			m.check(arg%2 == 0)
			continue
		}
		m.tr.feed(chs)
		if arg%4 == 0 {
			m.check(arg%8 == 0)
		}
	}
	m.check(true)
	if !slices.Equal(m.tr.view, m.store) {
		m.t.Fatalf("in the end: tracker %v, folder %v", m.tr.view, m.store)
	}
}

func newTrackerModel(t testing.TB, n int, qresync bool) *trackerModel {
	m := &trackerModel{t: t, next: uint32(n) + 1}
	for i := 1; i <= n; i++ {
		m.store = append(m.store, uint32(i))
	}
	m.tr = newTracker(slices.Clone(m.store), nil)
	m.tr.qresync = qresync
	m.client = slices.Clone(m.store)
	return m
}

func TestTrackerRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for range 500 {
		data := make([]byte, 2*rng.Intn(100))
		rng.Read(data)
		newTrackerModel(t, rng.Intn(20), rng.Intn(2) == 0).run(data)
	}
}

func FuzzTracker(f *testing.F) {
	f.Add(uint8(3), []byte{0, 1, 2, 0, 6, 1, 4, 3, 6, 0})
	f.Add(uint8(0), []byte{0, 4, 2, 4, 5, 0, 6, 0})
	var seed [8]byte
	binary.LittleEndian.PutUint64(seed[:], 42)
	f.Add(uint8(10), seed[:])
	f.Fuzz(func(t *testing.T, n uint8, data []byte) {
		newTrackerModel(t, int(n%64), n >= 128).run(data)
	})
}

// Announcing a mass EXPUNGE costs time in proportion to the messages
// removed and one pass over the view: 10,000 of 100,000.
func BenchmarkTrackerExpunge(b *testing.B) {
	const n, k = 100000, 10000
	uids := make([]uint32, n)
	for i := range uids {
		uids[i] = uint32(i + 1)
	}
	var gone []maildir.Change
	for i := 0; i < k; i++ {
		gone = append(gone, expunged(uint32(i*(n/k)+1))...)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		tr := newTracker(slices.Clone(uids), nil)
		b.StartTimer()
		tr.feed(gone)
		if ups := tr.flush(true, nil); len(ups) != k {
			b.Fatalf("%d updates", len(ups))
		}
	}
}
