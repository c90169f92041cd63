package imapd

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"imapd/auth"
)

// What one client may hold of the connection itself: time before login
// (PreLoginTimeout), time it may leave our output unread (WriteTimeout),
// connections from its address (MaxConnectionsPerIP) and logged-in
// connections of one user from it (MaxUserConnectionsPerIP).

// shutdownWriteGrace is how long a write may take once Shutdown has
// begun: a client that reads gets its last responses and BYE, one that
// does not is cut after this, however long WriteTimeout is.
const shutdownWriteGrace = time.Second

// timedWriter is what a session's wire.Writer writes to: each write to
// the network (a Flush, or a full buffer of a long response) must finish
// within WriteTimeout. It wraps the connection as it is at the time (the
// *tls.Conn after STARTTLS, whose deadline is its network connection's).
type timedWriter struct {
	s    *session
	conn net.Conn
}

func (w timedWriter) Write(p []byte) (int, error) {
	w.s.armWrite(w.conn)
	n, err := w.conn.Write(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !w.s.writeTimedOut {
		w.s.writeTimedOut = true
		if w.s.isInterrupted() {
			w.s.log.Info("client left our output unread during shutdown, closing")
		} else {
			w.s.log.Info("client left our output unread for too long, closing",
				"timeout", w.s.srv.opts.Limits.WriteTimeout)
		}
	}
	return n, err
}

// armWrite sets the write deadline of c before a write: WriteTimeout,
// or shutdownWriteGrace once Shutdown has begun. Under s.mu, so that it
// never undoes the shorter deadline interrupt sets.
func (s *session) armWrite(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.SetWriteDeadline(time.Now().Add(s.writeTimeoutLocked()))
}

func (s *session) writeTimeoutLocked() time.Duration {
	d := s.srv.opts.Limits.WriteTimeout
	if s.interrupted {
		d = min(d, shutdownWriteGrace)
	}
	return d
}

// readDeadline is the read deadline for the next wait for the client:
// before login the rest of PreLoginTimeout, counted from the connection's
// start (a client may not stay by sending NOOPs); then IdleTimeout.
func (s *session) readDeadline() time.Time {
	if s.state == stateNotAuth {
		return s.start.Add(s.srv.opts.Limits.PreLoginTimeout)
	}
	return time.Now().Add(s.srv.opts.Limits.IdleTimeout)
}

// addrBlock is the address block c is counted in (an IPv4 address, an
// IPv6 /64); invalid for a connection without an IP (a pipe, a Unix
// socket), which is not counted per address.
func addrBlock(c net.Conn) netip.Prefix {
	return auth.AddrBlock(remoteAddr(c))
}

// ConnCounter counts open connections against MaxConnections and
// MaxConnectionsPerIP. The Server holds one; a parent that hands each
// connection to a process of its own (PAM mode) holds another, so that
// the caps hold there too. Safe for concurrent use.
type ConnCounter struct {
	// max and maxPerIP are the limits, defaults filled in.
	max, maxPerIP int
	// mu guards total and perIP.
	mu sync.Mutex
	// total counts the connections admitted and not yet released.
	total int
	// perIP counts them by address block; a block at zero is deleted.
	perIP map[netip.Prefix]int
}

// The refusals of ConnCounter.Admit; their text is what the client is
// told, after "* BYE [UNAVAILABLE] ".
var (
	ErrTooManyConnections = errors.New("Too many connections, try again later")
	ErrTooManyFromAddress = errors.New("Too many connections from your address")
)

// NewConnCounter counts against l's MaxConnections and
// MaxConnectionsPerIP (zero: the defaults).
func NewConnCounter(l Limits) *ConnCounter {
	l = l.withDefaults()
	return &ConnCounter{max: l.MaxConnections, maxPerIP: l.MaxConnectionsPerIP, perIP: map[netip.Prefix]int{}}
}

// Admit counts a connection from block (auth.AddrBlock of its remote
// address; invalid for a pipe or Unix socket, which is counted in the
// total only), or refuses it with ErrTooManyConnections or
// ErrTooManyFromAddress and counts nothing.
func (c *ConnCounter) Admit(block netip.Prefix) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total >= c.max {
		return ErrTooManyConnections
	}
	if block.IsValid() {
		if c.perIP[block] >= c.maxPerIP {
			return ErrTooManyFromAddress
		}
		c.perIP[block]++
	}
	c.total++
	return nil
}

// Release undoes an Admit of block that succeeded.
func (c *ConnCounter) Release(block netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if !block.IsValid() {
		return
	}
	if c.perIP[block]--; c.perIP[block] <= 0 {
		delete(c.perIP, block)
	}
}

// MaxPerIP is the MaxConnectionsPerIP counted against, for log lines.
func (c *ConnCounter) MaxPerIP() int { return c.maxPerIP }

// userBlock is what MaxUserConnectionsPerIP counts: one user from one
// address block.
type userBlock struct {
	user  string
	block netip.Prefix
}

// ErrUserConnections refuses a login beyond MaxUserConnectionsPerIP.
var ErrUserConnections = errors.New("too many connections for this user from this address")

// acquireUser counts a login of user from block; false if the pair
// already has MaxUserConnectionsPerIP.
func (s *Server) acquireUser(k userBlock) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUserIP[k] >= s.opts.Limits.MaxUserConnectionsPerIP {
		return false
	}
	s.perUserIP[k]++
	return true
}

// releaseUser undoes acquireUser.
func (s *Server) releaseUser(k userBlock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUserIP[k]--; s.perUserIP[k] <= 0 {
		delete(s.perUserIP, k)
	}
}

// holdUserSlot counts this session's login of id against
// MaxUserConnectionsPerIP until releaseUserSlot; a connection without an
// IP is not counted.
func (s *session) holdUserSlot(id auth.Identity) error {
	if !s.block.IsValid() {
		return nil
	}
	k := userBlock{id.Username, s.block}
	if !s.srv.acquireUser(k) {
		s.log.Warn("login refused: too many connections for this user from this address",
			"user", id.Username, "limit", s.srv.opts.Limits.MaxUserConnectionsPerIP)
		return ErrUserConnections
	}
	s.userSlot = &k
	return nil
}

// releaseUserSlot gives back what holdUserSlot took, if anything.
func (s *session) releaseUserSlot() {
	if s.userSlot != nil {
		s.srv.releaseUser(*s.userSlot)
		s.userSlot = nil
	}
}
