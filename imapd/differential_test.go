package imapd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The differential test plays the client lines of each script in
// testdata/differential/*.txt against our server and against Dovecot's
// own imap binary, each in a PREAUTH session over a byte-identical copy
// of one Maildir (differentialFixture), and compares the answers command
// by command after normalising what may rightly differ (see
// diffNormalise). A difference is either in dovecotDifferences,
// with its RFC section and a reason, or it fails the test.
//
// Script lines:
//
//	C: tag COMMAND ...   a command; \r\n stands for CRLF. A synchronising
//	                     literal ({n} then \r\n) waits for the server's
//	                     "+" before the rest of the line goes out.
//	C+ text              continuation data (IDLE's DONE, an AUTHENTICATE
//	                     answer), sent only if the server asked with "+".
//	# ...                a comment; blank lines are ignored.
//
// IMAPD_DIFF_DUMP=dir writes both servers' raw answers to dir.
//
// Dovecot runs as a private child process with a throwaway config in a
// temporary directory (never the system service): as root it drops to
// the user nobody, which must be able to reach os.TempDir().

const (
	dovecotIMAP = "/usr/lib/dovecot/imap"
	// diffTimeout bounds the wait for any one response line.
	diffTimeout = 20 * time.Second
	// diffQuiet is how long a tagless line's answer may take.
	diffQuiet = 500 * time.Millisecond
)

// dovecotDiff is a known difference between our answers and Dovecot's
// that is not our bug: in the named commands of a script, every match of
// re in the lines of side (after diffNormalise) becomes repl before
// the two are compared; a line that becomes empty is dropped.
type dovecotDiff struct {
	script  string // script name, no .txt
	tags    string // the commands' tags, space-separated
	side    diffSide
	re      *regexp.Regexp
	repl    string
	fn      func(string) string // instead of re and repl
	verdict string              // diffDeviation or diffChoice
	rfc     string              // the section that decides
	why     string              // one line
}

type diffSide uint8

const (
	diffOurs diffSide = 1 << iota
	diffDovecot
	diffBoth = diffOurs | diffDovecot
)

const (
	// diffDeviation: Dovecot departs from the RFC; we follow it.
	diffDeviation = "Dovecot deviation"
	// diffChoice: the RFC allows both answers.
	diffChoice = "allowed choice"
)

// dovecotDifferences lists every known difference. An entry that
// explains no difference fails the test, so the table stays true.
var dovecotDifferences = []dovecotDiff{
	// bad.txt
	{"bad", "b2 b3", diffBoth, diffRe(`^(b\d) (?:OK|BAD)$`), "$1 BAD|OK", nil, diffDeviation, "RFC 3501 §9 command-any",
		"NOOP and CAPABILITY take no arguments: we answer BAD, Dovecot ignores the rest of the line"},
	{"bad", "b3", diffDovecot, diffRe(`^\* CAPABILITY$`), "", nil, diffDeviation, "RFC 3501 §9 command-any",
		"(the CAPABILITY Dovecot sends for \"CAPABILITY extra\")"},
	{"bad", "d5 d0", diffBoth, diffRe(`^(d\d) (?:OK|BAD)$`), "$1 BAD|OK", nil, diffDeviation, "RFC 3501 §9 section-partial",
		"a partial length is nz-number: we answer <n.0> with BAD, Dovecot with an empty string"},
	{"bad", "d5 d0", diffDovecot, diffRe(`^\* 1 FETCH \(BODY\[[A-Z]*\]<[01]> ""\)$`), "", nil, diffDeviation, "RFC 3501 §9 section-partial",
		"(the empty string Dovecot sends for <n.0>)"},
	{"bad", "g0", diffDovecot, diffRe(`^\* BAD$`), "", nil, diffDeviation, "RFC 3501 §7.1.3",
		"after refusing \"APPEND INBOX (\\Seen\" Dovecot answers a line nobody sent with * BAD \"Invalid tag\""},
	{"bad", "h7", diffBoth, diffRe(`^h7 (?:OK|BAD)$`), "h7 BAD|OK", nil, diffDeviation, "RFC 3501 §9 store-att-flags",
		"STORE without a flag list is a syntax error; Dovecot on a read-only mailbox answers OK \"Store ignored\" before checking"},
	{"bad", "y1", diffBoth, diffRe(`^(y1 (?:OK \[READ-ONLY\]|BAD)|\* .*)$`), "", nil, diffDeviation, "RFC 3501 §9 examine",
		"EXAMINE takes one mailbox name: we answer BAD to \"EXAMINE INBOX extra\", Dovecot ignores the rest and selects"},

	// condstore.txt
	{"condstore", "b6 c8", diffOurs, diffRe(`^\* [35] FETCH \(FLAGS \(.*\) MODSEQ \(\*\)\)$`), "", nil, diffChoice, "RFC 3501 §6.4.6",
		"a STORE that changes nothing (the flag was set): we answer with the message's FLAGS and MODSEQ as for any STORE, Dovecot with CONDSTORE on sends none"},
	{"condstore", "d2", diffDovecot, diffRe(`^\* OK \[CLOSED\]$`), "", nil, diffDeviation, "RFC 7162 §3.2.5",
		"SELECT (QRESYNC) before ENABLE QRESYNC is a BAD and not run: we keep the selection, Dovecot closes the mailbox first and says [CLOSED]"},

	// esearch.txt
	{"esearch", "e2", diffDovecot, diffRe(`^\* \d+ RECENT$`), "", nil, diffChoice, "RFC 3501 §7.3.2",
		"(as store d3: Dovecot sends the new RECENT count after MOVE took \\Recent messages away)"},

	// listext.txt
	{"listext", "e2", diffOurs, diffRe(`^\* LIST \(\\Trash\) "\." "Bin"$`), "", nil, diffDeviation, "RFC 6154 §3",
		"Dovecot 2.3 (no CREATE-SPECIAL-USE) creates Bin for CREATE Bin (USE (\\Trash)) but drops the use; we record it"},
	{"listext", "e5", diffOurs, diffRe(`^\* LIST \(\\Trash\) "\." "Bin"$`), `* LIST () "." "Bin"`, nil, diffDeviation, "RFC 6154 §3", "(as e2)"},
	{"listext", "e3", diffBoth, diffRe(`^e3 (?:OK|NO \[USEATTR\])$`), "e3 NO|OK", nil, diffDeviation, "RFC 6154 §3",
		"CREATE with a use the server cannot give (\\All) must create nothing and answer NO [USEATTR]; Dovecot creates the folder"},
	{"listext", "e5", diffDovecot, diffRe(`^\* LIST \(\) "\." "Everything"$`), "", nil, diffDeviation, "RFC 6154 §3", "(as e3: the folder Dovecot created)"},

	// fetch.txt
	{"fetch", "f3 f4 f7", diffBoth, diffRe(`("text" "[a-z]+" \((?:"[^"]*" ?)*\) (?:NIL|"[^"]*") (?:NIL|"[^"]*") "[^"]*" \d+) \d+`), "$1 <lines>", nil,
		diffChoice, "RFC 3501 §7.4.2 body-fld-lines",
		"a text part whose last line has no CRLF (before a boundary, or at the end of the file): we count that line, Dovecot counts CRLFs"},
	{"fetch", "f3 f4 f7", diffBoth, diffRe(`("message" "rfc822" (?:NIL|\((?:"[^"]*" ?)*\)) (?:NIL|"[^"]*") (?:NIL|"[^"]*") "[^"]*") \d+`), "$1 <size>", nil,
		diffDeviation, "RFC 2046 §5.1.1",
		"Dovecot counts the CRLF before the enclosing boundary as part of a nested multipart or message/rfc822 part; it belongs to the boundary"},
	{"fetch", "g5 g7 g8 h2", diffDovecot, diffRe(`(--(?:alt|inner|lost)--)\\r\\n"`), `$1"`, nil,
		diffDeviation, "RFC 2046 §5.1.1",
		"the same CRLF, in the part's content: Dovecot includes it, we stop at the nested close-delimiter"},
	{"fetch", "g9", diffBoth, diffRe(`^\* ([36]) FETCH .*$`), "* $1 FETCH <N.1 of a leaf part>", nil,
		diffChoice, "RFC 3501 §6.4.5",
		"part 1 of a part that is neither multipart nor message/rfc822: Dovecot answers with the part itself (as for a single-part message), we with an empty string; the RFC defines part 1 of a non-multipart only for messages"},
	{"fetch", "h1", diffBoth, diffRe(`^\* ([26]) FETCH .*$`), "* $1 FETCH <N.1 of a leaf part>", nil,
		diffChoice, "RFC 3501 §6.4.5", "(as g9)"},
	{"fetch", "h9 i1", diffBoth, diffRe(`^(h9|i1) (?:OK|BAD)$`), "$1 BAD|OK", nil, diffDeviation, "RFC 3501 §9 section-part",
		"part numbers are nz-number: we answer BODY[0] and BODY[1.0] with BAD, Dovecot with an empty string"},
	{"fetch", "h9 i1", diffDovecot, diffRe(`^\* 1 FETCH \(BODY\[(?:1\.)?0\] ""\)$`), "", nil, diffDeviation, "RFC 3501 §9 section-part",
		"(the empty string Dovecot sends for BODY[0])"},

	// list.txt
	{"list", "m3", diffDovecot, diffRe(`^\* LIST .* "INBOX"$`), "", nil, diffDeviation, "RFC 3501 §6.3.8",
		"INBOX is listed if the uppercase string INBOX matches the pattern: \"*o*\" does not; Dovecot matches INBOX case-insensitively"},
	{"list", "n9 q7 r5 z2", diffDovecot, diffRe(`^\* LIST \(\\HasChildren\) "\." "(Projects|Attic)"$`), `* LIST (\HasChildren \Noselect) "." "$1"`, nil,
		diffDeviation, "RFC 3501 §6.3.4",
		"a deleted mailbox with inferiors acquires \\Noselect; Dovecot lists it without, though SELECT says it does not exist"},
	{"list", "q5 r6", diffDovecot, diffRe(`^\* LSUB \(\\Archive\) "\." "Archive"$`), `* LSUB () "." "Archive"`, nil,
		diffDeviation, "RFC 6154 §2",
		"after RENAME Archive Attic the subscription \"Archive\" names no mailbox; Dovecot still gives it the \\Archive its config names, we give a special use only to a folder"},
	{"list", "o2", diffOurs, diffRe(`^(o2 NO) \[CANNOT\]$`), "$1", nil, diffChoice, "RFC 5530 §3",
		"response codes are optional: we say [CANNOT] to DELETE INBOX, Dovecot gives none"},
	{"list", "r3", diffOurs, diffRe(`^(r3 NO) \[NONEXISTENT\]$`), "$1", nil, diffChoice, "RFC 5530 §3",
		"response codes are optional: we say [NONEXISTENT], Dovecot gives none"},
	{"list", "r4", diffBoth, diffRe(`^(r4 NO) \[(?:CANNOT|NONEXISTENT)\]$`), "$1", nil, diffChoice, "RFC 5530 §3",
		"DELETE of a \\Noselect name with inferiors: we say [CANNOT], Dovecot (for which it does not exist) [NONEXISTENT]"},
	{"list", "o8", diffBoth, diffRe(`^o8 (?:OK|NO)$`), "o8 NO|OK", nil, diffChoice, "RFC 3501 §6.3.6",
		"a server MAY check that a mailbox exists before SUBSCRIBE: Dovecot does, we do not"},
	{"list", "o9 r6", diffOurs, diffRe(`^\* LSUB \(\) "\." "nonexistent2"$`), "", nil, diffChoice, "RFC 3501 §6.3.6", "(as o8: our subscription is listed)"},
	{"list", "z1", diffBoth, diffRe(`^z1 (?:OK|NO \[CANNOT\])$`), "z1 NO|OK", nil, diffDeviation, "RFC 3501 §6.3.5",
		"renaming INBOX is permitted and moves its messages; Dovecot refuses it with maildir"},
	{"list", "z2", diffOurs, diffRe(`^\* LIST .* "Old"$`), "", nil, diffDeviation, "RFC 3501 §6.3.5", "(as z1: the renamed INBOX)"},
	{"list", "z3", diffBoth, diffRe(`^(?:\* STATUS "Old" .*|z3 (?:OK|NO))$`), "", nil, diffDeviation, "RFC 3501 §6.3.5", "(as z1)"},
	{"list", "z4", diffBoth, diffRe(`\(MESSAGES [07]\)`), "(MESSAGES 0|7)", nil, diffDeviation, "RFC 3501 §6.3.5", "(as z1)"},

	// search.txt
	{"search", "t8 t9", diffDovecot, diffRe(`^\* (?:FLAGS|OK \[PERMANENTFLAGS) .*$`), "", nil, diffChoice, "RFC 3501 §7.2.6",
		"Dovecot adds a keyword it is asked to SEARCH for to the mailbox and announces new FLAGS; FLAGS may come at any time"},
	{"search", "w8 C8", diffDovecot, diffRe(`^(\* SEARCH.*?) 6 7$`), "$1", nil, diffChoice, "RFC 3501 §6.4.4",
		"SENTBEFORE on a message with no Date: field: Dovecot takes it as earlier than any date, we match nothing; the RFC is silent"},
	{"search", "z7", diffBoth, diffRe(`^(?:z7 (?:OK|BAD)|\* SEARCH)$`), "", nil, diffChoice, "RFC 3501 §9 seq-number",
		"a sequence number beyond the mailbox: we answer BAD, as for FETCH, Dovecot matches nothing"},
	{"search", "z9", diffBoth, diffRe(`^(?:z9 (?:OK|BAD)|\* SEARCH.*)$`), "", nil, diffChoice, "RFC 3501 §9 date-day",
		"an impossible date (32-Jan-2024) fits the grammar: we answer BAD, Dovecot carries it over to 1-Feb"},
	{"search", "C3", diffBoth, diffRe(`^(?:C3 (?:OK|BAD)|\* SEARCH.*)$`), "", nil, diffChoice, "RFC 3501 §9 ATOM-CHAR",
		"8-bit octets in an atom: we take them as UTF-8, Dovecot answers BAD (an atom is 7-bit)"},

	// select.txt, status.txt
	{"select", "s4", diffOurs, diffRe(`^(s4 NO) \[NONEXISTENT\]$`), "$1", nil, diffChoice, "RFC 5530 §3",
		"response codes are optional: we say [NONEXISTENT], Dovecot gives none"},
	{"select", "s7", diffBoth, diffRe(`^s7 (?:OK|NO \[READ-ONLY\])$`), "s7 NO|OK", nil, diffChoice, "RFC 3501 §6.3.2",
		"STORE on an EXAMINEd mailbox must change nothing: we refuse with NO [READ-ONLY], Dovecot answers OK \"Store ignored\""},
	{"status", "a5", diffOurs, diffRe(`^(a5 NO) \[NONEXISTENT\]$`), "$1", nil, diffChoice, "RFC 5530 §3",
		"response codes are optional: we say [NONEXISTENT], Dovecot gives none"},
	{"status", "b7", diffDovecot, diffRe(`^\* STATUS "inbox"`), `* STATUS "INBOX"`, nil, diffChoice, "RFC 3501 §5.1",
		"STATUS inbox: Dovecot echoes the name as given, we as INBOX; INBOX is case-insensitive"},

	// store.txt
	{"store", "d3 f4 f8", diffDovecot, diffRe(`^\* \d+ RECENT$`), "", nil, diffChoice, "RFC 3501 §7.3.2",
		"after EXPUNGE of \\Recent messages Dovecot sends the new RECENT count; EXPUNGE alone tells the client which went"},
	{"store", "d9", diffBoth, diffRe(`^d9 (?:OK|NO \[READ-ONLY\])$`), "d9 NO|OK", nil, diffChoice, "RFC 3501 §6.4.3",
		"EXPUNGE on an EXAMINEd mailbox: we refuse with NO [READ-ONLY], Dovecot answers OK and expunges nothing"},
	{"store", "y1", diffBoth, diffRe(`^y1 (?:OK \[APPENDUID \* \d+\]|BAD)$`), "y1 BAD|OK", nil, diffChoice, "RFC 3501 §9 date-time",
		"an impossible internal date (31-Feb-2024) fits the grammar: we answer BAD, Dovecot carries it over to March"},
	{"store", "y2", diffBoth, diffRe(`^y2 (?:OK \[APPENDUID \* \d+\]|NO)$`), "y2 NO|OK", nil, diffChoice, "RFC 3501 §6.3.11",
		"APPEND of an empty message: Dovecot refuses, we store it; the RFC sets no minimum"},
}

// diffRe compiles a dovecotDifferences pattern.
func diffRe(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// diffDropRecent drops \Recent from the FETCH FLAGS of messages lo..hi.
func diffDropRecent(lo, hi int) func(string) string {
	fetch := regexp.MustCompile(`^\* (\d+) FETCH \(FLAGS \(([^)]*)\)(.*)$`)
	return func(l string) string {
		m := fetch.FindStringSubmatch(l)
		if m == nil {
			return l
		}
		if n, _ := strconv.Atoi(m[1]); n < lo || n > hi {
			return l
		}
		flags := slices.DeleteFunc(strings.Fields(m[2]), func(f string) bool { return f == `\Recent` })
		return "* " + m[1] + " FETCH (FLAGS (" + strings.Join(flags, " ") + ")" + m[3]
	}
}

// dovecotRewrites are normalisations applied to the lines of one side
// that match re (every match replaced by repl) before the comparison,
// for differences that recur in many commands.
var dovecotRewrites = []struct {
	ours     bool // applies to our lines, else to Dovecot's
	re       *regexp.Regexp
	repl     string
	verdict  string
	rfc, why string
}{
	{true, regexp.MustCompile(`^(\* (?:FLAGS|OK \[PERMANENTFLAGS) \(.*) \$Forwarded`), "$1", diffChoice, "RFC 3501 §7.2.6",
		"we name Maildir's P flag $Forwarded (mutt, Maildir spec) and list it; Dovecot leaves P unmapped"},
	{true, regexp.MustCompile(`^(\* (?:FLAGS|OK \[PERMANENTFLAGS) \(.*) Work\b`), "$1", diffChoice, "RFC 3501 §7.2.6",
		"we list every keyword of dovecot-keywords, Dovecot only those its index has seen on a message; FLAGS is what applies, both are"},
	{true, regexp.MustCompile(`^(\* (?:LIST|LSUB) \(.*?) ?\\(?:Un)?[Mm]arked\b`), "$1", diffChoice, "RFC 3501 §7.2.2",
		"\\Marked and \\Unmarked are optional; Dovecot sends neither, mostly"},
	{false, regexp.MustCompile(`^(\* (?:LIST|LSUB) \(.*?) ?\\(?:Un)?[Mm]arked\b`), "$1", diffChoice, "RFC 3501 §7.2.2",
		"Dovecot sends \\UnMarked at times (after RENAME, on a loaded machine), from what its index holds; optional either way"},
	{true, regexp.MustCompile(`(BODY\[[^\]]*\](?:<\d+>)?) NIL\b`), `$1 ""`, diffChoice, "RFC 3501 §6.4.5",
		"a section that does not exist: we send NIL, Dovecot an empty string; the RFC names neither (its author's advice, for meaningless sections, is \"\")"},
	{false, regexp.MustCompile(`^(\S+ OK) \[CLIENTBUG\]`), "$1", diffChoice, "RFC 5530 §3",
		"Dovecot flags a STATUS of the selected mailbox (RFC 3501 §6.3.10: SHOULD NOT) with [CLIENTBUG]; an optional code"},
}

func TestDifferentialDovecot(t *testing.T) {
	if _, err := os.Stat(dovecotIMAP); err != nil {
		t.Skipf("Dovecot's imap binary is missing (%v): apt-get install dovecot-imapd to run the differential test", err)
	}
	if _, err := exec.LookPath("doveconf"); err != nil {
		t.Skipf("doveconf is missing (%v): apt-get install dovecot-imapd to run the differential test", err)
	}
	files, err := filepath.Glob("testdata/differential/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no differential scripts: %v", err)
	}
	used, ran := map[int]bool{}, map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txt")
		t.Run(name, func(t *testing.T) {
			script, err := parseDiffScript(file)
			if err != nil {
				t.Fatal(err)
			}
			ourDir := t.TempDir()
			writeDiffFixture(t, ourDir)
			dcHome := newDovecotHome(t, ourDir)
			if !slices.Contains(script.options, "fresh") {
				// A first session takes \Recent from what it finds, and
				// the servers disagree on what that is: see fresh.txt.
				warm, err := parseDiffText("warm-up", diffWarmUp)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range []*diffPeer{startDiffOurs(t, ourDir), dcHome.start(t)} {
					playDiffScript(t, p.name+" warm-up", p, warm.cmds)
					p.close()
				}
			}
			ours := startDiffOurs(t, ourDir)
			dovecot := dcHome.start(t)
			ourRun := playDiffScript(t, "ours", ours, script.cmds)
			dcRun := playDiffScript(t, "dovecot", dovecot, script.cmds)
			if dir := os.Getenv("IMAPD_DIFF_DUMP"); dir != "" {
				dumpDiffRun(t, filepath.Join(dir, name+".ours"), script.cmds, ourRun)
				dumpDiffRun(t, filepath.Join(dir, name+".dovecot"), script.cmds, dcRun)
			}
			for i, c := range script.cmds {
				o := diffNormalise(ourRun[i], true)
				d := diffNormalise(dcRun[i], false)
				if slices.Equal(o, d) {
					continue
				}
				var known []int
				mo, md := o, d
				for k, e := range dovecotDifferences {
					if e.script != name || !slices.Contains(strings.Fields(e.tags), c.tag) {
						continue
					}
					var ch1, ch2 bool
					if e.side&diffOurs != 0 {
						mo, ch1 = diffMask(mo, e)
					}
					if e.side&diffDovecot != 0 {
						md, ch2 = diffMask(md, e)
					}
					if ch1 || ch2 {
						known = append(known, k)
						used[k] = true
					}
				}
				mo, md = diffSortLists(mo), diffSortLists(md)
				if len(known) > 0 && slices.Equal(mo, md) {
					for _, k := range known {
						e := dovecotDifferences[k]
						t.Logf("%s: %s (%s): %s", c.tag, e.verdict, e.rfc, e.why)
					}
					continue
				}
				t.Errorf("%s:%d: %s answered differently (our bug?)\n command: %s\n ours:    %s\n dovecot: %s\n raw: %q\n      %q",
					file, c.line, c.tag, c.show(),
					strings.Join(mo, "\n          "), strings.Join(md, "\n          "), diffLast(ourRun[i]), diffLast(dcRun[i]))
				if strings.Contains(diffLast(ourRun[i]), "SERVERBUG") {
					t.Errorf("our server's errors so far:\n%s", diffErrorLines(ours.stderr.String()))
				}
			}
			ran[name] = true
		})
	}
	for k, e := range dovecotDifferences {
		if ran[e.script] && !used[k] {
			t.Errorf("dovecotDifferences[%d] (%s: %s) explains no difference: remove it", k, e.script, e.tags)
		}
	}
}

// diffSortLists sorts each run of LIST or LSUB lines again, after a
// mask changed some.
func diffSortLists(lines []string) []string {
	isList := func(l string) bool { return strings.HasPrefix(l, "* LIST ") || strings.HasPrefix(l, "* LSUB ") }
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && isList(lines[j]) {
			j++
		}
		if j > i {
			slices.Sort(lines[i:j])
			i = j
		} else {
			i++
		}
	}
	return lines
}

// diffMask applies a dovecotDiff's replacement to lines; changed
// reports whether it matched.
func diffMask(lines []string, e dovecotDiff) (out []string, changed bool) {
	for _, l := range lines {
		var m string
		if e.fn != nil {
			m = e.fn(l)
		} else {
			m = e.re.ReplaceAllString(l, e.repl)
		}
		changed = changed || m != l
		if m != "" {
			out = append(out, m)
		}
	}
	return out, changed
}

// dumpDiffRun writes a run's raw responses to file, for a person
// tracking a difference down (IMAPD_DIFF_DUMP=dir).
func dumpDiffRun(t *testing.T, file string, cmds []diffCommand, run [][]string) {
	var b strings.Builder
	for i, c := range cmds {
		fmt.Fprintf(&b, "C: %s\n", c.show())
		for _, l := range run[i] {
			fmt.Fprintf(&b, "S: %s\n", escapeCRLF(l))
		}
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
}

// diffErrorLines picks the error lines out of our server's log.
func diffErrorLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func diffLast(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// diffCommand is one command of a script: its parts (a synchronising
// literal splits a line) and the continuation lines that may follow.
type diffCommand struct {
	tag   string   // "" for a line with no tag: its answer is what comes within diffQuiet
	parts []string // each sent with CRLF after a "+" for the one before
	conts []string // C+ lines
	line  int
}

func (c diffCommand) show() string {
	s := strings.Join(c.parts, "\\r\\n")
	for _, l := range c.conts {
		s += " / " + l
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

var diffSyncLiteral = regexp.MustCompile(`\{\d+\}\r\n`)

// diffScript is a parsed script file.
type diffScript struct {
	cmds    []diffCommand
	options []string // "@fresh": no warm-up session first
}

// diffWarmUp is the session played before a script (unless @fresh):
// afterwards no fixture message is \Recent on either server.
const diffWarmUp = `C: w1 SELECT INBOX
C: w2 SELECT Archive
C: w3 SELECT Archive.2024
C: w4 SELECT "My Folder"
C: w5 SELECT Sent
C: w6 SELECT Trash
C: w7 SELECT &AMQ-rger
C: w8 LOGOUT
`

func parseDiffScript(file string) (diffScript, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return diffScript{}, err
	}
	return parseDiffText(file, string(data))
}

// parseDiffText parses the text of a script; file names it in errors.
func parseDiffText(file, text string) (diffScript, error) {
	var s diffScript
	tags := map[string]bool{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "@"):
			s.options = append(s.options, line[1:])
		case strings.HasPrefix(line, "C: ") || line == "C:":
			text := strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(line, "C:"), " "), `\r\n`, "\r\n")
			c := diffCommand{line: n + 1}
			if tag, rest, ok := strings.Cut(text, " "); ok && tag != "" && tag != "*" && tag != "+" && rest != "" {
				c.tag = tag
				if tags[tag] {
					return s, fmt.Errorf("%s:%d: tag %s used twice (dovecotDifferences needs it unique)", file, n+1, tag)
				}
				tags[tag] = true
			}
			last := 0
			for _, m := range diffSyncLiteral.FindAllStringIndex(text, -1) {
				c.parts = append(c.parts, text[last:m[1]-2])
				last = m[1]
			}
			c.parts = append(c.parts, text[last:])
			s.cmds = append(s.cmds, c)
		case strings.HasPrefix(line, "C+ "):
			if len(s.cmds) == 0 {
				return s, fmt.Errorf("%s:%d: C+ before any command", file, n+1)
			}
			c := &s.cmds[len(s.cmds)-1]
			c.conts = append(c.conts, strings.ReplaceAll(line[3:], `\r\n`, "\r\n"))
		default:
			return s, fmt.Errorf("%s:%d: neither C:, C+, @option nor a comment: %q", file, n+1, line)
		}
	}
	return s, nil
}

// diffMessage is a message file of the fixture.
type diffMessage struct {
	folder string // "" for INBOX, else the Maildir++ directory (".Archive")
	name   string // file name below cur/ or new/
	new    bool   // in new/ rather than cur/
	body   string // with \n line ends, unless crlf
	crlf   bool   // stored with CRLF line ends
}

// differentialFixture is the Maildir both servers start from. Its
// messages' mtimes (INTERNALDATE) follow their names, one day apart from
// 2024-01-01 10:00 UTC, so both servers give the same UIDs.
var differentialFixture = []diffMessage{
	{name: "1704103200.M1P1.fixture:2,", body: `Return-Path: <alice@example.org>
From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: plain hello
Date: Mon, 01 Jan 2024 10:00:00 +0000
Message-ID: <1@example.org>

Hello Bob,
this is a plain message.
-- 
Alice
`},
	{name: "1704189600.M2P1.fixture:2,S", body: `From: Bob <bob@example.org>
To: alice@example.org
Subject: multi with forward
Date: Tue, 02 Jan 2024 10:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is the preamble.
--outer
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

part one with ` + "\u00fcmlaut" + `
--outer
Content-Type: message/rfc822
Content-Description: forwarded

From: Carol <carol@example.net>
To: bob@example.org
Subject: inner
Date: Sun, 31 Dec 2023 23:59:59 -0800
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=us-ascii

inner plain
--inner
Content-Type: text/html; charset=us-ascii

<p>inner html</p>
--inner--
--outer--
This is the epilogue.
`},
	{name: "1704276000.M3P1.fixture:2,FS", body: `From: "Dr. Eve" <eve@example.com>
Sender: secretary@example.com
Reply-To: replies@example.com
To: a@example.org, "B, Person" <b@example.org>
Cc: undisclosed-recipients:;
Subject: report Q4
Date: Wed, 03 Jan 2024 08:30:00 -0500
In-Reply-To: <1@example.org>
Message-ID: <3@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset="iso-8859-1"; format=flowed
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus dem B=FCro, the report is attached.
--alt
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PGh0bWw+PGJvZHk+R3LDvMOfZTwvYm9keT48L2h0bWw+Cg==
--alt--
--mix
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"; size=30
Content-Transfer-Encoding: base64
Content-ID: <part3@example.com>
Content-Description: The Report
Content-Language: en, de
Content-Location: http://example.com/report.pdf
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCg==
--mix--
`},
	{name: "1704362400.M4P1.fixture:2,a", body: `From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <j@example.de>
To: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=
Date: Thu, 4 Jan 2024 12:00:00 +0100 (CET)
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

K=E4se und Br=F6tchen, sch=F6nen Gru=DF.
Soft line=
 break here.
`},
	{name: "1704448800.M5P1.fixture:2,RT", crlf: true, body: `From: frank@example.org
To: Team: g1@example.org, "G Two" <g2@example.org>;, solo@example.org
Cc: "Quoted \"Name\"" <q@example.org>
Bcc: hidden@example.org
Subject: addresses, groups and a very long subject line that goes on and on
 and is folded
Date: Fri, 05 Jan 2024 18:45:00 +0000
Message-ID: <5@example.org>
X-Priority: 1

Body with a line.
Second line.
`},
	{name: "1704535200.M6P1.fixture", new: true, body: `From: mailer-daemon@example.org
To: frank@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="rep"

--rep
Content-Type: text/plain

Your message could not be delivered.
--rep
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Final-Recipient: rfc822; nobody@example.net
Action: failed
Status: 5.1.1
--rep
Content-Type: message/rfc822

From: frank@example.org
To: nobody@example.net
Subject: lost
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="lost"

--lost
Content-Type: text/plain

lost text
--lost
Content-Type: image/png; name=dot.png
Content-Transfer-Encoding: base64

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==
--lost--
--rep--
`},
	{name: "1704621600.M7P1.fixture", new: true, body: "Subject: tiny\nFrom: x@example.org\n\nlast line without newline"},
	{folder: ".Archive", name: "1672653600.M1P2.fixture:2,S", body: "From: old@example.org\nTo: bob@example.org\nSubject: archived\nDate: Mon, 02 Jan 2023 10:00:00 +0000\n\nold stuff\n"},
	{folder: ".Archive.2024", name: "1704103300.M1P3.fixture:2,", body: "From: new@example.org\nSubject: this year\nDate: Mon, 01 Jan 2024 10:01:40 +0000\n\nnew stuff\n"},
	{folder: ".My Folder", name: "1704103400.M1P4.fixture:2,F", body: "From: me@example.org\nSubject: spaced\n\nin a folder with a space\n"},
}

// diffEmptyFolders are the fixture's Maildir++ folders with no messages.
var diffEmptyFolders = []string{".Sent", ".Trash", ".&AMQ-rger"}

// writeDiffFixture writes differentialFixture into the Maildir at dir.
func writeDiffFixture(t *testing.T, dir string) {
	t.Helper()
	for _, f := range append([]string{""}, diffEmptyFolders...) {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, f, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if f != "" {
			if err := os.WriteFile(filepath.Join(dir, f, "maildirfolder"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range differentialFixture {
		folder := filepath.Join(dir, m.folder)
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(folder, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if m.folder != "" {
			if err := os.WriteFile(filepath.Join(folder, "maildirfolder"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		sub := "cur"
		if m.new {
			sub = "new"
		}
		body := m.body
		if m.crlf {
			body = strings.ReplaceAll(body, "\n", "\r\n")
		}
		path := filepath.Join(folder, sub, m.name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		sec, err := strconv.ParseInt(m.name[:strings.IndexByte(m.name, '.')], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, time.Unix(sec, 0), time.Unix(sec, 0)); err != nil {
			t.Fatal(err)
		}
	}
	// Keyword letters a and b, as Dovecot names them.
	if err := os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte("0 $Label1\n1 Work\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Dovecot 2.3's subscriptions format; Gone does not exist.
	if err := os.WriteFile(filepath.Join(dir, "subscriptions"), []byte("V\t2\n\nINBOX\nArchive\nSent\nGone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
