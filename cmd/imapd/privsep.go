package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"imapd/auth"
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

// childServer hands each accepted connection to a child process.
type childServer struct {
	self    string // this executable
	config  string
	log     *slog.Logger
	mu      sync.Mutex
	closed  bool
	running map[*exec.Cmd]struct{}
	wg      sync.WaitGroup
}

func newChildServer(config string, log *slog.Logger) (*childServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return &childServer{self: self, config: config, log: log, running: map[*exec.Cmd]struct{}{}}, nil
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
		if err := cs.spawn(c, tlsOn); err != nil {
			cs.log.Error("cannot start a session process", "remote", c.RemoteAddr().String(), "err", err)
			c.Close()
		}
	}
}

func (cs *childServer) spawn(c net.Conn, tlsOn bool) error {
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
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, os.Stderr
	cmd.Env = append(os.Environ(), "IMAPD_CHILD=1") // stderr is ours, not the socket: log there
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
		cs.mu.Lock()
		delete(cs.running, cmd)
		cs.mu.Unlock()
	}()
	return nil
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
