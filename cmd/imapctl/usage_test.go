package main

import (
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	f := newFixture(t, "")
	f.addUser("alice", "pw")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"-nosuch", "user", "list"}, "flag provided but not defined: -nosuch"},
		{[]string{"user"}, "user: missing subcommand (add, passwd, del, list, verify)"},
		{[]string{"user", "frob"}, `user: unknown subcommand "frob"`},
		{[]string{"folder"}, "folder: missing subcommand (list, create, delete)"},
		{[]string{"user", "add"}, "user add: missing NAME"},
		{[]string{"user", "add", "a", "b"}, `user add: unexpected argument "b"`},
		{[]string{"user", "add", "--bogus", "a"}, "user add: flag provided but not defined: -bogus"},
		{[]string{"user", "add", "--update=maybe", "a"}, `user add: invalid boolean value "maybe" for -update`},
		{[]string{"user", "passwd"}, "user passwd: missing NAME"},
		{[]string{"user", "del"}, "user del: missing NAME"},
		{[]string{"user", "del", "--purge", "a", "b"}, `user del: unexpected argument "b"`},
		{[]string{"user", "list", "extra"}, `user list: unexpected argument "extra"`},
		{[]string{"user", "verify"}, "user verify: missing NAME"},
		{[]string{"folder", "list"}, "folder list: missing USER"},
		{[]string{"folder", "create", "alice"}, "folder create: missing NAME"},
		{[]string{"folder", "create"}, "folder create: missing USER NAME"},
		{[]string{"folder", "delete", "alice", "a", "b"}, `folder delete: unexpected argument "b"`},
		{[]string{"check"}, "check: missing DIR"},
		{[]string{"check", "a", "b"}, `check: unexpected argument "b"`},
		{[]string{"import-uids"}, "import-uids: missing DIR"},
		{[]string{"import-uids", "--force=x", "d"}, "import-uids: invalid boolean value"},
		{[]string{"help", "user", "frob"}, `help: unknown command "user frob"`},
		// No terminal to ask a password on, and no --password-stdin.
		{[]string{"user", "add", "bob"}, "user add: no terminal to ask the password on: give it with --password-stdin"},
		{[]string{"user", "verify", "alice"}, "user verify: no terminal"},
	} {
		r := f.ctl("pw\n", tc.args...)
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			wantError(t, r, 2, tc.want)
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
	// Flags after the arguments and "--" before a name that looks like one.
	f.mustCtl("pw\n", "user", "add", "bob", "--password-stdin")
	f.mustCtl("pw\n", "user", "add", "--password-stdin", "--", "-dash")
	if r := f.mustCtl("", "user", "list"); r.stdout != "alice\nbob\n-dash\n" {
		t.Errorf("user list = %q", r.stdout)
	}
}

func TestConfigErrors(t *testing.T) {
	r := runCtl(t, "", "-config", "/nonexistent/imapd.toml", "user", "list")
	wantError(t, r, 1, "config: open /nonexistent/imapd.toml: no such file or directory")
	f := newFixture(t, "")
	writeFile(t, f.config, "[auth\nhtpasswd = 1\n")
	wantError(t, f.ctl("", "user", "list"), 1, "config "+f.config+": toml:")
	writeFile(t, f.config, "[auth]\nmail_location = \"relative/%u\"\nhtpasswd = \""+f.passwd+"\"\n")
	wantError(t, f.ctl("x\n", "user", "add", "--password-stdin", "a"), 1, "invalid mail location template")
}

func TestHelp(t *testing.T) {
	var helps [][]string
	helps = append(helps, []string{"--help"}, []string{"-h"}, []string{"help"},
		[]string{"user", "--help"}, []string{"folder", "-h"}, []string{"help", "user"})
	for _, c := range commands() {
		words := strings.Fields(c.path)
		helps = append(helps,
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
			append([]string{"help"}, words...),
			// --help wins over missing or extra arguments.
			append(append([]string{}, words...), "x", "y", "z", "--help"))
	}
	for _, args := range helps {
		r := runCtl(t, "", args...)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "Usage: imapctl") {
			t.Errorf("imapctl %s: exit %d stderr %q stdout %q", strings.Join(args, " "), r.code, r.stderr, r.stdout)
		}
	}
	r := runCtl(t, "", "user", "add", "--help")
	if !strings.Contains(r.stdout, "Usage: imapctl [-config FILE] user add [--password-stdin] [--update] NAME\n") {
		t.Errorf("user add --help:\n%s", r.stdout)
	}
}
