package imapd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"imapd/auth"
	"imapd/imapd/wire"
	"imapd/maildir"
)

// state is a connection state of RFC 3501 §3.
type state uint8

const (
	stateNotAuth state = 1 << iota
	stateAuth
	stateSelected
	stateLogout

	anyState = stateNotAuth | stateAuth | stateSelected
	authed   = stateAuth | stateSelected
)

// session is one client connection. Everything but interrupt runs on the
// connection's goroutine.
type session struct {
	srv  *Server
	conn net.Conn
	id   uint64
	log  *slog.Logger
	r    *wire.Reader
	w    *wire.Writer

	state  state
	tls    bool // TLS is active (implicit, or after STARTTLS)
	secure bool // plaintext passwords may be sent: TLS, loopback, pipe

	user  auth.Identity
	store *maildir.Store
	mbox  *maildir.Mailbox
	// sel is the selected folder as the client knows it (tracker.go);
	// nil when none is selected.
	sel *tracker
	// updScratch is flushUpdates' list, reused.
	updScratch []update
	enabled    map[string]bool
	// parseWarned holds the UIDs of the selected mailbox for which
	// [PARSE] was sent (fetch.go); reset with the selection.
	parseWarned map[uint32]struct{}
	// searchRes is the search result variable of RFC 5182, "$": the UIDs
	// the last SEARCH ... RETURN (SAVE) kept, ascending; reset with the
	// selection (§2.1: SELECT, EXAMINE, CLOSE, UNSELECT).
	searchRes []uint32

	// fetchVals is FETCH's scratch space, reused from message to message.
	fetchVals []fetchValue
	// flagScratch is flagList's, likewise.
	flagScratch []string
	failed      int // failed logins on this connection
	// overlong counts the overlong command lines in a row; at
	// maxOverlongLines the connection ends.
	overlong int

	// start is when the connection was accepted: PreLoginTimeout counts
	// from it.
	start time.Time
	// block is the client's address block (connlimits.go); invalid for
	// a connection without an IP.
	block netip.Prefix
	// userSlot is the MaxUserConnectionsPerIP count this session holds
	// once logged in from an IP; nil otherwise.
	userSlot *userBlock
	// writeTimedOut is set at the first write that ran out of time (it
	// is logged once).
	writeTimedOut bool
	// idLogged is set once the client's ID has been logged at info.
	idLogged bool

	// raw is rawOf's socket, for waitInput (rawSocket).
	rawOf net.Conn
	raw   syscall.RawConn

	// preauth and handoff, when set, start the session logged in: with
	// a PREAUTH greeting, or answering the login of another process.
	preauth *auth.Identity
	handoff *Handoff

	mu          sync.Mutex // guards interrupted
	interrupted bool       // Shutdown asked the session to end
}

func newSession(srv *Server, c net.Conn) *session {
	s := &session{srv: srv, conn: c, id: srv.nextID.Add(1), state: stateNotAuth,
		enabled: map[string]bool{}, start: time.Now(), block: addrBlock(c)}
	s.log = srv.log.With("conn", s.id, "remote", remoteString(c))
	_, s.tls = c.(*tls.Conn)
	s.secure = s.tls || srv.opts.AllowPlaintext || isLocal(c)
	s.setupIO(c)
	return s
}

// isLocal reports whether c never leaves the host: loopback TCP, a Unix
// socket or a pipe.
func isLocal(c net.Conn) bool {
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case nil:
		return true
	case *net.UnixAddr:
		return true
	default:
		return a.Network() != "tcp" && a.Network() != "udp"
	}
}

func (s *session) setupIO(c net.Conn) {
	s.r = wire.NewReader(c, wire.ReaderOptions{
		Limits:         s.readLimits(),
		StreamMessages: true,
		Continue:       s.continueLiteral,
	})
	if s.w == nil {
		// Output reaches the network once per command, or per buffer
		// of a long response (wire.Writer.Grow), each write within
		// WriteTimeout.
		s.w = wire.NewWriter(timedWriter{s, c})
	} else {
		s.w.Reset(timedWriter{s, c})
	}
}

// readLimits are the Reader's limits in the session's state. Before login
// every literal, with "+" or without, is tiny (RFC 7888's LITERAL- limit
// is the model), there are few of them, and a refused one is thrown away
// only if it is tiny too: what a stranger can make us read and hold is
// kilobytes. After login the configured limits apply; APPEND's message
// is streamed to disk (cmd_append.go), so its size costs no memory; a
// refused literal costs none either, only the time to read it, so one of
// up to MaxAppend (at least 1 MiB, at most 16 MiB) is read and thrown
// away rather than closing the connection (RFC 7888 §4 allows either).
func (s *session) readLimits() wire.Limits {
	l := s.srv.opts.Limits
	if s.state&authed == 0 {
		return wire.Limits{
			MaxLine:          l.PreLoginMaxLine,
			MaxLiteral:       l.PreLoginMaxLiteral,
			MaxAppendLiteral: l.PreLoginMaxLiteral,
			MaxLiterals:      l.PreLoginMaxLiterals,
			MaxCommand:       l.MaxCommand,
			MaxDiscard:       l.PreLoginMaxLiteral,
		}
	}
	return wire.Limits{
		MaxLine:          l.MaxLine,
		MaxLiteral:       l.MaxLiteral,
		MaxAppendLiteral: l.MaxAppend,
		MaxLiterals:      l.MaxLiterals,
		MaxCommand:       l.MaxCommand,
		MaxDiscard:       max(min(l.MaxAppend, 16<<20), 1<<20),
	}
}

// continueLiteral is asked before each synchronising literal: "+" goes
// out unless the command cannot be accepted anyway.
func (s *session) continueLiteral(li wire.LiteralInfo) error {
	if li.Message && s.state&authed == 0 {
		return errNotNow
	}
	return s.w.Continue("Ready for literal data")
}

var errNotNow = errors.New("command not allowed in this state")

// maxPreLoginBads is how many BAD answers a client gets before login
// before it is disconnected, as Dovecot's imap-login does.
const maxPreLoginBads = 10

// maxOverlongLines is how many overlong command lines in a row a client
// may send before it is disconnected: one is a mistake, three a pattern.
const maxOverlongLines = 3

// interrupt makes a session waiting for its client end with BYE; a
// running command finishes first, unless its client leaves the output
// unread for shutdownWriteGrace. Called by Shutdown from any goroutine.
func (s *session) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interrupted = true
	s.conn.SetReadDeadline(time.Unix(1, 0))
	s.conn.SetWriteDeadline(time.Now().Add(s.writeTimeoutLocked()))
}

// armRead sets the autologout timer before a wait for the client
// (PreLoginTimeout before login, IdleTimeout after); false means
// Shutdown has begun.
func (s *session) armRead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.interrupted {
		return false
	}
	s.conn.SetReadDeadline(s.readDeadline())
	return true
}

func (s *session) isInterrupted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interrupted
}

// run is the connection's life: greeting, commands, BYE.
func (s *session) run() {
	defer s.end(s.conn)
	if !s.greet() {
		return
	}
	for s.state != stateLogout {
		if !s.next() {
			return
		}
	}
}

// end is run's deferred end of the connection, on conn (the one it began
// on, under any TLS of STARTTLS): a panic is logged and told with BYE,
// the mailbox closed, the user's connection slot given back. One
// deferred call rather than four: each keeps a slot in run's frame.
func (s *session) end(conn net.Conn) {
	if v := recover(); v != nil {
		s.srv.panics.Add(1)
		s.log.Error("panic in session", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		s.w.Status("", "BYE", "SERVERBUG", "Internal server error, closing connection")
		s.w.Flush()
	}
	s.closeMailbox()
	s.releaseUserSlot()
	conn.Close()
}

// greet sends the greeting (OK, PREAUTH, or what a handed-off session
// answers its LOGIN with); false ends the connection.
//
// It and parse are functions of their own so that run's and next's
// stack frames stay small: a session waiting for its client (10,000 in
// IDLE) keeps the frames of run, next, dispatch and the wait on its
// stack, and the runtime halves a goroutine's stack only when less than
// a quarter of it is in use. Under 2 KiB, each waiting session takes 4
// KiB of stack rather than 8.
func (s *session) greet() bool {
	s.log.Debug("connection opened", "tls", s.tls)
	// Before the greeting: an implicit TLS handshake happens on its
	// write, and waits for the client.
	if !s.armRead() {
		s.bye("Server shutting down")
		return false
	}
	switch {
	case s.handoff != nil:
		if !s.startHandedOff(s.handoff) {
			return false
		}
	case s.preauth != nil:
		if err := s.login(*s.preauth); err != nil {
			s.w.Status("", "BYE", "UNAVAILABLE", "Cannot open the mailbox")
			s.w.Flush()
			return false
		}
		s.w.Status("", "PREAUTH", "CAPABILITY "+s.capabilities(), "Logged in as "+s.preauth.Username)
		s.sendLoginAlert()
	default:
		s.w.Status("", "OK", "CAPABILITY "+s.capabilities(), "imapd ready")
	}
	return s.w.Flush() == nil
}

// next reads and runs one command; false ends the connection. It is
// small, as dispatch is, because a session in IDLE waits under it (see
// greet).
func (s *session) next() bool {
	cmd, ok := s.readNext()
	if cmd == nil {
		return ok
	}
	s.dispatch(cmd)
	return s.settle()
}

// readNext waits for the client's next command, reads and parses it. A
// line that does not parse is answered here: cmd is then nil, and ok
// says whether the connection goes on.
func (s *session) readNext() (cmd *wire.Command, ok bool) {
	if !s.armRead() {
		s.bye("Server shutting down")
		return nil, false
	}
	rc := s.rawSocket()
	if s.r.Buffered() > 0 || rc == nil {
		// A client that pipelines commands as fast as it can would hold
		// a processor for as long as it likes: Go's scheduler lets a
		// running goroutine go on, and a read of input already waiting
		// never parks it. Going to the back of the run queue before
		// each command it sent ahead shares the processors out by
		// command, so one flooding connection (or sixty) cannot make
		// another wait for seconds. Only then: a command that came in
		// a read of its own was sent after the answer before it (or
		// the client is slower than we are), and a yield would only
		// put it behind every runnable session, in the run queue the
		// scheduler serves last (p99 of NOOP and LOGOUT under load).
		// Where the socket is hidden (TLS, whose read returns one
		// record, so that a flood sent a command a record would never
		// show in the buffer; COMPRESS), every command yields, as ever.
		runtime.Gosched()
	}
	if rc != nil && s.r.Buffered() == 0 {
		if err := s.waitInput(rc); err != nil {
			return nil, s.readError(err)
		}
	}
	line, err := s.r.ReadCommand()
	if err != nil {
		return nil, s.readError(err)
	}
	s.overlong = 0
	cmd, limited := s.parse(line)
	switch {
	case limited:
		return nil, s.w.Flush() == nil
	case cmd == nil:
		return nil, s.settle()
	}
	return cmd, true
}

// settle ends a command, once answered: the responses flushed, and the
// connection ended for a client that is not a mail client, or that sent
// a literal it cannot take back. false ends the connection.
func (s *session) settle() bool {
	if s.w.Flush() != nil {
		return false
	}
	if s.state == stateNotAuth && s.w.Bads() >= maxPreLoginBads {
		// A client that has not logged in and keeps sending what we
		// cannot take is not a mail client (Dovecot's login process
		// counts the same way).
		s.log.Info("too many invalid commands before login", "bad", s.w.Bads())
		s.bye("Too many invalid commands")
		return false
	}
	return s.refusePending()
}

// parse parses a command line, or answers it: BAD for what cannot be
// parsed, NO [LIMIT] (limited) for what is beyond a limit, where a
// literal that follows is left unread.
func (s *session) parse(line []byte) (cmd *wire.Command, limited bool) {
	lim := s.srv.opts.Limits
	cmd, err := wire.ParseOptions{Grammar: grammarOf, MaxDepth: lim.SearchDepth, MaxKeys: lim.SearchKeys, Streamed: s.r.Pending() != nil}.ParseCommand(line)
	if err == nil {
		return cmd, false
	}
	var se *wire.SyntaxError
	var le *wire.LimitError
	switch {
	case errors.As(err, &le):
		s.w.Status(le.Tag, "NO", "LIMIT", le.Msg)
		return nil, true
	case errors.As(err, &se):
		s.w.Status(se.Tag, "BAD", "", se.Msg)
	default:
		s.w.Status("", "BAD", "", "Invalid command")
	}
	return nil, false
}

// refusePending gives up an APPEND message literal that its command did
// not read (refused, or the command failed before it): thrown away if it
// is on its way and small enough, else the connection ends (RFC 7888 §4:
// a refused non-synchronising literal cannot be skipped otherwise).
func (s *session) refusePending() bool {
	lit := s.r.Pending()
	if lit == nil {
		return true
	}
	if err := lit.Refuse(); err != nil {
		s.log.Info("refused literal cannot be skipped, closing", "size", lit.Info.Size, "err", err)
		s.bye("Literal too large to skip, closing connection")
		s.state = stateLogout
		return false
	}
	return true
}

// readError answers a failed read; false ends the connection.
func (s *session) readError(err error) bool {
	var le *wire.LiteralError
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		return false
	case errors.Is(err, os.ErrDeadlineExceeded):
		switch {
		case s.isInterrupted():
			s.bye("Server shutting down")
		case s.state == stateNotAuth:
			s.log.Info("no login in time, closing", "timeout", s.srv.opts.Limits.PreLoginTimeout)
			s.bye("Autologout; too long without logging in")
		default:
			s.bye("Autologout; idle for too long")
		}
		return false
	case errors.Is(err, wire.ErrLineTooLong):
		// The rest of the line was read and thrown away (wire.LineError):
		// BAD, as Dovecot answers, and the client stays in step; BYE only
		// for a line past what we throw away, or a client that keeps
		// sending them.
		var le *wire.LineError
		s.overlong++
		if !errors.As(err, &le) || le.Fatal || s.overlong >= maxOverlongLines {
			s.bye("Command line too long")
			return false
		}
		s.w.Status(le.Tag, "BAD", "", fmt.Sprintf("Command line too long (limit %d octets)", le.Limit))
		return s.w.Flush() == nil
	case errors.As(err, &le):
		if le.Fatal {
			s.bye("Literal too large")
			return false
		}
		tag := le.Literal.Tag
		switch {
		case errors.Is(err, errNotNow):
			s.w.Status(tag, "NO", "", "Not logged in")
		case errors.Is(err, wire.ErrLiteralTooLarge) && le.Literal.Message:
			s.w.Status(tag, "NO", "TOOBIG", fmt.Sprintf("Message too big (limit %d octets)", le.Limit))
		case errors.Is(err, wire.ErrLiteralTooLarge):
			// Refused before "+" (or read and dropped, for a small
			// LITERAL+ one): a refusal the client can act on, not a
			// syntax error; the connection stays in step.
			s.w.Status(tag, "NO", "TOOBIG", fmt.Sprintf("Literal too large (limit %d octets)", le.Limit))
		case errors.Is(err, wire.ErrCommandTooLarge), errors.Is(err, wire.ErrTooManyLiterals):
			s.w.Status(tag, "BAD", "", "Command too large")
		default:
			s.w.Status(tag, "BAD", "", "Literal refused")
		}
		return s.w.Flush() == nil
	}
	var se *wire.SyntaxError
	if errors.As(err, &se) {
		s.w.Status(se.Tag, "BAD", "", se.Msg)
		return s.w.Flush() == nil
	}
	if !wire.IsFatal(err) {
		s.w.Status("", "BAD", "", "Invalid command")
		return s.w.Flush() == nil
	}
	s.log.Debug("read error", "err", err)
	return false
}

// rawSocket is the connection's socket if it can be waited on without
// reading (see waitInput), else nil; kept until STARTTLS replaces the
// connection.
func (s *session) rawSocket() syscall.RawConn {
	if s.rawOf != s.conn {
		s.rawOf, s.raw = s.conn, rawSocket(s.conn)
	}
	return s.raw
}

// waitInput waits for the client's next input on rc, the connection's
// socket, holding neither of the connection's buffers meanwhile: a
// connection waiting for its client then costs its goroutine and little
// more. It returns the wait's error (the read deadline passed).
func (s *session) waitInput(rc syscall.RawConn) error {
	if s.r.Buffered() > 0 {
		return nil
	}
	s.w.Idle()
	s.r.Idle()
	return waitReadable(rc)
}

// bye sends "* BYE text" and flushes; the caller closes.
func (s *session) bye(text string) {
	s.w.Status("", "BYE", "", text)
	s.w.Flush()
}

// login moves to the authenticated state as id, opening the user's
// store. It fails with ErrUserConnections beyond MaxUserConnectionsPerIP.
func (s *session) login(id auth.Identity) error {
	if err := s.holdUserSlot(id); err != nil {
		return err
	}
	st, err := s.srv.opts.OpenStore(id)
	if err != nil {
		s.releaseUserSlot()
		s.log.Error("cannot open mail store", "user", id.Username, "err", err)
		return err
	}
	st.SetLimits(maildir.Limits{MaxKeywords: s.srv.opts.Limits.MaxKeywords, MaxFolders: s.srv.opts.Limits.MaxFolders})
	s.user, s.store, s.state = id, st, stateAuth
	s.r.SetLimits(s.readLimits())
	s.log = s.log.With("user", id.Username)
	if err := s.createSpecialFolders(); err != nil {
		// The login stands: the user can still create them, and the
		// next login tries again.
		s.log.Warn("cannot create the special folders", "err", err)
	}
	return nil
}

// sendLoginAlert sends Options.LoginAlert, if set, as an untagged OK with
// [ALERT] (RFC 3501 §7.1), which the client must show to the user.
func (s *session) sendLoginAlert() {
	if a := s.srv.opts.LoginAlert; a != "" {
		s.w.Status("", "OK", "ALERT", a)
	}
}

// closeMailbox ends the selection, if any.
func (s *session) closeMailbox() {
	if s.mbox != nil {
		s.mbox.Close()
		s.mbox = nil
	}
	s.sel = nil
	s.parseWarned = nil
	s.searchRes = nil
	if s.state == stateSelected {
		s.state = stateAuth
	}
}
