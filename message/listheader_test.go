package message

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// listHeaderSamples are header blocks with what makes a kept header go
// wrong if anything does: bare LF, bare CR, CR CR LF, folding, duplicate
// and empty fields, a name with space before its colon, 8-bit octets,
// lines that are no field, a stray continuation first, no blank line.
var listHeaderSamples = []string{
	"From: a@example.org\r\nSubject: hi\r\n\r\n",
	"Received: from x\n\tby y\nFrom: a@example.org\nTo: b@example.org,\n c@example.org\nSubject: caf\xc3\xa9 \xe9t\xe9\n\n",
	" stray continuation\r\nSubject: one\r\nsubject: two\r\nX-Other: z\r\nSubject : three\r\n\r\nbody",
	"From: a\rTo: b\r\rSubject: after a bare CR blank line\r\n\r\n",
	"not a field\nFrom: x\n  folded\n\tagain\nReferences: <1@x>\n <2@x>\n",
	"Subject:\r\nFrom:    \r\nDate: Mon, 1 Jan 2024 00:00:00 +0000",
	"From: a\r\n\r\n",
	"",
	"\r\n",
	"Content-Type: text/plain;\r\n charset=utf-8\r\nLIST-ID: <l.example.org>\r\nX-Priority: 1\r\nDKIM-Signature: v=1; a=rsa-sha256;\r\n b=abc\r\n\r\n",
}

// namesOf picks list fields (and, with extra, others) by the bits of
// mask, in mixed case.
func namesOf(mask uint64, extra bool) []string {
	var names []string
	for i, f := range listFields {
		if mask&(1<<(i%64)) != 0 {
			if i%2 == 0 {
				f = strings.ToUpper(f)
			}
			names = append(names, f)
		}
	}
	if extra {
		names = append(names, "Received", "X-Other", "DKIM-Signature")
	}
	return names
}

// checkListHeader checks ListHeader's promise on one header block.
func checkListHeader(t *testing.T, header []byte, mask uint64) {
	fields, whole := ListHeader(header)
	names := namesOf(mask, false)
	if !ListFieldsCover(names) {
		t.Fatalf("ListFieldsCover(%q) = false", names)
	}
	if got, want := HeaderFields(fields, names, false), HeaderFields(header, names, false); !bytes.Equal(got, want) {
		t.Fatalf("HEADER.FIELDS %q of %q: kept %q, file %q", names, header, got, want)
	}
	if !whole {
		return
	}
	all := namesOf(mask, true)
	for _, not := range []bool{false, true} {
		if got, want := HeaderFields(fields, all, not), HeaderFields(header, all, not); !bytes.Equal(got, want) {
			t.Fatalf("HEADER.FIELDS%s %q of whole %q: kept %q, file %q", map[bool]string{true: ".NOT"}[not], all, header, got, want)
		}
	}
}

func TestListHeader(t *testing.T) {
	if !slices.IsSorted(listFields) || strings.ToLower(strings.Join(listFields, " ")) != strings.Join(listFields, " ") {
		t.Fatal("listFields must be lower case and sorted (ListFieldsCover searches it)")
	}
	for _, h := range listHeaderSamples {
		for _, mask := range []uint64{0, 1, 1<<11 | 1<<26 | 1<<30, ^uint64(0)} {
			checkListHeader(t, []byte(h), mask)
		}
	}
	if ListFieldsCover([]string{"From", "Received"}) || ListFieldsCover([]string{"fro"}) || ListFieldsCover([]string{"froma"}) {
		t.Error("ListFieldsCover covers a field it does not keep")
	}
	for h, want := range map[string]bool{
		"From: a\r\nSubject: b\r\n\r\n":  true,
		"From: a\nSubject: b\n\n":        true,
		"From: a\r\nReceived: x\r\n\r\n": false,
		"From: a\r\nnot a field\r\n\r\n": false,
		"From: a\r\n":                    false, // no blank line: HEADER has none, the kept fields do
	} {
		if _, whole := ListHeader([]byte(h)); whole != want {
			t.Errorf("ListHeader(%q): whole = %v", h, whole)
		}
	}
}

func FuzzListHeader(f *testing.F) {
	for i, h := range listHeaderSamples {
		f.Add([]byte(h), uint64(i)*0x9e3779b97f4a7c15)
	}
	f.Fuzz(func(t *testing.T, header []byte, mask uint64) {
		checkListHeader(t, header, mask)
	})
}

// TestEqualCRLF holds equalCRLF to what it stands for, a comparison with
// ToCRLF's output, over line endings of every kind and near misses.
func TestEqualCRLF(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 1))
	pieces := []string{"a", "b:", " ", "\r", "\n", "\r\n", "\n\r", ""}
	for range 20000 {
		var src []byte
		for range r.IntN(9) {
			src = append(src, pieces[r.IntN(len(pieces))]...)
		}
		crlf := ToCRLF(nil, src)
		if r.IntN(2) == 0 && len(crlf) > 0 {
			// A near miss: one octet changed, dropped or added.
			crlf = slices.Clone(crlf)
			switch i := r.IntN(len(crlf)); r.IntN(3) {
			case 0:
				crlf[i] = "a\r\n"[r.IntN(3)]
			case 1:
				crlf = slices.Delete(crlf, i, i+1)
			case 2:
				crlf = slices.Insert(crlf, i, "a\r\n"[r.IntN(3)])
			}
		}
		if got, want := equalCRLF(crlf, src), bytes.Equal(crlf, ToCRLF(nil, src)); got != want {
			t.Fatalf("equalCRLF(%q, %q) = %v, want %v", crlf, src, got, want)
		}
	}
}

// TestTokenBuffersBounded: an address list of many thousand tokens (a
// hostile To:) leaves no array of that size in the pool, and what is
// pooled holds no text of the header it came from.
func TestTokenBuffersBounded(t *testing.T) {
	parseAddressList(strings.Repeat("a@b, ", 5000))
	parseAddressList("x@y")
	for range 4 {
		b := tokenBuffers.Get().(*[]token)
		if cap(*b) > 1024 {
			t.Fatalf("a pooled token array of %d", cap(*b))
		}
		for _, tok := range (*b)[:cap(*b)] {
			if tok.text != "" {
				t.Fatalf("a pooled token still holds %q", tok.text)
			}
		}
	}
}
