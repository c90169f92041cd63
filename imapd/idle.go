package imapd

import (
	"strings"

	"imapd/imapd/wire"
)

// cmdIdle is RFC 2177: changes go out as they happen until DONE. The
// client's line is read on another goroutine; everything else, writing
// included, stays on this one.
func cmdIdle(s *session, c *wire.Command) (outcome, error) {
	if err := s.w.Continue("idling"); err != nil {
		return closed, nil
	}
	if !s.armRead() {
		s.bye("Server shutting down")
		return closed, nil
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
	// Changes on disk by anyone reach us through the store's Wake channel:
	// its watcher (inotify, or its periodic check where inotify is
	// unavailable) refreshes the folder and wakes every session.
	for {
		var wake <-chan struct{}
		if s.mbox != nil {
			wake = s.mbox.Wake()
			s.flushUpdates(true)
			if err := s.w.Flush(); err != nil {
				// Unblock the reader now: it would otherwise wait for
				// the client as long as IdleTimeout (a client that
				// reads nothing sends nothing either).
				s.conn.Close()
				<-lines
				return closed, nil
			}
		}
		select {
		case <-wake:
			if s.mbox.Gone() {
				// Removed by another program: the client would idle on
				// for up to 30 minutes without a word, so end the
				// connection as Dovecot does.
				s.log.Info("selected folder removed during IDLE", "folder", s.mbox.Name())
				s.bye("Selected mailbox was deleted, have to disconnect")
				s.conn.Close()
				<-lines
				return closed, nil
			}
		case res := <-lines:
			if res.err != nil {
				// readError answered it, or the connection ends.
				return outcome{sent: true, logout: !s.readError(res.err)}, nil
			}
			if !strings.EqualFold(strings.TrimSpace(string(res.line)), "DONE") {
				return outcome{}, bad("Expected DONE to end IDLE")
			}
			return outcome{}, nil
		}
	}
}
