package imapd

import (
	"errors"
	"net"
	"time"

	"imapd/auth"
)

// Handoff is a connection whose user has just authenticated, leaving the
// process that spoke with the client until then: the unprivileged login
// process of PAM mode gives it to a process running as the user
// (cmd/imapd/privsep.go), which serves it with ServeHandoff.
type Handoff struct {
	// Conn is the client's connection.
	Conn net.Conn
	// Identity is who logged in.
	Identity auth.Identity
	// Tag is the tag of the LOGIN or AUTHENTICATE that logged in: the
	// process taking over answers it.
	Tag string
	// Pending is what the client sent after that command: read from Conn
	// already, not yet served.
	Pending []byte
	// TLS says whether the client's connection is encrypted (Conn may
	// then be a relay of it), for the log.
	TLS bool
}

// handOff gives the connection of a user who has just authenticated as id
// to Options.Handoff. Once it has been taken over the session ends here
// without a word (the next process answers the login); if it has not,
// nothing is lost: what the client pipelined is read again, and the login
// is refused.
func (s *session) handOff(tag string, id auth.Identity) (outcome, error) {
	if err := s.w.Flush(); err != nil {
		return closed, nil
	}
	pending := s.r.Drain()
	s.conn.SetDeadline(time.Time{})
	err := s.srv.opts.Handoff(Handoff{Conn: s.conn, Identity: id, Tag: tag, Pending: pending, TLS: s.tls})
	if err != nil {
		s.r.Push(pending)
		s.log.Warn("login not handed over", "user", id.Username, "err", err)
		if errors.Is(err, ErrUserConnections) {
			return outcome{}, no("LIMIT", "Too many connections for this user from your address")
		}
		return outcome{}, no("UNAVAILABLE", "Cannot open the mailbox, try again later")
	}
	s.log.Debug("connection handed over", "user", id.Username)
	return closed, nil
}

// ServeHandoff serves a connection another process authenticated (see
// Handoff): it opens the user's store, answers the login command and
// goes on with what the client pipelined behind it. A store that cannot
// be opened ends the connection with NO and BYE, as the login cannot be
// undone here.
func (s *Server) ServeHandoff(h Handoff) {
	s.serveSession(h.Conn, func(sess *session) {
		sess.tls = h.TLS
		sess.r.Push(h.Pending)
		sess.handoff = &h
	})
}

// startHandedOff is run's start for a handed-over connection: the login
// completes here; false ends the connection.
func (s *session) startHandedOff(h *Handoff) bool {
	if err := s.login(h.Identity); err != nil {
		code, text := "UNAVAILABLE", "Cannot open the mailbox, try again later"
		if errors.Is(err, ErrUserConnections) {
			code, text = "LIMIT", "Too many connections for this user from your address"
		}
		s.w.Status(h.Tag, "NO", code, text)
		s.w.Status("", "BYE", "", "Logging out")
		s.w.Flush()
		return false
	}
	s.log.Info("login", "method", "password", "tls", h.TLS)
	s.sendLoginAlert()
	s.w.Status(h.Tag, "OK", "CAPABILITY "+s.capabilities(), "Logged in")
	return true
}
