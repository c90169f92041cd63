package imapd

import (
	"bytes"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Live-folder tests across processes: two daemons on one Maildir, and a
// burst of deliveries to a daemon with many IDLE sessions.

// liveBuildDaemon builds cmd/imapd into a temporary directory.
func liveBuildDaemon(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "imapd")
	cmd := exec.Command("go", "build", "-o", bin, "imapd/cmd/imapd")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// liveDaemon is a running cmd/imapd.
type liveDaemon struct {
	cmd  *exec.Cmd
	addr string
	log  string
}

func liveFreePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// liveStartDaemon writes a config into dir (its own name) and starts bin
// with it; the process is stopped when the test ends.
func liveStartDaemon(tb testing.TB, bin, dir, name, htpasswd, mailLocation string) *liveDaemon {
	tb.Helper()
	addr := liveFreePort(tb)
	cfg := filepath.Join(dir, name+".toml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen = [%q]
allow_root = true
[auth]
htpasswd = %q
mail_location = %q
[limits]
max_connections = 5000
max_connections_per_ip = 5000
max_user_connections_per_ip = 5000
[log]
level = "warn"
`, addr, htpasswd, mailLocation)), 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited); lf.Close() }()
	d := &liveDaemon{cmd: cmd, addr: addr, log: logPath}
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if tb.Failed() {
			b, _ := os.ReadFile(logPath)
			tb.Logf("%s log:\n%s", name, b)
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return d
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			tb.Fatalf("%s exited: %s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s does not listen on %s", name, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveCpuTime is the CPU time (user+system) the process used so far.
func liveCpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// ---- the sidecar, as read by a third party ----

type liveSidecarView struct {
	uidValidity, uidNext uint32
	locs                 map[uint32]string // UID → loc
	reused               []uint32          // UIDs added twice
}

// liveReadSidecar replays the UID list of the folder at dir.
func liveReadSidecar(t testing.TB, dir string) liveSidecarView {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "imapd-uidlist"))
	if err != nil {
		t.Fatal(err)
	}
	v := liveSidecarView{locs: map[uint32]string{}}
	added := map[uint32]bool{}
	lines := strings.Split(string(b), "\n")
	lines = lines[:len(lines)-1] // after the last newline: torn
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		num := func(i int) uint32 { n, _ := strconv.ParseUint(f[i], 10, 32); return uint32(n) }
		switch f[0] {
		case "imapd-uidlist":
			v.uidValidity, v.uidNext = num(2), num(3)
		case "a":
			u := num(1)
			if added[u] {
				v.reused = append(v.reused, u)
			}
			added[u] = true
			v.locs[u] = f[7]
			if u >= v.uidNext {
				v.uidNext = u + 1
			}
		case "x":
			delete(v.locs, num(1))
		case "f":
			if _, ok := v.locs[num(1)]; ok {
				v.locs[num(1)] = f[3]
			}
		}
	}
	return v
}

// liveFlagsOfLoc turns a sidecar loc into IMAP system flag names, sorted.
func liveFlagsOfLoc(loc string) []string {
	var out []string
	if len(loc) < 2 || loc[1] != ',' {
		return nil
	}
	for _, ch := range loc[2:] {
		switch ch {
		case 'D':
			out = append(out, `\Draft`)
		case 'F':
			out = append(out, `\Flagged`)
		case 'P':
			out = append(out, `$Forwarded`)
		case 'R':
			out = append(out, `\Answered`)
		case 'S':
			out = append(out, `\Seen`)
		case 'T':
			out = append(out, `\Deleted`)
		}
	}
	sort.Strings(out)
	return out
}

// ---- (e) two processes ----

var (
	liveFetchUID   = regexp.MustCompile(`\bUID (\d+)`)
	liveFetchFlags = regexp.MustCompile(`\bFLAGS \(([^)]*)\)`)
	liveFetchMsgID = regexp.MustCompile(`(?i)Message-ID: (<[^>]+>)`)
	liveAppendUID  = regexp.MustCompile(`\[APPENDUID (\d+) (\d+)\]`)
)

// liveFolderState is a client's view: UID → (Message-ID, flags).
type liveFolderState map[uint32]struct {
	msgID string
	flags string
}

func liveFetchState(lc *liveClient) (liveFolderState, []uint32, error) {
	u, err := lc.ok("UID SEARCH ALL")
	if err != nil {
		return nil, nil, err
	}
	var search []uint32
	for _, l := range u {
		if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
			for _, f := range strings.Fields(rest) {
				n, _ := strconv.ParseUint(f, 10, 32)
				search = append(search, uint32(n))
			}
		}
	}
	st := liveFolderState{}
	if len(search) == 0 {
		return st, nil, nil
	}
	u, err = lc.ok("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
	if err != nil {
		return nil, nil, err
	}
	for _, l := range u {
		if !strings.Contains(l, " FETCH ") {
			continue
		}
		mu, mf, mi := liveFetchUID.FindStringSubmatch(l), liveFetchFlags.FindStringSubmatch(l), liveFetchMsgID.FindStringSubmatch(l)
		if mu == nil || mf == nil || mi == nil {
			return nil, nil, fmt.Errorf("FETCH line %q", l)
		}
		uid, _ := strconv.ParseUint(mu[1], 10, 32)
		fl := strings.Fields(mf[1])
		fl = slices.DeleteFunc(fl, func(s string) bool { return s == `\Recent` })
		sort.Strings(fl)
		st[uint32(uid)] = struct {
			msgID string
			flags string
		}{mi[1], strings.Join(fl, " ")}
	}
	return st, search, nil
}

// TestLiveTwoProcesses is (e): two daemons on one Maildir, clients of
// both with INBOX selected, 1,000 interleaved APPENDs, STOREs and
// EXPUNGEs. At the end both servers' views and the sidecar agree with
// what the clients were told, and no UID was ever given to two messages.
func TestLiveTwoProcesses(t *testing.T) {
	bin := liveBuildDaemon(t)
	dir := t.TempDir()
	pw := liveWriteHtpasswd(t, dir, map[string]string{"demo": "demo"})
	loc := dir + "/mail/%u/Maildir"
	root := dir + "/mail/demo/Maildir"
	d1 := liveStartDaemon(t, bin, dir, "one", pw, loc)
	d2 := liveStartDaemon(t, bin, dir, "two", pw, loc)

	ops := 1000
	perServer := 3
	if testing.Short() {
		ops = 200
	}
	var clients []*liveClient
	for i := 0; i < 2*perServer; i++ {
		addr := d1.addr
		if i%2 == 1 {
			addr = d2.addr
		}
		clients = append(clients, liveMustLogin(t, addr, "INBOX"))
	}

	var (
		mu       sync.Mutex
		uidMsg   = map[uint32]string{} // every UID ever announced by APPENDUID
		reuse    []string
		pool     []uint32                       // UIDs appended, not yet expunged (for STOREs)
		flagsOf  = map[uint32]map[string]bool{} // flags confirmed by STORE responses
		expunged = map[uint32]bool{}
		opsDone  atomic.Int64
		counts   [3]atomic.Int64
	)
	storeFlags := []string{`\Seen`, `\Flagged`, `\Answered`, `\Draft`, `$Forwarded`}
	start := time.Now()
	errs := make(chan error, len(clients))
	var wg sync.WaitGroup
	for ci, lc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(ci) + 1))
			var mine []uint32
			for n := 0; ; n++ {
				if opsDone.Add(1) > int64(ops) {
					errs <- nil
					return
				}
				op := rng.Intn(100)
				switch {
				case op < 45 || len(mine) == 0: // APPEND
					id := fmt.Sprintf("<c%d.%d@live.test>", ci, n)
					msg := fmt.Sprintf("Message-ID: %s\r\nSubject: op %d of client %d\r\n\r\nbody %d\r\n", id, n, ci, n)
					_, tagged, err := lc.cmd(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg))
					if err != nil || !strings.HasPrefix(tagged, "OK") {
						errs <- fmt.Errorf("client %d APPEND: %q %v", ci, tagged, err)
						return
					}
					m := liveAppendUID.FindStringSubmatch(tagged)
					if m == nil {
						errs <- fmt.Errorf("client %d APPEND without APPENDUID: %q", ci, tagged)
						return
					}
					uid64, _ := strconv.ParseUint(m[2], 10, 32)
					uid := uint32(uid64)
					mu.Lock()
					if prev, ok := uidMsg[uid]; ok {
						reuse = append(reuse, fmt.Sprintf("UID %d: %s and %s", uid, prev, id))
					}
					uidMsg[uid] = id
					pool = append(pool, uid)
					mu.Unlock()
					mine = append(mine, uid)
					counts[0].Add(1)
				case op < 80: // STORE on anybody's message
					mu.Lock()
					uid := pool[rng.Intn(len(pool))]
					mu.Unlock()
					fl := storeFlags[rng.Intn(len(storeFlags))]
					u, tagged, err := lc.cmd(fmt.Sprintf("UID STORE %d +FLAGS (%s)", uid, fl))
					if err != nil || !(strings.HasPrefix(tagged, "OK") || strings.HasPrefix(tagged, "NO [EXPUNGEISSUED]")) {
						errs <- fmt.Errorf("client %d STORE: %q %v", ci, tagged, err)
						return
					}
					for _, l := range u {
						if strings.Contains(l, " FETCH (") && strings.Contains(l, fmt.Sprintf(" UID %d)", uid)) {
							mu.Lock()
							if flagsOf[uid] == nil {
								flagsOf[uid] = map[string]bool{}
							}
							flagsOf[uid][fl] = true
							mu.Unlock()
						}
					}
					counts[1].Add(1)
				default: // EXPUNGE one of ours
					i := rng.Intn(len(mine))
					uid := mine[i]
					mine = append(mine[:i], mine[i+1:]...)
					u, err := lc.ok(fmt.Sprintf(`UID STORE %d +FLAGS (\Deleted)`, uid))
					if err != nil {
						errs <- fmt.Errorf("client %d: %v", ci, err)
						return
					}
					hit := false
					for _, l := range u {
						hit = hit || strings.Contains(l, fmt.Sprintf(" UID %d)", uid))
					}
					if !hit {
						errs <- fmt.Errorf("client %d: own UID %d not in its view: %q", ci, uid, u)
						return
					}
					if _, err := lc.ok(fmt.Sprintf("UID EXPUNGE %d", uid)); err != nil {
						errs <- fmt.Errorf("client %d: %v", ci, err)
						return
					}
					mu.Lock()
					expunged[uid] = true
					pool = slices.DeleteFunc(pool, func(u uint32) bool { return u == uid })
					if len(pool) == 0 {
						pool = append(pool, uid) // a STORE on a gone UID is fine
					}
					mu.Unlock()
					counts[2].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d operations (%d APPEND, %d STORE, %d EXPUNGE) from %d clients of 2 processes in %v",
		ops, counts[0].Load(), counts[1].Load(), counts[2].Load(), len(clients), time.Since(start))
	if len(reuse) > 0 {
		t.Fatalf("UIDs reused: %q", reuse)
	}

	// What should be there: every appended UID not expunged, with the
	// flags the STOREs confirmed.
	want := map[uint32]string{}
	for uid, id := range uidMsg {
		if !expunged[uid] {
			var fl []string
			for f := range flagsOf[uid] {
				fl = append(fl, f)
			}
			sort.Strings(fl)
			want[uid] = id + " " + strings.Join(fl, " ")
		}
	}
	describe := func(st liveFolderState) map[uint32]string {
		out := map[uint32]string{}
		for uid, m := range st {
			out[uid] = m.msgID + " " + m.flags
		}
		return out
	}
	// Both views, once each server has caught up (bounded wait).
	for i, lc := range clients[:2] {
		var got map[uint32]string
		var search []uint32
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := lc.ok("NOOP"); err != nil {
				t.Fatal(err)
			}
			st, s, err := liveFetchState(lc)
			if err != nil {
				t.Fatal(err)
			}
			got, search = describe(st), s
			if liveMapsEqual(got, want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !liveMapsEqual(got, want) {
			t.Errorf("server %d's view differs from what the clients were told:\n%s", i+1, liveMapDiff(want, got))
		}
		if len(search) != len(want) {
			t.Errorf("server %d: UID SEARCH ALL has %d UIDs, want %d", i+1, len(search), len(want))
		}
	}
	// Every client's own view agrees too (their sequence numbers were
	// kept right all along, or the FETCHes above would not parse).
	for i, lc := range clients[2:] {
		st, _, err := liveFetchState(lc)
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(st); !liveMapsEqual(got, want) {
			t.Errorf("client %d's view differs:\n%s", i+3, liveMapDiff(want, got))
		}
	}
	// The sidecar, as a third party reads it.
	sc := liveReadSidecar(t, root)
	if len(sc.reused) > 0 {
		t.Errorf("sidecar adds UIDs twice: %v", sc.reused)
	}
	var maxUID uint32
	for uid := range uidMsg {
		maxUID = max(maxUID, uid)
	}
	if sc.uidNext <= maxUID {
		t.Errorf("sidecar UIDNEXT %d, but UID %d was given", sc.uidNext, maxUID)
	}
	if len(sc.locs) != len(want) {
		t.Errorf("sidecar holds %d messages, want %d", len(sc.locs), len(want))
	}
	for uid, w := range want {
		loc, ok := sc.locs[uid]
		if !ok {
			t.Errorf("sidecar lacks UID %d", uid)
			continue
		}
		fl := strings.Join(liveFlagsOfLoc(loc), " ")
		if _, wantFl, _ := strings.Cut(w, " "); fl != wantFl {
			t.Errorf("sidecar: UID %d has flags %q (loc %q), want %q", uid, fl, loc, wantFl)
		}
	}
	for _, d := range []*liveDaemon{d1, d2} {
		if b, _ := os.ReadFile(d.log); bytes.Contains(b, []byte("level=ERROR")) {
			t.Errorf("%s logged errors:\n%s", d.log, b)
		}
	}
}

func liveMapsEqual(a, b map[uint32]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func liveMapDiff(want, got map[uint32]string) string {
	var b strings.Builder
	n := 0
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			if n++; n <= 20 {
				fmt.Fprintf(&b, "  UID %d: got %q, want %q\n", k, g, v)
			}
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			if n++; n <= 20 {
				fmt.Fprintf(&b, "  UID %d: got %q, not expected\n", k, v)
			}
		}
	}
	fmt.Fprintf(&b, "  (%d differences)", n)
	return b.String()
}

// ---- (f) a burst of deliveries ----

// liveIdleWatcher reads an idling connection in the background and keeps
// the last EXISTS.
type liveIdleWatcher struct {
	lc        *liveClient
	last      atomic.Int64
	expunges  atomic.Int64
	existsN   atomic.Int64
	other     atomic.Int64
	stopped   chan struct{}
	err       error
	doneLines []string
}

func liveWatchIdle(lc *liveClient) *liveIdleWatcher {
	w := &liveIdleWatcher{lc: lc, stopped: make(chan struct{})}
	tag := "t" + strconv.Itoa(lc.tag) + " "
	go func() {
		defer close(w.stopped)
		for {
			l, err := lc.readLine(10 * time.Minute)
			if err != nil {
				w.err = err
				return
			}
			switch {
			case strings.HasPrefix(l, tag):
				if !strings.HasPrefix(l, tag+"OK") {
					w.err = fmt.Errorf("IDLE ended with %q", l)
				}
				return
			case strings.HasSuffix(l, " EXISTS"):
				n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
				w.last.Store(n)
				w.existsN.Add(1)
			case strings.HasSuffix(l, " EXPUNGE"):
				w.expunges.Add(1)
			case strings.HasSuffix(l, " RECENT"):
			default:
				w.other.Add(1)
				w.doneLines = append(w.doneLines, l)
			}
		}
	}()
	return w
}

// TestLiveBurst is (f): 10,000 deliveries written tmp/ → new/ in a burst
// while 20 sessions of a daemon IDLE. Every session's last EXISTS is the
// folder's count, the UIDs are distinct, and the server's CPU time for
// the burst is reported.
func TestLiveBurst(t *testing.T) {
	bin := liveBuildDaemon(t)
	dir := t.TempDir()
	pw := liveWriteHtpasswd(t, dir, map[string]string{"demo": "demo"})
	root := dir + "/mail/demo/Maildir"
	d := liveStartDaemon(t, bin, dir, "burst", pw, dir+"/mail/%u/Maildir")
	n, sessions := 10000, 20
	if testing.Short() {
		n = 1000
	}
	var ws []*liveIdleWatcher
	for i := 0; i < sessions; i++ {
		lc := liveMustLogin(t, d.addr, "INBOX")
		liveMustIdle(t, lc)
		ws = append(ws, liveWatchIdle(lc))
	}
	time.Sleep(100 * time.Millisecond) // let the server settle into IDLE (not needed for correctness)
	cpu0, err := liveCpuTime(d.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n", 20)
	for i := 0; i < n; i++ {
		livePostfixDeliver(t, root, fmt.Sprintf("Message-ID: <burst%d@live.test>\nSubject: burst %d\n\n%s", i, i, body))
	}
	written := time.Since(start)
	deadline := time.Now().Add(60 * time.Second)
	for {
		all := true
		for _, w := range ws {
			all = all && w.last.Load() == int64(n)
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			var lasts []int64
			for _, w := range ws {
				lasts = append(lasts, w.last.Load())
			}
			t.Fatalf("after 60 s the sessions' last EXISTS are %v, want %d", lasts, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	seen := time.Since(start)
	// Quiet: nothing more (an EXISTS beyond n would be a bug).
	time.Sleep(1500 * time.Millisecond)
	cpu1, _ := liveCpuTime(d.cmd.Process.Pid)
	var existsLines int64
	for i, w := range ws {
		if got := w.last.Load(); got != int64(n) {
			t.Errorf("session %d: last EXISTS %d, want %d", i, got, n)
		}
		if w.expunges.Load() != 0 || w.other.Load() != 0 {
			t.Errorf("session %d: %d EXPUNGEs and %d other lines: %q", i, w.expunges.Load(), w.other.Load(), w.doneLines)
		}
		existsLines += w.existsN.Load()
	}
	t.Logf("%d deliveries written in %v; all %d sessions saw EXISTS %d after %v; %.1f EXISTS per session (coalescing)",
		n, written.Round(time.Millisecond), sessions, n, seen.Round(time.Millisecond), float64(existsLines)/float64(sessions))
	t.Logf("server CPU time for the burst: %v (user+system, /proc/%d/stat; includes 1.5 s of quiet), %.1f µs per delivery",
		cpu1-cpu0, d.cmd.Process.Pid, float64((cpu1-cpu0).Microseconds())/float64(n))

	for _, w := range ws {
		w.lc.send("DONE")
	}
	for i, w := range ws {
		select {
		case <-w.stopped:
		case <-time.After(10 * time.Second):
			t.Fatalf("session %d: no answer to DONE", i)
		}
		if w.err != nil {
			t.Fatalf("session %d: %v", i, w.err)
		}
	}
	u, err := ws[0].lc.ok("UID SEARCH ALL")
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, l := range u {
		if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
			uids = append(uids, strings.Fields(rest)...)
		}
	}
	set := map[string]bool{}
	for _, x := range uids {
		if set[x] {
			t.Errorf("UID %s twice in UID SEARCH ALL", x)
		}
		set[x] = true
	}
	if len(uids) != n {
		t.Errorf("UID SEARCH ALL: %d UIDs, want %d", len(uids), n)
	}
	sc := liveReadSidecar(t, root)
	if len(sc.locs) != n || len(sc.reused) != 0 {
		t.Errorf("sidecar: %d messages (want %d), UIDs added twice: %v", len(sc.locs), n, sc.reused)
	}
	// Every message is in cur/ now (claimed by the read-write sessions) and
	// has its own UID; the Message-IDs are all there.
	u, err = ws[1].lc.ok("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, l := range u {
		if m := liveFetchMsgID.FindStringSubmatch(l); m != nil {
			ids[m[1]] = true
		}
	}
	if len(ids) != n {
		t.Errorf("%d distinct Message-IDs fetched, want %d", len(ids), n)
	}
}
