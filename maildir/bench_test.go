package maildir

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"imapd/message"
)

// benchSizes are the folder sizes benchmarks compare: an operation whose
// cost must not grow with the folder shows the same time at both.
func benchSizes() []int {
	n := 100000
	if s := os.Getenv("MAILDIR_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	return []int{1000, n}
}

var fixtures sync.Map // size -> root

// fixture returns a Maildir with n messages in cur/ (Postfix-like names,
// LF line endings, varied MIME), built once per size and per run, with a
// current sidecar.
func fixture(b *testing.B, n int) string {
	if v, ok := fixtures.Load(n); ok {
		return v.(string)
	}
	root := filepath.Join(os.TempDir(), fmt.Sprintf("imapd-bench-%d-%d", os.Getpid(), n))
	os.RemoveAll(root)
	h := NewHub(Options{NoSync: true})
	defer h.Close()
	s, err := h.Open(root, true)
	if err != nil {
		b.Fatal(err)
	}
	cur := filepath.Join(root, "cur")
	for i := 0; i < n; i++ {
		body := benchMessage(i)
		name := fmt.Sprintf("17000%05d.M%dP1Q%d.bench,S=%d:2,%s", i/100, i, i, len(body), []string{"S", "RS", "", "FS"}[i%4])
		if err := os.WriteFile(filepath.Join(cur, name), []byte(body), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	m, err := s.Select("INBOX", SelectOptions{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	m.Close()
	// Let the directories' mtimes age past the granularity window, and
	// record that in the sidecar, as on any server after the first seconds.
	time.Sleep(2100 * time.Millisecond)
	h2 := NewHub(Options{NoSync: true})
	defer h2.Close()
	s2, err := h2.Open(root, false)
	if err == nil {
		if m, err = s2.Select("INBOX", SelectOptions{ReadOnly: true}); err == nil {
			m.Close()
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	fixtures.Store(n, root)
	return root
}

// selectFixture selects root's INBOX through a Hub of its own, as a new
// process would; both are closed when b ends.
func selectFixture(b *testing.B, root string, opts SelectOptions) *Mailbox {
	b.Helper()
	h := NewHub(Options{NoSync: true})
	b.Cleanup(func() { h.Close() })
	s, err := h.Open(root, false)
	if err != nil {
		b.Fatal(err)
	}
	m, err := s.Select("INBOX", opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func benchMessage(i int) string {
	if i%3 == 0 {
		return fmt.Sprintf("From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: report %d\nMessage-ID: <%d@bench>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\n%s", i, i, strings.Repeat("plain text line of the body\n", 40))
	}
	return fmt.Sprintf("From: Carol <carol@example.org>\nTo: bob@example.org\nSubject: =?UTF-8?B?w6TDtsO8?= %d\nMessage-ID: <%d@bench>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain; charset=utf-8\n\n%s\n--XX\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\n%s\n--XX--\n", i, i, strings.Repeat("text line\n", 20), strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n", 30))
}

func cleanupFixtures() {
	fixtures.Range(func(_, v any) bool { os.RemoveAll(v.(string)); return true })
}

func TestMain(m *testing.M) {
	code := m.Run()
	cleanupFixtures()
	os.Exit(code)
}

// BenchmarkOpenCurrent opens a folder whose sidecar is current: it reads
// the sidecar and stats two directories; no listing, no message file.
func BenchmarkOpenCurrent(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			root := fixture(b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h := NewHub(Options{NoSync: true})
				s, _ := h.Open(root, false)
				m, err := s.Select("INBOX", SelectOptions{ReadOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				if int(m.Count()) != n {
					b.Fatalf("count %d", m.Count())
				}
				m.Close()
				b.StopTimer()
				h.Close()
				b.StartTimer()
				if l, r := h.Stats().Listings.Load(), h.Stats().MessageReads.Load(); l != 0 || r != 0 {
					b.Fatalf("open of a current folder listed %d directories and read %d messages", l, r)
				}
			}
		})
	}
}

// BenchmarkOpenNoSidecar opens a folder that has no sidecar: a listing
// and a stat of every file.
func BenchmarkOpenNoSidecar(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			root := fixture(b, n)
			saved, err := os.ReadFile(filepath.Join(root, sidecarFile))
			if err != nil {
				b.Fatal(err)
			}
			defer os.WriteFile(filepath.Join(root, sidecarFile), saved, 0o600)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				os.Remove(filepath.Join(root, sidecarFile))
				b.StartTimer()
				h := NewHub(Options{NoSync: true})
				s, _ := h.Open(root, false)
				m, err := s.Select("INBOX", SelectOptions{ReadOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				m.Close()
				b.StopTimer()
				h.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkAppend appends one message to a folder that stays selected.
func BenchmarkAppend(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m := selectFixture(b, fixture(b, n), SelectOptions{})
			body := benchMessage(1)
			var uids []uint32
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a, err := m.store.Append("INBOX", strings.NewReader(body), AppendOptions{Flags: FlagSeen})
				if err != nil {
					b.Fatal(err)
				}
				uids = append(uids, a.UID)
			}
			b.StopTimer()
			if l := m.f.hub.Stats().Listings.Load(); l > 2 {
				b.Errorf("appends listed directories %d times", l)
			}
			m.Changes()
			m.SetFlags(uids, FlagsAdd, FlagDeleted, nil, 0)
			m.Expunge(uids)
		})
	}
}

// BenchmarkAppendUnselected appends to a folder no session holds (a
// delivery by APPEND to another folder, or LMTP-style): the folder's state
// stays cached in the Hub between appends, so no sidecar is re-read.
func BenchmarkAppendUnselected(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			root := fixture(b, n)
			h := NewHub(Options{NoSync: true})
			defer h.Close()
			s, _ := h.Open(root, false)
			body := benchMessage(1)
			var uids []uint32
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a, err := s.Append("INBOX", strings.NewReader(body), AppendOptions{})
				if err != nil {
					b.Fatal(err)
				}
				uids = append(uids, a.UID)
			}
			b.StopTimer()
			m, err := s.Select("INBOX", SelectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			m.SetFlags(uids, FlagsAdd, FlagDeleted, nil, 0)
			m.Expunge(uids)
			m.Close()
		})
	}
}

// BenchmarkSetFlags toggles \Flagged on one message.
func BenchmarkSetFlags(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m := selectFixture(b, fixture(b, n), SelectOptions{})
			uid := m.Initial()[n/2-1]
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				op := FlagsAdd
				if i%2 == 1 {
					op = FlagsRemove
				}
				if _, _, err := m.SetFlags([]uint32{uid}, op, FlagFlagged, nil, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSetFlagsAll is STORE 1:* +FLAGS (\Seen) then -FLAGS (\Seen):
// every file renamed, each way. ns/msg is per message and change.
func BenchmarkSetFlagsAll(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m := selectFixture(b, fixture(b, n), SelectOptions{})
			uids := m.Initial()
			for b.Loop() {
				for _, op := range []FlagOp{FlagsAdd, FlagsRemove} {
					if _, _, err := m.SetFlags(uids, op, FlagSeen, nil, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n), "ns/msg")
		})
	}
}

// BenchmarkCheck is CHECK on an unchanged folder: every file stat'ed and
// compared with its record, five files forced to disk. ns/msg is per
// message of the folder.
func BenchmarkCheck(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m := selectFixture(b, fixture(b, n), SelectOptions{})
			for b.Loop() {
				if err := m.Check(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/msg")
		})
	}
}

// BenchmarkStructure reads the parsed structure of every message: cold
// (parsing each file and filling the cache) and warm (from the cache).
func BenchmarkStructure(b *testing.B) {
	n := benchSizes()[0]
	root := fixture(b, n)
	for _, warm := range []bool{false, true} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if !warm {
					os.Remove(filepath.Join(root, cacheFile))
				}
				h := NewHub(Options{NoSync: true})
				s, _ := h.Open(root, false)
				m, err := s.Select("INBOX", SelectOptions{ReadOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				if warm {
					for _, u := range m.UIDs() {
						m.Structure(u)
					}
				}
				b.StartTimer()
				for _, u := range m.UIDs() {
					if _, err := m.Structure(u); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				m.Close()
				h.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
		})
	}
}

// warmDerived selects an n-message folder and caches two records of
// derived data (as ENVELOPE and BODYSTRUCTURE) for every message, written
// as a FETCH over many messages writes them. fetch reads both of uid's
// back, as a FETCH of them does.
func warmDerived(b *testing.B, n int) (m *Mailbox, fetch func(uid uint32)) {
	m = selectFixture(b, fixture(b, n), SelectOptions{ReadOnly: true})
	fetch = func(uid uint32) {
		for _, key := range []string{"bench.envelope", "bench.bodystructure"} {
			if _, err := m.Derived(uid, key, func(*message.Part) ([]byte, error) {
				return bytes.Repeat([]byte(key), 20), nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	m.BatchWrites()
	for _, u := range m.UIDs() {
		fetch(u)
	}
	m.ReleaseBuffers()
	return m, fetch
}

// BenchmarkDerivedWarm reads two records of derived data of every
// message from the cache, as a warm FETCH 1:* (ENVELOPE BODYSTRUCTURE)
// does: look-ups in the index and reads of the file, nothing parsed.
func BenchmarkDerivedWarm(b *testing.B) {
	n := benchSizes()[1]
	m, fetch := warmDerived(b, n)
	for b.Loop() {
		for _, u := range m.UIDs() {
			fetch(u)
		}
		m.ReleaseBuffers()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
}

// BenchmarkDerivedOne is a FETCH (ENVELOPE BODYSTRUCTURE) of one
// message at a time, in no order, from a warm cache: what a client
// opening messages asks, and what a window per read would make cost a
// read (and an allocation) of up to cacheWindow a command.
func BenchmarkDerivedOne(b *testing.B) {
	m, fetch := warmDerived(b, benchSizes()[0])
	uids := m.UIDs()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		fetch(uids[rng.IntN(len(uids))])
		m.ReleaseBuffers()
	}
}

// BenchmarkBusyFolder is a folder that two sessions keep changing while
// another program delivers to it now and then (Postfix): per op, one
// session's STORE and the other's NOOP, and a delivery every 1000 ops.
// A delivery costs a listing or two (and a wait of at most the fine
// window, settleLocked); the own changes after it must cost none, so the
// time per op must not grow with the folder.
func BenchmarkBusyFolder(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			h, s := newStore(b)
			cur := filepath.Join(s.Root(), "cur")
			for i := range n {
				name := fmt.Sprintf("17000%05d.M%dP1Q%d.bench:2,S", i/100, i, i)
				if err := os.WriteFile(filepath.Join(cur, name), []byte(benchMessage(i)), 0o600); err != nil {
					b.Fatal(err)
				}
			}
			ago := time.Now().Add(-time.Hour)
			for _, sub := range []string{"new", "cur"} {
				if err := os.Chtimes(filepath.Join(s.Root(), sub), ago, ago); err != nil {
					b.Fatal(err)
				}
			}
			writer, reader := mustSelect(b, s, "INBOX"), mustSelect(b, s, "INBOX")
			before := h.Stats().Listings.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%1000 == 999 {
					deliver(b, s.Root(), msg(i))
				}
				op := FlagsAdd
				if i%2 == 1 {
					op = FlagsRemove
				}
				if _, _, err := writer.SetFlags([]uint32{uint32(1 + i%n)}, op, FlagFlagged, nil, 0); err != nil {
					b.Fatal(err)
				}
				if err := reader.Refresh(false); err != nil {
					b.Fatal(err)
				}
				reader.Changes()
				writer.Changes()
			}
			b.ReportMetric(float64(h.Stats().Listings.Load()-before)/float64(b.N), "listings/op")
		})
	}
}
