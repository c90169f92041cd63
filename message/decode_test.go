package message

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

func TestToCRLF(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\r\nb\r\n"},
		{"\r\r\n\n\r", "\r\n\r\n\r\n\r\n"},
		{"x\n\r\ny\r\rz", "x\r\n\r\ny\r\n\r\nz"},
	} {
		if got := string(ToCRLF([]byte("keep"), []byte(tc.in))); got != "keep"+tc.want {
			t.Errorf("ToCRLF(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// The stream gives the same bytes however the input is cut.
		for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in)),
			iotest.HalfReader(strings.NewReader(tc.in))} {
			got, err := io.ReadAll(iotest.OneByteReader(NewCRLFReader(r)))
			if err != nil || string(got) != tc.want {
				t.Errorf("NewCRLFReader(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		}
	}
	if err := iotest.TestReader(NewCRLFReader(strings.NewReader("a\nb\rc\r\n")), []byte("a\r\nb\r\nc\r\n")); err != nil {
		t.Error(err)
	}
}

func TestDecodedBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string
		want string
	}{
		{"7bit", "Subject: x\n\nplain\n", "plain\n"},
		{"base64 with line breaks and junk", "Content-Transfer-Encoding: base64\n\naGVs\nbG8g*d29y\r\nbGQK\n", "hello world\n"},
		{"base64 concatenated padded blocks", "Content-Transfer-Encoding: base64\n\nYQ==Yg==\nYw\n", "abc"},
		{"quoted-printable", "Content-Transfer-Encoding: quoted-printable\n\nsoft=\nbreak=20here =3d=3D =\r\nx= \t\ny\n",
			"softbreak here == xy\n"},
		{"quoted-printable, bad escapes", "Content-Transfer-Encoding: quoted-printable\n\na=ZZb=4=\n=", "a=ZZb=4="},
		{"latin-1 qp", "Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n",
			"café\n"},
		{"windows-1251 8bit", "Content-Type: text/plain; charset=\"windows-1251\"\nContent-Transfer-Encoding: 8bit\n\n\xcf\xf0\xe8\xe2\xe5\xf2",
			"Привет"},
		{"unknown charset left alone", "Content-Type: text/plain; charset=x-nonsense\n\nraw \xff", "raw \xff"},
		{"charset ignored for non-text", "Content-Type: application/x-thing; charset=iso-8859-1\n\n\xe9", "\xe9"},
		{"unknown encoding left alone", "Content-Transfer-Encoding: x-uuencode\n\nbegin 644\n", "begin 644\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := parseString(t, tc.msg)
			got, err := io.ReadAll(DecodedBody(root, strings.NewReader(tc.msg)))
			if err != nil || string(got) != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	// A multipart's body is given raw; its parts decoded.
	msg := "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\naGk=\n--b--\n"
	root := parseString(t, msg)
	if got, _ := io.ReadAll(DecodedBody(root, strings.NewReader(msg))); string(got) != msg[root.BodyStart:] {
		t.Errorf("multipart body %q", got)
	}
	if got, _ := io.ReadAll(DecodedBody(root.Children[0], strings.NewReader(msg))); string(got) != "hi" {
		t.Errorf("part body %q", got)
	}
}

func TestDecodersInPieces(t *testing.T) {
	// Feeding one byte at a time gives what feeding all at once gives.
	for _, tc := range []struct {
		conv func() converter
		in   string
	}{
		{func() converter { return &base64Decoder{} }, "aGVs bG8=\nd29y bGQ"},
		{func() converter { return &qpDecoder{} }, "a=3D=\r\nb=  \nc=4\n=\r=Z" + strings.Repeat(" ", 100) + "x="},
	} {
		whole := tc.conv()
		want := whole.end(whole.feed(nil, []byte(tc.in)))
		pieces := tc.conv()
		var got []byte
		for i := range len(tc.in) {
			got = pieces.feed(got, []byte{tc.in[i]})
		}
		got = pieces.end(got)
		if !bytes.Equal(got, want) {
			t.Errorf("%q: piecewise %q, whole %q", tc.in, got, want)
		}
	}
}

// TestBase64DecoderQuanta: the decoder's whole-quantum fast path gives,
// for any input cut into any chunks, the octets of the one-octet-at-a-time
// definition (junk skipped, '=' ends a quantum early).
func TestBase64DecoderQuanta(t *testing.T) {
	reference := func(src []byte) []byte {
		var q [4]byte
		n := 0
		var out []byte
		end := func() {
			switch n {
			case 2:
				out = append(out, q[0]<<2|q[1]>>4)
			case 3:
				out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2)
			}
			n = 0
		}
		for _, c := range src {
			v, ok := base64Value(c)
			if !ok {
				if c == '=' {
					end()
				}
				continue
			}
			q[n] = v
			n++
			if n == 4 {
				out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
				n = 0
			}
		}
		end()
		return out
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		src := make([]byte, rng.IntN(300))
		for j := range src {
			switch r := rng.IntN(100); {
			case r < 85:
				src[j] = alphabet[rng.IntN(len(alphabet))]
			case r < 92:
				src[j] = "\r\n"[rng.IntN(2)]
			case r < 96:
				src[j] = '='
			default:
				src[j] = byte(rng.IntN(256))
			}
		}
		var d base64Decoder
		var got []byte
		for rest := src; len(rest) > 0; {
			k := 1 + rng.IntN(len(rest))
			got = d.feed(got, rest[:k])
			rest = rest[k:]
		}
		got = d.end(got)
		if want := reference(src); !bytes.Equal(got, want) {
			t.Fatalf("input %d %q: got %x, want %x", i, src, got, want)
		}
	}
}
