package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestThrottleStateShared: two Throttles on one state file, each with its
// own descriptor as two processes would have, count one address's
// failures together: the second's first failure is the address's second
// (2s), and its next attempt waits for the slot the first one's failure
// set. The file keeps at most MaxAddrs blocks.
func TestThrottleStateShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "throttle")
	open := func() *ThrottleState {
		st, err := OpenThrottleState(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a := newThrottleRig(t, stubAuth{}, ThrottleOptions{State: open(), MaxAddrs: 3})
	b := newThrottleRig(t, stubAuth{}, ThrottleOptions{State: open(), MaxAddrs: 3})
	b.clock = a.clock
	b.sleep.clock = a.clock
	b.opts.Now = a.clock.Now
	b.table.now = a.clock.Now

	if d := a.fail(t, "192.0.2.1"); d != time.Second {
		t.Fatalf("first failure waits %v, want 1s", d)
	}
	if d := b.fail(t, "192.0.2.1"); d != 2*time.Second {
		t.Fatalf("the next process's failure waits %v, want 2s (the count is shared)", d)
	}
	if !strings.Contains(b.log.String(), "failures=2") {
		t.Fatalf("log: %s", b.log.String())
	}
	if d := a.fail(t, "192.0.2.1"); d != 4*time.Second {
		t.Fatalf("third failure waits %v, want 4s", d)
	}

	// Bounded: four more addresses in a table of three.
	for _, ip := range []string{"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"} {
		a.fail(t, ip)
	}
	body, _ := os.ReadFile(path)
	if n := strings.Count(string(body), "\n"); n > 3 {
		t.Fatalf("state file holds %d blocks, want at most 3:\n%s", n, body)
	}
	if strings.Contains(string(body), "192.0.2.1/32") {
		t.Fatalf("the oldest block was not the one dropped:\n%s", body)
	}
}
