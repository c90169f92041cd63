package imapd

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"imapd/maildir"
)

// TestWaitingSessionStacksShrink: a session waiting for its client, in
// IDLE or between commands, keeps under 2 KiB of frames on its stack
// (counting the runtime's reserve), so that the garbage collector halves
// its stack to 4 KiB. 10,000 IDLE connections then take 40 MB of stack,
// not 80 (see session.greet). A frame grown on that path shows here.
func TestWaitingSessionStacksShrink(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes every frame larger: run without -race (make test does)")
	}
	if inFreshProcess(t) {
		return
	}
	const n = 200
	ts, _ := newLiveServer(t, maildir.Options{NoSync: true})
	c0 := liveMustLogin(t, ts.addr, "INBOX") // the folder is loaded before the baseline
	defer c0.Close()
	base := stackInUse()
	closeAll := openWaiting(t, ts.addr, n)
	defer closeAll()
	time.Sleep(100 * time.Millisecond) // the sessions reach their waits
	per := (stackInUse() - base) / n
	t.Logf("%d waiting sessions: %d bytes of stack each", n, per)
	if per > 6<<10 {
		t.Errorf("a waiting session takes %d bytes of stack, want 4 KiB: a frame on the way to its wait grew (see session.greet)", per)
	}
}

// TestBurstEndsInCollection: once a burst of sessions has ended (no new
// one for a second), the server collects: without it, sessions that
// came after the runtime's last collection would keep 8 KiB stacks for
// up to two minutes.
func TestBurstEndsInCollection(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes every frame larger: run without -race (make test does)")
	}
	if inFreshProcess(t) {
		return
	}
	const n = 60
	defer func(old int) { burstSessions = old }(burstSessions)
	burstSessions = n
	ts, _ := newLiveServer(t, maildir.Options{NoSync: true})
	c0 := liveMustLogin(t, ts.addr, "INBOX")
	defer c0.Close()
	base := stackInUse()
	gcs := memStats().NumGC
	closeAll := openWaiting(t, ts.addr, n)
	defer closeAll()
	deadline := time.Now().Add(5 * time.Second)
	for ms := memStats(); ms.NumGC == gcs || int64(ms.StackInuse)-base > n*6<<10; ms = memStats() {
		if time.Now().After(deadline) {
			t.Fatalf("no collection shrank the stacks of %d new sessions (%d collections, %d bytes each)",
				n, ms.NumGC-gcs, (int64(ms.StackInuse)-base)/n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openWaiting opens n sessions that log in and select INBOX; half of
// them then IDLE. It returns once all wait, with a function that closes
// them.
func openWaiting(t *testing.T, addr string, n int) func() {
	t.Helper()
	var held []net.Conn
	closeAll := func() {
		for _, c := range held {
			c.Close()
		}
	}
	for k := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			closeAll()
			t.Fatal(err)
		}
		held = append(held, c)
		script, want := "a LOGIN demo demo\r\nb SELECT INBOX\r\n", "b OK"
		if k%2 == 0 {
			script, want = script+"c IDLE\r\n", "+ "
		}
		fmt.Fprint(c, script)
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				closeAll()
				t.Fatalf("conn %d: %v", k, err)
			}
			if strings.HasPrefix(l, want) {
				break
			}
		}
	}
	return closeAll
}

// freshEnv names, in the process inFreshProcess starts, the test it runs.
const freshEnv = "IMAPD_TEST_FRESH"

// inFreshProcess runs the calling test again in a test process of its
// own, and reports true in the first, which then only returns. A new
// goroutine's stack starts at the average size the runtime saw at its
// last collections, so in a process that ran other tests before, what
// those did would decide what a stack test measures (16 KiB a session
// after a full run, 4 KiB alone).
func inFreshProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv(freshEnv) == t.Name() {
		return false
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), freshEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a process of its own: %v\n%s", t.Name(), err, out)
	}
	t.Logf("in a process of its own:\n%s", out)
	return true
}

// memStats reads the runtime's memory statistics, without a collection.
func memStats() runtime.MemStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// stackInUse is the stack memory in use after two collections (the
// first shrinks what it can, the second frees the spans left empty).
func stackInUse() int64 {
	runtime.GC()
	runtime.GC()
	return int64(memStats().StackInuse)
}
