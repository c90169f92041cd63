package main

import (
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
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"imapd/auth"
	"imapd/imapd"
	"imapd/maildir"
)

// ctlFD is the descriptor a login or session process finds its channel to
// the daemon on (exec.Cmd's first ExtraFiles).
const ctlFD = 3

// runLogin is a login process (-login): started by the daemon as root,
// one per connection, it takes what it needs from the daemon, confines
// itself (chroot to an empty directory, the login user's uid and gid, no
// new privileges) and only then speaks with the client, until a login
// succeeds; the daemon checks the password and starts the user's session
// process, and this process hands it the connection (or, for TLS, relays
// the plaintext to it until the end).
func runLogin() error {
	ctl, err := fileUnixConn(os.NewFile(ctlFD, "ctl"))
	if err != nil {
		return fmt.Errorf("login process: %w", err)
	}
	var init loginInit
	if _, err := recvMsg(ctl, &init); err != nil {
		return fmt.Errorf("login process: reading its start: %w", err)
	}
	cfg, err := parseConfig(init.Config, init.ConfigName)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg.Log, false)
	if err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if init.CertPEM != nil {
		cert, err := tls.X509KeyPair(init.CertPEM, init.KeyPEM)
		if err != nil {
			return fmt.Errorf("login process: certificate: %w", err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	conn := stdioConn()
	if err := confine(init); err != nil {
		return fmt.Errorf("login process: %w", err)
	}
	if init.TLS {
		if conn, err = tlsConn(conn, tlsConfig); err != nil {
			return err
		}
	}
	writeTimeout := cfg.Limits.imapd().WriteTimeout
	if writeTimeout <= 0 {
		writeTimeout = imapd.DefaultWriteTimeout
	}
	lp := &loginProc{ctl: ctl, log: logger, writeTimeout: writeTimeout}
	srv := imapd.New(imapd.Options{
		Throttle:       lp,
		Handoff:        lp.handOff,
		OpenStore:      func(auth.Identity) (*maildir.Store, error) { return nil, errors.New("login process opens no mail") },
		TLSConfig:      tlsConfig,
		AllowPlaintext: cfg.AllowPlaintext,
		Limits:         cfg.Limits.imapd(),
		Logger:         logger,
	})
	// SIGTERM before a login: BYE. A relayed session ends when its
	// session process (also told) does.
	serveOneUntilSignal(srv, logger, func() { srv.ServeConn(conn) })
	return nil
}

// confine makes this process harmless before it reads a byte from the
// client: the time zone is loaded while the files are there, then the
// root directory becomes an empty one and the groups, gid and uid the
// login user's; exec can gain it no privilege (the daemon started it
// with no_new_privs).
func confine(init loginInit) error {
	time.Now().Local() // loads /etc/localtime for the log
	if init.Chroot != "" {
		if err := unix.Chroot(init.Chroot); err != nil {
			return fmt.Errorf("chroot %s: %w", init.Chroot, err)
		}
		if err := unix.Chdir("/"); err != nil {
			return err
		}
	}
	if err := syscall.Setgroups([]int{init.GID}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(init.GID); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(init.UID); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if os.Geteuid() == 0 || os.Getuid() == 0 {
		return errors.New("still root after setuid")
	}
	if nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || nnp != 1 {
		return errors.New("started without no_new_privs")
	}
	return nil
}

// loginProc is a login process's side of the channel to the daemon: it
// checks passwords there (imapd.PasswordChecker: the daemon delays and
// logs failures) and hands the connection over there.
type loginProc struct {
	mu           sync.Mutex // one request at a time on ctl
	ctl          *net.UnixConn
	log          *slog.Logger
	writeTimeout time.Duration
}

// ask sends req, with fd if >= 0, and reads the daemon's answer.
func (lp *loginProc) ask(req loginRequest, fd int) (loginReply, error) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	var rep loginReply
	if err := sendMsg(lp.ctl, req, fd); err != nil {
		return rep, err
	}
	_, err := recvMsg(lp.ctl, &rep)
	return rep, err
}

// Authenticate asks the daemon to check a password. The identity it
// returns is a name only: the daemon keeps the real one, and starts the
// session with it.
func (lp *loginProc) Authenticate(ctx context.Context, _ netip.Addr, username, password string) (auth.Identity, error) {
	rep, err := lp.ask(loginRequest{Op: "auth", Username: username, Password: password}, -1)
	switch {
	case err != nil:
		return auth.Identity{}, fmt.Errorf("%w: asking the daemon: %w", auth.ErrUnavailable, err)
	case rep.Err == "":
		return auth.Identity{Username: username}, nil
	case rep.Err == replyFailed:
		return auth.Identity{}, auth.ErrFailed
	case rep.Err == replyThrottled:
		return auth.Identity{}, auth.ErrThrottled
	}
	return auth.Identity{}, fmt.Errorf("%w: %s", auth.ErrUnavailable, rep.Err)
}

// handOff gives the daemon the connection (a plain socket goes as it
// is) or a socket relayed to it (TLS, or a pipe), with what the client
// pipelined, for the session process it starts.
func (lp *loginProc) handOff(h imapd.Handoff) error {
	req := loginRequest{Op: "handoff", Tag: h.Tag, Pending: h.Pending, TLS: h.TLS}
	if sc, ok := h.Conn.(*net.TCPConn); ok && !h.TLS {
		return lp.sendConn(req, sc)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	rep, err := lp.ask(req, fds[1])
	unix.Close(fds[1])
	if err != nil || rep.Err != "" {
		unix.Close(fds[0])
		return replyError(rep, err)
	}
	relayEnd, err := net.FileConn(os.NewFile(uintptr(fds[0]), "relay"))
	unix.Close(fds[0])
	if err != nil {
		return err
	}
	lp.relay(h.Conn, relayEnd.(*net.UnixConn))
	return nil
}

// sendConn hands over the client's own socket.
func (lp *loginProc) sendConn(req loginRequest, c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var rep loginReply
	var askErr error
	if err := rc.Control(func(fd uintptr) { rep, askErr = lp.ask(req, int(fd)) }); err != nil {
		return err
	}
	return replyError(rep, askErr)
}

// replyError is the error for the session of a handoff the daemon
// refused, or could not be asked about.
func replyError(rep loginReply, err error) error {
	switch {
	case err != nil:
		return err
	case rep.Err == replyLimit:
		return imapd.ErrUserConnections
	case rep.Err != "":
		return errors.New(rep.Err)
	}
	return nil
}

// relay copies between the client and the session process until both
// directions are done: the client's end of input is passed on as the end
// of the session's input; the session's end (LOGOUT, autologout) closes
// the client's connection. Each write to the client must finish within
// the write timeout, so a client that stops reading cannot keep this
// process for longer than the session process waits for it.
func (lp *loginProc) relay(client net.Conn, session *net.UnixConn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(session, client)
		session.CloseWrite()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := session.Read(buf)
		if n > 0 {
			client.SetWriteDeadline(time.Now().Add(lp.writeTimeout))
			if _, werr := client.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	client.Close()
	session.Close()
	wg.Wait()
}

// runSession is a session process (-session): the daemon started it as
// the user who logged in, with the connection (or the login process's
// relay of it) on stdin and stdout and a sessionStart on fd 3.
func runSession() error {
	var st sessionStart
	start := os.NewFile(ctlFD, "start")
	err := json.NewDecoder(io.LimitReader(start, maxCtlMessage)).Decode(&st)
	start.Close()
	if err != nil {
		return fmt.Errorf("session process: reading its start: %w", err)
	}
	if os.Geteuid() == 0 {
		return errors.New("session process: refusing to run as root")
	}
	cfg, err := parseConfig(st.Config, st.ConfigName)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg.Log, false)
	if err != nil {
		return err
	}
	hub := maildir.NewHub(storeOptions(cfg.Store, logger))
	defer hub.Close()
	srv := imapd.New(imapd.Options{
		OpenStore:            func(id auth.Identity) (*maildir.Store, error) { return hub.Open(id.Maildir, true) },
		Limits:               cfg.Limits.imapd(),
		SpecialFolders:       cfg.Folders.special(),
		CreateSpecialFolders: cfg.Folders.Create,
		Logger:               logger,
	})
	conn := stdioConn()
	if _, ok := conn.(*net.TCPConn); !ok {
		if a, err := net.ResolveTCPAddr("tcp", st.Remote); err == nil {
			conn = remoteConn{conn, a}
		}
	}
	serveOneUntilSignal(srv, logger, func() {
		srv.ServeHandoff(imapd.Handoff{Conn: conn, Identity: st.Identity, Tag: st.Tag, Pending: st.Pending, TLS: st.TLS})
	})
	return nil
}

// remoteConn is a relayed connection that tells the client's address,
// for the log and the per-address counts.
type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }

// NetConn is the socket, for the hang-up check (imapd's peerProbe).
func (c remoteConn) NetConn() net.Conn { return c.Conn }
