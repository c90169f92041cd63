package imapd

import (
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"imapd/imapd/wire"
)

// cmdIdle is RFC 2177: changes go out as they happen until DONE. Changes
// on disk by anyone reach us through the selected folder's wake-ups: its
// watcher (inotify, or its periodic check where inotify is unavailable)
// refreshes the folder and wakes every session.
//
// On a plain socket one goroutine does it all, holding no buffer while it
// waits (idleOnSocket): a server holding 10,000 IDLE connections pays for
// 10,000 goroutines and little else. Over TLS, whose input must be read
// to be waited for, the client's line is read on another goroutine.
func cmdIdle(s *session, c *wire.Command) (outcome, error) {
	if err := s.w.Continue("idling"); err != nil {
		return closed, nil
	}
	if !s.armRead() {
		s.bye("Server shutting down")
		return closed, nil
	}
	// The waits return the client's line rather than an outcome: a
	// smaller frame each, on the stack of every idling session (see
	// greet).
	var (
		line []byte
		ok   bool
		err  error
	)
	if rc := s.rawSocket(); rc != nil {
		line, ok, err = s.idleOnSocket(rc)
	} else {
		line, ok, err = s.idleReading()
	}
	if !ok {
		return closed, nil
	}
	return s.idleDone(line, err)
}

// idleReading is IDLE where the client's line must be read to be waited
// for (TLS): on another goroutine, while this one tells the changes. It
// returns the client's line or the error reading it, or false when the
// connection ends.
func (s *session) idleReading() ([]byte, bool, error) {
	type lineResult struct {
		line []byte
		err  error
	}
	lines := make(chan lineResult, 1)
	go func() {
		line, err := s.r.ReadLine()
		lines <- lineResult{line, err}
	}()
	for {
		var wake <-chan struct{}
		if s.mbox != nil {
			wake = s.mbox.Wake()
		}
		if !s.idleTell() {
			// Unblock the reader now: it would otherwise wait for the
			// client as long as IdleTimeout (a client that reads
			// nothing sends nothing either).
			s.conn.Close()
			<-lines
			return nil, false, nil
		}
		select {
		case <-wake:
		case res := <-lines:
			return res.line, true, res.err
		}
	}
}

// idleOnSocket is IDLE on a socket that can be waited on without reading:
// the folder's wake-ups cut the wait short by moving the read deadline
// into the past. The wait keeps this frame and its callers' on the
// stack of every idling session: what it needs beyond the wait is in
// functions of its own (see greet). It returns as idleReading does.
func (s *session) idleOnSocket(rc syscall.RawConn) (line []byte, ok bool, err error) {
	iw := &idleWake{active: true}
	if s.mbox != nil {
		conn := s.conn
		s.mbox.SetWakeHook(func() { iw.wake(conn) })
	}
	for {
		if !s.idleTell() {
			break
		}
		// Armed first, then asked: a wake-up after the question moves
		// the deadline the wait below is for.
		if !s.armRead() {
			s.bye("Server shutting down")
			break
		}
		if iw.take() {
			continue
		}
		err = s.waitInput(rc)
		if err == nil {
			line, ok, err = s.idleInput(iw)
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && iw.take() && !s.isInterrupted() {
			continue
		}
		ok = true // the error ends IDLE: readError answers it
		break
	}
	// Not deferred: a deferred call keeps the results in this frame.
	// After a panic the hook may stay; it then moves the deadline of a
	// closed connection.
	if s.mbox != nil {
		s.mbox.SetWakeHook(nil)
	}
	return line, ok, err
}

// idleWake orders a folder's wake-up against the end of an IDLE wait.
type idleWake struct {
	mu     sync.Mutex
	active bool // the wait may still be cut short
	woken  bool // it was, and the changes are not told yet
}

// wake cuts the wait on conn short, unless input came first.
func (iw *idleWake) wake(conn net.Conn) {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	if iw.active {
		iw.woken = true
		conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// take reports whether a wake-up came since the last call.
func (iw *idleWake) take() bool {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	w := iw.woken
	iw.woken = false
	return w
}

// idleInput ends an IDLE wait that input ended: no wake-up may cut the
// client's line short from now on.
func (s *session) idleInput(iw *idleWake) ([]byte, bool, error) {
	iw.mu.Lock()
	iw.active = false
	iw.mu.Unlock()
	if !s.armRead() {
		s.bye("Server shutting down")
		return nil, false, nil
	}
	line, err := s.r.ReadLine()
	return line, true, err
}

// idleTell sends what changed in the selected folder; false ends the
// connection (the client does not read, or the folder is gone).
func (s *session) idleTell() bool {
	if s.mbox == nil {
		return true
	}
	if s.mbox.Gone() {
		// Removed by another program: the client would idle on for up
		// to 30 minutes without a word, so end the connection as
		// Dovecot does.
		s.log.Info("selected folder removed during IDLE", "folder", s.mbox.Name())
		s.bye("Selected mailbox was deleted, have to disconnect")
		return false
	}
	s.flushUpdates(true)
	return s.w.Flush() == nil
}

// idleDone ends IDLE with the client's line, or the error reading it.
func (s *session) idleDone(line []byte, err error) (outcome, error) {
	if err != nil {
		// readError answered it, or the connection ends.
		if s.readError(err) {
			return outcome{end: sentOn}, nil
		}
		return closed, nil
	}
	if !strings.EqualFold(strings.TrimSpace(string(line)), "DONE") {
		return outcome{}, bad("Expected DONE to end IDLE")
	}
	return outcome{}, nil
}
