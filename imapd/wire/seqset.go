package wire

import (
	"cmp"
	"iter"
	"slices"
	"strconv"
	"strings"
)

// Star is the value of "*" in a SeqRange: the largest number in use (the
// number of messages, or the largest UID; RFC 3501 §9 seq-number).
const Star uint32 = 0

// A SeqRange is seq-number or seq-range of RFC 3501 §9: Start and Stop as
// the client wrote them (either way round; equal for a single number),
// each an nz-number or Star.
type SeqRange struct {
	Start, Stop uint32
}

// resolve returns the range with Star replaced by max, low end first.
func (r SeqRange) resolve(last uint32) (lo, hi uint32) {
	lo, hi = r.Start, r.Stop
	if lo == Star {
		lo = last
	}
	if hi == Star {
		hi = last
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

func (r SeqRange) String() string {
	s := seqNumString(r.Start)
	if r.Stop != r.Start {
		s += ":" + seqNumString(r.Stop)
	}
	return s
}

func seqNumString(n uint32) string {
	if n == Star {
		return "*"
	}
	return strconv.FormatUint(uint64(n), 10)
}

// A SeqSet is a sequence-set of RFC 3501 §9: message sequence numbers or
// UIDs, in ranges as the client wrote them. Saved is set when the set holds
// "$", the result saved by SEARCH RETURN (SAVE) (RFC 5182), which the
// server replaces by the messages it saved. The zero SeqSet is empty.
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool
}

// ParseSeqSet parses s as a sequence-set, with "$" allowed.
func ParseSeqSet(s string) (SeqSet, error) {
	p := &parser{buf: []byte(s)}
	set, err := p.seqSet("sequence set", true)
	if err != nil {
		return SeqSet{}, err
	}
	if err := p.end(); err != nil {
		return SeqSet{}, err
	}
	return set, nil
}

// seqSet parses a sequence-set; with dollar, "$" (RFC 5182) is allowed as
// an element.
func (p *parser) seqSet(what string, dollar bool) (SeqSet, error) {
	var set SeqSet
	for {
		if p.peek() == '$' {
			if !dollar {
				return SeqSet{}, p.errorf("%s cannot be \"$\" here", what)
			}
			p.pos++
			set.Saved = true
		} else {
			start, err := p.seqNumber(what)
			if err != nil {
				return SeqSet{}, err
			}
			stop := start
			if p.accept(':') {
				if stop, err = p.seqNumber(what); err != nil {
					return SeqSet{}, err
				}
			}
			set.Ranges = append(set.Ranges, SeqRange{start, stop})
		}
		if !p.accept(',') {
			return set, nil
		}
	}
}

func (p *parser) seqNumber(what string) (uint32, error) {
	if p.accept('*') {
		return Star, nil
	}
	if !isDigit(p.peek()) {
		return 0, p.errorf("expected a number or '*' in %s, found %s", what, p.found())
	}
	return p.nzNumber("number in " + what)
}

// IsEmpty reports whether the set has no ranges and no "$".
func (s SeqSet) IsEmpty() bool { return len(s.Ranges) == 0 && !s.Saved }

// HasStar reports whether "*" appears in the set.
func (s SeqSet) HasStar() bool {
	for _, r := range s.Ranges {
		if r.Start == Star || r.Stop == Star {
			return true
		}
	}
	return false
}

// MaxExplicit returns the largest number written in the set, "*" not
// counted; 0 if there is none. RFC 3501 §9 (seq-number): a command that
// uses a message sequence number greater than the number of messages gets
// a tagged BAD; this is the number to check.
func (s SeqSet) MaxExplicit() uint32 {
	var m uint32
	for _, r := range s.Ranges {
		m = max(m, r.Start, r.Stop)
	}
	return m
}

// Contains reports whether n is in the set, with "*" standing for last.
// "$" is not looked at: the server adds the saved messages itself.
func (s SeqSet) Contains(n, last uint32) bool {
	for _, r := range s.Ranges {
		lo, hi := r.resolve(last)
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}

// Normalize returns the set's ranges with "*" replaced by last, ordered low
// to high, merged where they overlap or touch, and cut to 1..last: numbers
// above last are dropped (a UID set may name UIDs that do not exist; RFC
// 3501 §6.4.8). With last 0 the result is empty. "$" is not looked at.
//
// For message sequence numbers last is the number of messages. For UIDs it
// is the UID of the last message, or UIDNEXT if the mailbox is empty (RFC
// 3501 §9 seq-number); "3291:*" then includes the last UID even when it is
// below 3291.
func (s SeqSet) Normalize(last uint32) []SeqRange {
	if last == 0 {
		return nil
	}
	out := make([]SeqRange, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		lo, hi := r.resolve(last)
		if lo > last {
			continue
		}
		out = append(out, SeqRange{lo, min(hi, last)})
	}
	slices.SortFunc(out, func(a, b SeqRange) int { return cmp.Compare(a.Start, b.Start) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && uint64(r.Start) <= uint64(merged[n-1].Stop)+1 {
			merged[n-1].Stop = max(merged[n-1].Stop, r.Stop)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// All yields each number of the set once, in ascending order, with "*"
// standing for last and numbers above last left out (see Normalize).
func (s SeqSet) All(last uint32) iter.Seq[uint32] {
	ranges := s.Normalize(last)
	return func(yield func(uint32) bool) {
		for _, r := range ranges {
			for n := r.Start; ; n++ {
				if !yield(n) {
					return
				}
				if n == r.Stop {
					break
				}
			}
		}
	}
}

// SeqsToUIDs translates a set of message sequence numbers into the set of
// their UIDs, given uids, the mailbox's UIDs in ascending order (uids[i]
// is the UID of message i+1). "*" stands for the last message; numbers
// beyond it are left out. "$" is not looked at.
func (s SeqSet) SeqsToUIDs(uids []uint32) SeqSet {
	var out SeqSet
	for _, r := range s.Normalize(uint32(len(uids))) {
		for _, uid := range uids[r.Start-1 : r.Stop] {
			out.appendAscending(uid, uid)
		}
	}
	return out
}

// UIDsToSeqs translates a set of UIDs into the set of the sequence numbers
// of the messages that have them, given uids as for SeqsToUIDs. "*"
// stands for the last message's UID (RFC 3501 §6.4.8); UIDs that no
// message has are left out. "$" is not looked at.
func (s SeqSet) UIDsToSeqs(uids []uint32) SeqSet {
	var out SeqSet
	if len(uids) == 0 {
		return out
	}
	for _, r := range s.Normalize(uids[len(uids)-1]) {
		lo, _ := slices.BinarySearch(uids, r.Start)
		hi, found := slices.BinarySearch(uids, r.Stop)
		if found {
			hi++
		}
		if lo < hi {
			out.appendAscending(uint32(lo+1), uint32(hi))
		}
	}
	return out
}

// appendAscending adds start:stop, at or above the set's last number,
// joining it to the last range when they touch.
func (s *SeqSet) appendAscending(start, stop uint32) {
	if k := len(s.Ranges); k > 0 && s.Ranges[k-1].Stop+1 == start {
		s.Ranges[k-1].Stop = stop
		return
	}
	s.Ranges = append(s.Ranges, SeqRange{start, stop})
}

// AddNum adds the numbers nums to the set, each as its own range.
func (s *SeqSet) AddNum(nums ...uint32) {
	for _, n := range nums {
		s.Ranges = append(s.Ranges, SeqRange{n, n})
	}
}

// AddRange adds the range start:stop.
func (s *SeqSet) AddRange(start, stop uint32) {
	s.Ranges = append(s.Ranges, SeqRange{start, stop})
}

// SeqSetOf returns the compact set of nums (in any order, duplicates
// allowed), as a server writes it in SEARCH-like responses and COPYUID:
// ascending ranges, runs of consecutive numbers joined.
func SeqSetOf(nums []uint32) SeqSet {
	sorted := slices.Clone(nums)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var s SeqSet
	for _, n := range sorted {
		if k := len(s.Ranges); k > 0 && s.Ranges[k-1].Stop+1 == n && n != 0 {
			s.Ranges[k-1].Stop = n
			continue
		}
		s.Ranges = append(s.Ranges, SeqRange{n, n})
	}
	return s
}

// String returns the set in IMAP syntax, as written (not normalised); "$"
// comes last. An empty set returns "".
func (s SeqSet) String() string {
	var b strings.Builder
	for i, r := range s.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r.String())
	}
	if s.Saved {
		if len(s.Ranges) > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('$')
	}
	return b.String()
}
