package imapd

// Interoperability tests: real clients from Debian packages (python3's
// imaplib, curl, fetchmail, mbsync from isync) against a real server
// started by newTestServer. A machine without a client skips its test
// with a message naming the package; .ci/run installs them all.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"imapd/maildir"
)

// interopTimeout bounds every client run.
const interopTimeout = 60 * time.Second

// interopBinary returns the path of a client, or skips the test.
func interopBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package %s)", name, pkg)
	}
	return p
}

// interopRun runs a client with a bounded timeout and returns its
// stdout, its stderr and its error.
func interopRun(t *testing.T, env []string, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = nil
	var out, serr bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &serr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%v (timed out after %v)", err, interopTimeout)
	}
	return out.Bytes(), serr.Bytes(), err
}

// crlf is a fixture as the server stores and serves it.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func (ts *testServer) hostPort() (string, string) {
	ts.t.Helper()
	h, p, err := net.SplitHostPort(ts.addr)
	if err != nil {
		ts.t.Fatal(err)
	}
	return h, p
}

// folderMessages returns the messages of a folder, as the server's
// Maildir holds them, in UID order.
func (ts *testServer) folderMessages(folder string) ([]maildir.Message, []string) {
	ts.t.Helper()
	mb, err := ts.store().Select(folder, maildir.SelectOptions{ReadOnly: true})
	if err != nil {
		ts.t.Fatalf("select %s: %v", folder, err)
	}
	defer mb.Close()
	var msgs []maildir.Message
	var bodies []string
	for _, uid := range mb.UIDs() {
		f, err := mb.Open(uid)
		if err != nil {
			ts.t.Fatalf("%s UID %d: %v", folder, uid, err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			ts.t.Fatal(err)
		}
		msgs = append(msgs, mb.Message(uid))
		bodies = append(bodies, string(b))
	}
	return msgs, bodies
}

// interopFixtures are delivered to INBOX by several tests.
var interopFixtures = []string{
	"From: Alice <alice@example.org>\n" +
		"To: demo@example.org\n" +
		"Subject: hello world\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\n" +
		"Message-ID: <one@example.org>\n" +
		"\n" +
		"First message body.\n" +
		"Second line, with trailing spaces   \n",
	"From: Bob <bob@example.org>\n" +
		"To: demo@example.org\n" +
		"Subject: status report\n" +
		"Date: Tue, 03 Jan 2006 10:00:00 +0100\n" +
		"Message-ID: <two@example.org>\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\n" +
		"\n" +
		"--b1\n" +
		"Content-Type: text/plain; charset=utf-8\n" +
		"Content-Transfer-Encoding: 8bit\n" +
		"\n" +
		"Grüße aus Köln.\n" +
		"--b1\n" +
		"Content-Type: application/octet-stream\n" +
		"Content-Transfer-Encoding: base64\n" +
		"\n" +
		"AAECAwQFBgcICQ==\n" +
		"--b1--\n",
	"From: Carol <carol@example.org>\n" +
		"To: demo@example.org\n" +
		"Subject: Re: Hello again\n" +
		"Date: Wed, 04 Jan 2006 08:30:00 -0500\n" +
		"Message-ID: <three@example.org>\n" +
		"\n" +
		".\n" +
		"A line with only a dot above, and From below.\n" +
		"From here on\n",
}

// subjectMatches lists the 1-based positions of the fixtures whose
// Subject contains s, case-insensitively.
func subjectMatches(msgs []string, s string) []int {
	var out []int
	for i, m := range msgs {
		for _, l := range strings.Split(m, "\n") {
			if l == "" {
				break
			}
			if v, ok := strings.CutPrefix(l, "Subject: "); ok && strings.Contains(strings.ToLower(v), strings.ToLower(s)) {
				out = append(out, i+1)
			}
		}
	}
	return out
}

const imaplibScript = `
import base64, imaplib, json, sys

cfg = json.load(open(sys.argv[1]))
res = {}

def ok(what, r):
    typ, data = r
    if typ != 'OK':
        raise SystemExit('%s: %s %r' % (what, typ, data))
    return data

def ids(data):
    return [int(x) for x in data[0].split()]

def lat(b):
    return b.decode('latin-1') if isinstance(b, bytes) else b

M = imaplib.IMAP4(cfg['host'], int(cfg['port']), timeout=30)
res['capability'] = [lat(c) for c in M.capabilities]
ok('login', M.login(cfg['user'], cfg['password']))
ok('create', M.create(cfg['folder']))
res['list'] = [lat(l) for l in ok('list', M.list())]
res['select'] = ids(ok('select', M.select('INBOX')))
res['search_all'] = ids(ok('search all', M.search(None, 'ALL')))
res['search_subject'] = ids(ok('search subject', M.search(None, 'SUBJECT', cfg['subject'])))
res['unseen_before'] = ids(ok('search unseen', M.search(None, 'UNSEEN')))
ok('store', M.store('1', '+FLAGS', '(\\Seen)'))
res['unseen_after_store'] = ids(ok('search unseen', M.search(None, 'UNSEEN')))
bodies = []
for n in res['search_all']:
    data = ok('fetch', M.fetch(str(n), '(RFC822)'))
    bodies.append(base64.b64encode(data[0][1]).decode())
res['bodies'] = bodies
res['unseen_after_fetch'] = ids(ok('search unseen', M.search(None, 'UNSEEN')))

msg = base64.b64decode(cfg['append']).replace(b'\n', b'\r\n')
data = ok('append', M.append('INBOX', '(\\Flagged)', cfg['append_date'], msg))
res['append'] = [lat(d) for d in data]
ok('noop', M.noop())
n = len(res['search_all']) + 1
data = ok('fetch', M.fetch(str(n), '(FLAGS INTERNALDATE BODY.PEEK[])'))
res['appended_meta'] = lat(data[0][0])
res['appended_body'] = base64.b64encode(data[0][1]).decode()

res['copy'] = [lat(d) for d in ok('copy', M.copy('1:2', cfg['folder']))]
ok('store', M.store('1', '+FLAGS', '(\\Deleted)'))
res['expunge'] = [lat(d) for d in ok('expunge', M.expunge()) if d is not None]
res['search_all_after'] = ids(ok('search all', M.search(None, 'ALL')))
res['status'] = [lat(d) for d in ok('status', M.status(cfg['folder'], '(MESSAGES)'))]
ok('close', M.close())
res['logout'] = M.logout()[0]
print(json.dumps(res))
`

func TestInteropPythonImaplib(t *testing.T) {
	py := interopBinary(t, "python3", "python3")
	ts := newTestServer(t)
	for _, m := range interopFixtures {
		ts.deliver("INBOX", m)
	}
	host, port := ts.hostPort()
	dir := t.TempDir()
	const folder = "Saved.Copies"
	appendMsg := "From: Dave <dave@example.org>\nSubject: appended by imaplib\n\nAppended body.\n"
	appendDate := time.Date(2020, 2, 29, 13, 14, 15, 0, time.FixedZone("", -7*3600))
	cfg := map[string]string{
		"host": host, "port": port, "user": "demo", "password": "demo",
		"folder": folder, "subject": "hello",
		"append":      base64.StdEncoding.EncodeToString([]byte(appendMsg)),
		"append_date": `"` + appendDate.Format("02-Jan-2006 15:04:05 -0700") + `"`,
	}
	cfgJSON, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "cfg.json")
	scriptPath := filepath.Join(dir, "session.py")
	if err := os.WriteFile(cfgPath, cfgJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(scriptPath, []byte(imaplibScript), 0o600); err != nil {
		t.Fatal(err)
	}
	out, serr, err := interopRun(t, nil, py, scriptPath, cfgPath)
	if err != nil {
		t.Fatalf("python3 imaplib session: %v\nstdout:\n%s\nstderr:\n%s", err, out, serr)
	}
	var res struct {
		Capability       []string `json:"capability"`
		List             []string `json:"list"`
		Select           []int    `json:"select"`
		SearchAll        []int    `json:"search_all"`
		SearchSubject    []int    `json:"search_subject"`
		UnseenBefore     []int    `json:"unseen_before"`
		UnseenAfterStore []int    `json:"unseen_after_store"`
		Bodies           []string `json:"bodies"`
		UnseenAfterFetch []int    `json:"unseen_after_fetch"`
		Append           []string `json:"append"`
		AppendedMeta     string   `json:"appended_meta"`
		AppendedBody     string   `json:"appended_body"`
		Copy             []string `json:"copy"`
		Expunge          []string `json:"expunge"`
		SearchAllAfter   []int    `json:"search_all_after"`
		Status           []string `json:"status"`
		Logout           string   `json:"logout"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output: %v\n%s\nstderr:\n%s", err, out, serr)
	}
	n := len(interopFixtures)
	seq := func(from, to int) []int {
		var s []int
		for i := from; i <= to; i++ {
			s = append(s, i)
		}
		return s
	}
	if !slices.Contains(res.Capability, "IMAP4REV1") {
		t.Errorf("capabilities %q lack IMAP4REV1", res.Capability)
	}
	wantList := map[string]bool{"INBOX": false, folder: false}
	listRE := regexp.MustCompile(`^\(([^)]*)\) "\." "?([^"]*)"?$`)
	for _, l := range res.List {
		m := listRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("LIST line %q: unexpected form", l)
			continue
		}
		if _, ok := wantList[m[2]]; ok {
			wantList[m[2]] = true
		}
	}
	for name, seen := range wantList {
		if !seen {
			t.Errorf("LIST %q lacks %q", res.List, name)
		}
	}
	checkInts := func(what string, got, want []int) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	checkInts("SELECT INBOX count", res.Select, []int{n})
	checkInts("SEARCH ALL", res.SearchAll, seq(1, n))
	checkInts("SEARCH SUBJECT hello", res.SearchSubject, subjectMatches(interopFixtures, "hello"))
	checkInts("SEARCH UNSEEN (before)", res.UnseenBefore, seq(1, n))
	checkInts("SEARCH UNSEEN (after STORE 1 +FLAGS \\Seen)", res.UnseenAfterStore, seq(2, n))
	checkInts("SEARCH UNSEEN (after FETCH RFC822 of all)", res.UnseenAfterFetch, nil)
	if len(res.Bodies) != n {
		t.Fatalf("fetched %d bodies, want %d", len(res.Bodies), n)
	}
	for i, b64 := range res.Bodies {
		got, _ := base64.StdEncoding.DecodeString(b64)
		if want := crlf(interopFixtures[i]); string(got) != want {
			t.Errorf("FETCH %d RFC822:\n%q\nwant\n%q", i+1, got, want)
		}
	}
	if len(res.Append) != 1 || !regexp.MustCompile(`^\[APPENDUID \d+ \d+\] `).MatchString(res.Append[0]) {
		t.Errorf("APPEND response %q: want [APPENDUID ...]", res.Append)
	}
	meta := res.AppendedMeta
	if !regexp.MustCompile(`FLAGS \([^)]*\\Flagged[^)]*\)`).MatchString(meta) {
		t.Errorf("appended message: %q lacks \\Flagged", meta)
	}
	// The zone need not survive (a Maildir keeps an instant); the
	// instant must.
	if m := regexp.MustCompile(`INTERNALDATE "([^"]*)"`).FindStringSubmatch(meta); m == nil {
		t.Errorf("appended message: %q lacks INTERNALDATE", meta)
	} else if d, err := time.Parse("_2-Jan-2006 15:04:05 -0700", m[1]); err != nil || !d.Equal(appendDate) {
		t.Errorf("appended message: INTERNALDATE %q (%v), want %v", m[1], err, appendDate)
	}
	if got, _ := base64.StdEncoding.DecodeString(res.AppendedBody); string(got) != crlf(appendMsg) {
		t.Errorf("appended message body %q, want %q", got, crlf(appendMsg))
	}
	if len(res.Copy) != 1 || !strings.HasPrefix(res.Copy[0], "[COPYUID ") {
		t.Errorf("COPY response %q: want [COPYUID ...]", res.Copy)
	}
	if !slices.Equal(res.Expunge, []string{"1"}) {
		t.Errorf("EXPUNGE responses %q, want [1]", res.Expunge)
	}
	checkInts("SEARCH ALL after EXPUNGE", res.SearchAllAfter, seq(1, n))
	if len(res.Status) != 1 || !regexp.MustCompile(`^"?`+regexp.QuoteMeta(folder)+`"? \(MESSAGES 2\)$`).MatchString(res.Status[0]) {
		t.Errorf("STATUS %q, want %s (MESSAGES 2)", res.Status, folder)
	}
	if res.Logout != "BYE" {
		t.Errorf("LOGOUT: %q, want BYE", res.Logout)
	}

	// The server's Maildir agrees.
	msgs, bodies := ts.folderMessages("INBOX")
	wantBodies := []string{crlf(interopFixtures[1]), crlf(interopFixtures[2]), crlf(appendMsg)}
	if !slices.Equal(bodies, wantBodies) {
		t.Errorf("INBOX on disk:\n%q\nwant\n%q", bodies, wantBodies)
	}
	for i, m := range msgs[:min(len(msgs), n-1)] {
		if m.Flags&maildir.FlagSeen == 0 {
			t.Errorf("INBOX message %d: not \\Seen on disk", i+1)
		}
	}
	if len(msgs) == n && (msgs[n-1].Flags&maildir.FlagFlagged == 0 || !msgs[n-1].InternalDate.Equal(appendDate)) {
		t.Errorf("appended message on disk: flags %v, date %v; want \\Flagged, %v", msgs[n-1].Flags, msgs[n-1].InternalDate, appendDate)
	}
	_, copied := ts.folderMessages(folder)
	if want := []string{crlf(interopFixtures[0]), crlf(interopFixtures[1])}; !slices.Equal(copied, want) {
		t.Errorf("%s on disk:\n%q\nwant\n%q", folder, copied, want)
	}
}

func TestInteropCurl(t *testing.T) {
	curl := interopBinary(t, "curl", "curl")
	ts := newTestServer(t)
	for _, m := range interopFixtures {
		ts.deliver("INBOX", m)
	}
	st := ts.store()
	// "Entwürfe" is "Entw&APw-rfe" in modified UTF-7 (RFC 3501 §5.1.3).
	folders := map[string]string{"Work": "Work", "Work.Projects": "Work.Projects", "Entwürfe": "Entw&APw-rfe"}
	for name := range folders {
		if err := st.Create(name); err != nil {
			t.Fatal(err)
		}
	}
	host, port := ts.hostPort()
	base := "imap://" + host + ":" + port + "/"
	run := func(args ...string) string {
		t.Helper()
		out, serr, err := interopRun(t, nil, curl, append([]string{"-sS", "--max-time", "50", "-u", "demo:demo"}, args...)...)
		if err != nil {
			t.Fatalf("curl %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, serr)
		}
		return string(out)
	}

	t.Run("list", func(t *testing.T) {
		out := run(base)
		lines := strings.Split(strings.TrimRight(out, "\r\n"), "\r\n")
		got := map[string]bool{}
		listRE := regexp.MustCompile(`^\* LIST \(([^)]*)\) "\." "?([^"]*)"?$`)
		for _, l := range lines {
			m := listRE.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("curl LIST output line %q: unexpected form", l)
				continue
			}
			got[m[2]] = true
		}
		want := []string{"INBOX"}
		for _, wire := range folders {
			want = append(want, wire)
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("curl LIST output lacks %q:\n%s", w, out)
			}
		}
		if len(got) != len(want) {
			t.Errorf("curl LIST output has %d mailboxes, want %d:\n%s", len(got), len(want), out)
		}
	})

	t.Run("fetch", func(t *testing.T) {
		msgs, _ := ts.folderMessages("INBOX")
		if len(msgs) != len(interopFixtures) {
			t.Fatalf("INBOX has %d messages, want %d", len(msgs), len(interopFixtures))
		}
		for i, m := range msgs {
			out := run(fmt.Sprintf("%sINBOX;UID=%d", base, m.UID))
			if want := crlf(interopFixtures[i]); out != want {
				t.Errorf("curl INBOX;UID=%d:\n%q\nwant\n%q", m.UID, out, want)
			}
		}
		// Fetched through the folder's name in modified UTF-7 too.
		ts.deliver("Entwürfe", interopFixtures[0])
		if out := run(base + "Entw%26APw-rfe;UID=1"); out != crlf(interopFixtures[0]) {
			t.Errorf("curl Entw&APw-rfe;UID=1:\n%q\nwant\n%q", out, crlf(interopFixtures[0]))
		}
	})

	t.Run("search", func(t *testing.T) {
		out := run(base + "INBOX?SUBJECT%20hello")
		var want strings.Builder
		want.WriteString("* SEARCH")
		for _, n := range subjectMatches(interopFixtures, "hello") {
			fmt.Fprintf(&want, " %d", n)
		}
		want.WriteString("\r\n")
		if out != want.String() {
			t.Errorf("curl INBOX?SUBJECT hello: %q, want %q", out, want.String())
		}
	})
}

func TestInteropFetchmail(t *testing.T) {
	fm := interopBinary(t, "fetchmail", "fetchmail")
	ts := newTestServer(t)
	for _, m := range interopFixtures {
		ts.deliver("INBOX", m)
	}
	host, port := ts.hostPort()
	home := t.TempDir()
	out := filepath.Join(home, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	// The MDA writes each message to a file of its own, numbered in
	// delivery order (fetchmail runs it once per message, one at a time).
	mda := filepath.Join(home, "mda.sh")
	if err := os.WriteFile(mda, []byte("#!/bin/sh\nn=$(ls \"$1\" | wc -l)\nexec cat > \"$1/$(printf %03d \"$n\")\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(home, "fetchmailrc")
	rcText := fmt.Sprintf("poll %s port %s protocol IMAP auth password\n"+
		"  user \"demo\" there with password \"demo\" is \"demo\" here\n"+
		"  folder \"INBOX\"\n"+
		"  keep\n"+
		"  sslproto ''\n"+
		"  mda \"%s %s\"\n", host, port, mda, out)
	if err := os.WriteFile(rc, []byte(rcText), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "FETCHMAILHOME=" + home, "LC_ALL=C"}
	run := func(args ...string) (string, error) {
		t.Helper()
		o, e, err := interopRun(t, env, fm, append([]string{"--nosyslog", "--nodetach", "-v", "-f", rc}, args...)...)
		return string(o) + string(e), err
	}
	log, err := run("--all")
	if err != nil {
		t.Fatalf("fetchmail --all: %v\n%s", err, log)
	}
	files, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(interopFixtures) {
		t.Fatalf("fetchmail delivered %d messages, want %d\n%s", len(files), len(interopFixtures), log)
	}
	for i, f := range files {
		b, err := os.ReadFile(filepath.Join(out, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got := string(b)
		// fetchmail puts its own Received: header (with continuation
		// lines) on top and hands the MDA LF line ends; everything after
		// it must be the delivered message exactly.
		if rest, ok := strings.CutPrefix(got, "Received: "); ok {
			for {
				_, after, found := strings.Cut(rest, "\n")
				if !found {
					break
				}
				rest = after
				if !strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "\t") {
					break
				}
			}
			got = rest
		}
		if want := interopFixtures[i]; got != want {
			t.Errorf("message %d as fetchmail delivered it:\n%q\nwant (after fetchmail's Received:)\n%q\nfull file:\n%q", i+1, got, want, b)
		}
	}
	// keep: the messages stay on the server, now \Seen, unchanged.
	msgs, bodies := ts.folderMessages("INBOX")
	for i := range interopFixtures {
		if i >= len(bodies) || bodies[i] != crlf(interopFixtures[i]) {
			t.Fatalf("INBOX after fetchmail --keep: %q", bodies)
		}
		if msgs[i].Flags&maildir.FlagSeen == 0 {
			t.Errorf("message %d not \\Seen after fetchmail", i+1)
		}
	}
	// Without --all, seen messages are not fetched again: exit 1, "no mail".
	log, err = run()
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("second fetchmail run: %v, want exit status 1 (no mail)\n%s", err, log)
	}
	if files, _ := os.ReadDir(out); len(files) != len(interopFixtures) {
		t.Errorf("second fetchmail run delivered %d more messages\n%s", len(files)-len(interopFixtures), log)
	}
}

// treeSnapshot maps every file below dir (relative path) to its content,
// skipping mbsync's lock files.
func treeSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".lock") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		snap[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// localMessages returns the contents of a local Maildir folder's
// messages (new/ and cur/), sorted, with CRLF turned into LF.
func localMessages(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, stripTUID(strings.ReplaceAll(string(b), "\r\n", "\n")))
		}
	}
	sort.Strings(out)
	return out
}

func TestInteropMbsync(t *testing.T) {
	mbsync := interopBinary(t, "mbsync", "isync")
	ts := newTestServer(t)
	st := ts.store()
	for _, f := range []string{"Work", "Work.Projects"} {
		if err := st.Create(f); err != nil {
			t.Fatal(err)
		}
	}
	ts.deliver("INBOX", interopFixtures[0])
	ts.deliver("INBOX", interopFixtures[1])
	ts.deliver("Work", interopFixtures[2])
	ts.deliver("Work.Projects", interopFixtures[1])
	remote := map[string][]string{ // IMAP name: fixtures (LF form)
		"INBOX":         {interopFixtures[0], interopFixtures[1]},
		"Work":          {interopFixtures[2]},
		"Work.Projects": {interopFixtures[1]},
	}
	localDir := map[string]string{"INBOX": "inbox", "Work": "mail/Work", "Work.Projects": "mail/Work/Projects"}

	host, port := ts.hostPort()
	home := t.TempDir()
	local := filepath.Join(home, "local")
	if err := os.MkdirAll(filepath.Join(local, "mail"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, "mbsyncrc")
	cfgText := fmt.Sprintf(`IMAPAccount srv
Host %s
Port %s
User demo
Pass demo
AuthMechs LOGIN
SSLType None

IMAPStore remote
Account srv

MaildirStore local
Path %s/mail/
Inbox %s/inbox
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
`, host, port, local, local)
	if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "LC_ALL=C"}
	sync := func(what string, extra ...string) string {
		t.Helper()
		o, e, err := interopRun(t, env, mbsync, append([]string{"-V", "-c", cfg, "-a"}, extra...)...)
		log := string(o) + string(e)
		if err != nil {
			t.Fatalf("%s: mbsync -V -c %s -a: %v\nconfig:\n%s\nfull output:\n%s", what, cfg, err, cfgText, log)
		}
		return log
	}
	checkLocal := func(what string, want map[string][]string) {
		t.Helper()
		for name, msgs := range want {
			got := localMessages(t, filepath.Join(local, localDir[name]))
			w := slices.Clone(msgs)
			sort.Strings(w)
			if !slices.Equal(got, w) {
				t.Errorf("%s: local %s:\n%q\nwant\n%q", what, name, got, w)
			}
		}
	}

	// 1. Pull the tree down.
	log1 := sync("first sync")
	checkLocal("after the first sync", remote)

	// 2. A new local message in Work, and \Flagged on the local copy
	// of INBOX's "hello world".
	newMsg := "From: Erin <erin@example.org>\nTo: demo@example.org\nSubject: written locally\nMessage-ID: <local@example.org>\n\nLocal body.\n"
	if err := os.WriteFile(filepath.Join(local, "mail/Work/new/1700000000.P1Q1.localhost"), []byte(newMsg), 0o600); err != nil {
		t.Fatal(err)
	}
	flagged := false
	for _, sub := range []string{"cur", "new"} {
		d := filepath.Join(local, "inbox", sub)
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "Subject: hello world") {
				continue
			}
			name, info, _ := strings.Cut(e.Name(), ":2,")
			letters := []byte(info + "F")
			slices.Sort(letters)
			if err := os.Rename(filepath.Join(d, e.Name()), filepath.Join(local, "inbox", "cur", name+":2,"+string(letters))); err != nil {
				t.Fatal(err)
			}
			flagged = true
		}
	}
	if !flagged {
		t.Fatalf("no local copy of the first message to flag; first sync:\n%s", log1)
	}
	log2 := sync("second sync")
	_, work := ts.folderMessages("Work")
	for i := range work {
		work[i] = stripTUID(work[i])
	}
	if want := []string{crlf(interopFixtures[2]), crlf(newMsg)}; !slices.Equal(work, want) {
		t.Errorf("server's Work after the second sync:\n%q\nwant\n%q\nmbsync output:\n%s", work, want, log2)
	}
	inbox, inboxBodies := ts.folderMessages("INBOX")
	for i, m := range inbox {
		wantFlagged := inboxBodies[i] == crlf(interopFixtures[0])
		if got := m.Flags&maildir.FlagFlagged != 0; got != wantFlagged {
			t.Errorf("server's INBOX UID %d: \\Flagged %v, want %v\nmbsync output:\n%s", m.UID, got, wantFlagged, log2)
		}
	}
	remote["Work"] = append(remote["Work"], newMsg)
	checkLocal("after the second sync", remote)

	// 3. Nothing left to do: a third sync changes nothing on either side.
	beforeLocal := treeSnapshot(t, local)
	beforeServer := treeSnapshot(t, ts.root)
	log3 := sync("third sync", "-Dn")
	if afterLocal := treeSnapshot(t, local); !mapsEqualIgnoringState(beforeLocal, afterLocal) {
		t.Errorf("third sync changed the local tree\nmbsync output:\n%s", log3)
	}
	if afterServer := treeSnapshot(t, ts.root); !mapsEqualMessages(beforeServer, afterServer) {
		t.Errorf("third sync changed the server's messages\nmbsync output:\n%s", log3)
	}
	// With -Dn mbsync shows its commands: only looking, no APPEND,
	// STORE, EXPUNGE or body FETCH.
	readOnly := regexp.MustCompile(`^(LOGIN |NAMESPACE$|LIST |SELECT |UID FETCH [0-9:,]+ \(UID FLAGS\)$|CLOSE$|LOGOUT$)`)
	cmdRE := regexp.MustCompile(`^>>> \d+ (.*)$`)
	cmds := 0
	for _, l := range strings.Split(log3, "\n") {
		if m := cmdRE.FindStringSubmatch(strings.TrimRight(l, "\r")); m != nil {
			cmds++
			if !readOnly.MatchString(m[1]) {
				t.Errorf("third sync sent %q: it should have had nothing to transfer\nfull output:\n%s", m[1], log3)
			}
		}
	}
	if cmds == 0 {
		t.Errorf("third sync: no IMAP commands in mbsync -Dn output:\n%s", log3)
	}
}

// mapsEqualIgnoringState compares two local snapshots, leaving out
// mbsync's own state files (which it may rewrite with the same content).
func mapsEqualIgnoringState(a, b map[string]string) bool {
	return snapshotFiltered(a, ".mbsyncstate") == snapshotFiltered(b, ".mbsyncstate")
}

// mapsEqualMessages compares the server's message files (names in
// cur/ and new/, which carry the flags, and contents).
func mapsEqualMessages(a, b map[string]string) bool {
	return snapshotFiltered(a, "imapd-") == snapshotFiltered(b, "imapd-")
}

func snapshotFiltered(m map[string]string, skip string) string {
	var keys []string
	for k := range m {
		if strings.Contains(filepath.Base(k), skip) {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s\x00%s\x00", k, m[k])
	}
	return sb.String()
}

// tuidRE is the X-TUID header mbsync 1.4 puts at the end of the header
// of every message it propagates, in either direction, whatever the
// server (it finds the copy by it when a store gives no UID).
var tuidRE = regexp.MustCompile(`(?m)^X-TUID: [A-Za-z0-9+/]{12}\r?\n`)

// stripTUID removes mbsync's X-TUID line from a message's header; the
// rest must be the message exactly.
func stripTUID(msg string) string {
	hdr, body, found := strings.Cut(msg, "\n\n")
	if !found {
		hdr, body, found = strings.Cut(msg, "\r\n\r\n")
		if !found {
			return msg
		}
		return tuidRE.ReplaceAllString(hdr+"\r\n", "") + "\r\n" + body
	}
	return tuidRE.ReplaceAllString(hdr+"\n", "") + "\n" + body
}
