package imapd

import (
	"errors"
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
	if rc := s.rawSocket(); rc != nil {
		return s.idleOnSocket(rc)
	}
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
			return closed, nil
		}
		select {
		case <-wake:
		case res := <-lines:
			return s.idleDone(res.line, res.err)
		}
	}
}

// idleOnSocket is IDLE on a socket that can be waited on without reading:
// the folder's wake-ups cut the wait short by moving the read deadline
// into the past.
func (s *session) idleOnSocket(rc syscall.RawConn) (outcome, error) {
	var (
		mu     sync.Mutex // orders a wake-up against the end of the wait
		active = true
		woken  bool
	)
	if s.mbox != nil {
		conn := s.conn
		s.mbox.SetWakeHook(func() {
			mu.Lock()
			defer mu.Unlock()
			if active {
				woken = true
				conn.SetReadDeadline(time.Unix(1, 0))
			}
		})
		defer s.mbox.SetWakeHook(nil)
	}
	wasWoken := func() bool {
		mu.Lock()
		defer mu.Unlock()
		w := woken
		woken = false
		return w
	}
	for {
		if !s.idleTell() {
			return closed, nil
		}
		// Armed first, then asked: a wake-up after the question moves
		// the deadline the wait below is for.
		if !s.armRead() {
			s.bye("Server shutting down")
			return closed, nil
		}
		if wasWoken() {
			continue
		}
		err := s.waitInput(rc)
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && wasWoken() && !s.isInterrupted() {
			continue
		}
		if err == nil {
			// Input: no wake-up may cut the line short from now on.
			mu.Lock()
			active = false
			mu.Unlock()
			if !s.armRead() {
				s.bye("Server shutting down")
				return closed, nil
			}
			line, err := s.r.ReadLine()
			return s.idleDone(line, err)
		}
		return s.idleDone(nil, err)
	}
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
		return outcome{sent: true, logout: !s.readError(err)}, nil
	}
	if !strings.EqualFold(strings.TrimSpace(string(line)), "DONE") {
		return outcome{}, bad("Expected DONE to end IDLE")
	}
	return outcome{}, nil
}
