package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"imapd/maildir"
)

// deliver appends messages to a folder through the store.
func deliver(t *testing.T, root, folder string, n int) {
	t.Helper()
	hub := maildir.NewHub(maildir.Options{NoSync: true, NoWatch: true})
	defer hub.Close()
	st, err := hub.Open(root, true)
	if err != nil {
		t.Fatal(err)
	}
	if folder != maildir.Inbox && !st.Exists(folder) {
		if err := st.Create(folder); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		msg := "Subject: test\r\n\r\nbody\r\n"
		if _, err := st.Append(folder, strings.NewReader(msg), maildir.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// uidsOf returns a folder's UIDs and UIDVALIDITY as the store sees them.
func uidsOf(t *testing.T, root, folder string) ([]uint32, uint32) {
	t.Helper()
	hub := maildir.NewHub(maildir.Options{NoWatch: true})
	defer hub.Close()
	st, err := hub.Open(root, false)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.Select(folder, maildir.SelectOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	return mb.UIDs(), mb.UIDValidity()
}

func TestCheck(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	deliver(t, root, maildir.Inbox, 3)
	deliver(t, root, "Sent", 2)
	deliver(t, root, "Drafts", 1)

	// INBOX: a garbage line in the sidecar, and a file delivered behind
	// the store's back.
	side, err := os.OpenFile(filepath.Join(root, "imapd-uidlist"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	side.WriteString("this is not a record\n")
	side.Close()
	writeFile(t, filepath.Join(root, "new", "1700000000.M1P1.otherhost"), "Subject: behind\r\n\r\nyour back\r\n")
	// Sent: a message removed by another tool.
	cur, _ := os.ReadDir(filepath.Join(root, ".Sent", "cur"))
	if len(cur) != 2 {
		t.Fatalf(".Sent/cur holds %d files", len(cur))
	}
	os.Remove(filepath.Join(root, ".Sent", "cur", cur[0].Name()))
	// Drafts: a flag changed by another tool.
	cur, _ = os.ReadDir(filepath.Join(root, ".Drafts", "cur"))
	old := filepath.Join(root, ".Drafts", "cur", cur[0].Name())
	if err := os.Rename(old, strings.TrimSuffix(old, ":2,")+":2,DS"); err != nil {
		t.Fatal(err)
	}
	// Archive: a folder another program made, without our sidecar.
	mkMaildir(t, filepath.Join(root, ".Archive"))
	writeFile(t, filepath.Join(root, ".Archive", "cur", "1600000000.M2P2.host:2,S"), "Subject: old\r\n\r\nmail\r\n")

	r := runCtl(t, "", "check", root)
	want := "INBOX\t4\t1\t0\t0\tno\tyes\n" +
		"Archive\t1\t0\t0\t0\tyes\tno\n" +
		"Drafts\t1\t0\t0\t1\tno\tno\n" +
		"Sent\t1\t0\t1\t0\tno\tno\n"
	if r.code != 0 || r.stderr != "" || r.stdout != want {
		t.Errorf("check: exit %d stderr %q stdout\n%s\nwant\n%s", r.code, r.stderr, r.stdout, want)
	}

	// Repaired: a second check finds nothing.
	r = runCtl(t, "", "check", "--json", root)
	var got []checkEntry
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("check --json: exit %d, %v in %q", r.code, err, r.stdout)
	}
	for _, c := range got {
		if c.Added+c.Expunged+c.Changed != 0 || c.SidecarNew || c.SidecarRewritten || c.UIDValidity == 0 {
			t.Errorf("second check found work: %+v", c)
		}
	}
	if len(got) != 4 || got[0].Folder != "INBOX" || got[0].Messages != 4 {
		t.Errorf("check --json = %+v", got)
	}

	wantError(t, runCtl(t, "", "check", t.TempDir()), 1, "is not a Maildir")
	wantError(t, runCtl(t, "", "check", filepath.Join(root, "nonexistent")), 1, "is not a Maildir")
}

func TestImportUIDs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	mkMaildir(t, root)
	mkMaildir(t, filepath.Join(root, ".Sent"))
	mkMaildir(t, filepath.Join(root, ".Empty"))
	msg := "Subject: migrated\r\n\r\nbody\r\n"
	// INBOX from Dovecot (uidlist version 3): two known files, one new.
	writeFile(t, filepath.Join(root, "cur", "1700000000.M1P1.host,S=30:2,S"), msg)
	writeFile(t, filepath.Join(root, "cur", "1700000001.M2P1.host,S=30:2,RS"), msg)
	writeFile(t, filepath.Join(root, "new", "1700000009.M9P1.host"), msg)
	writeFile(t, filepath.Join(root, "dovecot-uidlist"),
		"3 V1234567 N10 G3085f01b7f11094c501100008c4a11c1\n"+
			"5 :1700000000.M1P1.host,S=30\n"+
			"7 W31 :1700000001.M2P1.host,S=30:2,RS\n"+
			"8 :1700000002.M3P1.host,S=30\n") // gone since
	// Sent from Courier (courierimapuiddb version 2).
	writeFile(t, filepath.Join(root, ".Sent", "cur", "1690000000.M1P1.host:2,S"), msg)
	writeFile(t, filepath.Join(root, ".Sent", "courierimapuiddb"), "2 999 5\n1690000000.M1P1.host 3\n")

	r := runCtl(t, "", "import-uids", root)
	want := "INBOX\tdovecot-uidlist\t1234567\t2\nSent\tcourierimapuiddb\t999\t1\n"
	if r.code != 0 || r.stderr != "" || r.stdout != want {
		t.Fatalf("import-uids: exit %d stderr %q stdout\n%s\nwant\n%s", r.code, r.stderr, r.stdout, want)
	}
	uids, v := uidsOf(t, root, maildir.Inbox)
	if v != 1234567 || !slices.Equal(uids, []uint32{5, 7, 10}) {
		t.Errorf("INBOX after import: UIDVALIDITY %d, UIDs %v; want 1234567, [5 7 10]", v, uids)
	}
	if uids, v := uidsOf(t, root, "Sent"); v != 999 || !slices.Equal(uids, []uint32{3}) {
		t.Errorf("Sent after import: UIDVALIDITY %d, UIDs %v; want 999, [3]", v, uids)
	}
	if _, err := os.Stat(filepath.Join(root, ".Empty", "imapd-uidlist")); err == nil {
		t.Errorf("a folder without a foreign UID list was opened")
	}

	// Our sidecar exists now: refused, nothing changed.
	before, _ := os.ReadFile(filepath.Join(root, "imapd-uidlist"))
	wantError(t, runCtl(t, "", "import-uids", root), 1, `folder "INBOX" (and 1 more folders) already has imapd-uidlist`)
	if after, _ := os.ReadFile(filepath.Join(root, "imapd-uidlist")); string(after) != string(before) {
		t.Errorf("refused import-uids changed the sidecar")
	}

	// --force: our UIDs are discarded and the foreign ones adopted again.
	r = runCtl(t, "", "import-uids", "--force", "--json", root)
	var got []importEntry
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("import-uids --force --json: exit %d stderr %q, %v in %q", r.code, r.stderr, err, r.stdout)
	}
	if len(got) != 2 || got[0] != (importEntry{Folder: "INBOX", Source: "dovecot-uidlist", UIDValidity: 1234567, Adopted: 2, UIDNext: 11, Messages: 3}) {
		t.Errorf("import-uids --force --json = %+v", got)
	}
	if uids, v := uidsOf(t, root, maildir.Inbox); v != 1234567 || !slices.Equal(uids[:2], []uint32{5, 7}) {
		t.Errorf("INBOX after --force: UIDVALIDITY %d, UIDs %v", v, uids)
	}

	// A Maildir with nothing to import.
	plain := filepath.Join(t.TempDir(), "Maildir")
	mkMaildir(t, plain)
	wantError(t, runCtl(t, "", "import-uids", plain), 1, "has a dovecot-uidlist or courierimapuiddb")
	// An unreadable foreign list is reported, not skipped.
	writeFile(t, filepath.Join(plain, "dovecot-uidlist"), "9 nonsense\n")
	wantError(t, runCtl(t, "", "import-uids", plain), 1, `folder "INBOX": `)
}

// TestCheckCopiedMaildir: a Maildir restored with cp -a has new inodes,
// and imapctl check finds nothing to repair in it: every message keeps its
// UID, none is expunged or added.
func TestCheckCopiedMaildir(t *testing.T) {
	if _, err := exec.LookPath("cp"); err != nil {
		t.Skipf("cp is not installed: %v", err)
	}
	root := filepath.Join(t.TempDir(), "Maildir")
	deliver(t, root, maildir.Inbox, 5)
	deliver(t, root, "Sent", 3)
	wantInbox, wantInboxV := uidsOf(t, root, maildir.Inbox)
	wantSent, wantSentV := uidsOf(t, root, "Sent")

	dst := filepath.Join(t.TempDir(), "Maildir")
	if out, err := exec.Command("cp", "-a", root, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	r := runCtl(t, "", "check", "--json", dst)
	var got []checkEntry
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("check --json: exit %d, %v in %q (stderr %q)", r.code, err, r.stdout, r.stderr)
	}
	if len(got) != 2 {
		t.Fatalf("check --json = %+v", got)
	}
	for _, c := range got {
		if c.Added != 0 || c.Expunged != 0 || c.Changed != 0 || c.SidecarNew || c.SidecarRewritten {
			t.Errorf("check of the copy found work: %+v", c)
		}
	}
	if uids, v := uidsOf(t, dst, maildir.Inbox); !slices.Equal(uids, wantInbox) || v != wantInboxV {
		t.Errorf("INBOX of the copy: uids %v validity %d, want %v %d", uids, v, wantInbox, wantInboxV)
	}
	if uids, v := uidsOf(t, dst, "Sent"); !slices.Equal(uids, wantSent) || v != wantSentV {
		t.Errorf("Sent of the copy: uids %v validity %d, want %v %d", uids, v, wantSent, wantSentV)
	}
}
