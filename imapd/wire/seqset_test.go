package wire

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseSeqSet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SeqSet
	}{
		{"1", set(SeqRange{1, 1})},
		{"*", set(SeqRange{Star, Star})},
		{"2:4", set(SeqRange{2, 4})},
		{"4:2", set(SeqRange{4, 2})},
		{"*:4,5:7", set(SeqRange{Star, 4}, SeqRange{5, 7})},
		{"2,4:7,9,12:*", set(SeqRange{2, 2}, SeqRange{4, 7}, SeqRange{9, 9}, SeqRange{12, Star})},
		{"$", SeqSet{Saved: true}},
		{"1,$", SeqSet{Ranges: []SeqRange{{1, 1}}, Saved: true}},
		{"4294967295", set(SeqRange{math.MaxUint32, math.MaxUint32})},
	} {
		got, err := ParseSeqSet(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSeqSet(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("ParseSeqSet(%q).String() = %q", tc.in, got.String())
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "expected a number or '*'"},
		{"0", "must not be zero"},
		{"1:0", "must not be zero"},
		{"1,", "expected a number or '*'"},
		{",1", "expected a number or '*'"},
		{"1:", "expected a number or '*'"},
		{"1::2", "expected a number or '*'"},
		{"1:2:3", "unexpected"},
		{"4294967296", "larger than 4294967295"},
		{"99999999999999999999999", "too large"},
		{"-1", "expected a number or '*'"},
		{"1 2", "unexpected"},
		{"$$", "unexpected"},
	} {
		_, err := ParseSeqSet(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSeqSet(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestSeqSetContains(t *testing.T) {
	s, _ := ParseSeqSet("2,4:7,9,12:*")
	var in []uint32
	for n := uint32(1); n <= 16; n++ {
		if s.Contains(n, 15) {
			in = append(in, n)
		}
	}
	// RFC 3501 §9 example: 2,4:7,9,12:* for 15 messages.
	if want := []uint32{2, 4, 5, 6, 7, 9, 12, 13, 14, 15}; !slices.Equal(in, want) {
		t.Errorf("Contains: %v, want %v", in, want)
	}
	if got := slices.Collect(s.All(15)); !slices.Equal(got, in) {
		t.Errorf("All(15) = %v, want %v", got, in)
	}
	// "3291:*" includes the last UID even when it is below 3291.
	s, _ = ParseSeqSet("3291:*")
	if !s.Contains(3000, 3000) || s.Contains(2999, 3000) {
		t.Error("3291:* with last 3000")
	}
	if got := slices.Collect(s.All(3000)); !slices.Equal(got, []uint32{3000}) {
		t.Errorf("3291:* All(3000) = %v", got)
	}
}

func TestSeqSetNormalize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		last uint32
		want []SeqRange
	}{
		{"*:4,5:7", 10, []SeqRange{{4, 10}}}, // RFC 3501 §9 example
		{"1,3,2", 5, []SeqRange{{1, 3}}},
		{"7:9,1", 5, []SeqRange{{1, 1}}},
		{"1:*", 0, nil},
		{"*", 5, []SeqRange{{5, 5}}},
		{"1:4294967295,4294967295", math.MaxUint32, []SeqRange{{1, math.MaxUint32}}},
		{"10:12,1:3,5", 20, []SeqRange{{1, 3}, {5, 5}, {10, 12}}},
	} {
		s, err := ParseSeqSet(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Normalize(tc.last); !slices.Equal(got, tc.want) {
			t.Errorf("%q.Normalize(%d) = %v, want %v", tc.in, tc.last, got, tc.want)
		}
	}
	s, _ := ParseSeqSet("4294967294:*")
	if got := slices.Collect(s.All(math.MaxUint32)); !slices.Equal(got, []uint32{math.MaxUint32 - 1, math.MaxUint32}) {
		t.Errorf("All at the top of the range: %v", got)
	}
}

func TestSeqSetHelpers(t *testing.T) {
	s, _ := ParseSeqSet("5,2:*,$")
	if !s.HasStar() || s.MaxExplicit() != 5 || s.IsEmpty() {
		t.Errorf("helpers of %v", s)
	}
	if got := SeqSetOf([]uint32{5, 1, 2, 3, 3, 7, 8}).String(); got != "1:3,5,7:8" {
		t.Errorf("SeqSetOf = %q", got)
	}
	if !(SeqSet{}).IsEmpty() || SeqSetOf(nil).String() != "" {
		t.Error("empty set")
	}
	var b SeqSet
	b.AddNum(3, 4)
	b.AddRange(10, Star)
	if b.String() != "3,4,10:*" {
		t.Errorf("AddNum/AddRange: %q", b.String())
	}
}

func FuzzSeqSet(f *testing.F) {
	for _, s := range []string{"1", "*", "1:*", "2,4:7,9,12:*", "$", "1,$", "4294967295:1", "0", "1:", "5:3,3:5"} {
		f.Add(s, uint32(10))
	}
	f.Fuzz(func(t *testing.T, in string, last uint32) {
		s, err := ParseSeqSet(in)
		if err != nil {
			return
		}
		// The set prints as it was written, but for "n:n" shortened to "n".
		again, err := ParseSeqSet(s.String())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("ParseSeqSet(%q).String() = %q, which parses as %v, %v", in, s.String(), again, err)
		}
		norm := s.Normalize(last)
		for i, r := range norm {
			if r.Start == 0 || r.Start > r.Stop || r.Stop > last {
				t.Fatalf("%q.Normalize(%d): bad range %v", in, last, r)
			}
			if i > 0 && uint64(norm[i-1].Stop)+1 >= uint64(r.Start) {
				t.Fatalf("%q.Normalize(%d): ranges not merged: %v", in, last, norm)
			}
		}
		// Contains agrees with Normalize at the edges of each range.
		for _, r := range norm {
			for _, n := range []uint32{r.Start, r.Stop} {
				if !s.Contains(n, last) {
					t.Fatalf("%q: Normalize has %d but Contains(%d, %d) is false", in, n, n, last)
				}
			}
			if r.Start > 1 && s.Contains(r.Start-1, last) && !slices.ContainsFunc(norm, func(o SeqRange) bool { return o.Start <= r.Start-1 && r.Start-1 <= o.Stop }) {
				t.Fatalf("%q: Contains(%d) but Normalize lacks it", in, r.Start-1)
			}
		}
	})
}

func TestSeqSetTranslate(t *testing.T) {
	uids := []uint32{3, 4, 5, 9, 10, 20}
	for _, tc := range []struct{ set, uids string }{
		{"1:3", "3:5"},
		{"2,4:*", "4,9:10,20"},
		{"*", "20"},
		{"7", ""},
	} {
		s, _ := ParseSeqSet(tc.set)
		if got := s.SeqsToUIDs(uids).String(); got != tc.uids {
			t.Errorf("%q.SeqsToUIDs = %q, want %q", tc.set, got, tc.uids)
		}
	}
	for _, tc := range []struct{ set, seqs string }{
		{"1:4", "1:2"},
		{"4:9", "2:4"},
		{"6:8", ""},
		{"*", "6"},
		{"15:*", "6"},
		{"30:*", "6"}, // "*" is 20: 20:30
		{"1:*", "1:6"},
		{"3,10,20", "1,5:6"},
	} {
		s, _ := ParseSeqSet(tc.set)
		if got := s.UIDsToSeqs(uids).String(); got != tc.seqs {
			t.Errorf("%q.UIDsToSeqs = %q, want %q", tc.set, got, tc.seqs)
		}
	}
	s, _ := ParseSeqSet("1:*")
	if !s.UIDsToSeqs(nil).IsEmpty() || !s.SeqsToUIDs(nil).IsEmpty() {
		t.Error("empty mailbox")
	}
}
