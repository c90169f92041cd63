// Command imapctl administers imapd: the users of its htpasswd file, their
// folders, and the UID sidecars of Maildirs.
//
//	imapctl [-config FILE] user add [--password-stdin] [--update] NAME
//	imapctl [-config FILE] user passwd [--password-stdin] NAME
//	imapctl [-config FILE] user del [--purge] NAME
//	imapctl [-config FILE] user list [--json]
//	imapctl [-config FILE] user verify [--password-stdin] NAME
//	imapctl [-config FILE] folder list [--json] USER
//	imapctl [-config FILE] folder create [--subscribe] USER NAME
//	imapctl [-config FILE] folder delete USER NAME
//	imapctl check [--json] DIR
//	imapctl import-uids [--force] [--json] DIR
//
// It reads the server's configuration file for the htpasswd path and the
// mail location, and changes the htpasswd file only through auth.Update
// (locked, atomic), so a running server and other imapctl processes are
// never lost or shown half a file; the server picks changes up by itself.
//
// Exit status: 0 on success, 1 on a failure (or "mismatch" from user
// verify), 2 on a usage error. Every error is one line on standard error;
// results go to standard output, one record per line with tab-separated
// fields, or as JSON with --json.
//
// Run as root, imapctl does its Maildir work (folder, check, import-uids)
// as the owner of the Maildir, so that what it creates belongs to the mail
// user and not to root.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// defaultConfigPath is imapd's own default.
const defaultConfigPath = "/etc/imapd/imapd.toml"

func main() {
	os.Exit(run(os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

// env is what a command runs with.
type env struct {
	// configPath is the -config flag.
	configPath string
	// stdin is where --password-stdin reads, and the terminal asked when
	// it is one.
	stdin *os.File
	// stdout gets results, stderr errors.
	stdout, stderr io.Writer
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitStatus ends a command with a status and no further message: the
// command has already said what there was to say (verify's "mismatch").
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run is main without the exit: it parses the global flags, finds the
// command, parses its flags and arguments, runs it and turns its error into
// one line on stderr and an exit status.
func run(args []string, e *env) int {
	global := flag.NewFlagSet("imapctl", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	global.StringVar(&e.configPath, "config", defaultConfigPath, "configuration `FILE` (imapd's TOML)")
	if err := global.Parse(args); errors.Is(err, flag.ErrHelp) {
		printMainHelp(e.stdout)
		return 0
	} else if err != nil {
		return fail(e, "", usagef("%v", err))
	}
	rest := global.Args()
	if len(rest) == 0 {
		return fail(e, "", usagef("no command given"))
	}
	cmds := commands()
	if rest[0] == "help" {
		return help(e, cmds, rest[1:])
	}

	cmd, n := lookup(cmds, rest)
	if cmd == nil {
		return groupOrUnknown(e, cmds, rest)
	}
	fs := flag.NewFlagSet("imapctl "+cmd.path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.configPath, "config", e.configPath, "configuration `FILE` (imapd's TOML)")
	runCmd := cmd.setup(fs)
	pos, err := parseInterspersed(fs, rest[n:])
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(e.stdout, cmd, fs)
		return 0
	} else if err != nil {
		return fail(e, cmd.path, usagef("%v", err))
	}
	switch {
	case len(pos) < len(cmd.args):
		return fail(e, cmd.path, usagef("missing %s", strings.Join(cmd.args[len(pos):], " ")))
	case len(pos) > len(cmd.args):
		return fail(e, cmd.path, usagef("unexpected argument %q", pos[len(cmd.args)]))
	}
	return fail(e, cmd.path, runCmd(e, pos))
}

// fail reports err, if any, and returns the exit status for it.
func fail(e *env, path string, err error) int {
	var st exitStatus
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &st):
		return int(st)
	case errors.As(err, &ue):
		hint := "imapctl --help"
		if path != "" {
			hint = "imapctl " + path + " --help"
		}
		fmt.Fprintf(e.stderr, "imapctl: %s%s (see %s)\n", prefix(path), oneLine(ue.msg), hint)
		return 2
	default:
		fmt.Fprintf(e.stderr, "imapctl: %s%s\n", prefix(path), oneLine(err.Error()))
		return 1
	}
}

func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// oneLine keeps a message to one line whatever an error text holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments ("user add alice --password-stdin"); after
// "--" everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
