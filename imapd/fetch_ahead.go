package imapd

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"imapd/imapd/wire"
)

// deriveAhead derives, on a helper goroutine, what a FETCH of many
// messages keeps in the store's cache for each (rendered ENVELOPE, BODY,
// BODYSTRUCTURE, HEADER.FIELDS: see Mailbox.Derived; RFC822.SIZE, which
// the name of a file Postfix delivered does not give), ahead of the
// session's goroutine, which writes the responses in order and then
// finds the data in the cache. A client's first listing of a folder is
// bound by parsing its messages; this way it takes two cores.
//
// The messages go in chunks; whoever claims a chunk first derives it,
// so no message is derived twice. The helper claims chunks in order from
// the second. The writer claims the chunk it reaches unless the helper
// has; then, until the helper finishes it, the writer derives the next
// chunk nobody claimed, so that both cores work. The helper holds a token of the
// server's scanPool per chunk, as SEARCH's scanners do, and stops when
// none is free: FETCHes and SEARCHes of all sessions share the cores.
type deriveAhead struct {
	s       *session
	plan    *fetchPlan
	uids    []uint32
	claimed []atomic.Bool   // per chunk: someone took it
	done    []chan struct{} // per chunk: closed when derived (not by the writer's own writing)
	stopped atomic.Bool
	wg      sync.WaitGroup
}

// aheadChunk is how many messages a claim covers.
const aheadChunk = 32

// deriveAhead starts the helper for a FETCH of items over uids, or
// returns nil when the items need no derived data, the messages are few
// or there is one core.
func (s *session) deriveAhead(plan *fetchPlan, uids []uint32) *deriveAhead {
	if len(uids) < 2*aheadChunk || runtime.GOMAXPROCS(0) < 2 {
		return nil
	}
	if derives, cached := s.derivedFor(plan, uids[len(uids)-1]); !derives || cached {
		// Warm: a client lists in order, so the last message cached
		// means the rest is too, and a helper would only contend with
		// the writer for the cache (twice the time of a warm FETCH).
		return nil
	}
	n := (len(uids) + aheadChunk - 1) / aheadChunk
	a := &deriveAhead{s: s, plan: plan, uids: uids, claimed: make([]atomic.Bool, n), done: make([]chan struct{}, n)}
	for k := range a.done {
		a.done[k] = make(chan struct{})
	}
	a.wg.Go(a.run)
	return a
}

// run is the helper: chunks from the second on, while a token is free.
// A panic is the session's kind of panic: counted and logged, and the
// writer derives the rest itself.
func (a *deriveAhead) run() {
	s := a.s
	defer func() {
		if v := recover(); v != nil {
			s.srv.panics.Add(1)
			s.log.Error("panic deriving ahead of a FETCH", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	pool := s.srv.scanPool
	for k := 1; k < len(a.done) && !a.stopped.Load(); k++ {
		if !pool.tryAcquire() {
			return
		}
		a.chunk(k)
		pool.release()
	}
}

// chunk derives chunk k unless somebody took it first, and reports
// whether it did.
func (a *deriveAhead) chunk(k int) bool {
	if !a.claimed[k].CompareAndSwap(false, true) {
		return false
	}
	defer close(a.done[k]) // also when derive panics: the writer never hangs
	for _, uid := range a.uids[k*aheadChunk : min((k+1)*aheadChunk, len(a.uids))] {
		a.s.derive(a.plan, uid)
	}
	return true
}

// reach is called by the writer before the message at index i of uids.
// At the start of a chunk nobody took, it takes it (and derives it by
// writing); of a chunk the helper took, it derives later chunks nobody
// took until the helper is done, or waits when none is left.
func (a *deriveAhead) reach(i int) {
	if a == nil || i%aheadChunk != 0 {
		return
	}
	k := i / aheadChunk
	if a.claimed[k].CompareAndSwap(false, true) {
		return
	}
	for next := k + 1; next < len(a.done); next++ {
		select {
		case <-a.done[k]:
			return
		default:
		}
		a.chunk(next)
	}
	<-a.done[k]
}

// stop ends the helper and waits for it (at most a chunk): the mailbox
// is the session's again.
func (a *deriveAhead) stop() {
	if a == nil {
		return
	}
	a.stopped.Store(true)
	a.wg.Wait()
}

// derivedFor reports whether items read the message for data the store
// keeps (what fetcher.rendered and fetcher.section derive, the list
// header a HEADER.FIELDS of list fields is answered from, RFC822.SIZE of
// a file whose name does not give it), and whether uid has all of it.
func (s *session) derivedFor(plan *fetchPlan, uid uint32) (derives, cached bool) {
	cached = true
	for i, it := range plan.items {
		has := true
		switch it.Kind {
		case wire.FetchRFC822Size:
			has = s.mbox.SizeKnown(uid)
		case wire.FetchEnvelope, wire.FetchBody, wire.FetchBodyStructure:
			derives, has = true, s.mbox.HasDerived(uid, renderKeys[it.Kind])
		case wire.FetchBodySection:
			if plan.secs[i].listed {
				derives, has = true, s.mbox.HasListHeader(uid)
			} else if k := plan.secs[i].key; k != "" {
				derives, has = true, s.mbox.HasDerived(uid, k)
			}
		}
		if !has {
			derives, cached = true, false
		}
	}
	return derives, cached
}

// derive computes and keeps uid's cached data for items, as write would,
// writing nothing. Errors are left for the writer to meet (an expunged
// message, an unreadable file).
func (s *session) derive(plan *fetchPlan, uid uint32) {
	f := fetcher{s: s, uid: uid}
	defer f.close()
	for i, it := range plan.items {
		switch it.Kind {
		case wire.FetchRFC822Size:
			_, _ = s.mbox.Size(uid)
		case wire.FetchEnvelope, wire.FetchBody, wire.FetchBodyStructure:
			_, _ = f.rendered(it.Kind)
		case wire.FetchBodySection:
			if plan.secs[i].key != "" {
				_, _, _, _ = f.section(&plan.secs[i], nil)
			}
		}
	}
}
