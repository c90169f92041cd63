package wire

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzSeeds are commands that exercise every parser, good and bad.
var fuzzSeeds = []string{
	"a NOOP\r\n",
	"a LOGIN {4}\r\nfred {7+}\r\nfat man\r\n",
	"a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0\r\n",
	"a APPEND INBOX (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {5+}\r\nhello ~{3+}\r\na\x00b\r\n",
	"a SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500 15000,22500)))\r\n",
	"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (% \"x/*\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n",
	"a UID FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100> MODSEQ) (CHANGEDSINCE 5 VANISHED)\r\n",
	"a SEARCH RETURN (MIN COUNT SAVE) CHARSET UTF-8 OR (SEEN NOT DRAFT) HEADER X {3+}\r\nabc SINCE 1-Feb-1994 MODSEQ \"/flags/\\\\draft\" all 5\r\n",
	"a STORE $ (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Deleted $Junk)\r\n",
	"a SEARCH ((((((((((ALL))))))))))\r\n",
	"a LOGIN {99999999}\r\n",
	"a LOGIN {99999999+}\r\nxx\r\n",
	"a LOGIN \"x {3}\r\nb NOOP\n",
	"\r\n\r\n* BAD\r\n",
	"a ID (\"name\" NIL)\r\na ENABLE QRESYNC\r\na STATUS INBOX (MESSAGES SIZE)\r\n",
}

// FuzzReadCommand feeds arbitrary bytes to a Reader and each command it
// returns to ParseCommand. Neither may panic; each command must stay within
// the limits; errors must be of the documented types.
func FuzzReadCommand(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	opts := ReaderOptions{Limits: Limits{MaxLine: 1024, MaxLiteral: 512, MaxAppendLiteral: 4096, MaxLiterals: 8, MaxCommand: 8192, MaxDiscard: 2048}}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), ReaderOptions{
			Limits: opts.Limits,
			Continue: func(info LiteralInfo) error {
				if info.Name == "REFUSE" {
					return errors.New("refused")
				}
				return nil
			},
		})
		for range 1000 {
			b, err := r.ReadCommand()
			if err != nil {
				var le *LiteralError
				if errors.As(err, &le) && le.Literal.Size < 0 {
					t.Fatalf("negative literal size in %+v", le)
				}
				if IsFatal(err) {
					return
				}
				continue
			}
			if int64(len(b)) > opts.MaxCommand+int64(opts.MaxLine) {
				t.Fatalf("command of %d octets exceeds the limits", len(b))
			}
			cmd, err := ParseOptions{Grammar: testGrammar, MaxDepth: 16, MaxKeys: 8}.ParseCommand(b)
			if err != nil {
				var se *SyntaxError
				var le *LimitError
				var msg string
				switch {
				case errors.As(err, &se):
					msg = se.Msg
				case errors.As(err, &le):
					msg = le.Msg
				default:
					t.Fatalf("ParseCommand error %T %v", err, err)
				}
				for i := 0; i < len(msg); i++ {
					if c := msg[i]; c < 0x20 || c > 0x7e {
						t.Fatalf("error text %q is not printable ASCII", msg)
					}
				}
				continue
			}
			if _, ok := testGrammars[cmd.Name]; !ok || cmd.Tag == "" {
				t.Fatalf("parsed %q as %q %q", b, cmd.Tag, cmd.Name)
			}
		}
	})
}

// FuzzParseCommand parses arbitrary bytes directly (the Reader's output
// has a narrower shape).
func FuzzParseCommand(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(bytes.TrimSuffix([]byte(s), []byte("\r\n"))))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cmd, err := parseCommand(in)
		if err == nil && cmd == nil {
			t.Fatal("nil command without error")
		}
		if err != nil && IsFatal(err) {
			t.Fatalf("ParseCommand returned a fatal error: %v", err)
		}
	})
}
