package imapd

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestRawHeaderLacksIsSound: the quick "no match" of SEARCH TEXT on a
// raw header never contradicts the field-by-field match, whatever the
// header's folding, spacing and case and whatever the value.
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
		want := fieldsContain(fields, value)
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
