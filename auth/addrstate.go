package auth

import (
	"net/netip"
	"sync"
	"time"
)

// addrTable is the failed-login state that all attempts from an address
// block share, whatever connection they come on: the failure count that
// sets the delay, and the gate that spaces the block's password checks.
// It is the whole of the Throttle's shared state, in one place, so that it
// could be backed by a locked file shared by processes (inetd mode).
//
// The gate: a block with recent failures has a next slot, the earliest
// time its next password check may start. An attempt takes the slot and
// moves it on by the block's current delay; a failed check moves it on to
// at least the check's start plus the (now longer) delay. So however many
// connections a block opens, it gets about one check per current delay.
// An attempt that ends without a failure (a success, backend trouble, a
// cancelled wait) gives its slot back if no later attempt has taken one,
// so that successes do not slow the next login down. An attempt whose slot
// is more than maxWait away is refused unchecked: the queue is bounded in
// time, and so in length (maxWait/base + 1 per block at most). A block
// with no recent failures has no gate.
type addrTable struct {
	// base, max: the delay after one failure, doubling up to max.
	base, max time.Duration
	// window is how long failures are remembered after the last one.
	window time.Duration
	// maxWait bounds how far ahead a block's attempts queue.
	maxWait time.Duration
	// maxAddrs bounds len(addrs).
	maxAddrs int

	// mu guards addrs and every addrState in it; it is never held while
	// sleeping or while a backend runs.
	mu sync.Mutex
	// addrs holds the blocks that failed within window (or have queued
	// attempts).
	addrs map[netip.Prefix]*addrState
}

// addrState is one address block's recent failures and its gate.
type addrState struct {
	// n is the number of failures since the count last started.
	n int
	// last is the time of the latest failure.
	last time.Time
	// next is the earliest time the block's next password check may start.
	next time.Time
	// queued counts the attempts holding a slot whose check has not
	// ended yet.
	queued int
	// refused counts the attempts refused unchecked since the last failure
	// was logged; the failure's log line reports it, so a flood of refusals
	// costs one log line per check, not one per refusal.
	refused int
}

// pass is one attempt's way through the gate.
type pass struct {
	// key is the attempt's address block.
	key netip.Prefix
	// st is the block's state once the attempt holds a slot in it.
	st *addrState
	// slot is the attempt's slot and after the next slot it left behind.
	slot, after time.Time
}

// slotted reports whether the attempt holds a slot.
func (p *pass) slotted() bool { return p.st != nil }

func newAddrTable(base, maxDelay, window, maxWait time.Duration, maxAddrs int) *addrTable {
	return &addrTable{base: base, max: maxDelay, window: window, maxWait: maxWait,
		maxAddrs: maxAddrs, addrs: make(map[netip.Prefix]*addrState)}
}

// admit lets an attempt through the gate at now: for a block without
// recent failures, or for an attempt already holding a slot, it returns 0
// and takes nothing; otherwise it gives p the block's next slot and
// returns how long to wait for it. If that wait would exceed maxWait it
// takes nothing and returns ErrThrottled.
func (t *addrTable) admit(p *pass, now time.Time) (time.Duration, error) {
	if p.slotted() {
		return 0, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.recentLocked(p.key, now)
	if st == nil {
		return 0, nil
	}
	slot := now
	if st.next.After(now) {
		slot = st.next
	}
	wait := slot.Sub(now)
	if wait > t.maxWait {
		st.refused++
		return 0, ErrThrottled
	}
	st.queued++
	st.next = slot.Add(t.delayFor(st.n))
	p.st, p.slot, p.after = st, slot, st.next
	return wait, nil
}

// gated reports whether key has recent failures, so that an attempt without
// a slot must take one before it is checked.
func (t *addrTable) gated(key netip.Prefix, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.recentLocked(key, now) != nil
}

// recentLocked is key's state if it failed within the window, else nil.
func (t *addrTable) recentLocked(key netip.Prefix, now time.Time) *addrState {
	st := t.addrs[key]
	if st == nil || st.n == 0 || now.Sub(st.last) >= t.window {
		return nil
	}
	return st
}

// done ends an attempt that was not a failure (a success, an unchecked or
// abandoned attempt): it counts nothing, and gives the attempt's slot back
// if no later attempt has taken one. Giving it back cannot buy an attacker
// an extra check: the slot was used for no check, or for a success.
func (t *addrTable) done(p *pass) {
	if !p.slotted() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p.st.queued--
	if p.st.next.Equal(p.after) {
		p.st.next = p.slot
	}
	p.st = nil
}

// fail counts a failed check from p's block that started at checked, and
// returns the count, the delay that now applies, and the refusals since
// the last failure. The block's next check starts no earlier than
// checked + delay.
func (t *addrTable) fail(p *pass, checked time.Time) (n int, delay time.Duration, refused int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.slotted() {
		p.st.queued--
		p.st = nil
	}
	st := t.addrs[p.key]
	if st != nil && checked.Sub(st.last) >= t.window {
		st.n = 0
	}
	if st == nil {
		if len(t.addrs) >= t.maxAddrs {
			t.pruneLocked(checked)
		}
		st = &addrState{}
		t.addrs[p.key] = st
	}
	st.n++
	st.last = checked
	delay = t.delayFor(st.n)
	if next := checked.Add(delay); next.After(st.next) {
		st.next = next
	}
	refused, st.refused = st.refused, 0
	return st.n, delay, refused
}

// delayFor is base doubled for each failure after the first, capped at max.
func (t *addrTable) delayFor(n int) time.Duration {
	d := t.base
	for i := 1; i < n && d < t.max; i++ {
		d *= 2
	}
	return min(d, t.max)
}

// pruneLocked makes room in a full table: it drops the blocks whose window
// has passed and that have nothing queued and, if none has, the one with
// the oldest failure. An attempt queued on a dropped block keeps its slot;
// the block starts afresh.
func (t *addrTable) pruneLocked(now time.Time) {
	var oldest netip.Prefix
	var oldestAt time.Time
	for k, st := range t.addrs {
		if now.Sub(st.last) >= t.window && st.queued == 0 {
			delete(t.addrs, k)
			continue
		}
		if oldestAt.IsZero() || st.last.Before(oldestAt) {
			oldest, oldestAt = k, st.last
		}
	}
	if len(t.addrs) >= t.maxAddrs {
		delete(t.addrs, oldest)
	}
}

// AddrBlock is the address block one client is counted by: an IPv4
// address, an IPv6 /64; the zero Prefix for an invalid address.
func AddrBlock(a netip.Addr) netip.Prefix { return blockOf(a) }

// blockOf is the address block failures are counted by.
func blockOf(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}
