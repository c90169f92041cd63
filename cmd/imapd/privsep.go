package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"imapd/auth"
	"imapd/imapd"
)

// The privilege model for system users (auth.backend = "pam"), after
// Dovecot's login processes and OpenSSH's privilege separation:
//
//	imapd (root, long-lived)            listens; counts connections; checks
//	 │                                  passwords with PAM (pam_unix reads
//	 │                                  /etc/shadow); starts the others
//	 ├─ imapd -login (login_user,       one per connection until its login:
//	 │    chroot login_chroot)          TLS and IMAP with an untrusted
//	 │                                  client; for TLS, then the relay
//	 └─ imapd -session (the user)       one per logged-in connection: the
//	                                    user's uid, gid and groups from exec on
//
// Both children start with no_new_privs on every thread
// (startNoNewPrivs): no exec of theirs can gain a privilege.
//
// A login process starts as root only to be told, over a socket pair, what
// it needs (the config's text, the certificate and key); it then confines
// itself (confine) before it reads a byte from the client. For a login it
// sends the daemon the username and password; the daemon checks them
// (throttled, and logged, here: the counts of failed logins live in this
// long-lived process and the shared throttle_state file) and says yes or
// no, never more. After a yes the login process hands over the
// connection: a plain socket goes to the daemon as a descriptor, with the
// commands the client pipelined; a TLS connection stays with the login
// process, which relays its plaintext over a new socket pair (Go's TLS
// state cannot move between processes). The daemon starts the session
// process as the user it checked itself (a login process can name no
// other), with that descriptor as stdin and stdout. The session process
// answers the login command and serves the rest.
//
// So a flaw in the IMAP parser or the TLS stack, before login, is a
// flaw in a process that owns nothing and can open nothing; after login,
// in a process that can touch only its user's mail. Root runs only the
// accept loop, the PAM conversation and exec.
//
// Counted here, before anything starts: max_connections and
// max_connections_per_ip (a connection's slot is held until both of its
// processes have exited), and max_user_connections_per_ip at the handoff.
// Every child gets its connection as stdin and stdout and, as stderr, a
// pipe the daemon copies, line by line, into its own log: it inherits no
// descriptor of the daemon's. Under inetd or systemd Accept=yes, the
// process started for the connection plays the daemon's part for it.
//
// Virtual users share one mail uid and are served in the daemon's own
// process, which drops to that uid after binding.

// childServer runs the login and session processes of PAM mode.
type childServer struct {
	self string // this executable
	// configName and config are the configuration file and its text,
	// which the children get from us.
	configName string
	config     []byte
	certs      *certStore
	log        *slog.Logger
	// throttle checks passwords for every login process; ctx, cancelled
	// at shutdown, cuts its waits short.
	throttle *auth.Throttle
	ctx      context.Context
	cancel   context.CancelFunc
	// loginUID, loginGID and chroot confine login processes.
	loginUID, loginGID int
	chroot             string

	mu      sync.Mutex
	closed  bool
	running map[*exec.Cmd]struct{}
	wg      sync.WaitGroup
	// conns counts the connections against the caps; userConns the
	// logged-in ones of each user from each address block, against
	// maxUserConns.
	conns        *imapd.ConnCounter
	userConns    map[userBlock]int
	maxUserConns int
	// preLoginTimeout is the login processes' prelogin_timeout.
	preLoginTimeout time.Duration
	// logOut is where the children's log lines go (the daemon's stderr);
	// logMu keeps each line whole.
	logMu  sync.Mutex
	logOut io.Writer
}

// userBlock is a user logged in from an address block.
type userBlock struct {
	user  string
	block netip.Prefix
}

// newChildServer prepares PAM mode: the login user and its empty root
// directory, and the throttle all logins go through.
func newChildServer(cfg Config, configPath string, certs *certStore, throttle *auth.Throttle, log *slog.Logger) (*childServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := closeOnExec(); err != nil {
		return nil, err
	}
	if err := executableByAll(self); err != nil {
		return nil, err
	}
	text, err := os.ReadFile(configPath)
	if err != nil {
		return nil, err
	}
	uid, gid, err := lookupUser(cfg.Auth.LoginUser, "")
	if err != nil {
		return nil, fmt.Errorf("auth.login_user: %w", err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("auth.login_user %q is root: login processes must not be", cfg.Auth.LoginUser)
	}
	if cfg.Auth.LoginChroot != "" {
		if err := emptyRoot(cfg.Auth.LoginChroot); err != nil {
			return nil, fmt.Errorf("auth.login_chroot: %w", err)
		}
	}
	limits := cfg.Limits.imapd()
	maxUser := limits.MaxUserConnectionsPerIP
	if maxUser <= 0 {
		maxUser = imapd.DefaultMaxUserConnectionsPerIP
	}
	preLogin := limits.PreLoginTimeout
	if preLogin <= 0 {
		preLogin = imapd.DefaultPreLoginTimeout
	}
	cs := &childServer{self: self, configName: configPath, config: text, certs: certs, log: log,
		throttle: throttle, loginUID: uid, loginGID: gid, chroot: cfg.Auth.LoginChroot,
		running: map[*exec.Cmd]struct{}{}, conns: imapd.NewConnCounter(limits),
		userConns: map[userBlock]int{}, maxUserConns: maxUser, preLoginTimeout: preLogin, logOut: os.Stderr}
	cs.ctx, cs.cancel = context.WithCancel(context.Background())
	return cs, nil
}

// serveStdio is the inetd (and systemd Accept=yes) case: the connection
// on stdin and stdout is served by a login process and then a session
// process, as an accepted one is; this process waits for them and passes
// SIGTERM on. Their log lines go where this process logs.
func (cs *childServer) serveStdio(tlsOn bool) error {
	cs.logOut = logSink(true)
	var remote net.Addr = pipeAddr{}
	if isSocket(os.Stdin) {
		if c, err := net.FileConn(os.Stdin); err == nil {
			remote = c.RemoteAddr()
			c.Close()
		}
	}
	done := make(chan struct{})
	if err := cs.start(os.Stdin, os.Stdout, remote, tlsOn, func() { close(done) }); err != nil {
		return fmt.Errorf("cannot start a login process: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-done:
	case <-sigs:
		cs.shutdown()
	}
	cs.wg.Wait()
	return nil
}

// executableByAll checks that anyone can run the executable at path:
// session processes are started as their users.
func executableByAll(path string) error {
	for p := path; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s: users cannot run the server (mode %v on %s): PAM mode starts each session as its user", path, fi.Mode().Perm(), p)
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}

// emptyRoot makes dir, the login processes' root directory, if it is
// missing, and checks that it is root's and nobody else can write in it.
func emptyRoot(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s must be a directory of root's that no one else can write to", dir)
	}
	return nil
}

// serve accepts until l is closed; tlsOn makes the login processes do
// implicit TLS.
func (cs *childServer) serve(l net.Listener, tlsOn bool) error {
	for {
		c, err := l.Accept()
		if err != nil {
			cs.mu.Lock()
			closed := cs.closed
			cs.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		block := addrBlockOf(c.RemoteAddr())
		if err := cs.conns.Admit(block); err != nil {
			cs.refuse(c, tlsOn, err)
			continue
		}
		release := func() { cs.conns.Release(block) }
		if err := cs.acceptConn(c, tlsOn, release); err != nil {
			cs.log.Error("cannot start a login process", "remote", c.RemoteAddr().String(), "err", err)
			release()
		}
	}
}

// acceptConn starts the login process of c; release is called once it,
// and the session process it leads to, have exited.
func (cs *childServer) acceptConn(c net.Conn, tlsOn bool, release func()) error {
	fc, ok := c.(interface{ File() (*os.File, error) })
	if !ok {
		c.Close()
		return fmt.Errorf("connection of type %T has no file descriptor", c)
	}
	f, err := fc.File()
	remote := c.RemoteAddr()
	c.Close() // the child has its own descriptor
	if err != nil {
		return err
	}
	defer f.Close()
	return cs.start(f, f, remote, tlsOn, release)
}

// refuse turns a connection beyond the caps away, with BYE on a plain
// listener. On an implicit-TLS one it is closed without a word: writing
// BYE there would need the TLS handshake, which the daemon, being root,
// does not do with untrusted clients.
func (cs *childServer) refuse(c net.Conn, tlsOn bool, why error) {
	attrs := []any{"remote", c.RemoteAddr().String()}
	if errors.Is(why, imapd.ErrTooManyFromAddress) {
		cs.log.Warn("too many connections from one address", append(attrs, "limit", cs.conns.MaxPerIP())...)
	} else {
		cs.log.Warn("too many connections", attrs...)
	}
	if !tlsOn {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(c, "* BYE [UNAVAILABLE] "+why.Error()+"\r\n")
	}
	c.Close()
}

// closeOnExec marks every descriptor from 3 on close-on-exec. Go opens
// its own that way, but those the daemon inherited (from a shell, a
// supervisor, systemd's sockets) are not, and exec would pass them to
// every child; the daemon itself keeps them.
func closeOnExec() error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Before Linux 5.11: one at a time.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("cannot list descriptors to close in session processes: %w", err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd) // the directory's own descriptor is gone: EBADF, nothing to do
		}
	}
	return nil
}

// addrBlockOf is the address block a connection from a is counted in
// (auth.AddrBlock); invalid for one without an IP.
func addrBlockOf(a net.Addr) netip.Prefix {
	if ta, ok := a.(*net.TCPAddr); ok {
		return auth.AddrBlock(ta.AddrPort().Addr())
	}
	return netip.Prefix{}
}

// start runs the login process of a connection (in, out: the same socket
// but for a pipe pair under inetd) and talks with it until it exits.
func (cs *childServer) start(in, out *os.File, remote net.Addr, tlsOn bool, release func()) error {
	ctl, theirs, err := ctlPair()
	if err != nil {
		return err
	}
	defer theirs.Close()
	cmd := cs.command("-login")
	cmd.Stdin, cmd.Stdout = in, out
	cmd.ExtraFiles = []*os.File{theirs}
	if err := cs.run(cmd); err != nil {
		ctl.Close()
		return err
	}
	init := loginInit{Config: cs.config, ConfigName: cs.configName, TLS: tlsOn,
		UID: cs.loginUID, GID: cs.loginGID, Chroot: cs.chroot}
	init.CertPEM, init.KeyPEM = cs.certs.pem()
	if err := sendMsg(ctl, init, -1); err != nil {
		cs.log.Error("cannot start a login process", "err", err)
		cmd.Process.Kill()
	}
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		defer release()
		cs.converse(ctl, cmd, remote)
	}()
	return nil
}

// command is this executable with args, its stderr relayed to our log.
func (cs *childServer) command(args ...string) *exec.Cmd {
	cmd := exec.Command(cs.self, args...)
	// exec makes the pipe and copies it until the child and whatever
	// it started have closed it (or WaitDelay after the child exits).
	cmd.Stderr = &lineRelay{out: cs.logOut, mu: &cs.logMu}
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "IMAPD_CHILD=1") // stderr is our pipe, not the socket: log there
	return cmd
}

// run starts cmd, known to shutdown until wait.
func (cs *childServer) run(cmd *exec.Cmd) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return errors.New("shutting down")
	}
	if err := startNoNewPrivs(cmd); err != nil {
		return err
	}
	cs.running[cmd] = struct{}{}
	return nil
}

// startNoNewPrivs starts cmd from an OS thread with no_new_privs set, so
// that every thread the process will ever have has it: exec can then
// gain it no privilege (a setuid binary, file capabilities). prctl sets
// it for the calling thread only, and a process's Go runtime starts
// threads before any of our code runs; a new process inherits the flag
// of the thread that forked it. The thread is not given back to the
// runtime: it ends with its goroutine.
func startNoNewPrivs(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			errc <- fmt.Errorf("no_new_privs: %w", err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// wait waits for cmd to exit.
func (cs *childServer) wait(cmd *exec.Cmd) {
	cmd.Wait()
	cmd.Stderr.(*lineRelay).flush()
	cs.mu.Lock()
	delete(cs.running, cmd)
	cs.mu.Unlock()
}

// converse answers a login process until it exits (or says something it
// should not, which ends it), then waits for it and for the session
// process it led to. What it says is not trusted: it can ask for a
// password check, at the throttle's pace, and for a session as the user
// whose password it last got right here, once.
func (cs *childServer) converse(ctl *net.UnixConn, login *exec.Cmd, remote net.Addr) {
	var verified *auth.Identity
	var session *exec.Cmd
	var slot *userBlock
	log := cs.log.With("remote", remote.String(), "pid", login.Process.Pid)
	// A login process ends its connection at prelogin_timeout itself;
	// one that does not (it is not to be trusted) is ended here a little
	// later, unless it has handed the connection over.
	var handedOver atomic.Bool
	overdue := time.AfterFunc(cs.preLoginTimeout+10*time.Second, func() {
		if !handedOver.Load() {
			log.Warn("login process outlived prelogin_timeout, ending it")
			login.Process.Kill()
		}
	})
	defer overdue.Stop()
	for {
		var req loginRequest
		f, err := recvMsg(ctl, &req)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				log.Warn("login process misbehaved, ending it", "err", err)
				login.Process.Kill()
			}
			break
		}
		var rep loginReply
		switch {
		case req.Op == "auth" && f == nil && session == nil:
			verified = nil
			id, err := cs.throttle.Authenticate(cs.ctx, remoteIP(remote), req.Username, req.Password)
			switch {
			case err == nil:
				verified = &id
			case errors.Is(err, auth.ErrThrottled):
				rep.Err = replyThrottled
			case errors.Is(err, auth.ErrFailed):
				rep.Err = replyFailed
			default:
				rep.Err = replyUnavailable
			}
		case req.Op == "handoff" && f != nil && verified != nil && session == nil:
			if slot = cs.holdUserSlot(verified.Username, remote); slot == nil {
				log.Warn("login refused: too many connections for this user from this address",
					"user", verified.Username, "limit", cs.maxUserConns)
				rep.Err = replyLimit
			} else if session, err = cs.startSession(f, *verified, req, remote); err == nil {
				handedOver.Store(true)
			} else {
				log.Error("cannot start a session process", "user", verified.Username, "err", err)
				cs.releaseUserSlot(slot)
				slot, session = nil, nil
				rep.Err = replyUnavailable
			}
			f.Close()
		default:
			if f != nil {
				f.Close()
			}
			log.Warn("login process asked what it may not, ending it", "op", req.Op)
			login.Process.Kill()
		}
		if err := sendMsg(ctl, rep, -1); err != nil {
			break
		}
	}
	ctl.Close()
	cs.wait(login)
	if session != nil {
		cs.wait(session)
		cs.releaseUserSlot(slot)
	}
}

// startSession starts the session process of id on conn, as the user.
func (cs *childServer) startSession(conn *os.File, id auth.Identity, req loginRequest, remote net.Addr) (*exec.Cmd, error) {
	if id.UID <= 0 || !id.System {
		return nil, fmt.Errorf("refusing to start a session as uid %d", id.UID)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd := cs.command("-session")
	cmd.Stdin, cmd.Stdout = conn, conn
	cmd.ExtraFiles = []*os.File{r}
	groups := make([]uint32, 0, len(id.Groups)+1)
	for _, g := range id.Groups {
		groups = append(groups, uint32(g))
	}
	if len(groups) == 0 {
		groups = append(groups, uint32(id.GID))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(id.UID), Gid: uint32(id.GID), Groups: groups}}
	err = cs.run(cmd)
	r.Close()
	if err != nil {
		return nil, err
	}
	st := sessionStart{Config: cs.config, ConfigName: cs.configName, Identity: id,
		Tag: req.Tag, Pending: req.Pending, TLS: req.TLS, Remote: remote.String()}
	if err := json.NewEncoder(w).Encode(st); err != nil {
		cmd.Process.Kill()
		cs.wait(cmd)
		return nil, err
	}
	return cmd, nil
}

// holdUserSlot counts a session of user from remote's block against
// max_user_connections_per_ip; nil if it is full. Connections without an
// address (a pipe under inetd) are not counted.
func (cs *childServer) holdUserSlot(user string, remote net.Addr) *userBlock {
	k := userBlock{user, addrBlockOf(remote)}
	if !k.block.IsValid() {
		return &k
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.userConns[k] >= cs.maxUserConns {
		return nil
	}
	cs.userConns[k]++
	return &k
}

func (cs *childServer) releaseUserSlot(k *userBlock) {
	if k == nil || !k.block.IsValid() {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.userConns[*k]--; cs.userConns[*k] <= 0 {
		delete(cs.userConns, *k)
	}
}

// remoteIP is the IP address of a, or the zero Addr.
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// lineRelay copies a child's log output to out one whole line at a time,
// so that the lines of children logging at once never interleave. A line
// longer than maxRelayLine is cut there.
type lineRelay struct {
	out io.Writer
	mu  *sync.Mutex
	buf []byte
}

const maxRelayLine = 16 << 10

func (r *lineRelay) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := maxRelayLine - len(r.buf)
		switch i := bytes.IndexByte(p, '\n'); {
		case i >= 0 && i <= room: // the end of a line
			r.buf = append(r.buf, p[:i]...)
			p = p[i+1:]
			r.emit()
		case i < 0 && len(p) < room: // a line to be continued
			r.buf = append(r.buf, p...)
			p = nil
		default: // too long: cut
			r.buf = append(r.buf, p[:room]...)
			p = p[room:]
			r.emit()
		}
	}
	return n, nil
}

// flush writes what is left of an unfinished last line.
func (r *lineRelay) flush() {
	if len(r.buf) > 0 {
		r.emit()
	}
}

func (r *lineRelay) emit() {
	r.buf = append(r.buf, '\n')
	r.mu.Lock()
	r.out.Write(r.buf)
	r.mu.Unlock()
	r.buf = r.buf[:0]
}

// shutdown asks every session process to finish (they send BYE) and
// waits for them.
func (cs *childServer) shutdown() {
	cs.mu.Lock()
	cs.closed = true
	cs.cancel()
	for cmd := range cs.running {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	cs.mu.Unlock()
	cs.wg.Wait()
}

// becomeUser makes this process the user of id for good: supplementary
// groups, gid, then uid. Called after a system user's login, before the
// Maildir is opened.
func becomeUser(id auth.Identity) error {
	if os.Geteuid() != 0 {
		if os.Geteuid() == id.UID {
			return nil // --preauth, or a daemon already running as the user
		}
		return fmt.Errorf("cannot serve system user %s (uid %d) from uid %d", id.Username, id.UID, os.Geteuid())
	}
	if id.UID == 0 {
		return errors.New("refusing to serve root's mail")
	}
	groups := id.Groups
	if len(groups) == 0 {
		groups = []int{id.GID}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(id.GID); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(id.UID); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	return nil
}

// tlsConn wraps the stdin connection of a -tls child.
func tlsConn(c net.Conn, cfg *tls.Config) (net.Conn, error) {
	if cfg == nil {
		return nil, errors.New("-tls needs [tls] cert and key")
	}
	return tls.Server(c, cfg), nil
}
