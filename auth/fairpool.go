package auth

import (
	"context"
	"net/netip"
	"sync"
)

// fairPool is a counting semaphore whose waiters are served round-robin
// by address block, not in arrival order: when many connections from a
// few addresses queue for the password checks, a client from another
// address waits for one check per address ahead of it, not for every
// check queued. (Seen: with hundreds of logins queued from 40 addresses,
// a normal client's LOGIN took 2 s in arrival order.)
type fairPool struct {
	mu     sync.Mutex
	free   int                              // tokens not held
	queues map[netip.Prefix][]chan struct{} // waiters per address block, oldest first
	order  []netip.Prefix                   // blocks with waiters, next to serve first
}

func newFairPool(n int) *fairPool {
	return &fairPool{free: n, queues: map[netip.Prefix][]chan struct{}{}}
}

// acquire takes a token for a caller from key, waiting for its turn, or
// returns ctx's error.
func (p *fairPool) acquire(ctx context.Context, key netip.Prefix) error {
	p.mu.Lock()
	if p.free > 0 && len(p.order) == 0 {
		p.free--
		p.mu.Unlock()
		return nil
	}
	ch := make(chan struct{}, 1)
	if len(p.queues[key]) == 0 {
		p.order = append(p.order, key)
	}
	p.queues[key] = append(p.queues[key], ch)
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queues[key]
	for i, w := range q {
		if w == ch {
			p.queues[key] = append(q[:i:i], q[i+1:]...)
			if len(p.queues[key]) == 0 {
				p.dropKeyLocked(key)
			}
			return ctx.Err()
		}
	}
	// Granted while we gave up: hand the token on.
	p.releaseLocked()
	return ctx.Err()
}

// release gives a token back, to the next address block's oldest waiter
// if there is one.
func (p *fairPool) release() {
	p.mu.Lock()
	p.releaseLocked()
	p.mu.Unlock()
}

func (p *fairPool) releaseLocked() {
	if len(p.order) == 0 {
		p.free++
		return
	}
	key := p.order[0]
	p.order = p.order[1:]
	q := p.queues[key]
	ch := q[0]
	if len(q) == 1 {
		delete(p.queues, key)
	} else {
		p.queues[key] = q[1:]
		p.order = append(p.order, key) // its next waiter after the others
	}
	ch <- struct{}{}
}

func (p *fairPool) dropKeyLocked(key netip.Prefix) {
	delete(p.queues, key)
	for i, k := range p.order {
		if k == key {
			p.order = append(p.order[:i:i], p.order[i+1:]...)
			return
		}
	}
}
