// Command imapd is a Maildir IMAP4rev1 server.
//
//	imapd -config /etc/imapd/imapd.toml   serve the configured listeners
//	imapd -config ... -inetd              serve one connection on stdin/stdout
//	imapd -config ... -preauth            the same, logged in as the invoking user
//	imapd -demo ./var                     make a demo setup under ./var and serve it
//	imapd ... -listen 127.0.0.1:2143      listen there instead of the config's listen
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"imapd/auth"
	"imapd/imapd"
	"imapd/maildir"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "imapd:", err)
		os.Exit(1)
	}
}

func run() error {
	configPath := flag.String("config", "/etc/imapd/imapd.toml", "configuration file (TOML)")
	inetd := flag.Bool("inetd", false, "serve one connection on stdin/stdout (inetd, systemd Accept=yes)")
	preauth := flag.Bool("preauth", false, "serve the invoking user on stdin/stdout with a PREAUTH greeting")
	tlsStdin := flag.Bool("tls", false, "with -inetd: the connection speaks TLS from the start (port 993)")
	demo := flag.String("demo", "", "create a demo setup in `DIR` on first run (user demo, password demo) and serve it")
	var listen addrList
	flag.Var(&listen, "listen", "plain (STARTTLS) `ADDR` to listen on instead of the config's listen; repeat it or separate by commas")
	login := flag.Bool("login", false, "internal: a PAM mode login process, started by the daemon")
	session := flag.Bool("session", false, "internal: a PAM mode session process, started by the daemon")
	flag.Parse()

	switch {
	case *login:
		return runLogin()
	case *session:
		return runSession()
	}

	if *demo != "" {
		p, err := setupDemo(*demo)
		if err != nil {
			return err
		}
		*configPath = p
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if len(listen) > 0 {
		cfg.Listen = listen
	}
	if *demo != "" {
		// The demo serves its directory as whoever runs it, root included
		// (make run), even from a config written before allow_root existed.
		cfg.AllowRoot = true
	}
	if !*preauth {
		if err := refuseRoot(cfg, os.Geteuid(), *configPath); err != nil {
			return err
		}
	}
	logger, err := newLogger(cfg.Log, (*inetd || *preauth) && os.Getenv("IMAPD_CHILD") == "")
	if err != nil {
		return err
	}
	hub := maildir.NewHub(storeOptions(cfg.Store, logger))
	defer hub.Close()
	var shared *auth.Throttle // -inetd: the throttle whose counts other processes share
	openStore := func(id auth.Identity) (*maildir.Store, error) {
		if shared != nil {
			// Logged in: the session never holds the shared counts' file.
			if err := shared.CloseState(); err != nil {
				logger.Warn("closing the failed-login counts", "err", err)
			}
		}
		// A system user's session runs as the user (see privsep.go): only
		// ever in a process serving that one connection.
		if id.System {
			if err := becomeUser(id); err != nil {
				logger.Error("cannot switch to the user", "user", id.Username, "err", err)
				return nil, err
			}
		}
		return hub.Open(id.Maildir, true)
	}

	certs := &certStore{}
	var tlsConfig *tls.Config
	if cfg.TLS.Cert != "" {
		if err := certs.load(cfg.TLS.Cert, cfg.TLS.Key); err != nil {
			return err
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	}
	opts := imapd.Options{
		OpenStore:            openStore,
		TLSConfig:            tlsConfig,
		AllowPlaintext:       cfg.AllowPlaintext,
		Limits:               cfg.Limits.imapd(),
		SpecialFolders:       cfg.Folders.special(),
		CreateSpecialFolders: cfg.Folders.Create,
		Logger:               logger,
	}

	if *preauth {
		id, err := invokingUser(cfg)
		if err != nil {
			return err
		}
		srv := imapd.New(opts)
		srv.ServePreauth(stdioConn(), id)
		return nil
	}

	authn, reload, err := newAuthenticator(cfg, logger)
	if err != nil {
		return err
	}
	opts.Authenticator = authn
	privsep := cfg.Auth.Backend == "pam" && os.Geteuid() == 0
	if *inetd || privsep {
		// Failed logins count across processes (throttlestate.go): the
		// inetd ones, one per connection, and the daemon's.
		if shared, err = sharedThrottle(cfg, authn, opts.Limits, logger); err != nil {
			return err
		}
		opts.Throttle = shared
	}
	srv := imapd.New(opts)

	if *inetd && privsep {
		// This process is the daemon of one connection (privsep.go).
		children, err := newChildServer(cfg, *configPath, certs, shared, logger)
		if err != nil {
			return err
		}
		return children.serveStdio(*tlsStdin)
	}
	if *inetd {
		conn := stdioConn()
		if *tlsStdin {
			if conn, err = tlsConn(conn, tlsConfig); err != nil {
				return err
			}
		}
		if cfg.Auth.Backend != "pam" {
			if err := dropPrivileges(cfg, logger); err != nil {
				return err
			}
		}
		serveOneUntilSignal(srv, logger, func() { srv.ServeConn(conn) })
		return nil
	}
	if cfg.Auth.Backend == "pam" && os.Geteuid() != 0 {
		return fmt.Errorf("auth.backend = \"pam\" needs the daemon to start as root (pam_unix reads /etc/shadow; sessions then run as their users)")
	}
	var children *childServer
	if privsep {
		if children, err = newChildServer(cfg, *configPath, certs, shared, logger); err != nil {
			return err
		}
	}
	serveOn := func(l net.Listener, tlsOn bool) error {
		if children != nil {
			return children.serve(l, tlsOn)
		}
		if tlsOn {
			l = tls.NewListener(l, tlsConfig)
		}
		return srv.Serve(l)
	}
	var listeners []net.Listener

	var wg sync.WaitGroup
	serveErr := make(chan error, len(cfg.Listen)+len(cfg.ListenTLS))
	listenOn := func(addr string, tlsOn bool) error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		logger.Info("listening", "addr", l.Addr().String(), "tls", tlsOn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serveOn(l, tlsOn); err != nil && !errors.Is(err, imapd.ErrServerClosed) {
				serveErr <- err
			}
		}()
		return nil
	}
	activated, err := activationListeners(tlsConfig)
	if err != nil {
		return err
	}
	if activated != nil {
		// systemd passed the sockets (Accept=no): the config's addresses
		// are the unit's business then.
		for _, l := range activated {
			logger.Info("listening (socket activation)", "addr", l.l.Addr().String(), "tls", l.tls)
			listeners = append(listeners, l.l)
			wg.Add(1)
			go func(l activatedListener) {
				defer wg.Done()
				if err := serveOn(l.l, l.tls); err != nil && !errors.Is(err, imapd.ErrServerClosed) {
					serveErr <- err
				}
			}(l)
		}
	} else {
		for _, a := range cfg.Listen {
			if err := listenOn(a, false); err != nil {
				return err
			}
		}
		for _, a := range cfg.ListenTLS {
			if err := listenOn(a, true); err != nil {
				return err
			}
		}
	}
	if children == nil {
		if err := dropPrivileges(cfg, logger); err != nil {
			return err
		}
	}
	stop := func() {
		if children != nil {
			children.mu.Lock()
			children.closed = true
			children.mu.Unlock()
			for _, l := range listeners {
				l.Close()
			}
			children.shutdown()
		}
		shutdown(srv, logger)
	}
	if *demo != "" {
		printDemoHelp(cfg, *configPath)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for {
		select {
		case err := <-serveErr:
			stop()
			return err
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				logger.Info("SIGHUP: reloading the certificate and htpasswd, dropping the login cache")
				if cfg.TLS.Cert != "" {
					if err := certs.load(cfg.TLS.Cert, cfg.TLS.Key); err != nil {
						logger.Error("cannot reload the certificate, keeping the old one", "err", err)
					}
				}
				if reload != nil {
					if err := reload(); err != nil {
						logger.Error("cannot reload htpasswd, keeping the old one", "err", err)
					}
				}
				continue
			}
			logger.Info("shutting down", "signal", sig.String())
			stop()
			wg.Wait()
			return nil
		}
	}
}

// addrList is the -listen flag: addresses given by repeating the flag,
// by commas, or both.
type addrList []string

func (a *addrList) String() string { return strings.Join(*a, ",") }

func (a *addrList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			return fmt.Errorf("empty address in %q", v)
		}
		*a = append(*a, s)
	}
	return nil
}

// serveOneUntilSignal runs serve, which serves this process's one
// connection on srv, until it returns; SIGTERM or SIGINT first shuts srv
// down (BYE) and waits for it.
func serveOneUntilSignal(srv *imapd.Server, logger *slog.Logger, serve func()) {
	done := make(chan struct{})
	go func() {
		serve()
		close(done)
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-done:
	case <-sigs:
		shutdown(srv, logger)
		<-done
	}
}

func shutdown(srv *imapd.Server, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Warn("shutdown timed out; remaining sessions closed", "err", err)
	}
}

func newLogger(c LogConfig, stdio bool) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	out := logSink(stdio)
	ho := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(out, ho)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(out, ho)), nil
	}
	return nil, fmt.Errorf("log.format: %q is neither text nor json", c.Format)
}

// logSink is where the log goes: stderr, but syslog (the journal under
// systemd) for a process serving stdio whose stderr is a socket: inetd
// and xinetd connect stderr to the connection too.
func logSink(stdio bool) io.Writer {
	if !stdio || !isSocket(os.Stderr) {
		return os.Stderr
	}
	w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "imapd")
	if err != nil {
		return io.Discard
	}
	return w
}

// certStore holds the certificate, replaced on SIGHUP.
// It keeps the PEM text too, for PAM mode's login processes, which get
// it from the daemon as they cannot read the key themselves.
type certStore struct {
	cur atomic.Pointer[loadedCert]
}

type loadedCert struct {
	cert            tls.Certificate
	certPEM, keyPEM []byte
}

func (c *certStore) load(certFile, keyFile string) error {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("%s, %s: %w", certFile, keyFile, err)
	}
	c.cur.Store(&loadedCert{cert, certPEM, keyPEM})
	return nil
}

func (c *certStore) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if l := c.cur.Load(); l != nil {
		return &l.cert, nil
	}
	return nil, errors.New("no certificate loaded")
}

// pem returns the certificate chain and key as loaded, or nils.
func (c *certStore) pem() (cert, key []byte) {
	if l := c.cur.Load(); l != nil {
		return l.certPEM, l.keyPEM
	}
	return nil, nil
}

// invokingUser is the identity for -preauth: the user running us, with
// the mail location of the config (its %h is the home directory).
func invokingUser(cfg Config) (auth.Identity, error) {
	u, err := user.Current()
	if err != nil {
		return auth.Identity{}, err
	}
	loc := cfg.Auth.MailLocation
	if loc == "" {
		loc = "%h/Maildir"
	}
	dir, err := auth.ExpandMailLocation(loc, u.Username, u.HomeDir)
	if err != nil {
		return auth.Identity{}, err
	}
	return auth.Identity{Username: u.Username, Maildir: filepath.Clean(dir), Home: u.HomeDir,
		UID: os.Getuid(), GID: os.Getgid()}, nil
}

// stdioConn makes stdin/stdout a net.Conn: the socket itself under inetd
// or systemd Accept=yes, else a pipe pair.
func stdioConn() net.Conn {
	// Only a socket may go through net.FileConn: it sets the descriptor
	// non-blocking, which a pipe (shared with ssh or mutt's tunnel) must
	// not become, or os.Stdin's first read without data fails.
	if isSocket(os.Stdin) {
		if c, err := net.FileConn(os.Stdin); err == nil {
			return c
		}
	}
	return &pipeConn{r: os.Stdin, w: os.Stdout}
}

type pipeConn struct {
	r, w *os.File
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeConn) Close() error {
	p.w.Close()
	return p.r.Close()
}
func (p *pipeConn) LocalAddr() net.Addr                { return pipeAddr{} }
func (p *pipeConn) RemoteAddr() net.Addr               { return pipeAddr{} }
func (p *pipeConn) SetDeadline(t time.Time) error      { return p.r.SetDeadline(t) }
func (p *pipeConn) SetReadDeadline(t time.Time) error  { return p.r.SetReadDeadline(t) }
func (p *pipeConn) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "stdio" }
