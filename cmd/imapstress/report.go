package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// stats counts commands per kind.
type stats struct {
	mu    sync.Mutex
	kinds map[string]*kindStat
}

type kindStat struct {
	n, failed int
	total     time.Duration
}

func newStats() *stats { return &stats{kinds: map[string]*kindStat{}} }

func (s *stats) add(kind string, d time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kinds[kind]
	if k == nil {
		k = &kindStat{}
		s.kinds[kind] = k
	}
	k.n++
	k.total += d
	if !ok {
		k.failed++
	}
}

// reset forgets the setup's commands.
func (s *stats) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kinds = map[string]*kindStat{}
}

// Report is the outcome of a run.
type Report struct {
	Addr       string                `json:"addr"`
	Clients    int                   `json:"clients"`
	Users      int                   `json:"users"`
	Mailboxes  int                   `json:"mailboxes"`
	Seed       uint64                `json:"seed"`
	Seconds    float64               `json:"seconds"`
	Commands   int                   `json:"commands"`
	PerSec     float64               `json:"commands_per_sec"`
	Kinds      map[string]KindReport `json:"kinds"`
	Delivered  int64                 `json:"delivered"`
	Reconnects int64                 `json:"reconnects"`
	// Violations per class (every class listed, zeros included); Total
	// is their sum; Fatal the sum of the classes that no server may
	// ever show (loss, content change).
	Violations map[string]int `json:"violations"`
	Total      int            `json:"total_violations"`
	Fatal      int            `json:"fatal_violations"`
	// ExpungedEmpty counts FETCHes of messages another session had
	// expunged that came back empty: allowed, not a violation.
	ExpungedEmpty int `json:"empty_fetch_of_expunged"`
	// SkippedUnknown counts messages left out of a FETCH that ended OK
	// [EXPUNGEISSUED] whose UID the session did not know: not checked.
	SkippedUnknown int         `json:"skipped_unknown_uid"`
	Examples       []Violation `json:"examples"`
}

// KindReport is one command kind's numbers.
type KindReport struct {
	Count  int     `json:"count"`
	Failed int     `json:"failed"` // tagged NO or BAD, allowed or not
	PerSec float64 `json:"per_sec"`
	AvgMs  float64 `json:"avg_ms"`
}

func (st *stress) report(elapsed time.Duration, delivered int64) *Report {
	counts, ex := st.rec.snapshot()
	r := &Report{Addr: st.cfg.Addr, Clients: st.cfg.Clients, Users: len(st.cfg.Users),
		Mailboxes: len(st.cfg.Mailboxes), Seed: st.cfg.Seed, Seconds: elapsed.Seconds(),
		Kinds: map[string]KindReport{}, Delivered: delivered, Reconnects: st.reconnects.Load(),
		Violations: map[string]int{}, Examples: append([]Violation{}, ex...)}
	st.stats.mu.Lock()
	for k, s := range st.stats.kinds {
		r.Commands += s.n
		r.Kinds[k] = KindReport{Count: s.n, Failed: s.failed, PerSec: float64(s.n) / elapsed.Seconds(),
			AvgMs: float64(s.total.Microseconds()) / 1000 / float64(s.n)}
	}
	st.stats.mu.Unlock()
	r.PerSec = float64(r.Commands) / elapsed.Seconds()
	r.ExpungedEmpty = counts[nExpungedEmpty]
	r.SkippedUnknown = counts[nSkippedUnknown]
	for _, c := range allClasses {
		r.Violations[c] = counts[c]
		r.Total += counts[c]
		if fatalClasses[c] {
			r.Fatal += counts[c]
		}
	}
	return r
}

// WriteText prints the report for a person.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "imapstress %s: %d clients, %d users, %d mailboxes each, seed %d, %.1f s\n",
		r.Addr, r.Clients, r.Users, r.Mailboxes, r.Seed, r.Seconds)
	fmt.Fprintf(w, "commands: %d, %.1f/s; delivered %d; reconnects %d\n\n", r.Commands, r.PerSec, r.Delivered, r.Reconnects)
	names := make([]string, 0, len(r.Kinds))
	for k := range r.Kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "%-12s %8s %8s %8s %8s\n", "command", "count", "per s", "avg ms", "NO/BAD")
	for _, k := range names {
		s := r.Kinds[k]
		fmt.Fprintf(w, "%-12s %8d %8.1f %8.2f %8d\n", k, s.Count, s.PerSec, s.AvgMs, s.Failed)
	}
	fmt.Fprintf(w, "\nviolations: %d (fatal: %d)\n", r.Total, r.Fatal)
	for _, c := range allClasses {
		mark := ""
		if fatalClasses[c] {
			mark = " (fatal)"
		}
		fmt.Fprintf(w, "  %-24s %6d%s\n", c, r.Violations[c], mark)
	}
	fmt.Fprintf(w, "not violations: %d FETCHes of messages expunged elsewhere came back empty (RFC 2180 §4.1.3)\n", r.ExpungedEmpty)
	fmt.Fprintf(w, "not checked: %d messages of unknown UID left out of a FETCH that said [EXPUNGEISSUED]\n", r.SkippedUnknown)
	for _, v := range r.Examples {
		fmt.Fprintf(w, "\n%s: session %d (%s, %s): %s\n    %s\n", v.Class, v.Session, v.User, v.Mailbox, v.Detail,
			strings.Join(v.Transcript, "\n    "))
	}
}
