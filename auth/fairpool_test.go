package auth

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// Waiters are served round-robin by address block: a newcomer from a
// second address waits for one check of the busy address, not for all
// that address has queued.
func TestFairPoolRoundRobin(t *testing.T) {
	p := newFairPool(1)
	a := netip.MustParsePrefix("192.0.2.1/32")
	b := netip.MustParsePrefix("198.51.100.1/32")
	ctx := context.Background()
	if err := p.acquire(ctx, a); err != nil {
		t.Fatal(err)
	}
	served := make(chan string, 10)
	waitingA := 0
	wait := func(name string, key netip.Prefix) {
		go func() {
			if err := p.acquire(ctx, key); err == nil {
				served <- name
			}
		}()
		// Let it queue before the next one.
		deadline := time.Now().Add(2 * time.Second)
		for {
			p.mu.Lock()
			n := len(p.queues[key])
			p.mu.Unlock()
			if n > 0 && (key != a || n == waitingA+1) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if key == a {
			waitingA++
		}
	}
	for _, n := range []string{"a1", "a2", "a3", "a4"} {
		wait(n, a)
	}
	wait("b1", b)
	var order []string
	for range 5 {
		p.release()
		select {
		case n := <-served:
			order = append(order, n)
		case <-time.After(2 * time.Second):
			t.Fatalf("nobody served after %v", order)
		}
	}
	if want := "[a1 b1 a2 a3 a4]"; fmtSlice(order) != want {
		t.Fatalf("served %v, want %s", order, want)
	}
	// A waiter that gives up leaves no token stranded.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.acquire(cctx, b) }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled acquire succeeded while the token was held")
	}
	p.release()
	if err := p.acquire(ctx, b); err != nil {
		t.Fatal(err)
	}
}

func fmtSlice(s []string) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out + "]"
}
