package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"imapd/auth"
)

func cmdUserAdd() *command {
	return &command{
		path:    "user add",
		args:    []string{"NAME"},
		summary: "add a user to the htpasswd file",
		detail: `The password is asked twice on the terminal, with echo off, or read
from the first line of standard input with --password-stdin. An existing
user is refused unless --update is given. The user's Maildir is made by
the server at the first login.`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
			update := fs.Bool("update", false, "change the password if the user exists")
			return func(e *env, args []string) error { return userSet(e, args[0], *stdin, true, *update) }
		},
	}
}

func cmdUserPasswd() *command {
	return &command{
		path:    "user passwd",
		args:    []string{"NAME"},
		summary: "change a user's password",
		detail: `The password is asked twice on the terminal, with echo off, or read
from the first line of standard input with --password-stdin.`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
			return func(e *env, args []string) error { return userSet(e, args[0], *stdin, false, true) }
		},
	}
}

// userSet adds a user (add) or changes an existing one's password
// (!add), or either (add && update).
func userSet(e *env, name string, fromStdin, add, update bool) error {
	cfg, err := loadConfig(e.configPath)
	if err != nil {
		return err
	}
	if err := checkUsername(name); err != nil {
		return err
	}
	if _, _, err := cfg.locate(name); err != nil {
		return fmt.Errorf("user %q cannot have mail: %w", name, err)
	}
	// Refuse early, before asking for a password; Update checks again.
	users, err := cfg.users(add)
	if err != nil {
		return err
	}
	if err := canSet(name, slices.Contains(users, name), add, update); err != nil {
		return err
	}
	pw, err := readPassword(e, fromStdin, true)
	if err != nil {
		return err
	}
	return auth.Update(cfg.Auth.Htpasswd, func(f *auth.File) error {
		if err := canSet(name, slices.Contains(f.Users(), name), add, update); err != nil {
			return err
		}
		return f.Set(name, pw)
	})
}

func canSet(name string, exists, add, update bool) error {
	switch {
	case exists && !update:
		return fmt.Errorf("user %q already exists (--update changes the password)", name)
	case !exists && !add:
		return fmt.Errorf("user %q: %w", name, errNoUser)
	}
	return nil
}

// checkUsername refuses, before a password is asked, a name File.Set would.
func checkUsername(name string) error {
	if err := auth.ValidUsername(name); err != nil {
		return err
	}
	if strings.ContainsRune(name, ':') || strings.TrimSpace(name) != name {
		return fmt.Errorf("%w: ':' or surrounding white space cannot stand in an htpasswd file", auth.ErrInvalidUsername)
	}
	return nil
}

func cmdUserDel() *command {
	return &command{
		path:    "user del",
		args:    []string{"NAME"},
		summary: "remove a user from the htpasswd file",
		detail: `The user's mail is kept unless --purge is given. --purge removes the
user's Maildir (and the directories above it that it leaves empty, up to
the mail location's base), after checking that the Maildir lies inside the
base with no symbolic link on the way, looks like a Maildir (cur/, new/,
tmp/), and holds no other user's mail. If any check fails nothing is
done, not even the user's removal. The removed directory is printed.`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			purge := fs.Bool("purge", false, "also remove the user's Maildir")
			return func(e *env, args []string) error { return userDel(e, args[0], *purge) }
		},
	}
}

func userDel(e *env, name string, purge bool) error {
	cfg, err := loadConfig(e.configPath)
	if err != nil {
		return err
	}
	users, err := cfg.users(false)
	if err != nil {
		return err
	}
	if !slices.Contains(users, name) {
		return fmt.Errorf("user %q: %w", name, errNoUser)
	}
	var plan *purgePlan
	if purge {
		others := slices.DeleteFunc(users, func(u string) bool { return u == name })
		if plan, err = planPurge(cfg, name, others); err != nil {
			return fmt.Errorf("--purge: %w", err)
		}
	}
	err = auth.Update(cfg.Auth.Htpasswd, func(f *auth.File) error {
		if !f.Delete(name) {
			return fmt.Errorf("user %q: %w", name, errNoUser)
		}
		return nil
	})
	if err != nil || plan == nil {
		return err
	}
	if err := plan.remove(); err != nil {
		return fmt.Errorf("user %q removed, but not the Maildir: %w", name, err)
	}
	if plan.present {
		fmt.Fprintln(e.stdout, plan.maildir)
	}
	return nil
}

func cmdUserList() *command {
	return &command{
		path:    "user list",
		summary: "list the users of the htpasswd file",
		detail: `One username per line, in file order. With --json: an array of objects
{"user": NAME, "maildir": PATH}, where maildir is left out if the mail
location cannot be expanded for the name.`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(e *env, _ []string) error { return userList(e, *asJSON) }
		},
	}
}

func userList(e *env, asJSON bool) error {
	cfg, err := loadConfig(e.configPath)
	if err != nil {
		return err
	}
	users, err := cfg.users(false)
	if err != nil {
		return err
	}
	if !asJSON {
		for _, u := range users {
			fmt.Fprintln(e.stdout, u)
		}
		return nil
	}
	type entry struct {
		User    string `json:"user"`
		Maildir string `json:"maildir,omitempty"`
	}
	out := make([]entry, 0, len(users))
	for _, u := range users {
		dir, _, _ := cfg.locate(u)
		out = append(out, entry{User: u, Maildir: dir})
	}
	return printJSON(e.stdout, out)
}

func cmdUserVerify() *command {
	return &command{
		path:    "user verify",
		args:    []string{"NAME"},
		summary: "check a user's password",
		detail: `The password is asked on the terminal, with echo off, or read from the
first line of standard input with --password-stdin, and checked as the
server checks it. Prints "ok" and exits 0 if it matches, prints
"mismatch" and exits 1 if not (also when the user's line is one the
server refuses).`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
			return func(e *env, args []string) error { return userVerify(e, args[0], *stdin) }
		},
	}
}

func userVerify(e *env, name string, fromStdin bool) error {
	cfg, err := loadConfig(e.configPath)
	if err != nil {
		return err
	}
	users, err := cfg.users(false)
	if err != nil {
		return err
	}
	if !slices.Contains(users, name) {
		return fmt.Errorf("user %q: %w", name, errNoUser)
	}
	pw, err := readPassword(e, fromStdin, false)
	if err != nil {
		return err
	}
	ht, err := auth.NewHtpasswd(auth.HtpasswdOptions{
		Path:         cfg.Auth.Htpasswd,
		MailLocation: cfg.Auth.MailLocation,
		Home:         cfg.Auth.Home,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	_, err = ht.Authenticate(context.Background(), name, pw)
	switch {
	case err == nil:
		fmt.Fprintln(e.stdout, "ok")
		return nil
	case errors.Is(err, auth.ErrFailed):
		fmt.Fprintln(e.stdout, "mismatch")
		return exitStatus(1)
	}
	return err
}
