package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"imapd/auth"
	"imapd/imapd"
)

// The privilege model for system users (auth.backend = "pam"):
//
// pam_unix reads /etc/shadow, so checking a password needs root; a
// session must run as its user so that a bug can never touch another
// user's mail. So the daemon that listens keeps only its sockets: each
// connection it accepts is served by a new process (this binary with
// -inetd, the connection on stdin and stdout), started as root, which
// does TLS, authenticates with PAM, and then takes the user's groups, gid
// and uid (setgroups, setgid, setuid: for good) before it opens the
// Maildir. inetd and systemd Accept=yes run exactly that child themselves.
// Virtual users share one mail uid and are served in the daemon's own
// process, which drops to that uid after binding.
//
// The parent is the one long-lived process, so it holds what must count
// across connections: max_connections and max_connections_per_ip are
// counted here before a child starts and released when it exits (a child
// is a root process until login: the caps bound how many there are). A
// child gets the connection as stdin and stdout and, as stderr, a pipe
// the parent copies, line by line, into its own log: it inherits no
// descriptor of the daemon's.

// childServer hands each accepted connection to a child process.
type childServer struct {
	self    string // this executable
	config  string
	log     *slog.Logger
	mu      sync.Mutex
	closed  bool
	running map[*exec.Cmd]struct{}
	wg      sync.WaitGroup
	// conns counts the connections with a child against the caps.
	conns *imapd.ConnCounter
	// logOut is where the children's log lines go (the daemon's stderr);
	// logMu keeps each line whole.
	logMu  sync.Mutex
	logOut io.Writer
}

func newChildServer(config string, limits imapd.Limits, log *slog.Logger) (*childServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := closeOnExec(); err != nil {
		return nil, err
	}
	return &childServer{self: self, config: config, log: log, running: map[*exec.Cmd]struct{}{},
		conns: imapd.NewConnCounter(limits), logOut: os.Stderr}, nil
}

// serve accepts until l is closed; tlsOn makes the child do implicit TLS.
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
		block := connBlock(c)
		if err := cs.conns.Admit(block); err != nil {
			cs.refuse(c, tlsOn, err)
			continue
		}
		if err := cs.spawn(c, tlsOn, block); err != nil {
			cs.log.Error("cannot start a session process", "remote", c.RemoteAddr().String(), "err", err)
			c.Close()
			cs.conns.Release(block)
		}
	}
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

// connBlock is the address block c is counted in (auth.AddrBlock).
func connBlock(c net.Conn) netip.Prefix {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return auth.AddrBlock(a.AddrPort().Addr())
	}
	return netip.Prefix{}
}

// spawn starts the child for c, counted in block until it exits.
func (cs *childServer) spawn(c net.Conn, tlsOn bool, block netip.Prefix) error {
	fc, ok := c.(interface{ File() (*os.File, error) })
	if !ok {
		return fmt.Errorf("connection of type %T has no file descriptor", c)
	}
	f, err := fc.File()
	c.Close() // the child has its own descriptor
	if err != nil {
		return err
	}
	defer f.Close()
	args := []string{"-inetd", "-config", cs.config}
	if tlsOn {
		args = append(args, "-tls")
	}
	cmd := exec.Command(cs.self, args...)
	cmd.Stdin, cmd.Stdout = f, f
	// exec makes the pipe and copies it until the child and whatever
	// it started have closed it (or WaitDelay after the child exits).
	cmd.Stderr = &lineRelay{out: cs.logOut, mu: &cs.logMu}
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "IMAPD_CHILD=1") // stderr is our pipe, not the socket: log there
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return errors.New("shutting down")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	cs.running[cmd] = struct{}{}
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		cmd.Wait()
		cmd.Stderr.(*lineRelay).flush()
		cs.conns.Release(block)
		cs.mu.Lock()
		delete(cs.running, cmd)
		cs.mu.Unlock()
	}()
	return nil
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
