package main

import (
	"bufio"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func parseOne(t *testing.T, text string) (*Response, error) {
	t.Helper()
	raw, sum, err := readRaw(bufio.NewReader(strings.NewReader(text)))
	if err != nil {
		return nil, err
	}
	return parseResponse(raw, sum)
}

func TestParseResponses(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // Type, Num and the canonical data
	}{
		{"* 3 EXISTS\r\n", "EXISTS 3 []"},
		{"* 2 FETCH (UID 7 FLAGS (\\Seen $Label1) BODY[] {5}\r\nab\r\nc)\r\n", `FETCH 2 [(UID 7 FLAGS (\Seen $Label1) BODY[] "ab\r\nc")]`},
		{"* 1 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] {2}\r\n\r\n UID 4)\r\n", `FETCH 1 [(BODY[HEADER.FIELDS (FROM SUBJECT)] "\r\n" UID 4)]`},
		// Address lists run together without spaces (RFC 3501 env-from).
		{"* 1 FETCH (ENVELOPE (NIL \"s\" ((\"a\" NIL \"b\" \"c\")(\"d\" NIL \"e\" \"f\")) NIL NIL NIL NIL NIL NIL NIL))\r\n",
			`FETCH 1 [(ENVELOPE (NIL "s" (("a" NIL "b" "c") ("d" NIL "e" "f")) NIL NIL NIL NIL NIL NIL NIL))]`},
		{"* FLAGS (\\Answered $Label1)\r\n", `FLAGS 0 [(\Answered $Label1)]`},
		{"* SEARCH 1 5 9\r\n", "SEARCH 0 [1 5 9]"},
		{"* SEARCH\r\n", "SEARCH 0 []"},
		{"* 1 FETCH (ENVELOPE (\"a \\\"q\\\" \\\\\" NIL))\r\n", `FETCH 1 [(ENVELOPE ("a \"q\" \\" NIL))]`},
		// Empty and nested empty lists, the empty string, UTF-8 and a
		// control character in quoted strings.
		{"* 1 FETCH (FLAGS () X (()) Y \"\" Z \"caf\xc3\xa9\" W \"a\tb\")\r\n", `FETCH 1 [(FLAGS () X (()) Y "" Z "café" W "a\tb")]`},
	} {
		r, err := parseOne(t, tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var vs []string
		for _, v := range r.Data {
			vs = append(vs, v.String())
		}
		got := r.Type + " " + strconv.FormatUint(uint64(r.Num), 10) + " [" + strings.Join(vs, " ") + "]"
		if got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestValueQuote: a string value is written as strconv.Quote writes it,
// the plain ones without it.
func TestValueQuote(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("ab \"\\\t\x7f\x80\xc3\xa9{}()")
	for range 20000 {
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := (Value{Kind: kString, S: string(b)}).String(), strconv.Quote(string(b)); got != want {
			t.Fatalf("%q written as %s, want %s", b, got, want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	r, err := parseOne(t, "a1 OK [COPYUID 12 3:5 10:12] Done\r\n")
	if err != nil || r.Tag != "a1" || r.Type != "OK" || r.Code != "COPYUID" || r.CodeArg != "12 3:5 10:12" || r.Text != "Done" {
		t.Errorf("got %+v, %v", r, err)
	}
	r, err = parseOne(t, "* OK [PERMANENTFLAGS (\\Seen \\*)] Limited\r\n")
	if err != nil || r.Code != "PERMANENTFLAGS" || r.CodeArg != `(\Seen \*)` {
		t.Errorf("got %+v, %v", r, err)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, in := range []string{
		"* 1 FETCH (UID 1\r\n",             // list not closed
		"* 1 FETCH (UID 1) junk)\r\n",      // junk after data
		"* 1 FETCH (BODY[] {9}\r\nab)\r\n", // literal shorter than announced
		"* 1 EXISTS\n",                     // bare LF
		"* 1 FETCH (FLAGS (\"a))\r\n",      // quoted not closed
	} {
		if _, err := parseOne(t, in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

// fakeServer answers each command line the client sends with the
// canned responses for it, the tag put in for "TAG".
func fakeSession(t *testing.T, answers []string) (*session, *stress) {
	t.Helper()
	cli, srv := net.Pipe()
	t.Cleanup(func() { cli.Close(); srv.Close() })
	go func() {
		r := bufio.NewReader(srv)
		for _, a := range answers {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, _, _ := strings.Cut(line, " ")
			if _, err := srv.Write([]byte(strings.ReplaceAll(a, "TAG", tag))); err != nil {
				return
			}
		}
	}()
	st := &stress{cfg: Config{Timeout: 5 * time.Second}, reg: newRegistry(), rec: newRecorder(10, nil), stats: newStats()}
	s := &session{st: st, id: 1, cred: cred{"u", "p"}, rng: rand.New(rand.NewPCG(1, 1)),
		conn: cli, br: bufio.NewReader(cli), caps: map[string]bool{}}
	return s, st
}

const selectReply = "* FLAGS (\\Seen $Label1)\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 9] x\r\nTAG OK [READ-WRITE] done\r\n"
const learnReply = "* 1 FETCH (UID 10 FLAGS ())\r\n* 2 FETCH (UID 20 FLAGS ())\r\n* 3 FETCH (UID 30 FLAGS ())\r\nTAG OK done\r\n"

// TestChecks feeds each rule's breach to a session and expects exactly
// that class.
func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cmd   func(s *session) error
		reply string
		want  string
	}{
		{"expunge past count", noop, "* 4 EXPUNGE\r\nTAG OK x\r\n", vSeqRange},
		{"fetch zero", noop, "* 0 FETCH (FLAGS ())\r\nTAG OK x\r\n", vSeqRange},
		{"search past count", seqSearch, "* SEARCH 2 4\r\nTAG OK x\r\n", vSeqRange},
		{"unannounced keyword", noop, "* 2 FETCH (FLAGS ($Label2))\r\nTAG OK x\r\n", vKeyword},
		{"exists shrank", noop, "* 2 EXISTS\r\nTAG OK x\r\n", vExistsShrank},
		{"uid changed", noop, "* 2 FETCH (UID 21)\r\nTAG OK x\r\n", vUIDOrder},
		{"new uid too low", noop, "* 4 EXISTS\r\n* 4 FETCH (UID 25)\r\nTAG OK x\r\n", vUIDOrder},
		{"command failed", seqFetch, "TAG NO no\r\n", vCommandFailed},
		{"expungeissued", seqFetch, "TAG NO [EXPUNGEISSUED] gone\r\n", vExpungeIssued},
		{"stray tag", noop, "zz OK x\r\nTAG OK x\r\n", vAfterCompleted},
		{"expunge during fetch", deletedSeqFetch, "* 1 EXPUNGE\r\nTAG OK x\r\n", vExpungeInSeq},
		{"content changed", sizeFetch, "* 1 FETCH (UID 10 RFC822.SIZE 6)\r\n* 1 FETCH (UID 10 RFC822.SIZE 7)\r\nTAG OK x\r\n", vContent},
		{"body size", sizeFetch, "* 1 FETCH (UID 10 RFC822.SIZE 6 BODY[] {5}\r\nabcde)\r\nTAG OK x\r\n", vBodySize},
		{"fetch incomplete", seqFetch, "* 1 FETCH (FLAGS ())\r\n* 3 FETCH (FLAGS ())\r\nTAG OK x\r\n", vFetchMissing},
		{"lost", noop, "* 1 EXPUNGE\r\nTAG OK x\r\n", vLost},
		{"malformed", noop, "* 1 FETCH (UID\r\nTAG OK x\r\n", vMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, st := fakeSession(t, []string{selectReply, learnReply, tc.reply})
			if err := s.doSelect("INBOX", false); err != nil {
				t.Fatal(err)
			}
			if c, _ := st.rec.snapshot(); len(c) != 0 {
				t.Fatalf("clean SELECT gave %v", c)
			}
			if err := tc.cmd(s); err != nil {
				t.Fatal(err)
			}
			c, ex := st.rec.snapshot()
			if c[tc.want] == 0 {
				t.Errorf("want %s, got %v %v", tc.want, c, ex)
			}
			for k := range c {
				if k != tc.want {
					t.Errorf("also %s: %v", k, ex)
				}
			}
		})
	}
}

// TestClean: responses that keep the rules give no violation: an
// EXPUNGE of a \Deleted message, a new message with a higher UID, a new
// keyword announced before use.
func TestClean(t *testing.T) {
	s, st := fakeSession(t, []string{selectReply, learnReply,
		"TAG OK stored\r\n",
		"* 2 EXPUNGE\r\n* 3 EXISTS\r\n* FLAGS (\\Seen $Label1 $Label2)\r\n* 3 FETCH (UID 31 FLAGS ($Label2))\r\nTAG OK x\r\n"})
	if err := s.doSelect("INBOX", false); err != nil {
		t.Fatal(err)
	}
	st.reg.markDeleted(s.sel.key("u"), 20)
	if err := s.do(&command{kind: "UID STORE", mustOK: true}, `UID STORE 20 +FLAGS (\Deleted)`, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.do(&command{kind: "NOOP", mustOK: true}, "NOOP", nil); err != nil {
		t.Fatal(err)
	}
	if c, ex := st.rec.snapshot(); len(c) != 0 {
		t.Errorf("got %v %v", c, ex)
	}
	if got := s.sel.slots; len(got) != 3 || got[1].uid != 30 || got[2].uid != 31 {
		t.Errorf("view %+v", got)
	}
}

func noop(s *session) error {
	return s.do(&command{kind: "NOOP", mustOK: true}, "NOOP", nil)
}

func seqFetch(s *session) error {
	c := &command{kind: "FETCH", bySeq: true, mustOK: true, wantLo: 1, wantHi: 3, gotSeq: map[int]bool{}}
	return s.do(c, "FETCH 1:3 (FLAGS)", nil)
}

// deletedSeqFetch is seqFetch after UID 10 was marked \Deleted, so that
// its EXPUNGE is no loss.
func deletedSeqFetch(s *session) error {
	s.st.reg.markDeleted(s.sel.key(s.cred.user), 10)
	return seqFetch(s)
}

func sizeFetch(s *session) error {
	return s.do(&command{kind: "UID FETCH", mustOK: true}, "UID FETCH 10 (RFC822.SIZE)", nil)
}

func seqSearch(s *session) error {
	return s.do(&command{kind: "SEARCH", bySeq: true, mustOK: true}, "SEARCH ALL", nil)
}
