package imapd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"imapd/auth"
	"imapd/maildir"
)

// The two servers of the differential run (ours over a pipe, a private
// Dovecot imap process), and the normalisation that makes their answers
// comparable.

// diffPeer is one server session seen from the client side.
type diffPeer struct {
	name  string
	w     io.Writer
	lines chan string // response lines, literals inline as on the wire
	err   error       // why lines was closed; read after it is
	// greeting is the server's first line.
	greeting string
	stderr   *diffLogBuffer
	close    func() // ends the session; may be called again
}

type diffLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *diffLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *diffLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var diffRespLiteral = regexp.MustCompile(`\{(\d+)\}\r\n$`)

func newDiffPeer(name string, w io.Writer, r io.Reader) *diffPeer {
	p := &diffPeer{name: name, w: w, lines: make(chan string, 1024)}
	go func() {
		br := bufio.NewReader(r)
		defer close(p.lines)
		for {
			var line strings.Builder
			for {
				l, err := br.ReadString('\n')
				line.WriteString(l)
				if err != nil {
					if line.Len() > 0 {
						p.lines <- line.String()
					}
					p.err = err
					return
				}
				m := diffRespLiteral.FindStringSubmatch(l)
				if m == nil {
					break
				}
				n, _ := strconv.Atoi(m[1])
				buf := make([]byte, n)
				if _, err := io.ReadFull(br, buf); err != nil {
					p.err = err
					return
				}
				line.Write(buf)
			}
			p.lines <- strings.TrimSuffix(line.String(), "\r\n")
		}
	}()
	return p
}

// next returns the next response line, or ok false at the end of the
// connection or after d.
func (p *diffPeer) next(d time.Duration) (line string, ok bool, timedOut bool) {
	select {
	case l, ok := <-p.lines:
		return l, ok, false
	case <-time.After(d):
		return "", false, true
	}
}

// playDiffScript runs script on p and returns the response lines of
// each command, the greeting first as a command of its own.
func playDiffScript(t *testing.T, who string, p *diffPeer, script []diffCommand) [][]string {
	t.Helper()
	out := make([][]string, len(script))
	ended := false
	vars := map[string]string{}
	for i, c := range script {
		if ended {
			out[i] = []string{"<connection closed>"}
			continue
		}
		var got []string
		parts := append([]string(nil), c.parts...)
		conts := append([]string(nil), c.conts...)
		send := func(s string) {
			if _, err := io.WriteString(p.w, s+"\r\n"); err != nil {
				got = append(got, "<write error>")
				ended = true
			}
		}
		first := parts[0]
		for name, v := range vars {
			first = strings.ReplaceAll(first, "$"+name, v)
		}
		send(first)
		parts = parts[1:]
	read:
		for !ended {
			wait := diffTimeout
			if c.tag == "" {
				wait = diffQuiet
			}
			l, ok, timedOut := p.next(wait)
			switch {
			case timedOut && c.tag == "":
				break read
			case timedOut:
				t.Fatalf("%s: no answer to %q within %v; got %q; stderr:\n%s", who, c.show(), diffTimeout, got, p.stderr)
			case !ok:
				got = append(got, "<connection closed>")
				ended = true
				break read
			}
			got = append(got, l)
			for _, m := range diffVar.FindAllStringSubmatch(l, -1) {
				vars[m[1]] = m[2]
			}
			switch {
			case c.tag != "" && strings.HasPrefix(l, c.tag+" "):
				break read
			case strings.HasPrefix(l, "+"):
				switch {
				case len(parts) > 0:
					send(parts[0])
					parts = parts[1:]
				case len(conts) > 0:
					send(conts[0])
					conts = conts[1:]
				}
			}
		}
		out[i] = got
	}
	return out
}

// startDiffOurs serves a PREAUTH session on dir over a pipe.
func startDiffOurs(t *testing.T, dir string) *diffPeer {
	t.Helper()
	logs := &diffLogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hub := maildir.NewHub(maildir.Options{Logger: logger, NoSync: true})
	srv := New(Options{
		OpenStore: func(id auth.Identity) (*maildir.Store, error) { return hub.Open(id.Maildir, true) },
		Logger:    logger,
	})
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServePreauth(server, auth.Identity{Username: "demo", Maildir: dir})
	}()
	p := newDiffPeer("ours", client, client)
	p.stderr = logs
	p.close = sync.OnceFunc(func() {
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("our session did not end after the client closed")
		}
		if n := srv.RecoveredPanics(); n != 0 {
			t.Errorf("server recovered %d panics; log:\n%s", n, logs)
		}
	})
	t.Cleanup(p.close)
	g, ok, _ := p.next(diffTimeout)
	if !ok {
		t.Fatalf("no greeting from our server; log:\n%s", logs)
	}
	p.greeting = g
	return p
}

// dovecotHome is a private Dovecot setup: a config and a Maildir.
type dovecotHome struct {
	dir, conf string
	env       []string
}

// newDovecotHome copies the Maildir at src into a directory of its own
// with a throwaway config beside it.
func newDovecotHome(t testing.TB, src string) *dovecotHome {
	t.Helper()
	// Not t.TempDir: as root, Dovecot drops to nobody, who must be able
	// to enter the directory (t.TempDir's parent is private).
	home, err := os.MkdirTemp("", "imapd-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	mail := filepath.Join(home, "Maildir")
	if err := copyTree(src, mail); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	username := "nobody"
	if u, err := user.Current(); err == nil {
		username = u.Username
	}
	if uid == 0 {
		// Dovecot refuses to serve mail as root: it drops to mail_uid.
		uid, gid = 65534, 65534
		if u, err := user.Lookup("nobody"); err == nil {
			uid, _ = strconv.Atoi(u.Uid)
			gid, _ = strconv.Atoi(u.Gid)
		}
		username = "nobody"
		if err := os.Chmod(home, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := diffChownTree(mail, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(home, "dovecot.conf")
	cfg := fmt.Sprintf(`# throwaway config of imapd's differential test
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = /dev/stderr
info_log_path = /dev/stderr
ssl = no
protocols = imap
mail_location = maildir:%[2]s
mail_uid = %[3]d
mail_gid = %[4]d
first_valid_uid = %[3]d
first_valid_gid = %[4]d
mail_fsync = never
%[5]s`, home, mail, uid, gid, dovecotSpecialUse())
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"USER=" + username, "HOME=" + home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if tz, ok := os.LookupEnv("TZ"); ok {
		env = append(env, "TZ="+tz)
	}
	return &dovecotHome{dir: home, conf: conf, env: env}
}

// dovecotSpecialUse is the namespace block that gives Dovecot's folders
// the special uses ours have by name (wellKnownFolders), as Debian's
// 15-mailboxes.conf does for some of them.
func dovecotSpecialUse() string {
	var b strings.Builder
	b.WriteString("namespace inbox {\n  inbox = yes\n")
	for _, name := range []string{"Sent", "Sent Messages", "Sent Items", "Sent Mail", "Drafts", "Trash",
		"Deleted Messages", "Deleted Items", "Junk", "Spam", "Junk E-mail", "Archive", "Archives"} {
		fmt.Fprintf(&b, "  mailbox %q {\n    special_use = %s\n  }\n", name, wellKnownFolders[strings.ToLower(name)])
	}
	b.WriteString("}\n")
	return b.String()
}

// start runs Dovecot's imap binary, PREAUTH over stdin and stdout.
func (h *dovecotHome) start(t testing.TB) *diffPeer {
	t.Helper()
	cmd := exec.Command(dovecotIMAP, "-c", h.conf)
	cmd.Env = h.env
	cmd.Dir = h.dir
	stderr := &diffLogBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	p := newDiffPeer("dovecot", stdin, stdout)
	p.stderr = stderr
	p.close = func() {
		stdin.Close()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-waited
		}
	}
	t.Cleanup(p.close)
	g, ok, _ := p.next(diffTimeout)
	if !ok || !strings.HasPrefix(g, "* PREAUTH") {
		t.Fatalf("Dovecot did not start: greeting %q; stderr:\n%s", g, stderr)
	}
	p.greeting = g
	return p
}

func diffChownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// diffSx is a parsed piece of a response: an atom (number, NIL, flag,
// BODY[...]<n>), a string (quoted or literal: the same to a client) or a
// parenthesised list.
type diffSx struct {
	atom   string
	str    string
	isStr  bool
	list   []diffSx
	isList bool
}

func (x diffSx) String() string {
	switch {
	case x.isStr:
		return strconv.Quote(x.str)
	case x.isList:
		parts := make([]string, len(x.list))
		for i, e := range x.list {
			parts[i] = e.String()
		}
		return "(" + strings.Join(parts, " ") + ")"
	}
	return x.atom
}

// astring renders x as a string whether it came as atom or string
// (mailbox names, where INBOX and "INBOX" are the same).
func (x diffSx) astring() string {
	if !x.isStr && !x.isList && x.atom != "NIL" {
		return strconv.Quote(x.atom)
	}
	return x.String()
}

// parseDiffSx parses s, a sequence of response items as on the wire
// (literals inline after their {n}CRLF), into its items.
func parseDiffSx(s string) ([]diffSx, error) {
	p := &diffSxParser{s: s}
	items, err := p.items(0)
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unbalanced ) at %d", p.i)
	}
	return items, nil
}

type diffSxParser struct {
	s string
	i int
}

func (p *diffSxParser) items(depth int) ([]diffSx, error) {
	var out []diffSx
	for {
		for p.i < len(p.s) && p.s[p.i] == ' ' {
			p.i++
		}
		if p.i >= len(p.s) {
			if depth > 0 {
				return nil, fmt.Errorf("unclosed (")
			}
			return out, nil
		}
		switch c := p.s[p.i]; {
		case c == ')':
			if depth == 0 {
				return out, nil
			}
			p.i++
			return out, nil
		case c == '(':
			p.i++
			l, err := p.items(depth + 1)
			if err != nil {
				return nil, err
			}
			if l == nil {
				l = []diffSx{}
			}
			out = append(out, diffSx{list: l, isList: true})
		case c == '"':
			var b strings.Builder
			p.i++
			for {
				if p.i >= len(p.s) {
					return nil, fmt.Errorf("unclosed quoted string")
				}
				c := p.s[p.i]
				p.i++
				if c == '\\' && p.i < len(p.s) {
					b.WriteByte(p.s[p.i])
					p.i++
					continue
				}
				if c == '"' {
					break
				}
				b.WriteByte(c)
			}
			out = append(out, diffSx{str: b.String(), isStr: true})
		case c == '{':
			end := strings.Index(p.s[p.i:], "}\r\n")
			if end < 0 {
				return nil, fmt.Errorf("bad literal")
			}
			n, err := strconv.Atoi(strings.TrimSuffix(p.s[p.i+1:p.i+end], "+"))
			if err != nil || p.i+end+3+n > len(p.s) {
				return nil, fmt.Errorf("bad literal")
			}
			start := p.i + end + 3
			out = append(out, diffSx{str: p.s[start : start+n], isStr: true})
			p.i = start + n
		default:
			start, depthB := p.i, 0
			for p.i < len(p.s) {
				c := p.s[p.i]
				if c == '[' {
					depthB++
				} else if c == ']' {
					depthB--
				} else if depthB == 0 && (c == ' ' || c == '(' || c == ')') {
					break
				}
				p.i++
			}
			out = append(out, diffSx{atom: p.s[start:p.i]})
		}
	}
}

// diffSortedFlags renders a flag list in a fixed order: a flag list is a set.
func diffSortedFlags(x diffSx) string {
	if !x.isList {
		return x.String()
	}
	var f []string
	for _, e := range x.list {
		f = append(f, e.String())
	}
	slices.Sort(f)
	return "(" + strings.Join(f, " ") + ")"
}

// diffInternalDate is an INTERNALDATE given by the server's clock (APPEND
// without a date): shown as <now>.
func diffInternalDate(v string) string {
	d, err := time.Parse("_2-Jan-2006 15:04:05 -0700", v)
	if err == nil && time.Since(d).Abs() < time.Hour {
		return "<now>"
	}
	return strconv.Quote(v)
}

var (
	diffStatusResp = regexp.MustCompile(`(?s)^(\S+) (OK|NO|BAD|BYE|PREAUTH)(?: (\[.*?\]))?(?: |$)`)
	diffNumResp    = regexp.MustCompile(`(?s)^\* (\d+) (EXISTS|RECENT|EXPUNGE|FETCH)\b(.*)$`)
	// diffModSeq finds mod-sequences: each server counts its own (RFC
	// 7162 asks only that they grow), so they are compared as "*", and
	// what a script does with them it does through $HIGHESTMODSEQ.
	diffModSeq = regexp.MustCompile(`\b(HIGHESTMODSEQ|MODSEQ) (\(?)\d+`)
	// diffVar finds the values a script may use in a later command, as
	// $UIDVALIDITY and $HIGHESTMODSEQ: the last each server sent.
	diffVar = regexp.MustCompile(`\b(UIDVALIDITY|HIGHESTMODSEQ) (\d+)`)
)

// diffNormaliseCode keeps a response code but for values that are each
// server's own: capability lists, UIDVALIDITY, charset lists.
func diffNormaliseCode(code string) string {
	inner := strings.TrimSuffix(strings.TrimPrefix(code, "["), "]")
	name, args, _ := strings.Cut(inner, " ")
	switch strings.ToUpper(name) {
	case "CAPABILITY", "BADCHARSET":
		return "[" + name + "]"
	case "UIDVALIDITY":
		return "[UIDVALIDITY *]"
	case "APPENDUID", "COPYUID":
		_, rest, _ := strings.Cut(args, " ")
		return "[" + name + " * " + rest + "]"
	case "PERMANENTFLAGS":
		items, err := parseDiffSx(args)
		if err == nil && len(items) == 1 {
			return "[PERMANENTFLAGS " + diffSortedFlags(items[0]) + "]"
		}
	}
	return code
}

// diffNormalise turns the lines one server sent for one command
// into the form compared: texts after status responses dropped, values
// that are each server's own replaced, EXPUNGE responses replaced by the
// set of messages they remove (RFC 3501 §7.4.1 fixes no order: Dovecot
// goes from the highest number down), FETCH responses of one message
// merged and their items sorted (RFC 3501 §7.4.2 fixes no order and lets
// a server split them), LIST and LSUB responses sorted (§7.2.2, §7.2.3
// fix no order) with the STATUS responses of LIST-STATUS, strings quoted
// whether they came quoted or as literals.
func diffNormalise(lines []string, ours bool) []string {
	var out []string
	var list []string
	listAt := -1
	fetches := map[string]map[string]string{}
	fetchAt := map[string]int{}
	var expunged []int
	expungeAt := -1
	for _, l := range lines {
		l = diffModSeq.ReplaceAllString(l, "$1 $2*")
		for _, rw := range dovecotRewrites {
			if rw.ours == ours {
				l = rw.re.ReplaceAllString(l, rw.repl)
			}
		}
		if strings.HasPrefix(l, "+") {
			out = append(out, "+")
			continue
		}
		if m := diffStatusResp.FindStringSubmatch(l); m != nil {
			s := m[1] + " " + m[2]
			if m[3] != "" {
				s += " " + diffNormaliseCode(m[3])
			}
			out = append(out, s)
			continue
		}
		if m := diffNumResp.FindStringSubmatch(l); m != nil {
			switch m[2] {
			case "EXPUNGE":
				n, _ := strconv.Atoi(m[1])
				if expungeAt < 0 {
					expungeAt = len(out)
					out = append(out, "")
				}
				expunged = diffExpungeOriginal(expunged, n)
				continue
			case "EXISTS", "RECENT":
				out = append(out, l)
				continue
			}
			items, err := parseDiffSx(m[3])
			if err != nil || len(items) != 1 || !items[0].isList || len(items[0].list)%2 != 0 {
				out = append(out, l+" <unparsable>")
				continue
			}
			seq := m[1]
			f := fetches[seq]
			if f == nil {
				f = map[string]string{}
				fetches[seq] = f
				fetchAt[seq] = len(out)
				out = append(out, "") // filled in below
			}
			kv := items[0].list
			for i := 0; i < len(kv); i += 2 {
				k, v := strings.ToUpper(kv[i].String()), kv[i+1]
				switch k {
				case "FLAGS":
					f[k] = diffSortedFlags(v)
				case "INTERNALDATE":
					f[k] = diffInternalDate(v.str)
				default:
					f[k] = v.String()
				}
			}
			continue
		}
		word, rest, _ := strings.Cut(strings.TrimPrefix(l, "* "), " ")
		switch strings.ToUpper(word) {
		case "CAPABILITY", "ID":
			out = append(out, "* "+word)
			continue
		case "FLAGS":
			if items, err := parseDiffSx(rest); err == nil && len(items) == 1 {
				out = append(out, "* FLAGS "+diffSortedFlags(items[0]))
				continue
			}
		case "LIST", "LSUB":
			items, err := parseDiffSx(rest)
			if err == nil && (len(items) == 3 || len(items) == 4) {
				l := "* " + word + " " + diffSortedFlags(items[0]) + " " + items[1].String() + " " + items[2].astring()
				if len(items) == 4 {
					l += " " + diffExtendedData(items[3])
				}
				list = append(list, l)
				if listAt < 0 {
					listAt = len(out)
					out = append(out, "")
				}
				continue
			}
		case "STATUS":
			items, err := parseDiffSx(rest)
			if err == nil && len(items) == 2 && items[1].isList && len(items[1].list)%2 == 0 {
				var kv []string
				for i := 0; i < len(items[1].list); i += 2 {
					k, v := strings.ToUpper(items[1].list[i].String()), items[1].list[i+1].String()
					if k == "UIDVALIDITY" {
						v = "*"
					}
					kv = append(kv, k+" "+v)
				}
				slices.Sort(kv)
				l := "* STATUS " + items[0].astring() + " (" + strings.Join(kv, " ") + ")"
				if listAt >= 0 {
					// LIST-STATUS (RFC 5819): each after its LIST
					// line, in the listing's order, which is free.
					list = append(list, l)
				} else {
					out = append(out, l)
				}
				continue
			}
		}
		out = append(out, l)
	}
	for seq, f := range fetches {
		var kv []string
		for k, v := range f {
			kv = append(kv, k+" "+v)
		}
		slices.Sort(kv)
		out[fetchAt[seq]] = "* " + seq + " FETCH (" + strings.Join(kv, " ") + ")"
	}
	if expungeAt >= 0 {
		out[expungeAt] = fmt.Sprintf("* EXPUNGE of messages %v", expunged)
	}
	if listAt >= 0 {
		slices.Sort(list)
		out = slices.Replace(out, listAt, listAt+1, list...)
	}
	return out
}

// diffExtendedData renders LIST's mbox-list-extended (RFC 5258 §6) with
// each tag as a string, whether it came as an atom (Dovecot's CHILDINFO)
// or quoted (RFC 5258's examples, ours): both are astrings.
func diffExtendedData(x diffSx) string {
	if !x.isList || len(x.list)%2 != 0 {
		return x.String()
	}
	parts := make([]string, len(x.list))
	for i, e := range x.list {
		if i%2 == 0 {
			parts[i] = e.astring()
		} else {
			parts[i] = e.String()
		}
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// diffExpungeOriginal adds to removed (sorted sequence numbers as they were
// before the command) the message that "* n EXPUNGE" removes.
func diffExpungeOriginal(removed []int, n int) []int {
	o := n
	for _, r := range removed {
		if r <= o {
			o++
		}
	}
	i, _ := slices.BinarySearch(removed, o)
	return slices.Insert(removed, i, o)
}
