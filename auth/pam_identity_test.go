package auth

import (
	"errors"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// wantIdentity checks id against the passwd and group databases.
func wantIdentity(t *testing.T, id Identity, name, maildir string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	gidStrs, err := u.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	var groups []int
	for _, s := range gidStrs {
		g, _ := strconv.Atoi(s)
		groups = append(groups, g)
	}
	if maildir == "" {
		maildir = filepath.Join(u.HomeDir, "Maildir")
	}
	want := Identity{Username: name, Maildir: maildir, Home: u.HomeDir, UID: uid, GID: gid, Groups: groups, System: true}
	slices.Sort(id.Groups)
	slices.Sort(want.Groups)
	if id.Username != want.Username || id.Maildir != want.Maildir || id.Home != want.Home ||
		id.UID != want.UID || id.GID != want.GID || !slices.Equal(id.Groups, want.Groups) || !id.System {
		t.Errorf("identity\n got %+v\nwant %+v", id, want)
	}
}

func TestSystemIdentity(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	id, err := SystemIdentity(me.Username, "")
	if err != nil {
		t.Fatal(err)
	}
	wantIdentity(t, id, me.Username, "")
	if _, err := SystemIdentity("imapd-no-such-user-x", ""); !errors.Is(err, ErrFailed) {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := SystemIdentity(me.Username, "Maildir"); err == nil {
		t.Error("relative mail location accepted")
	}
}
