package imapd

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"imapd/message"
)

// TestRawHeaderLacksIsSound: the quick "no match" of SEARCH TEXT on a
// raw header never contradicts the field-by-field match, whatever the
// header's folding, spacing and case and whatever the value; and
// fieldsContain is the match of each field's "name: value".
func TestRawHeaderLacksIsSound(t *testing.T) {
	words := []string{"Subject", "From", "X-Tag", "hello", "World", "ÄRGER", "straße", "a", "b", "=?", "x=?y", "Grüße"}
	spaces := []string{"", " ", "  ", "\t", " \t"}
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	matches, lacks := 0, 0
	for i := range 20000 {
		var h strings.Builder
		for range 1 + rng.IntN(4) {
			h.WriteString(pick(words) + pick(spaces) + ":" + pick(spaces))
			for k := range 1 + rng.IntN(4) {
				if k > 0 {
					h.WriteString(pick([]string{" ", "\r\n ", "\r\n\t", "  "}))
				}
				h.WriteString(pick(words))
			}
			h.WriteString(pick(spaces) + "\r\n")
		}
		h.WriteString("\r\n")
		raw := []byte(h.String())
		fields := parseFields(raw)
		// Values: pieces of what the fields say and of the raw text.
		var from string
		if rng.IntN(2) == 0 && len(fields) > 0 {
			f := fields[rng.IntN(len(fields))]
			from = f.name + ": " + f.value
		} else {
			from = fold(string(raw))
		}
		a := rng.IntN(len(from) + 1)
		b := a + rng.IntN(len(from)-a+1)
		value := from[a:b]
		if value == "" {
			continue
		}
		want := false
		for _, f := range fields {
			want = want || strings.Contains(f.name+": "+f.value, value)
		}
		if got := fieldsContain(fields, value); got != want {
			t.Fatalf("case %d: fields %q, value %q: fieldsContain %v, want %v", i, fields, value, got, want)
		}
		if rawHeaderLacks(raw, value) {
			lacks++
			if want {
				t.Fatalf("case %d: header %q, value %q: said to lack it, but field %q has it", i, raw, value, fields)
			}
		}
		if want {
			matches++
		}
	}
	if matches == 0 || lacks == 0 {
		t.Fatalf("the cases tried nothing: %d matches, %d quick misses", matches, lacks)
	}
}

// TestContainsFoldMatchesFold: containsFold is strings.Contains of the
// folded text, for ASCII and other values, on texts with letters of both
// cases, the two runes that lower-case to ASCII, other non-ASCII runes
// and invalid UTF-8.
func TestContainsFoldMatchesFold(t *testing.T) {
	pieces := []string{"a", "B", "k", "K", "i", "I", "\u212a", "\u0130", "é", "É", "ß", "q", "Q", "u", "ok", "Ka", " ", "\n", "\xff", "\xe2\x84", "z", "1", "-"}
	rng := rand.New(rand.NewPCG(5, 6))
	pick := func() string { return pieces[rng.IntN(len(pieces))] }
	found := 0
	for i := range 50000 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(pick())
		}
		text := b.String()
		var v strings.Builder
		for range 1 + rng.IntN(3) {
			v.WriteString(pick())
		}
		value := fold(v.String())
		if rng.IntN(3) == 0 && len(text) > 0 {
			// A piece of the text itself, so that matches happen.
			folded := fold(text)
			a := rng.IntN(len(folded))
			value = folded[a : a+1+rng.IntN(min(4, len(folded)-a))]
		}
		want := strings.Contains(fold(text), value)
		if got := containsFold(text, value); got != want {
			t.Fatalf("case %d: containsFold(%q, %q) = %v, want %v", i, text, value, got, want)
		}
		if want {
			found++
		}
	}
	if found < 1000 {
		t.Fatalf("only %d cases matched: the test tries too little", found)
	}
}

// FuzzListFieldsSearch: the fields SEARCH HEADER matches for a list
// field are the same taken from the list header the store keeps as from
// the whole header (and all of them when the list header is whole).
func FuzzListFieldsSearch(f *testing.F) {
	for _, h := range []string{
		"From: a@x\r\nSubject: one\r\n\r\n",
		" Subject: stray\r\nFrom: a\n b\nsubject : two\nX-Other: o\n\n",
		"not a field\r\n\tSubject: in it\r\nTo: t\r\rCc: after a blank\r\n",
		"Subject:=?UTF-8?Q?caf=C3=A9?=\nReferences: <1@x>\n\t<2@x>\nSub ject: no\n",
	} {
		f.Add([]byte(h))
	}
	named := func(fields []headerField, name string) []headerField {
		var out []headerField
		for _, f := range fields {
			if f.name == name {
				out = append(out, f)
			}
		}
		return out
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		all := parseFields(message.ToCRLF(nil, raw))
		list, whole := message.ListHeader(raw)
		kept := parseFields(list)
		if whole && !slices.Equal(kept, all) {
			t.Fatalf("whole list header %q: fields %q, want %q", list, kept, all)
		}
		for _, name := range []string{"from", "subject", "to", "cc", "references", "x-priority"} {
			if got, want := named(kept, name), named(all, name); !slices.Equal(got, want) {
				t.Fatalf("%s of %q: %q from the list header %q, want %q", name, raw, got, list, want)
			}
		}
	})
}
