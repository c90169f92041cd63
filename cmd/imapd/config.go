package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"imapd/auth"
	"imapd/imapd"
	"imapd/maildir"
)

// Config is the TOML configuration; imapd.toml.example documents every
// key and its default.
type Config struct {
	// Listen are plain addresses (STARTTLS offered when TLS is set up).
	Listen []string `toml:"listen"`
	// ListenTLS are implicit-TLS addresses (port 993).
	ListenTLS []string `toml:"listen_tls"`
	// AllowPlaintext allows passwords before TLS on any connection;
	// loopback connections always may.
	AllowPlaintext bool `toml:"allow_plaintext"`

	// User and Group, when set, are what a daemon started as root runs as
	// after binding its sockets (virtual users: the owner of the vmail
	// tree). With the PAM backend the daemon keeps root to authenticate.
	User  string `toml:"user"`
	Group string `toml:"group"`
	// AllowRoot lets a daemon (or --inetd process) with the htpasswd
	// backend keep running as root when User is empty; without it such a
	// start is refused (see refuseRoot). -demo implies it.
	AllowRoot bool `toml:"allow_root"`

	TLS     TLSConfig     `toml:"tls"`
	Auth    AuthConfig    `toml:"auth"`
	Store   StoreConfig   `toml:"store"`
	Folders FoldersConfig `toml:"folders"`
	Limits  LimitsConfig  `toml:"limits"`
	Log     LogConfig     `toml:"log"`
}

// FoldersConfig names the special-use folders (RFC 6154) that LIST marks
// for clients, and whether they are created at a user's first login. An
// empty name leaves that use to the names such folders usually have.
type FoldersConfig struct {
	Sent    string `toml:"sent"`
	Drafts  string `toml:"drafts"`
	Trash   string `toml:"trash"`
	Junk    string `toml:"junk"`
	Archive string `toml:"archive"`
	// Create makes the named folders, subscribed, at a user's first login
	// (the first that finds no special-use record in the Maildir), but
	// not one whose use a folder has already (a Maildir with "Sent Items"
	// gets no "Sent").
	Create bool `toml:"create"`
}

// special returns the named folders as the server takes them.
func (c FoldersConfig) special() []imapd.SpecialFolder {
	var out []imapd.SpecialFolder
	for _, f := range []imapd.SpecialFolder{
		{Use: `\Sent`, Name: c.Sent}, {Use: `\Drafts`, Name: c.Drafts}, {Use: `\Trash`, Name: c.Trash},
		{Use: `\Junk`, Name: c.Junk}, {Use: `\Archive`, Name: c.Archive},
	} {
		if f.Name != "" {
			out = append(out, f)
		}
	}
	return out
}

// check refuses a folder name the store would refuse, and INBOX.
func (c FoldersConfig) check() error {
	for _, f := range c.special() {
		name, err := maildir.CanonicalName(f.Name)
		if err != nil {
			return fmt.Errorf("folders: %q is not a valid folder name", f.Name)
		}
		if name == maildir.Inbox {
			return fmt.Errorf("folders: INBOX cannot be the %s folder", strings.ToLower(strings.TrimPrefix(f.Use, `\`)))
		}
	}
	return nil
}

// StoreConfig tunes how changes on disk are noticed.
type StoreConfig struct {
	// Watch uses inotify (default true); false checks folders every
	// poll_interval instead.
	Watch *bool `toml:"watch"`
	// PollInterval is the period of those checks, also used when the
	// kernel refuses more watches (default 1s).
	PollInterval Duration `toml:"poll_interval"`
	// MaxWatches caps the inotify watches used (0: the kernel's limit);
	// for testing the fallback.
	MaxWatches int `toml:"max_watches"`
	// Fsync makes deliveries and UID records durable (default true).
	Fsync *bool `toml:"fsync"`
}

// TLSConfig names the certificate and key (PEM).
type TLSConfig struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// AuthConfig says where users and their mail are.
type AuthConfig struct {
	// Backend is "htpasswd" (virtual users) or "pam" (system users).
	Backend      string `toml:"backend"`
	Htpasswd     string `toml:"htpasswd"`
	MailLocation string `toml:"mail_location"`
	Home         string `toml:"home"`

	PAMService      string `toml:"pam_service"`
	PAMMailLocation string `toml:"pam_mail_location"`
	PAMMinUID       int    `toml:"pam_min_uid"`
	PAMConcurrency  int    `toml:"pam_concurrency"`
	// LoginUser and LoginChroot confine PAM mode's login processes (see
	// privsep.go): the user they run as, and their root directory
	// ("": none).
	LoginUser   string `toml:"login_user"`
	LoginChroot string `toml:"login_chroot"`
	// ThrottleState is the file of failed-login counts shared by the
	// processes that serve one connection each (see throttlestate.go).
	ThrottleState string `toml:"throttle_state"`

	// CacheTTL is how long a successful login is remembered (1h); 0
	// turns the cache off. See auth.CacheOptions.
	CacheTTL Duration `toml:"cache_ttl"`
	// CacheSize bounds the logins remembered (10000); 0 turns the cache
	// off.
	CacheSize int `toml:"cache_size"`
	// CachePAM caches PAM results too (false): see
	// auth.PAMOptions.CacheResults for what it costs.
	CachePAM bool `toml:"cache_pam"`
	// HashWorkers bounds the password checks run at once (0: half the
	// CPUs, at least 1). It owns the bound that [limits]
	// login_concurrency, its old name, set: loadConfig folds that in.
	HashWorkers int `toml:"hash_workers"`
}

// cacheOptions returns the login cache's options; a zero (or negative)
// TTL or size turns it off.
func (a AuthConfig) cacheOptions() auth.CacheOptions {
	if a.CacheTTL.Duration <= 0 || a.CacheSize <= 0 {
		return auth.CacheOptions{TTL: -1}
	}
	return auth.CacheOptions{TTL: a.CacheTTL.Duration, Size: a.CacheSize}
}

// LimitsConfig bounds what clients may do; imapd.Limits says what each
// limit means, imapd.toml.example gives its default. Zero: the default.
type LimitsConfig struct {
	MaxLine                 int      `toml:"max_line"`
	MaxLiteral              int64    `toml:"max_literal"`
	MaxLiterals             int      `toml:"max_literals"`
	MaxCommand              int64    `toml:"max_command"`
	MaxAppend               int64    `toml:"max_append"`
	PreLoginMaxLine         int      `toml:"prelogin_max_line"`
	PreLoginMaxLiteral      int64    `toml:"prelogin_max_literal"`
	PreLoginMaxLiterals     int      `toml:"prelogin_max_literals"`
	PreLoginTimeout         Duration `toml:"prelogin_timeout"`
	IdleTimeout             Duration `toml:"idle_timeout"`
	WriteTimeout            Duration `toml:"write_timeout"`
	MaxConnections          int      `toml:"max_connections"`
	MaxConnectionsPerIP     int      `toml:"max_connections_per_ip"`
	MaxUserConnectionsPerIP int      `toml:"max_user_connections_per_ip"`
	MaxFailedLogins         int      `toml:"max_failed_logins"`
	SearchDepth             int      `toml:"search_depth"`
	SearchKeys              int      `toml:"search_keys"`
	SearchWorkers           int      `toml:"search_workers"`
	MaxKeywords             int      `toml:"max_keywords"`
	MaxFolders              int      `toml:"max_folders"`

	// LoginConcurrency is the old name of [auth] hash_workers, still
	// read; after loadConfig it holds hash_workers' value, which is how
	// that reaches imapd.Limits.
	LoginConcurrency int `toml:"login_concurrency"`
}

// imapd returns the limits as the server takes them.
func (c LimitsConfig) imapd() imapd.Limits {
	return imapd.Limits{
		MaxLine:                 c.MaxLine,
		MaxLiteral:              c.MaxLiteral,
		MaxLiterals:             c.MaxLiterals,
		MaxCommand:              c.MaxCommand,
		MaxAppend:               c.MaxAppend,
		PreLoginMaxLine:         c.PreLoginMaxLine,
		PreLoginMaxLiteral:      c.PreLoginMaxLiteral,
		PreLoginMaxLiterals:     c.PreLoginMaxLiterals,
		PreLoginTimeout:         c.PreLoginTimeout.Duration,
		IdleTimeout:             c.IdleTimeout.Duration,
		WriteTimeout:            c.WriteTimeout.Duration,
		MaxConnections:          c.MaxConnections,
		MaxConnectionsPerIP:     c.MaxConnectionsPerIP,
		MaxUserConnectionsPerIP: c.MaxUserConnectionsPerIP,
		MaxFailedLogins:         c.MaxFailedLogins,
		LoginConcurrency:        c.LoginConcurrency,
		SearchDepth:             c.SearchDepth,
		SearchKeys:              c.SearchKeys,
		SearchWorkers:           c.SearchWorkers,
		MaxKeywords:             c.MaxKeywords,
		MaxFolders:              c.MaxFolders,
	}
}

// LogConfig sets up log/slog.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Duration is a time.Duration written as "30m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

func defaultConfig() Config {
	return Config{
		Listen: []string{"127.0.0.1:143"},
		Auth: AuthConfig{
			Backend:         "htpasswd",
			Htpasswd:        "/etc/imapd/htpasswd",
			MailLocation:    "/var/vmail/%u/Maildir",
			PAMService:      "imapd",
			PAMMailLocation: "~/Maildir",
			LoginUser:       "nobody",
			LoginChroot:     "/run/imapd/login",
			CacheTTL:        Duration{auth.DefaultCacheTTL},
			CacheSize:       auth.DefaultCacheSize,
		},
		Folders: FoldersConfig{Sent: "Sent", Drafts: "Drafts", Trash: "Trash", Junk: "Junk", Archive: "Archive",
			Create: true},
		Log: LogConfig{Level: "info", Format: "text"},
	}
}

// loadConfig reads path over the defaults; unknown keys are an error, so
// that a typo does not silently leave a default in place.
func loadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return defaultConfig(), err
	}
	return parseConfig(data, path)
}

// parseConfig is loadConfig of the file's text, data; path is for
// messages.
func parseConfig(data []byte, path string) (Config, error) {
	c := defaultConfig()
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return c, fmt.Errorf("%s: unknown key %q", path, und[0].String())
	}
	if c.Auth.Backend != "htpasswd" && c.Auth.Backend != "pam" {
		return c, fmt.Errorf("%s: auth.backend must be \"htpasswd\" or \"pam\", not %q", path, c.Auth.Backend)
	}
	if len(c.ListenTLS) > 0 && (c.TLS.Cert == "" || c.TLS.Key == "") {
		return c, fmt.Errorf("%s: listen_tls needs tls.cert and tls.key", path)
	}
	if err := c.foldLoginConcurrency(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Folders.check(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// foldLoginConcurrency makes [auth] hash_workers the one setting of the
// hashing pool's size: [limits] login_concurrency, its name before the
// login cache came, still sets it when hash_workers is not set; both
// set to different values is an error rather than a silent choice.
func (c *Config) foldLoginConcurrency() error {
	old, hw := c.Limits.LoginConcurrency, c.Auth.HashWorkers
	if old != 0 && hw != 0 && old != hw {
		return fmt.Errorf("[limits] login_concurrency = %d is the old name of [auth] hash_workers = %d; keep only hash_workers", old, hw)
	}
	if hw == 0 {
		c.Auth.HashWorkers = old
	}
	c.Limits.LoginConcurrency = c.Auth.HashWorkers
	return nil
}
