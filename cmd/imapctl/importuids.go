package main

import (
	"flag"
	"fmt"

	"imapd/maildir"
)

func cmdImportUIDs() *command {
	return &command{
		path:    "import-uids",
		args:    []string{"DIR"},
		summary: "adopt the UIDs of a Maildir migrated from Dovecot or Courier",
		detail: `DIR is a Maildir root (its INBOX). Every folder that has Dovecot's
dovecot-uidlist or Courier's courierimapuiddb is opened once, and the store
adopts its UIDVALIDITY and UIDs, so clients of the migrated mailbox
download nothing again. One line per such folder, tab-separated:

  folder  source  uidvalidity  adopted

where adopted is the number of messages that kept their old UID. With
--json: an array of objects with those fields, uidnext and messages.

A folder that already has our sidecar (imapd-uidlist) has UIDs in use, and
the command refuses, changing nothing, unless --force is given: then the
sidecar and the cache of those folders are removed first and the foreign
UIDs adopted again. Stop the server for the Maildir before --force.`,
		setup: func(fs *flag.FlagSet) func(*env, []string) error {
			force := fs.Bool("force", false, "discard our existing sidecars and adopt the foreign UIDs again")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(e *env, args []string) error { return importUIDs(e, args[0], *force, *asJSON) }
		},
	}
}

// foreignFolder is a folder with another server's UID list.
type foreignFolder struct {
	name, dir, source    string
	uidValidity, uidNext uint32
	// uids maps a base name to its foreign UID.
	uids map[string]uint32
	// ours reports an existing imapd-uidlist.
	ours bool
}

// importEntry is one folder's line of import-uids' output.
type importEntry struct {
	Folder      string `json:"folder"`
	Source      string `json:"source"`
	UIDValidity uint32 `json:"uidvalidity"`
	Adopted     int    `json:"adopted"`
	UIDNext     uint32 `json:"uidnext"`
	Messages    int    `json:"messages"`
}

func importUIDs(e *env, dir string, force, asJSON bool) error {
	hub, st, err := openStore(dir, false)
	if err != nil {
		return err
	}
	defer hub.Close()
	found, err := findForeign(st)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return fmt.Errorf("no folder of %s has a dovecot-uidlist or courierimapuiddb", dir)
	}
	var ours []foreignFolder
	for _, f := range found {
		if f.ours {
			ours = append(ours, f)
		}
	}
	if len(ours) > 0 && !force {
		more := ""
		if len(ours) > 1 {
			more = fmt.Sprintf(" (and %d more folders)", len(ours)-1)
		}
		return fmt.Errorf("folder %q%s already has %s, so its UIDs are in use; nothing changed (--force discards it and adopts %s again)",
			ours[0].name, more, "imapd-uidlist", ours[0].source)
	}
	for _, f := range ours {
		if err := st.DiscardUIDs(f.name); err != nil {
			return fmt.Errorf("folder %q: %w", f.name, err)
		}
	}

	out := make([]importEntry, 0, len(found))
	for _, f := range found {
		ent, err := adopt(st, f)
		if err != nil {
			return err
		}
		out = append(out, ent)
	}
	if asJSON {
		return printJSON(e.stdout, out)
	}
	for _, c := range out {
		fmt.Fprintf(e.stdout, "%s\t%s\t%d\t%d\n", c.Folder, c.Source, c.UIDValidity, c.Adopted)
	}
	return nil
}

// findForeign reads the foreign UID list of every folder that has one.
func findForeign(st *maildir.Store) ([]foreignFolder, error) {
	list, err := st.List()
	if err != nil {
		return nil, err
	}
	var found []foreignFolder
	for _, fi := range list {
		if fi.NoSelect {
			continue
		}
		dir, err := st.FolderDir(fi.Name)
		if err != nil {
			return nil, folderError(fi.Name, err)
		}
		src, v, next, uids, err := maildir.ReadForeignUIDs(dir)
		if err != nil {
			return nil, fmt.Errorf("folder %q: %w", fi.Name, err)
		}
		if src == "" {
			continue
		}
		ours, err := st.HasUIDs(fi.Name)
		if err != nil {
			return nil, fmt.Errorf("folder %q: %w", fi.Name, err)
		}
		found = append(found, foreignFolder{name: fi.Name, dir: dir, source: src,
			uidValidity: v, uidNext: next, uids: uids, ours: ours})
	}
	return found, nil
}

// adopt opens a folder without a sidecar, which makes the store adopt the
// foreign UIDs, and counts the messages that kept theirs.
func adopt(st *maildir.Store, f foreignFolder) (importEntry, error) {
	rep, err := st.CheckFolder(f.name)
	if err != nil {
		return importEntry{}, folderError(f.name, err)
	}
	if rep.UIDValidity != f.uidValidity {
		return importEntry{}, fmt.Errorf("folder %q: UIDVALIDITY is %d, not %s's %d: the UIDs were not adopted",
			f.name, rep.UIDValidity, f.source, f.uidValidity)
	}
	mb, err := st.Select(f.name, maildir.SelectOptions{ReadOnly: true})
	if err != nil {
		return importEntry{}, folderError(f.name, err)
	}
	defer mb.Close()
	foreign := make(map[uint32]bool, len(f.uids))
	for _, u := range f.uids {
		foreign[u] = true
	}
	adopted := 0
	for _, u := range mb.UIDs() {
		if foreign[u] {
			adopted++
		}
	}
	return importEntry{Folder: f.name, Source: f.source, UIDValidity: rep.UIDValidity,
		Adopted: adopted, UIDNext: mb.UIDNext(), Messages: int(mb.Count())}, nil
}
