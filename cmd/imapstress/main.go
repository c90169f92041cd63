// Command imapstress is a state-tracking IMAP stress client: N
// connections over M users loop random commands (SELECT/EXAMINE, FETCH of
// varied items, STORE, EXPUNGE, APPEND, COPY/MOVE, SEARCH, NOOP, IDLE),
// each keeping its view of the selected mailbox only from the server's
// responses, and report every response that breaks RFC 3501's promises to
// a client, with the session's last lines of transcript.
//
//	imapstress -addr 127.0.0.1:1143 -users demo:demo -clients 10 -duration 30s
//
// A UID's content (RFC822.SIZE, INTERNALDATE, BODY[], the FROM and SUBJECT
// fields, ENVELOPE) is remembered across all sessions and must never
// change; a message that no session deleted or moved must never vanish.
// Exit status: 0 no violation, 1 violations, 2 the harness failed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"
)

func main() {
	cfg, asJSON, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "imapstress:", err)
		os.Exit(2)
	}
	if cfg.CPUProfile != "" {
		// The client shares the machine with the server it measures: its
		// own cost is part of every figure, and this shows where it goes.
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "imapstress:", err)
			os.Exit(2)
		}
	}
	code := run(cfg, asJSON)
	pprof.StopCPUProfile()
	os.Exit(code)
}

// run is main after the flags: the exit status.
func run(cfg Config, asJSON bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "imapstress:", err)
		return 2
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.WriteText(os.Stdout)
	}
	if rep.Total > 0 {
		return 1
	}
	return 0
}

func parseFlags(args []string) (Config, bool, error) {
	fs := flag.NewFlagSet("imapstress", flag.ContinueOnError)
	var cfg Config
	var users string
	var nbox int
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:1143", "server `host:port`")
	fs.StringVar(&users, "users", "demo:demo", "comma-separated `user:pass` list, or the name of a file with one user:pass a line")
	fs.IntVar(&cfg.Clients, "clients", 10, "connections, spread over the users round robin")
	fs.IntVar(&nbox, "mailboxes", 3, "mailboxes per user all its sessions share: INBOX and stress1..stress(M-1), created if missing")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long the clients run")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed (each session's commands follow from it)")
	fs.StringVar(&cfg.DeliverDir, "deliver-dir", "", "a Maildir `path` to deliver into directly (tmp/ then new/), as Postfix does")
	fs.Float64Var(&cfg.DeliverRate, "deliver-rate", 5, "deliveries per second into -deliver-dir")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "longest wait for one response")
	fs.DurationVar(&cfg.IdleMax, "idle-max", 500*time.Millisecond, "longest an IDLE is held (uniformly from a tenth of it); IDLE holds bound the commands a session can send a second, so a server's throughput shows only with short ones")
	fs.IntVar(&cfg.Examples, "examples", 3, "violations shown with transcript, per class")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write the client's own CPU profile to `file`")
	verbose := fs.Bool("v", false, "print every violation with its transcript as it happens")
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.Users, err = parseUsers(users); err != nil {
		return cfg, false, err
	}
	if nbox < 1 {
		return cfg, false, errors.New("-mailboxes must be at least 1")
	}
	if cfg.IdleMax < time.Millisecond {
		return cfg, false, errors.New("-idle-max must be at least 1ms")
	}
	cfg.Mailboxes = mailboxNames(nbox)
	if *verbose {
		cfg.Verbose = os.Stderr
	}
	return cfg, *asJSON, nil
}

func mailboxNames(n int) []string {
	out := []string{"INBOX"}
	for i := 1; i < n; i++ {
		out = append(out, fmt.Sprintf("stress%d", i))
	}
	return out
}

// parseUsers reads "u:p,u2:p2" or a file of u:p lines.
func parseUsers(s string) ([]cred, error) {
	text := s
	if b, err := os.ReadFile(s); err == nil {
		text = strings.ReplaceAll(string(b), "\n", ",")
	}
	var out []cred
	for _, f := range strings.Split(text, ",") {
		f = strings.TrimSpace(f)
		if f == "" || strings.HasPrefix(f, "#") {
			continue
		}
		u, p, ok := strings.Cut(f, ":")
		if !ok || u == "" {
			return nil, fmt.Errorf("user %q is not user:pass", f)
		}
		out = append(out, cred{u, p})
	}
	if len(out) == 0 {
		return nil, errors.New("no users")
	}
	return out, nil
}

// Config is one stress run.
type Config struct {
	Addr        string
	Users       []cred
	Clients     int
	Mailboxes   []string // every user's: INBOX first
	Duration    time.Duration
	Seed        uint64
	DeliverDir  string
	DeliverRate float64
	Timeout     time.Duration
	IdleMax     time.Duration // an IDLE is held a tenth of this to all of it
	Examples    int
	Verbose     io.Writer // nil: quiet
	CPUProfile  string    // the client's CPU profile goes there (main)
}

// NewConfig returns a Config with the flags' defaults.
func NewConfig(addr string, users ...string) (Config, error) {
	cfg, _, err := parseFlags([]string{"-addr", addr, "-users", strings.Join(users, ",")})
	return cfg, err
}
