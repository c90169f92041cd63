package imapd

import (
	"runtime"
	"time"
)

// Limits bound everything a client can make the server hold or do: the
// octets it may send in one command, the time it may take, the connections
// it may open, the keywords, folders and search keys it may make us keep
// or evaluate. Each has a default (the Default* constants), a key in the
// configuration's [limits] table and a test. For every one the question
// is "what is the most a client can make me hold, times 1,000
// connections?".
//
// A zero field takes its default.
type Limits struct {
	// MaxLine bounds a command line, literals excluded (64 KiB). A longer
	// line is read to its end and answered BAD; BYE only when a client
	// keeps sending them.
	MaxLine int
	// MaxLiteral bounds a literal outside APPEND (64 KiB).
	MaxLiteral int64
	// MaxLiterals bounds the literals of one command (256).
	MaxLiterals int
	// MaxCommand bounds the octets of one command held in memory: its
	// lines and literals, APPEND's message aside, which is streamed to
	// disk (256 KiB; at least MaxLine plus MaxLiteral).
	MaxCommand int64
	// MaxAppend bounds an APPENDed message (64 MiB); beyond: NO [TOOBIG].
	// It is announced as APPENDLIMIT (RFC 7889).
	MaxAppend int64

	// PreLoginMaxLine bounds a command line before login (8 KiB, as
	// Dovecot's imap-login): LOGIN, AUTHENTICATE and ID need far less.
	PreLoginMaxLine int
	// PreLoginMaxLiteral bounds every literal, synchronising or not,
	// before login (4 KiB, RFC 7888's LITERAL- limit). APPEND before
	// login is refused before its literal is read.
	PreLoginMaxLiteral int64
	// PreLoginMaxLiterals bounds the literals of one command before
	// login (4: LOGIN needs two).
	PreLoginMaxLiterals int
	// PreLoginTimeout is how long a client may stay connected without
	// logging in (60 s), counted from the connection's start, commands
	// or not; then BYE.
	PreLoginTimeout time.Duration
	// IdleTimeout is the autologout timer once logged in: how long a
	// client may stay silent, in IDLE too (30 minutes, and never less:
	// RFC 3501 §5.4).
	IdleTimeout time.Duration
	// WriteTimeout is how long a client may leave our output unread
	// before it is dropped (5 minutes): the deadline of every write to
	// the network. Once Shutdown has begun it is at most a second.
	WriteTimeout time.Duration

	// MaxConnections at once; more are greeted with BYE (1000).
	MaxConnections int
	// MaxConnectionsPerIP bounds the connections from one address (an
	// IPv4 address, an IPv6 /64) at once, logged in or not (50); more
	// are greeted with BYE. Connections without an IP (a pipe, a Unix
	// socket) are not counted.
	MaxConnectionsPerIP int
	// MaxUserConnectionsPerIP bounds the logged-in connections of one
	// user from one address (20), like Dovecot's
	// mail_max_userip_connections. A login beyond it gets NO [LIMIT].
	MaxUserConnectionsPerIP int
	// MaxFailedLogins per connection before BYE (3).
	MaxFailedLogins int
	// LoginConcurrency bounds the password checks (bcrypt and the like)
	// that run at once in this process (half the CPUs, at least 1), so
	// that logins never starve running sessions.
	LoginConcurrency int

	// SearchDepth bounds the nesting of SEARCH keys (64).
	SearchDepth int
	// SearchKeys bounds the keys of one SEARCH, counting every key at
	// every depth (1,000).
	SearchKeys int
	// SearchWorkers bounds the goroutines that scan message text for
	// SEARCH, and derive a FETCH's cached data ahead of its responses,
	// in the whole server (the number of CPUs).
	SearchWorkers int

	// MaxKeywords bounds the keywords of one folder (256); a STORE or
	// APPEND that would add more gets NO [LIMIT].
	MaxKeywords int
	// MaxFolders bounds the folders of one user (10,000); a CREATE or
	// RENAME beyond it gets NO [LIMIT].
	MaxFolders int
}

// Defaults of Limits.
const (
	DefaultMaxLine                 = 64 << 10
	DefaultMaxLiteral              = 64 << 10
	DefaultMaxLiterals             = 256
	DefaultMaxCommand              = 256 << 10
	DefaultMaxAppend               = 64 << 20
	DefaultPreLoginMaxLine         = 8 << 10
	DefaultPreLoginMaxLiteral      = 4 << 10
	DefaultPreLoginMaxLiterals     = 4
	DefaultPreLoginTimeout         = time.Minute
	DefaultIdleTimeout             = 30 * time.Minute
	DefaultWriteTimeout            = 5 * time.Minute
	DefaultMaxConnections          = 1000
	DefaultMaxConnectionsPerIP     = 50
	DefaultMaxUserConnectionsPerIP = 20
	DefaultMaxFailedLogins         = 3
	DefaultSearchDepth             = 64
	DefaultSearchKeys              = 1000
	DefaultMaxKeywords             = 256
	DefaultMaxFolders              = 10000

	// minIdleTimeout is RFC 3501 §5.4's floor for the autologout timer.
	minIdleTimeout = 30 * time.Minute
)

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	setInt(&l.MaxLine, DefaultMaxLine)
	setInt64(&l.MaxLiteral, DefaultMaxLiteral)
	setInt(&l.MaxLiterals, DefaultMaxLiterals)
	setInt64(&l.MaxCommand, DefaultMaxCommand)
	l.MaxCommand = max(l.MaxCommand, int64(l.MaxLine)+l.MaxLiteral)
	setInt64(&l.MaxAppend, DefaultMaxAppend)
	setInt(&l.PreLoginMaxLine, DefaultPreLoginMaxLine)
	setInt64(&l.PreLoginMaxLiteral, DefaultPreLoginMaxLiteral)
	setInt(&l.PreLoginMaxLiterals, DefaultPreLoginMaxLiterals)
	setDuration(&l.PreLoginTimeout, DefaultPreLoginTimeout)
	setDuration(&l.IdleTimeout, DefaultIdleTimeout)
	l.IdleTimeout = max(l.IdleTimeout, minIdleTimeout)
	setDuration(&l.WriteTimeout, DefaultWriteTimeout)
	setInt(&l.MaxConnections, DefaultMaxConnections)
	setInt(&l.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	setInt(&l.MaxUserConnectionsPerIP, DefaultMaxUserConnectionsPerIP)
	setInt(&l.MaxFailedLogins, DefaultMaxFailedLogins)
	setInt(&l.LoginConcurrency, max(1, runtime.NumCPU()/2))
	setInt(&l.SearchDepth, DefaultSearchDepth)
	setInt(&l.SearchKeys, DefaultSearchKeys)
	setInt(&l.SearchWorkers, runtime.NumCPU())
	setInt(&l.MaxKeywords, DefaultMaxKeywords)
	setInt(&l.MaxFolders, DefaultMaxFolders)
	return l
}

func setInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

func setInt64(v *int64, def int64) {
	if *v <= 0 {
		*v = def
	}
}

func setDuration(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}
