package imapd

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/emersion/go-sasl"

	"imapd/auth"
	"imapd/imapd/wire"
)

// cmdStartTLS is RFC 3501 §6.2.1.
func cmdStartTLS(s *session, c *wire.Command) (outcome, error) {
	cfg := s.srv.tlsConfig()
	switch {
	case s.tls:
		return outcome{}, bad("TLS is already active")
	case cfg == nil:
		// Not offered in CAPABILITY, so an unknown command here (BAD, as
		// Dovecot answers without ssl).
		return outcome{}, bad("TLS is not configured")
	}
	if s.r.Buffered() > 0 {
		// Commands pipelined after STARTTLS would be taken as having come
		// over TLS (CVE-2011-0411 and kin): refuse them all.
		s.log.Warn("client pipelined after STARTTLS")
		s.w.Status(c.Tag, "BAD", "", "Commands after STARTTLS must wait for TLS")
		s.w.Status("", "BYE", "", "Closing: commands were pipelined after STARTTLS")
		return closed, nil
	}
	s.w.Status(c.Tag, "OK", "", "Begin TLS negotiation now")
	if err := s.w.Flush(); err != nil {
		return closed, nil
	}
	tc := tls.Server(s.conn, cfg)
	tc.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.Handshake(); err != nil {
		s.log.Info("TLS handshake failed", "err", err)
		return closed, nil
	}
	tc.SetDeadline(time.Time{})
	s.mu.Lock()
	s.conn = tc
	s.mu.Unlock()
	s.r.Reset(tc)
	s.w.Reset(timedWriter{s, tc})
	s.tls, s.secure = true, true
	return outcome{end: sentOn}, nil
}

// cmdLogin is RFC 3501 §6.2.3.
func cmdLogin(s *session, c *wire.Command) (outcome, error) {
	if !s.secure {
		return outcome{}, no("PRIVACYREQUIRED", "Plaintext login is disabled before STARTTLS")
	}
	a := c.Args.(*wire.LoginArgs)
	return s.authenticate(c.Tag, a.Username, a.Password)
}

// cmdAuthenticate is RFC 3501 §6.2.2 with SASL-IR (RFC 4959); PLAIN is
// the only mechanism (RFC 4616).
func cmdAuthenticate(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.AuthenticateArgs)
	if a.Mechanism != "PLAIN" {
		return outcome{}, no("CANNOT", "Unsupported authentication mechanism")
	}
	if !s.secure {
		return outcome{}, no("PRIVACYREQUIRED", "Plaintext authentication is disabled before STARTTLS")
	}
	var authOut outcome
	var authErr error
	server := sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			authErr = no("AUTHORIZATIONFAILED", "Cannot log in as another user")
			return authErr
		}
		authOut, authErr = s.authenticate(c.Tag, username, password)
		return authErr
	})
	var resp []byte
	if a.HasInitialResponse {
		resp = a.InitialResponse
	}
	for {
		challenge, done, err := server.Next(resp)
		if authErr != nil {
			return authOut, authErr
		}
		if err != nil {
			return outcome{}, no("AUTHENTICATIONFAILED", "Invalid SASL PLAIN message")
		}
		if done {
			return authOut, nil
		}
		if err := s.w.ContinueSASL(challenge); err != nil {
			return outcome{}, err
		}
		if !s.armRead() {
			return outcome{}, no("UNAVAILABLE", "Server shutting down")
		}
		line, err := s.r.ReadLine()
		if err != nil {
			return closed, err
		}
		if string(line) == "*" {
			return outcome{}, bad("Authentication cancelled")
		}
		if resp, err = wire.DecodeSASL(line); err != nil {
			return outcome{}, bad("Invalid base64 in the SASL response")
		}
	}
}

// authenticate checks a password and logs in. Too many failures on one
// connection end it with BYE; attempts refused unchecked (the address's
// queue is full) count too, so that a connection cannot retry forever.
func (s *session) authenticate(tag, user, pass string) (outcome, error) {
	if s.srv.throttle == nil {
		return outcome{}, no("UNAVAILABLE", "No authentication backend is configured")
	}
	id, err := s.srv.throttle.Authenticate(s.srv.ctx, remoteAddr(s.conn), user, pass)
	if err != nil {
		if errors.Is(err, auth.ErrFailed) || errors.Is(err, auth.ErrThrottled) {
			s.failed++
			if s.failed >= s.srv.opts.Limits.MaxFailedLogins {
				return outcome{bye: "Too many failed logins"}, err
			}
		}
		return outcome{}, err
	}
	if s.srv.opts.Handoff != nil {
		return s.handOff(tag, id)
	}
	if err := s.login(id); err != nil {
		if errors.Is(err, ErrUserConnections) {
			return outcome{}, no("LIMIT", "Too many connections for this user from your address")
		}
		return outcome{}, no("UNAVAILABLE", "Cannot open the mailbox, try again later")
	}
	s.log.Info("login", "method", "password", "tls", s.tls)
	s.sendLoginAlert()
	return outcome{code: "CAPABILITY " + s.capabilities(), text: "Logged in"}, nil
}

// remoteAddr is the client's IP address, or the zero Addr for a pipe.
func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}
