package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"imapd/auth"
	"imapd/maildir"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Authenticator checks passwords. It is wrapped in a Throttle (with
	// the Logger) unless Throttle is set, which then takes precedence.
	Authenticator auth.Authenticator
	// Throttle checks passwords, delaying and logging failed logins; nil:
	// an auth.Throttle made from Authenticator.
	Throttle PasswordChecker
	// OpenStore opens the Maildir of a user who has logged in. Required.
	OpenStore func(auth.Identity) (*maildir.Store, error)

	// TLSConfig enables STARTTLS (and is what ServeTLS listeners use);
	// nil: no STARTTLS.
	TLSConfig *tls.Config
	// AllowPlaintext allows LOGIN and AUTHENTICATE PLAIN on any cleartext
	// connection. Without it they are refused (LOGINDISABLED, no
	// AUTH=PLAIN) before TLS, except on loopback and non-IP connections
	// (a pipe, stdin/stdout under inetd, a Unix socket), which never leave
	// the host; Dovecot makes the same choice.
	AllowPlaintext bool

	// Limits bound what a client can make the server hold or do (see
	// Limits; zero fields take the defaults).
	Limits Limits

	// SpecialFolders name the folders LIST marks with a special use (RFC
	// 6154), besides the names such folders usually have (Sent, Trash,
	// ...) and those a client CREATEs with (USE (...)). With
	// CreateSpecialFolders, those whose use no folder has are created,
	// subscribed, at a user's first login (the first that finds no
	// special-use sidecar in the Maildir).
	SpecialFolders       []SpecialFolder
	CreateSpecialFolders bool

	// LoginAlert, if set, is sent to every client right after it logs in
	// (or with a PREAUTH greeting) as "* OK [ALERT] text", which RFC 3501
	// §7.1 asks clients to show to the user: for announcements.
	LoginAlert string

	// Handoff, if set, takes the connection of a user who has just
	// authenticated, instead of this server opening the store: the login
	// process of PAM mode (see Handoff). It returns nil once another
	// process has the connection (having relayed it to the end, if that
	// is how it is handed over), or an error if it was not taken, which
	// refuses the login (ErrUserConnections: NO [LIMIT]).
	Handoff func(Handoff) error

	// Logger receives a line per connection, login, failed login and
	// error; nil: slog.Default().
	Logger *slog.Logger
}

// PasswordChecker checks the password of a login from remote: an
// *auth.Throttle, or (in PAM mode's login process) a messenger to the
// process that runs one.
type PasswordChecker interface {
	Authenticate(ctx context.Context, remote netip.Addr, username, password string) (auth.Identity, error)
}

// Server is an IMAP4rev1 server. Create it with New.
type Server struct {
	opts     Options
	log      *slog.Logger
	throttle PasswordChecker

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	// conns counts the connections (MaxConnections) and those from each
	// address block (MaxConnectionsPerIP); perUserIP the logged-in ones
	// of each user from each block (MaxUserConnectionsPerIP). See
	// connlimits.go.
	conns     *ConnCounter
	perUserIP map[userBlock]int
	closing   bool
	done      chan struct{} // closed by Shutdown
	// ctx is cancelled by Shutdown: it cuts short login delays.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// scanPool bounds SEARCH's scanning goroutines (Limits.SearchWorkers).
	scanPool *scanPool

	nextID atomic.Uint64
	panics atomic.Int64

	// arrivals counts sessions since the last collection after a burst;
	// burstEnd runs it (collectAfterBurst). Under mu.
	arrivals int
	burstEnd *time.Timer
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("imapd: server closed")

// New returns a Server with the options o.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Limits = o.Limits.withDefaults()
	s := &Server{opts: o, log: o.Logger, throttle: o.Throttle,
		listeners: map[net.Listener]struct{}{}, sessions: map[*session]struct{}{},
		conns: NewConnCounter(o.Limits), perUserIP: map[userBlock]int{},
		done: make(chan struct{}), scanPool: newScanPool(o.Limits.SearchWorkers)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.throttle == nil && o.Authenticator != nil {
		s.throttle = auth.NewThrottle(o.Authenticator, auth.ThrottleOptions{Logger: o.Logger, Concurrency: o.Limits.LoginConcurrency})
	}
	return s
}

// RecoveredPanics returns how many panics the server recovered from (a
// session is closed after each). Tests fail when it is not zero.
func (s *Server) RecoveredPanics() int64 { return s.panics.Load() }

// SetTLSConfig replaces the TLS configuration for new STARTTLS
// negotiations (certificate reload on SIGHUP).
func (s *Server) SetTLSConfig(c *tls.Config) {
	s.mu.Lock()
	s.opts.TLSConfig = c
	s.mu.Unlock()
}

func (s *Server) tlsConfig() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.TLSConfig
}

// Serve accepts connections on l until Shutdown, serving each in its own
// goroutine. Connections from a tls.Listener count as secure.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTemporary(err)) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		go s.ServeConn(c)
	}
}

// errTemporary is a hook for errors.Is in Serve: an accept error that
// carries "Temporary() bool" returning true (EMFILE and the like).
func errTemporary(err error) error {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return err
	}
	return nil
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// ServeConn serves one connection (inetd, systemd Accept=yes, tests) and
// returns when it is closed. A *tls.Conn counts as secure.
func (s *Server) ServeConn(c net.Conn) {
	s.serveSession(c, nil)
}

// ServePreauth serves one connection already authenticated as id, with a
// PREAUTH greeting (RFC 3501 §7.1.4): for a pipe from ssh, or --preauth.
func (s *Server) ServePreauth(c net.Conn, id auth.Identity) {
	s.serveSession(c, func(sess *session) { sess.preauth = &id })
}

// serveSession serves c; setup, if set, prepares the session before it
// starts (a PREAUTH or handed-over one).
func (s *Server) serveSession(c net.Conn, setup func(*session)) {
	sess := newSession(s, c)
	if setup != nil {
		setup(sess)
	}
	if !s.admit(sess, c) {
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.conns.Release(sess.block)
		s.mu.Unlock()
		s.wg.Done()
	}()
	sess.run()
}

// admit counts sess, on c, among the server's sessions, or refuses it (BYE,
// and the connection closed) when the server is shutting down or a
// connection limit is reached. A function of its own, as session.greet
// is: serveSession's frame stays on every session's stack.
func (s *Server) admit(sess *session, c net.Conn) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		sess.w.Status("", "BYE", "UNAVAILABLE", "Server shutting down")
		sess.w.Flush()
		c.Close()
		return false
	}
	refused := s.conns.Admit(sess.block)
	if refused == nil {
		s.sessions[sess] = struct{}{}
		s.wg.Add(1)
		s.noteArrivalLocked()
	}
	s.mu.Unlock()
	if refused == nil {
		return true
	}
	if errors.Is(refused, ErrTooManyFromAddress) {
		s.log.Warn("too many connections from one address", "remote", remoteString(c),
			"limit", s.conns.MaxPerIP())
	} else {
		s.log.Warn("too many connections", "remote", remoteString(c))
	}
	sess.w.Status("", "BYE", "UNAVAILABLE", refused.Error())
	sess.w.Flush()
	c.Close()
	return false
}

// burstSessions is how many sessions make a burst: once that many came
// since the last collection, one follows when a second passes without a
// new one (collectAfterBurst).
var burstSessions = 512

// noteArrivalLocked counts a new session toward a burst. The caller holds
// s.mu.
func (s *Server) noteArrivalLocked() {
	s.arrivals++
	switch {
	case s.arrivals < burstSessions:
	case s.burstEnd == nil:
		s.burstEnd = time.AfterFunc(time.Second, s.collectAfterBurst)
	default:
		s.burstEnd.Reset(time.Second)
	}
}

// collectAfterBurst runs a collection once a burst of sessions (a
// thousand phones reconnecting after a network blip) has ended. Their
// logins left garbage, and each session that now waits for its client
// has a stack grown by its first commands, which only a collection
// halves (see session.greet); the runtime would collect on its own only
// when the heap grows again, or after two minutes. Two collections: the
// stacks a first one leaves behind are freed by the second, and the
// memory then returned to the system.
func (s *Server) collectAfterBurst() {
	s.mu.Lock()
	s.arrivals, s.burstEnd = 0, nil
	s.mu.Unlock()
	runtime.GC()
	debug.FreeOSMemory()
}

// Shutdown stops the server: listeners close at once, idle sessions get
// "* BYE" and are closed, running commands finish (and then get BYE),
// but SEARCH and FETCH, which change nothing, stop at the next message. A
// session whose client leaves its output unread is cut after a second,
// whatever WriteTimeout is.
// It returns when every session has ended, or ctx is done; then the rest
// are closed abruptly.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
		s.cancel()
	}
	for l := range s.listeners {
		l.Close()
	}
	for sess := range s.sessions {
		sess.interrupt()
	}
	s.mu.Unlock()
	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for sess := range s.sessions {
			sess.mu.Lock() // STARTTLS replaces conn under it
			sess.conn.Close()
			sess.mu.Unlock()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

func remoteString(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return "unknown"
}
