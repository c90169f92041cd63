package main

import (
	"flag"
	"fmt"
)

func cmdCheck() *command {
	return &command{
		path:    "check",
		args:    []string{"DIR"},
		summary: "verify and repair the UID sidecars of a Maildir",
		detail: `DIR is a Maildir root (its INBOX). Every folder's files are listed and
stat'ed and reconciled with its sidecar (imapd-uidlist), which is created
when missing and rewritten when damaged; what was found is printed, one
folder per line, tab-separated:

  folder  messages  added  expunged  changed  sidecar-new  sidecar-rewritten

added: files that had no UID (delivered behind the store's back, or lost
records); expunged: UIDs whose file is gone; changed: flag renames found;
sidecar-new and sidecar-rewritten: yes or no. With --json: an array of
objects with those fields and the folder's uidvalidity.

A folder that cannot be checked is reported on standard error, the others
are still checked, and the exit status is then 1.`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(e *env, args []string) error { return check(e, args[0], *asJSON) }
		},
	}
}

// checkEntry is one folder's line of check's output.
type checkEntry struct {
	Folder           string `json:"folder"`
	Messages         int    `json:"messages"`
	Added            int    `json:"added"`
	Expunged         int    `json:"expunged"`
	Changed          int    `json:"changed"`
	SidecarNew       bool   `json:"sidecar_new"`
	SidecarRewritten bool   `json:"sidecar_rewritten"`
	UIDValidity      uint32 `json:"uidvalidity"`
}

func check(e *env, dir string, asJSON bool) error {
	hub, st, err := openStore(dir, false)
	if err != nil {
		return err
	}
	defer hub.Close()
	list, err := st.List()
	if err != nil {
		return err
	}
	out := []checkEntry{}
	failed := 0
	for _, f := range list {
		if f.NoSelect {
			continue
		}
		rep, err := st.CheckFolder(f.Name)
		if err != nil {
			failed++
			fmt.Fprintf(e.stderr, "imapctl: check: %s\n", oneLine(folderError(f.Name, err).Error()))
			continue
		}
		out = append(out, checkEntry{
			Folder: rep.Folder, Messages: rep.Messages, Added: rep.Added, Expunged: rep.Expunged,
			Changed: rep.Changed, SidecarNew: rep.SidecarNew, SidecarRewritten: rep.SidecarBad,
			UIDValidity: rep.UIDValidity,
		})
	}
	if asJSON {
		if err := printJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		for _, c := range out {
			fmt.Fprintf(e.stdout, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", c.Folder, c.Messages, c.Added,
				c.Expunged, c.Changed, yesNo(c.SidecarNew), yesNo(c.SidecarRewritten))
		}
	}
	if failed > 0 {
		return exitStatus(1)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
