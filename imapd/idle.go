package imapd

import (
	"errors"
	"strings"
	"time"

	"imapd/imapd/wire"
	"imapd/maildir"
)

// idleRefresh is how often IDLE looks at the disk for changes made by
// other programs (Postfix, mutt), besides the
// store's own change notification (the Wake channel).
const idleRefresh = time.Second

// cmdIdle is RFC 2177: changes go out as they happen until DONE. The
// client's line is read on another goroutine; everything else, writing
// included, stays on this one.
func cmdIdle(s *session, c *wire.Command) error {
	if err := s.w.Continue("idling"); err != nil {
		s.state = stateLogout
		return nil
	}
	if !s.armRead() {
		s.bye("Server shutting down")
		s.state = stateLogout
		return nil
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
	tick := time.NewTicker(idleRefresh)
	defer tick.Stop()
	for {
		var wake <-chan struct{}
		if s.mbox != nil {
			wake = s.mbox.Wake()
			s.flushUpdates(true)
			if err := s.w.Flush(); err != nil {
				<-lines
				s.state = stateLogout
				return nil
			}
		}
		select {
		case <-wake:
		case <-tick.C:
			if s.mbox != nil {
				if err := s.mbox.Refresh(false); err != nil {
					if errors.Is(err, maildir.ErrFolderGone) || errors.Is(err, maildir.ErrNotFound) {
						// Removed by another program: the client would
						// idle on for up to 30 minutes without a word,
						// so end the connection as Dovecot does.
						s.log.Info("selected folder removed during IDLE", "folder", s.mbox.Name())
						s.bye("Selected mailbox was deleted, have to disconnect")
						s.conn.Close()
						<-lines
						s.state = stateLogout
						return nil
					}
					s.log.Warn("refresh during IDLE", "err", err)
				}
			}
		case res := <-lines:
			if res.err != nil {
				if !s.readError(res.err) {
					s.state = stateLogout
				}
				s.responded = true
				return nil
			}
			if !strings.EqualFold(strings.TrimSpace(string(res.line)), "DONE") {
				return bad("Expected DONE to end IDLE")
			}
			return nil
		}
	}
}
