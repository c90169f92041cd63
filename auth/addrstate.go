package auth

import (
	"net/netip"
	"sync"
	"time"
)

// addrTable is the failed-login state that all attempts from an address
// block share, whatever connection they come on: the failure count that
// sets the delay, and the gate that spaces the block's password checks.
// It is the whole of the Throttle's shared state, in one place: in a
// process serving one connection (inetd, and PAM mode's session
// processes) it is backed by a ThrottleState file that all of them share
// (addrfile.go), so that the count goes on from one process to the next.
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
	// sleeping or while a backend runs. See lock.
	mu sync.Mutex
	// addrs holds the blocks that failed within window (or have queued
	// attempts). With a file, it is what the file held when mu was last
	// taken, plus this process's changes since.
	addrs map[netip.Prefix]*addrState
	// file, if not nil, holds addrs for all processes: it is read when
	// mu is taken and written back when mu is released.
	file *ThrottleState
	// now is the clock the file's entries are pruned by.
	now func() time.Time
	// onError reports a file that cannot be read or written; the table
	// then goes on with what it holds in memory.
	onError func(error)
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
	// held is whether the attempt holds a slot in its block's state.
	held bool
	// slot is the attempt's slot and after the next slot it left behind.
	slot, after time.Time
}

// slotted reports whether the attempt holds a slot.
func (p *pass) slotted() bool { return p.held }

func newAddrTable(base, maxDelay, window, maxWait time.Duration, maxAddrs int) *addrTable {
	return &addrTable{base: base, max: maxDelay, window: window, maxWait: maxWait,
		maxAddrs: maxAddrs, addrs: make(map[netip.Prefix]*addrState), now: time.Now, onError: func(error) {}}
}

// lock takes mu and, with a file, the file's lock, and reads the file
// into addrs; the function it returns writes addrs back if write is set
// (pruned to maxAddrs) and releases both. A file that cannot be read or
// written is reported and the table goes on with addrs as they are.
func (t *addrTable) lock(write bool) (unlock func()) {
	t.mu.Lock()
	if t.file == nil {
		return t.mu.Unlock
	}
	addrs, err := t.file.lockAndRead()
	if err != nil {
		t.onError(err)
		return t.mu.Unlock
	}
	t.addrs = addrs
	return func() {
		if write {
			now := t.now()
			for k, st := range t.addrs {
				// Forgotten, and no slot ahead: read by every attempt,
				// so kept short.
				if now.Sub(st.last) >= t.window && !st.next.After(now) {
					delete(t.addrs, k)
				}
			}
			for len(t.addrs) > t.maxAddrs {
				t.pruneLocked(now)
			}
			if err := t.file.write(t.addrs); err != nil {
				t.onError(err)
			}
		}
		t.file.unlock()
		t.mu.Unlock()
	}
}

// closeFile closes the file, if any; from then on the table is this
// process's memory, starting from what the file last held.
func (t *addrTable) closeFile() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil {
		return nil
	}
	err := t.file.Close()
	t.file = nil
	return err
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
	defer t.lock(true)()
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
	p.held, p.slot, p.after = true, slot, st.next
	return wait, nil
}

// gated reports whether key has recent failures, so that an attempt without
// a slot must take one before it is checked.
func (t *addrTable) gated(key netip.Prefix, now time.Time) bool {
	defer t.lock(false)()
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
	defer t.lock(true)()
	p.held = false
	st := t.addrs[p.key]
	if st == nil {
		return // dropped to make room: nothing to give back
	}
	st.queued = max(st.queued-1, 0)
	if st.next.Equal(p.after) {
		st.next = p.slot
	}
}

// fail counts a failed check from p's block that started at checked, and
// returns the count, the delay that now applies, and the refusals since
// the last failure. The block's next check starts no earlier than
// checked + delay.
func (t *addrTable) fail(p *pass, checked time.Time) (n int, delay time.Duration, refused int) {
	defer t.lock(true)()
	st := t.addrs[p.key]
	if p.slotted() {
		p.held = false
		if st != nil {
			st.queued = max(st.queued-1, 0)
		}
	}
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
