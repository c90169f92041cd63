package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one imapctl command: its words, its arguments and its help.
type command struct {
	// path is the words that name it: "user add".
	path string
	// args name the positional arguments, all required: {"USER", "NAME"}.
	args []string
	// summary is the one line shown in the list of commands.
	summary string
	// detail is the rest of its --help text.
	detail string
	// setup defines the command's flags on fs and returns the function that
	// runs it with its positional arguments.
	setup func(fs *flag.FlagSet) func(e *env, args []string) error
}

// commands is the table of every command, in the order help lists them.
func commands() []*command {
	return []*command{
		cmdUserAdd(), cmdUserPasswd(), cmdUserDel(), cmdUserList(), cmdUserVerify(),
		cmdFolderList(), cmdFolderCreate(), cmdFolderDelete(),
		cmdCheck(), cmdImportUIDs(),
	}
}

// lookup finds the command named by the first words of args and says how
// many words its name took.
func lookup(cmds []*command, args []string) (*command, int) {
	for _, c := range cmds {
		words := strings.Fields(c.path)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.path {
			return c, len(words)
		}
	}
	return nil, 0
}

// groupOrUnknown handles a command line that names no command: a group
// alone ("imapctl user"), a group's help ("imapctl user --help"), or an
// unknown word.
func groupOrUnknown(e *env, cmds []*command, args []string) int {
	group := args[0]
	var members []*command
	for _, c := range cmds {
		if strings.HasPrefix(c.path, group+" ") {
			members = append(members, c)
		}
	}
	if len(members) == 0 {
		return fail(e, "", usagef("unknown command %q", group))
	}
	if len(args) == 1 {
		return fail(e, group, usagef("missing subcommand (%s)", subcommands(group, members)))
	}
	if isHelpFlag(args[1]) {
		printGroupHelp(e.stdout, group, members)
		return 0
	}
	return fail(e, group, usagef("unknown subcommand %q (%s)", args[1], subcommands(group, members)))
}

func subcommands(group string, members []*command) string {
	var names []string
	for _, c := range members {
		names = append(names, strings.TrimPrefix(c.path, group+" "))
	}
	return strings.Join(names, ", ")
}

func isHelpFlag(s string) bool {
	switch s {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

// help serves "imapctl help [COMMAND...]".
func help(e *env, cmds []*command, words []string) int {
	if len(words) == 0 {
		printMainHelp(e.stdout)
		return 0
	}
	if c, n := lookup(cmds, words); c != nil && n == len(words) {
		fs := flag.NewFlagSet("imapctl "+c.path, flag.ContinueOnError)
		fs.String("config", defaultConfigPath, "configuration `FILE` (imapd's TOML)")
		c.setup(fs)
		printCommandHelp(e.stdout, c, fs)
		return 0
	}
	if len(words) == 1 {
		return groupOrUnknown(e, cmds, []string{words[0], "--help"})
	}
	return fail(e, "help", usagef("unknown command %q", strings.Join(words, " ")))
}

// synopsis is a command's usage line.
func synopsis(c *command, fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("imapctl ")
	if c.needsConfig() {
		b.WriteString("[-config FILE] ")
	}
	b.WriteString(c.path)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		name, _ := flag.UnquoteUsage(f)
		if name == "" {
			fmt.Fprintf(&b, " [--%s]", f.Name)
		} else {
			fmt.Fprintf(&b, " [--%s %s]", f.Name, name)
		}
	})
	for _, a := range c.args {
		b.WriteString(" " + a)
	}
	return b.String()
}

// needsConfig tells the commands that read the configuration file.
func (c *command) needsConfig() bool {
	return strings.HasPrefix(c.path, "user ") || strings.HasPrefix(c.path, "folder ")
}

func printCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis(c, fs), c.summary)
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.detail))
	}
	fmt.Fprintln(w, "\nFlags:")
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" && !c.needsConfig() {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.Name == "config" {
			usage += " (default " + defaultConfigPath + ")"
		}
		fmt.Fprintf(w, "%-24s %s\n", line, usage)
	})
	fmt.Fprintf(w, "%-24s %s\n", "  --help", "show this help")
}

func printGroupHelp(w io.Writer, group string, members []*command) {
	fmt.Fprintf(w, "Usage: imapctl %s SUBCOMMAND ...\n\nSubcommands:\n", group)
	for _, c := range members {
		fmt.Fprintf(w, "  %-36s %s\n", c.path+" "+strings.Join(c.args, " "), c.summary)
	}
	fmt.Fprintf(w, "\nimapctl %s SUBCOMMAND --help describes one.\n", group)
}

func printMainHelp(w io.Writer) {
	fmt.Fprintf(w, `Usage: imapctl [-config FILE] COMMAND [FLAGS] ARGS...

imapctl administers imapd: the users of its htpasswd file, their folders,
and the UID sidecars of Maildirs. user and folder commands read imapd's
configuration file (-config, default %s) for the htpasswd
path and the mail location.

Commands:
`, defaultConfigPath)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-36s %s\n", c.path+" "+strings.Join(c.args, " "), c.summary)
	}
	fmt.Fprint(w, `
imapctl COMMAND --help describes a command and its flags. Flags may come
before or after the arguments; "--" ends the flags.

Output: one record per line, fields separated by tabs (--json where
offered). Errors: one line on standard error.
Exit status: 0 success, 1 failure, 2 usage error.
`)
}
