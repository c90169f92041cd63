package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

func cmdFolderList() *command {
	return &command{
		path:    "folder list",
		args:    []string{"USER"},
		summary: "list a user's folders",
		detail: `One folder per line, INBOX first: the name (UTF-8), a tab, and its
attributes separated by commas, or "-": noselect (a parent that exists
only through a child) and subscribed. With --json: an array of objects
{"name", "noselect", "subscribed"}.`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(e *env, args []string) error { return folderList(e, args[0], *asJSON) }
		},
	}
}

// userStoreDir loads the configuration and returns the user's Maildir.
func userStoreDir(e *env, user string) (string, error) {
	cfg, err := loadConfig(e.configPath)
	if err != nil {
		return "", err
	}
	return cfg.userMaildir(user)
}

func folderList(e *env, user string, asJSON bool) error {
	dir, err := userStoreDir(e, user)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("user %q has no Maildir yet (%s is made at the first login, or by folder create)", user, dir)
	}
	hub, st, err := openStore(dir, false)
	if err != nil {
		return err
	}
	defer hub.Close()
	list, err := st.List()
	if err != nil {
		return err
	}
	subs, err := st.Subscriptions()
	if err != nil {
		return err
	}
	type entry struct {
		Name       string `json:"name"`
		NoSelect   bool   `json:"noselect"`
		Subscribed bool   `json:"subscribed"`
	}
	out := make([]entry, 0, len(list))
	for _, f := range list {
		out = append(out, entry{Name: f.Name, NoSelect: f.NoSelect, Subscribed: slices.Contains(subs, f.Name)})
	}
	if asJSON {
		return printJSON(e.stdout, out)
	}
	for _, f := range out {
		var attrs []string
		if f.NoSelect {
			attrs = append(attrs, "noselect")
		}
		if f.Subscribed {
			attrs = append(attrs, "subscribed")
		}
		if len(attrs) == 0 {
			attrs = []string{"-"}
		}
		fmt.Fprintf(e.stdout, "%s\t%s\n", f.Name, strings.Join(attrs, ","))
	}
	return nil
}

func cmdFolderCreate() *command {
	return &command{
		path:    "folder create",
		args:    []string{"USER", "NAME"},
		summary: "create a folder in a user's Maildir",
		detail: `NAME is the IMAP name in UTF-8, levels separated by '.' ("Archive.2024");
parents need not exist. The user's Maildir is created if the user has
never logged in. With --subscribe the folder is also subscribed, so that
clients showing only subscribed folders see it.`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			subscribe := fs.Bool("subscribe", false, "also subscribe the folder")
			return func(e *env, args []string) error { return folderCreate(e, args[0], args[1], *subscribe) }
		},
	}
}

func folderCreate(e *env, user, name string, subscribe bool) error {
	dir, err := userStoreDir(e, user)
	if err != nil {
		return err
	}
	hub, st, err := openStore(dir, true)
	if err != nil {
		return err
	}
	defer hub.Close()
	if err := st.Create(name); err != nil {
		return folderError(name, err)
	}
	if subscribe {
		if err := st.Subscribe(name); err != nil {
			return folderError(name, err)
		}
	}
	return nil
}

func cmdFolderDelete() *command {
	return &command{
		path:    "folder delete",
		args:    []string{"USER", "NAME"},
		summary: "delete a folder and its messages",
		detail: `NAME is the IMAP name in UTF-8. The folder's children stay (the name
lives on as a noselect parent); INBOX cannot be deleted. Subscriptions
are left as they are, as IMAP's DELETE leaves them.`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			return func(e *env, args []string) error { return folderDelete(e, args[0], args[1]) }
		},
	}
}

func folderDelete(e *env, user, name string) error {
	dir, err := userStoreDir(e, user)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no folder %q: user %q has no Maildir yet", name, user)
	}
	hub, st, err := openStore(dir, false)
	if err != nil {
		return err
	}
	defer hub.Close()
	return folderError(name, st.Delete(name))
}
