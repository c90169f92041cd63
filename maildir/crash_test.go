package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imapd/message"
)

// The crash test runs the test binary itself as a child that works on a
// Maildir until it is killed with SIGKILL at a random moment; the parent
// then opens the Maildir as the next server start would and checks every
// message and UID against the child's journal. The environment tells the
// child what to do.
const (
	crashEnvRoot    = "IMAPD_CRASH_CHILD"   // the Maildir: set only in the child
	crashEnvJournal = "IMAPD_CRASH_JOURNAL" // the journal file
	crashEnvSeed    = "IMAPD_CRASH_SEED"    // the child's random seed
	crashEnvIter    = "IMAPD_CRASH_ITER"    // the iteration, for unique Message-IDs
	crashReady      = "IMAPD-CRASH-CHILD-READY"
	crashOther      = "Other"
)

var crashFolders = [...]string{Inbox, crashOther}

// crashParentOpts are the parent's: it is never killed, so its writes
// need no fsync; the code paths are the same.
var crashParentOpts = Options{NoSync: true}

// TestCrashChild is the child half of TestCrashKill9; it does nothing in
// a normal test run.
func TestCrashChild(t *testing.T) {
	root := os.Getenv(crashEnvRoot)
	if root == "" {
		return
	}
	runCrashChild(t, root)
}

// crashMessage is the content of a message: its Message-ID, a body of
// random length (some large, so that kills land in the middle of writing
// a tmp file) and an end marker that shows the file is complete.
func crashMessage(id string, rng *rand.Rand) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: crash@example.org\nTo: user@example.org\nSubject: crash %s\nMessage-ID: <%s>\n", id, id)
	if rng.Intn(4) == 0 {
		b.WriteString("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/plain\n\nhello\n--XYZ\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n--XYZ--\n")
	} else {
		b.WriteString("\n")
	}
	lines := rng.Intn(60)
	if rng.Intn(20) == 0 {
		lines = 2000 + rng.Intn(8000) // up to ~800 KB
	}
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "line %d of the body of %s, some filler text to make it longer\n", i, id)
	}
	fmt.Fprintf(&b, "end <%s>\n", id)
	return b.String()
}

// parseCrashMessage returns the Message-ID of a message written by
// crashMessage, and an error when the file is not one whole such message.
func parseCrashMessage(b []byte) (string, error) {
	s := string(b)
	hdr, _, ok := strings.Cut(s, "\n\n")
	if !ok {
		return "", fmt.Errorf("no end of header in %d bytes", len(b))
	}
	id := ""
	for _, line := range strings.Split(hdr, "\n") {
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Message-ID") {
			id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "<"), ">")
		}
	}
	if id == "" {
		return "", fmt.Errorf("no Message-ID in %q", trunc(hdr, 200))
	}
	if !strings.HasSuffix(s, "end <"+id+">\n") {
		return id, fmt.Errorf("message %s is truncated (%d bytes, ends %q)", id, len(b), trunc(s[max(0, len(s)-60):], 60))
	}
	return id, nil
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

var crashKeywords = func() []string {
	out := []string{"$Junk", "$NotJunk", "$Label1"}
	for i := 0; len(out) < 40; i++ {
		out = append(out, fmt.Sprintf("kw%02d", i))
	}
	return out
}()

// crashChild is the state of the child process.
type crashChild struct {
	t       *testing.T
	rng     *rand.Rand
	store   *Store
	boxes   map[string]*Mailbox
	ids     map[string]map[uint32]string // folder -> UID -> Message-ID, as read
	journal *os.File
	iter    string
	seq     int
	n       int // messages made
}

func runCrashChild(t *testing.T, root string) {
	seed, _ := strconv.ParseInt(os.Getenv(crashEnvSeed), 10, 64)
	c := &crashChild{t: t, rng: rand.New(rand.NewSource(seed)), iter: os.Getenv(crashEnvIter),
		boxes: map[string]*Mailbox{}, ids: map[string]map[uint32]string{}}
	var err error
	c.journal, err = os.OpenFile(os.Getenv(crashEnvJournal), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		c.die("journal", err)
	}
	// The real mode: with fsync.
	c.store, err = NewHub(Options{}).Open(root, false)
	if err != nil {
		c.die("open", err)
	}
	for _, name := range crashFolders {
		// Read-write, as a server session: new/ is claimed into cur/.
		m, err := c.store.Select(name, SelectOptions{})
		if err != nil {
			c.die("select "+name, err)
		}
		c.boxes[name] = m
		c.ids[name] = map[uint32]string{}
	}
	fmt.Fprintln(os.Stdout, crashReady)
	for {
		c.step()
		for _, m := range c.boxes {
			m.Changes()
		}
	}
}

func (c *crashChild) die(what string, err error) {
	fmt.Fprintf(os.Stderr, "crash child %s: %s: %v\n", c.iter, what, err)
	os.Exit(3)
}

// log appends one line to the journal and makes it durable before the
// operation it announces starts.
func (c *crashChild) log(format string, args ...any) {
	line := fmt.Sprintf(format, args...) + "\n"
	if _, err := c.journal.WriteString(line); err != nil {
		c.die("journal", err)
	}
	if err := c.journal.Sync(); err != nil {
		c.die("journal sync", err)
	}
}

func (c *crashChild) begin(op string, args ...string) int {
	c.seq++
	c.log("%s.%d begin %s %s", c.iter, c.seq, op, strings.Join(args, " "))
	return c.seq
}

func (c *crashChild) done(seq int) { c.log("%s.%d done", c.iter, seq) }

func (c *crashChild) folder() string { return crashFolders[c.rng.Intn(2)] }

func (c *crashChild) newID() string {
	c.n++
	return fmt.Sprintf("%s.%d@crash", c.iter, c.n)
}

func (c *crashChild) flags(allowDeleted bool) Flags {
	var f Flags
	for _, fl := range []Flags{FlagSeen, FlagAnswered, FlagFlagged, FlagDraft, FlagForwarded} {
		if c.rng.Intn(3) == 0 {
			f |= fl
		}
	}
	if allowDeleted && c.rng.Intn(10) == 0 {
		f |= FlagDeleted
	}
	return f
}

func (c *crashChild) keywords() []string {
	var out []string
	for n := c.rng.Intn(4); n > 0; n-- {
		out = append(out, crashKeywords[c.rng.Intn(len(crashKeywords))])
	}
	return out
}

// pick returns up to n random UIDs of a folder's view and their
// Message-IDs (read from the files).
func (c *crashChild) pick(name string, n int) ([]uint32, []string) {
	m := c.boxes[name]
	view := m.UIDs()
	c.rng.Shuffle(len(view), func(i, j int) { view[i], view[j] = view[j], view[i] })
	if len(view) > n {
		view = view[:n]
	}
	var uids []uint32
	var ids []string
	for _, uid := range view {
		id, ok := c.ids[name][uid]
		if !ok {
			fh, err := m.Open(uid)
			if errors.Is(err, ErrExpunged) {
				continue
			} else if err != nil {
				c.die(fmt.Sprintf("open %s uid %d", name, uid), err)
			}
			b, err := io.ReadAll(fh)
			fh.Close()
			if err != nil {
				c.die("read", err)
			}
			if id, err = parseCrashMessage(b); err != nil {
				c.die(fmt.Sprintf("%s uid %d (%s)", name, uid, fh.Name()), err)
			}
			c.ids[name][uid] = id
		}
		uids = append(uids, uid)
		ids = append(ids, id)
	}
	return uids, ids
}

func (c *crashChild) total() int {
	n := 0
	for _, m := range c.boxes {
		n += int(m.Count())
	}
	return n
}

// step does one random operation, between a "begin" and a "done" line of
// the journal.
func (c *crashChild) step() {
	big := c.total() > 250 // keep the folders from growing without end
	switch r := c.rng.Intn(100); {
	case r < 22: // APPEND
		name, id := c.folder(), c.newID()
		seq := c.begin("append", name, id)
		_, err := c.store.Append(name, strings.NewReader(crashMessage(id, c.rng)),
			AppendOptions{Flags: c.flags(true), Keywords: c.keywords()})
		if err != nil {
			c.die("append", err)
		}
		c.done(seq)
	case r < 34: // delivery by Postfix: tmp/, then new/, no lock
		name, id := c.folder(), c.newID()
		dir := c.store.Root()
		if name != Inbox {
			dir = filepath.Join(dir, dirName(name))
		}
		seq := c.begin("deliver", name, id)
		deliver(c.t, dir, crashMessage(id, c.rng))
		c.done(seq)
	case r < 56: // STORE
		name := c.folder()
		uids, _ := c.pick(name, 1+c.rng.Intn(5))
		op := FlagOp(c.rng.Intn(3))
		flags, kws := c.flags(false), c.keywords()
		seq := c.begin("flags", name, fmt.Sprint(op, flags, kws, uids))
		if _, _, err := c.boxes[name].SetFlags(uids, op, flags, kws, 0); err != nil {
			c.die("flags", err)
		}
		c.done(seq)
	case r < 65: // COPY
		from := c.folder()
		to := crashFolders[0]
		if from == to {
			to = crashFolders[1]
		}
		if c.rng.Intn(4) != 0 {
			from, to = Inbox, crashOther // mostly INBOX -> Other
		}
		uids, ids := c.pick(from, 1+c.rng.Intn(4))
		seq := c.begin("copy", from, to, strings.Join(ids, " "))
		if _, err := c.boxes[from].Copy(uids, to); err != nil {
			c.die("copy", err)
		}
		c.done(seq)
	case r < 77: // MOVE
		from, to := Inbox, crashOther
		if c.rng.Intn(2) == 0 {
			from, to = to, from
		}
		uids, ids := c.pick(from, 1+c.rng.Intn(4))
		seq := c.begin("move", from, to, strings.Join(ids, " "))
		if _, err := c.boxes[from].Move(uids, to); err != nil {
			c.die("move", err)
		}
		c.done(seq)
	case r < 88 || (big && r < 95): // \Deleted + UID EXPUNGE
		name := c.folder()
		if c.rng.Intn(3) != 0 && c.boxes[Inbox].Count() > c.boxes[crashOther].Count() {
			name = Inbox // mostly the larger folder: copies fill Other
		} else if c.rng.Intn(3) != 0 {
			name = crashOther
		}
		n := 1 + c.rng.Intn(3)
		if big {
			n = 10
		}
		uids, ids := c.pick(name, n)
		seq := c.begin("expunge", name, strings.Join(ids, " "))
		m := c.boxes[name]
		if _, _, err := m.SetFlags(uids, FlagsAdd, FlagDeleted, nil, 0); err != nil {
			c.die("expunge flags", err)
		}
		if err := m.Expunge(uids); err != nil {
			c.die("expunge", err)
		}
		c.done(seq)
	case r < 92: // FETCH BODYSTRUCTURE: fills the cache, structure and derived data
		name := c.folder()
		uids, _ := c.pick(name, 1+c.rng.Intn(6))
		seq := c.begin("structure", name)
		for _, uid := range uids {
			if _, err := c.boxes[name].Structure(uid); err != nil && !errors.Is(err, ErrExpunged) {
				c.die("structure", err)
			}
			if _, err := c.boxes[name].Derived(uid, crashDerivedKey, crashDerived); err != nil && !errors.Is(err, ErrExpunged) {
				c.die("derived", err)
			}
		}
		c.done(seq)
	case r < 96: // STATUS
		name := c.folder()
		seq := c.begin("status", name)
		if _, err := c.store.Status(name); err != nil {
			c.die("status", err)
		}
		c.done(seq)
	default: // CHECK
		name := c.folder()
		seq := c.begin("check", name)
		if err := c.boxes[name].Check(); err != nil {
			c.die("check", err)
		}
		c.done(seq)
	}
}

// readyWriter collects a child's stdout and reports the ready line.
type readyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if bytes.Contains(w.buf.Bytes(), []byte(crashReady)) {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

// TestCrashKill9 kills a child process that appends, delivers, changes
// flags, copies, moves, expunges and checks at random moments (SIGKILL),
// hundreds of times on the same Maildir, and after every kill checks that
// no message is lost or duplicated and that the UIDs are consistent and
// never reused.
// crashDerived is the derived data the crash test keeps (under
// crashDerivedKey): the message's own ID, which the check compares.
func crashDerived(p *message.Part) ([]byte, error) {
	if p.Envelope == nil {
		return []byte("no envelope"), nil
	}
	return []byte(strings.Trim(p.Envelope.MessageID, "<> ")), nil
}

const crashDerivedKey = "crash.id"

func TestCrashKill9(t *testing.T) {
	if os.Getenv(crashEnvRoot) != "" {
		t.Skip("in the child")
	}
	iters := 300
	budget := 50 * time.Second // keep the test near a minute on a slow machine
	if testing.Short() {
		iters = 60
	}
	if s := os.Getenv("IMAPD_CRASH_ITERS"); s != "" {
		iters, _ = strconv.Atoi(s) // for a long run: no time budget
		budget = time.Duration(1<<63 - 1)
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv(crashEnvSeed); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (set %s to repeat the choices; kill times differ)", seed, crashEnvSeed)
	// IMAPD_CRASH_DOWN_DELIVERY=0 leaves out the deliveries made while no
	// child runs, to look at the rest alone.
	downDelivery := os.Getenv("IMAPD_CRASH_DOWN_DELIVERY") != "0"
	rng := rand.New(rand.NewSource(seed))

	tmp := t.TempDir()
	root := filepath.Join(tmp, "Maildir")
	journal := filepath.Join(tmp, "journal")
	setupHub := NewHub(crashParentOpts)
	defer setupHub.Close()
	s, err := setupHub.Open(root, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(crashOther); err != nil {
		t.Fatal(err)
	}
	h := &crashHistory{validity: map[string]uint32{}, uidNext: map[string]uint32{},
		uidMsg: map[string]map[uint32]string{}, seen: map[string]bool{}}
	for _, name := range crashFolders {
		h.uidMsg[name] = map[uint32]string{}
	}

	start := time.Now()
	early, killedInOp, aged, downDeliveries := 0, 0, 0, 0
	var tChild, tReady, tVerify, tAge time.Duration
	var i int
	for i = 0; i < iters; i++ {
		if time.Since(start) > budget {
			t.Logf("time budget spent after %d of %d iterations", i, iters)
			break
		}
		out := &readyWriter{ready: make(chan struct{})}
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			crashEnvRoot+"="+root,
			crashEnvJournal+"="+journal,
			crashEnvSeed+"="+strconv.FormatInt(seed+int64(i), 10),
			crashEnvIter+"="+strconv.Itoa(i))
		cmd.Stdout, cmd.Stderr = out, &stderr
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		delay := time.Duration(1+rng.Intn(40)) * time.Millisecond
		exited := false
		if rng.Intn(8) == 0 {
			// Kill counted from the start: sometimes during the child's
			// own recovery at Select.
			early++
			time.Sleep(delay)
		} else {
			select {
			case <-out.ready:
				tReady += time.Since(t0)
			case <-waited:
				exited = true
			case <-time.After(60 * time.Second):
				cmd.Process.Signal(syscall.SIGKILL)
				<-waited
				t.Fatalf("iteration %d: child not ready after 60s:\n%s", i, stderr.String())
			}
			if !exited {
				time.Sleep(delay)
			}
		}
		if exited {
			t.Fatalf("iteration %d: child exited by itself before it was ready: %s\n%s", i, stderr.String(), out.buf.String())
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-waited
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("iteration %d: child was not killed but ended (%v):\nstderr: %s\nstdout: %s", i, cmd.ProcessState, stderr.String(), out.buf.String())
		}

		tChild += time.Since(t0)
		t0 = time.Now()
		dropTornLine(t, journal)
		if lastOpUnfinished(journal, "") {
			killedInOp++
		}
		if downDelivery && (rng.Intn(4) == 0 || lastOpUnfinished(journal, "expunge")) {
			// Mail arrives while the server is down: the next start
			// finds it in new/, maybe in the inode of a file an
			// interrupted EXPUNGE just unlinked.
			for k := 0; k <= rng.Intn(2); k++ {
				name := crashFolders[rng.Intn(2)]
				id := fmt.Sprintf("p%d.%d@crash", i, k)
				writeJournal(t, journal, fmt.Sprintf("p%d.%d begin deliver %s %s\n", i, k, name, id))
				deliver(t, folderDir(root, name), crashMessage(id, rng))
				writeJournal(t, journal, fmt.Sprintf("p%d.%d done\n", i, k))
				downDeliveries++
			}
		}
		j, err := readJournal(journal)
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		problems := verifyCrash(root, j, h, false)
		if len(problems) == 0 && i%50 == 49 {
			problems = verifyCrash(root, j, h, true)
		}
		tVerify += time.Since(t0)
		t0 = time.Now()
		if len(problems) == 0 && rng.Intn(3) != 0 {
			// Let the next child find a folder that has rested: its
			// directories older than the sidecar's record of them, so
			// that opens trust the record and changes keep it current
			// without listings (ownChange), the path of a real server.
			if err := ageAndRecord(root); err != nil {
				problems = append(problems, "aging: "+err.Error())
			}
			aged++
		}
		tAge += time.Since(t0)
		if len(problems) > 0 {
			t.Fatalf("iteration %d (seed %d, child seed %d): %d problems:\n  %s\n\njournal, last lines:\n%s\n\nchild stderr: %s\n\nlisting:\n%s",
				i, seed, seed+int64(i), len(problems), strings.Join(problems, "\n  "), j.tail(30), stderr.String(), crashListing(root))
		}
	}
	j, _ := readJournal(journal)
	ops := map[string]int{}
	for _, line := range j.lines {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "begin" {
			ops[f[2]]++
		}
	}
	if problems := verifyCrash(root, j, h, true); len(problems) > 0 {
		t.Fatalf("final check: %s\n\nlisting:\n%s", strings.Join(problems, "\n  "), crashListing(root))
	}
	var kw []string
	hub := NewHub(crashParentOpts)
	defer hub.Close()
	if st, err := hub.Open(root, false); err == nil {
		for _, name := range crashFolders {
			if mb, err := st.Select(name, SelectOptions{ReadOnly: true}); err == nil {
				kw = append(kw, fmt.Sprintf("%s: %d messages, %d keywords", name, mb.Count(), len(mb.Keywords())))
				mb.Close()
			}
		}
	}
	t.Logf("time in children %v (until ready %v), verifying %v, aging %v", tChild.Round(time.Millisecond), tReady.Round(time.Millisecond), tVerify.Round(time.Millisecond), tAge.Round(time.Millisecond))
	t.Logf("%d iterations in %v (%d killed from the start, %d killed inside an operation, %d on a rested folder, %d messages delivered while down); operations begun: %v; %s",
		i, time.Since(start).Round(time.Millisecond), early, killedInOp, aged, downDeliveries, ops, strings.Join(kw, "; "))
}
