package message

import (
	"math/rand"
	"testing"
)

func TestCRLFCounterMatchesToCRLF(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte("ab\r\n")
	for i := 0; i < 2000; i++ {
		src := make([]byte, rng.Intn(40))
		for j := range src {
			src[j] = alphabet[rng.Intn(len(alphabet))]
		}
		want := int64(len(ToCRLF(nil, src)))
		var c CRLFCounter
		for rest := src; len(rest) > 0; { // in random pieces
			k := 1 + rng.Intn(len(rest))
			c.Write(rest[:k])
			rest = rest[k:]
		}
		if c.N != want {
			t.Fatalf("%q: counted %d, ToCRLF gives %d", src, c.N, want)
		}
	}
}
