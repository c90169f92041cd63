package imapd

import (
	"context"
	"sync/atomic"
)

// scanPool bounds the goroutines that scan messages for SEARCH in the
// whole server to Limits.SearchWorkers, however many searches run: ten
// clients searching at once share the cores instead of each taking them
// all (issue 9). A scanner holds a token while it evaluates a chunk of
// messages and gives it back after, so that searches waiting for one
// (acquire) get their turn in arrival order between chunks, and a long
// search cannot keep a short one out for its whole run.
type scanPool struct {
	tokens chan struct{} // a token is a buffered element; cap is the bound
	active atomic.Int64  // tokens held now
	peak   atomic.Int64  // the most tokens ever held at once (tests, metrics)
}

func newScanPool(n int) *scanPool {
	return &scanPool{tokens: make(chan struct{}, max(n, 1))}
}

// size is the bound.
func (p *scanPool) size() int { return cap(p.tokens) }

// acquire waits for a token, or until ctx is done.
func (p *scanPool) acquire(ctx context.Context) error {
	select {
	case p.tokens <- struct{}{}:
		p.took()
		return nil
	default:
	}
	select {
	case p.tokens <- struct{}{}:
		p.took()
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// tryAcquire takes a token if one is free now.
func (p *scanPool) tryAcquire() bool {
	select {
	case p.tokens <- struct{}{}:
		p.took()
		return true
	default:
		return false
	}
}

func (p *scanPool) took() {
	n := p.active.Add(1)
	for {
		peak := p.peak.Load()
		if n <= peak || p.peak.CompareAndSwap(peak, n) {
			return
		}
	}
}

// release gives a token back.
func (p *scanPool) release() {
	p.active.Add(-1)
	<-p.tokens
}
