package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

func keywordNames(prefix string, from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("%s%04d", prefix, i))
	}
	return out
}

func wantLimit(t *testing.T, err error, max int) {
	t.Helper()
	var le *LimitError
	if !errors.Is(err, ErrLimit) || !errors.As(err, &le) || le.Max != max {
		t.Fatalf("got %v, want a LimitError with max %d", err, max)
	}
}

// snapshot is what a refused change must leave as it was: every message
// file name, the keyword file and the sidecar.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	var names []string
	for name := range files(t, dir) {
		names = append(names, name)
	}
	sort.Strings(names)
	b.WriteString(strings.Join(names, "\n"))
	data, _ := os.ReadFile(filepath.Join(dir, keywordsFile))
	b.Write(data)
	// Records of messages; a refresh may note directory times.
	data, _ = os.ReadFile(filepath.Join(dir, sidecarFile))
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(line, "d ") && !strings.HasPrefix(line, "r ") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestKeywordLimitStoreIsAllOrNothing(t *testing.T) {
	_, s := newStore(t)
	s.SetLimits(Limits{MaxKeywords: 40})
	for i := 1; i <= 20; i++ {
		deliver(t, s.Root(), msg(i))
	}
	m := mustSelect(t, s, "INBOX")
	all := m.UIDs()
	if _, _, err := m.SetFlags(all, FlagsAdd, 0, keywordNames("k", 0, 30), 0); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s.Root())
	// 30 known + 11 new = 41: refused, for every message, and nothing moves.
	_, _, err := m.SetFlags(all, FlagsAdd, FlagSeen, keywordNames("k", 25, 16), 0)
	wantLimit(t, err, 40)
	_, _, err = m.SetFlags(all[:1], FlagsSet, 0, keywordNames("n", 0, 11), 0)
	wantLimit(t, err, 40)
	if after := snapshot(t, s.Root()); after != before {
		t.Fatalf("a refused STORE changed the folder:\n%s\n---\n%s", before, after)
	}
	if got := len(m.Keywords()); got != 30 {
		t.Fatalf("%d keywords after a refused STORE, want 30", got)
	}
	// Known keywords (in any case) cost nothing; up to the limit is fine.
	if _, _, err := m.SetFlags(all, FlagsAdd, 0, []string{"K0003", "k0029"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.SetFlags(all[:1], FlagsAdd, 0, keywordNames("k", 25, 15), 0); err != nil {
		t.Fatal(err)
	}
	if got := len(m.Keywords()); got != 40 {
		t.Fatalf("%d keywords, want 40", got)
	}
	// Removing is never limited.
	if _, _, err := m.SetFlags(all, FlagsRemove, 0, keywordNames("x", 0, 50), 0); err != nil {
		t.Fatal(err)
	}
}

// Two processes (two Hubs) adding keywords to one folder at once cannot
// together pass the limit: the count is taken under the folder's file lock.
func TestKeywordLimitAcrossProcesses(t *testing.T) {
	_, s := newStore(t)
	deliver(t, s.Root(), msg(1))
	s2 := reopen(t, s)
	s.SetLimits(Limits{MaxKeywords: 40})
	s2.SetLimits(Limits{MaxKeywords: 40})
	m1, m2 := mustSelect(t, s, "INBOX"), mustSelect(t, s2, "INBOX")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, m := range []*Mailbox{m1, m2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = m.SetFlags([]uint32{1}, FlagsAdd, 0, keywordNames(fmt.Sprintf("p%d-", i), 0, 30), 0)
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("errors %v, %v: want exactly one refused", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil {
			wantLimit(t, err, 40)
		}
	}
	if err := m1.Refresh(false); err != nil {
		t.Fatal(err)
	}
	if got := len(mustSelect(t, reopen(t, s), "INBOX").Keywords()); got != 30 {
		t.Fatalf("%d keywords, want 30", got)
	}
}

func TestKeywordLimitAppendCopyMove(t *testing.T) {
	_, s := newStore(t)
	s.SetLimits(Limits{MaxKeywords: 30})
	if err := s.Create("Full"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append("Full", strings.NewReader(msg(1)), AppendOptions{Keywords: keywordNames("f", 0, 30)}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append("Full", strings.NewReader(msg(2)), AppendOptions{Keywords: []string{"one-too-many"}})
	wantLimit(t, err, 30)
	full := filepath.Join(s.Root(), ".Full")
	if n := len(files(t, full)); n != 1 {
		t.Fatalf("%d messages after a refused APPEND, want 1", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(full, "tmp")); len(ents) != 0 {
		t.Fatalf("refused APPEND left %d files in tmp/", len(ents))
	}

	// A copy or move carries its keywords: refused whole, never trimmed.
	for i := 1; i <= 3; i++ {
		deliver(t, s.Root(), msg(i))
	}
	src := mustSelect(t, s, "INBOX")
	uids := src.UIDs()
	if _, _, err := src.SetFlags(uids[2:], FlagsAdd, 0, []string{"$Travels"}, 0); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, full)
	_, err = src.Copy(uids, "Full")
	wantLimit(t, err, 30)
	_, err = src.Move(uids, "Full")
	wantLimit(t, err, 30)
	if after := snapshot(t, full); after != before {
		t.Fatal("a refused COPY or MOVE changed the target")
	}
	if err := src.Refresh(false); err != nil {
		t.Fatal(err)
	}
	src.Changes()
	if n := src.Count(); n != 3 {
		t.Fatalf("source has %d messages after a refused MOVE, want 3", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(full, "tmp")); len(ents) != 0 {
		t.Fatalf("refused COPY left %d files in tmp/", len(ents))
	}
	// Messages without new keywords still copy.
	if res, err := src.Copy(uids[:2], "Full"); err != nil || len(res.DstUIDs) != 2 {
		t.Fatalf("copy: %v %v", res, err)
	}
}

// The measured case of issue 9: thousands of keywords on every message.
// Refused at once with the default limit, and what the limit allows keeps
// the sidecar small.
func TestManyKeywordsSidecarStaysSmall(t *testing.T) {
	_, s := newStore(t)
	s.SetLimits(Limits{MaxKeywords: 256})
	const msgs = 200
	for i := 1; i <= msgs; i++ {
		deliver(t, s.Root(), msg(i))
	}
	m := mustSelect(t, s, "INBOX")
	all := m.UIDs()
	_, _, err := m.SetFlags(all, FlagsAdd, 0, keywordNames("K", 0, 9000), 0)
	wantLimit(t, err, 256)
	if _, _, err := m.SetFlags(all, FlagsAdd, 0, keywordNames("K", 0, 256), 0); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(s.Root(), sidecarFile))
	if err != nil {
		t.Fatal(err)
	}
	// 230 keywords without a letter, 6 octets each, on 200 messages.
	if fi.Size() > 400<<10 {
		t.Fatalf("sidecar is %d bytes", fi.Size())
	}
	t.Logf("sidecar %d bytes for %d messages with 256 keywords", fi.Size(), msgs)
	if got := len(mustSelect(t, reopen(t, s), "INBOX").Message(all[msgs-1]).Keywords); got != 256 {
		t.Fatalf("%d keywords survive a reopen, want 256", got)
	}
}
