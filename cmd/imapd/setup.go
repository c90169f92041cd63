package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"

	"imapd/auth"
	"imapd/maildir"
)

// storeOptions maps [store] to the Hub's options.
func storeOptions(c StoreConfig, logger *slog.Logger) maildir.Options {
	o := maildir.Options{Logger: logger, MaxWatches: c.MaxWatches, PollInterval: c.PollInterval.Duration}
	if c.Watch != nil && !*c.Watch {
		o.NoWatch = true
	}
	if c.Fsync != nil && !*c.Fsync {
		o.NoSync = true
	}
	return o
}

// newAuthenticator builds the configured backend, with the login cache
// of [auth] cache_ttl and cache_size (PAM's only with cache_pam); reload
// is what SIGHUP calls: it re-reads the htpasswd file, and flushes the
// cache of either backend.
func newAuthenticator(cfg Config, logger *slog.Logger) (auth.Authenticator, func() error, error) {
	switch cfg.Auth.Backend {
	case "pam":
		if !auth.PAMBuiltIn {
			return nil, nil, fmt.Errorf("auth.backend = \"pam\": PAM support not built in (binary built without cgo); use the htpasswd backend or rebuild with CGO_ENABLED=1 and libpam0g-dev")
		}
		p, err := auth.NewPAM(auth.PAMOptions{Service: cfg.Auth.PAMService, MailLocation: cfg.Auth.PAMMailLocation,
			MinUID: cfg.Auth.PAMMinUID, Concurrency: cfg.Auth.PAMConcurrency,
			CacheResults: cfg.Auth.CachePAM, Cache: cfg.Auth.cacheOptions(), Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		return p, p.Flush, nil
	default:
		uid, gid := os.Getuid(), os.Getgid()
		if cfg.User != "" {
			u, g, err := lookupUser(cfg.User, cfg.Group)
			if err != nil {
				return nil, nil, err
			}
			uid, gid = u, g
		}
		ht, err := auth.NewHtpasswd(auth.HtpasswdOptions{Path: cfg.Auth.Htpasswd,
			MailLocation: cfg.Auth.MailLocation, Home: cfg.Auth.Home, UID: uid, GID: gid,
			Cache: cfg.Auth.cacheOptions(), Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		return ht, ht.Reload, nil
	}
}

func lookupUser(name, group string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("user %q: %w", name, err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return 0, 0, fmt.Errorf("group %q: %w", group, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// refuseRoot stops a root daemon or --inetd process that would serve
// virtual users as root: every user's mail, the htpasswd file and the
// server's own code would then share root's rights. It needs user (the
// owner of the mail tree) or, deliberately, allow_root. PAM mode keeps
// root only in the parent, whose sessions become their users, and
// --preauth runs as whoever invokes it, so neither is checked.
func refuseRoot(cfg Config, euid int, configPath string) error {
	if euid != 0 || cfg.Auth.Backend != "htpasswd" || cfg.User != "" || cfg.AllowRoot {
		return nil
	}
	return fmt.Errorf("%s: refusing to serve htpasswd users as root: set user = \"vmail\" (the owner of the mail tree; group too if needed), or allow_root = true to run as root on purpose", configPath)
}

// dropPrivileges switches a root daemon with virtual users to the
// configured user once its sockets are bound. With PAM it keeps root:
// pam_unix reads /etc/shadow.
func dropPrivileges(cfg Config, logger *slog.Logger) error {
	if cfg.User == "" || cfg.Auth.Backend == "pam" {
		return nil
	}
	uid, gid, err := lookupUser(cfg.User, cfg.Group)
	if err != nil {
		return err
	}
	if os.Geteuid() == uid {
		return nil // already (systemd User=)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("user = %q needs the daemon to start as root", cfg.User)
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	logger.Info("dropped privileges", "user", cfg.User, "uid", uid, "gid", gid)
	return nil
}

// activatedListener is a socket systemd passed, plain or TLS (the TLS
// layer is added by whoever serves it: the daemon, or a session process).
type activatedListener struct {
	l   net.Listener
	tls bool
}

// activationListeners returns the sockets of systemd socket activation
// (Accept=no), or nil when the process was not socket-activated. A socket
// named "imaps" (FileDescriptorName=) speaks TLS; any other name is plain.
func activationListeners(tlsConfig *tls.Config) ([]activatedListener, error) {
	if os.Getenv("LISTEN_FDS") == "" {
		return nil, nil
	}
	named, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	var out []activatedListener
	for name, ls := range named {
		for _, l := range ls {
			if l == nil {
				return nil, fmt.Errorf("socket activation: socket %q is not a listening socket (Accept=yes needs --inetd)", name)
			}
			if name == "imaps" {
				if tlsConfig == nil {
					return nil, fmt.Errorf("socket activation: socket %q needs [tls] cert and key", name)
				}
				out = append(out, activatedListener{l: l, tls: true})
				continue
			}
			out = append(out, activatedListener{l: l})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS set but no sockets received")
	}
	return out, nil
}

// isSocket reports whether f is a socket (stderr under inetd).
func isSocket(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeSocket != 0
}
