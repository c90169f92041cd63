package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMigrateFromDovecot(t *testing.T) {
	_, s := newStore(t)
	cur := filepath.Join(s.Root(), "cur")
	files := map[string]string{
		"1276528487.M364837P9451.kurkku,S=1880,W=1923:2,Sa": msg(1),
		"1276528488.M1P9451.kurkku,S=77,W=79:2,":            msg(2),
		"1276528489.M2P9451.kurkku:2,RS":                    msg(3),
	}
	for name, body := range files {
		os.WriteFile(filepath.Join(cur, name), []byte(body), 0o600)
	}
	// A message Dovecot never saw, in new/.
	deliver(t, s.Root(), msg(4))
	uidlist := "3 V1600000000 N120 G3085f01b7f11094c501100008c4a11c1\n" +
		"7 :1276528487.M364837P9451.kurkku,S=1880,W=1923\n" +
		"42 W79 :1276528488.M1P9451.kurkku,S=77,W=79\n" +
		"100 :1276528489.M2P9451.kurkku\n" +
		"110 :gone-long-ago\n"
	os.WriteFile(filepath.Join(s.Root(), "dovecot-uidlist"), []byte(uidlist), 0o600)
	os.WriteFile(filepath.Join(s.Root(), "dovecot-keywords"), []byte("0 $Junk\n1 project-x\n"), 0o600)

	m := mustSelect(t, s, "INBOX")
	if m.UIDValidity() != 1600000000 {
		t.Fatalf("uidvalidity %d", m.UIDValidity())
	}
	got := contents(t, m)
	want := map[uint32]string{7: msg(1), 42: msg(2), 100: msg(3), 120: msg(4)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("uids %v", got)
	}
	if k := m.Message(7).Keywords; !reflect.DeepEqual(k, []string{"$Junk"}) {
		t.Fatalf("keywords of 7: %q", k)
	}
	if m.UIDNext() != 121 {
		t.Fatalf("uidnext %d", m.UIDNext())
	}
	// Our sidecar now rules; the old list is left for Dovecot.
	if _, err := os.Stat(filepath.Join(s.Root(), sidecarFile)); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateFromCourier(t *testing.T) {
	_, s := newStore(t)
	s.Create("Sent")
	dir := filepath.Join(s.Root(), ".Sent")
	os.WriteFile(filepath.Join(dir, "cur", "1100000000.1234_0.host:2,S"), []byte(msg(1)), 0o600)
	os.WriteFile(filepath.Join(dir, "cur", "1100000001.1234_1.host:2,"), []byte(msg(2)), 0o600)
	os.WriteFile(filepath.Join(dir, "courierimapuiddb"), []byte("1 1100000000 3\n1 1100000000.1234_0.host\n2 1100000001.1234_1.host\n"), 0o600)
	m := mustSelect(t, s, "Sent")
	if m.UIDValidity() != 1100000000 || !reflect.DeepEqual(contents(t, m), map[uint32]string{1: msg(1), 2: msg(2)}) || m.UIDNext() != 3 {
		t.Fatalf("courier v1: validity %d next %d %v", m.UIDValidity(), m.UIDNext(), contents(t, m))
	}
	// Courier's version 2 writes "<filename> <uid>".
	s.Create("Old")
	dir = filepath.Join(s.Root(), ".Old")
	os.WriteFile(filepath.Join(dir, "cur", "1200000000.1_0.host:2,S"), []byte(msg(3)), 0o600)
	os.WriteFile(filepath.Join(dir, "courierimapuiddb"), []byte("2 1200000000 10\n1200000000.1_0.host 9\n"), 0o600)
	m2 := mustSelect(t, s, "Old")
	if m2.UIDValidity() != 1200000000 || !reflect.DeepEqual(m2.UIDs(), []uint32{9}) || m2.UIDNext() != 10 {
		t.Fatalf("courier v2: %d %v %d", m2.UIDValidity(), m2.UIDs(), m2.UIDNext())
	}
}

func TestLostSidecarGetsNewerUIDValidity(t *testing.T) {
	_, s := newStore(t)
	deliver(t, s.Root(), msg(1))
	m := mustSelect(t, s, "INBOX")
	v1 := m.UIDValidity()
	m.Close()
	os.Remove(filepath.Join(s.Root(), sidecarFile))
	m2 := mustSelect(t, reopen(t, s), "INBOX")
	if m2.UIDValidity() <= v1 {
		t.Fatalf("uidvalidity after loss %d, before %d: must be a value never used", m2.UIDValidity(), v1)
	}
}

func TestCheckFolderReports(t *testing.T) {
	_, s := newStore(t)
	for i := 1; i <= 3; i++ {
		deliver(t, s.Root(), msg(i))
	}
	rep, err := s.CheckFolder("INBOX")
	if err != nil || !rep.SidecarNew || rep.Messages != 3 {
		t.Fatalf("first check %+v %v", rep, err)
	}
	// Damage: a garbage line, and a message delivered behind our back.
	side := filepath.Join(s.Root(), sidecarFile)
	fh, _ := os.OpenFile(side, os.O_WRONLY|os.O_APPEND, 0)
	fh.WriteString("zz garbage\n")
	fh.Close()
	deliver(t, s.Root(), msg(4))
	rep, err = reopen(t, s).CheckFolder("INBOX")
	if err != nil || rep.SidecarNew || !rep.SidecarBad || rep.Added != 1 || rep.Messages != 4 {
		t.Fatalf("second check %+v %v", rep, err)
	}
	data, _ := os.ReadFile(side)
	if strings.Contains(string(data), "garbage") {
		t.Fatal("garbage line survived the rewrite")
	}
}

func TestStaleTmpSwept(t *testing.T) {
	_, s := newStore(t)
	old := filepath.Join(s.Root(), "tmp", "killed-writer")
	fresh := filepath.Join(s.Root(), "tmp", "delivery-in-progress")
	os.WriteFile(old, []byte("partial"), 0o600)
	os.WriteFile(fresh, []byte("partial"), 0o600)
	// ctime cannot be set back; sweep with a cutoff in the future instead.
	sweepTmp(filepath.Join(s.Root(), "tmp"), time.Now().Add(time.Hour))
	os.WriteFile(fresh, []byte("partial"), 0o600)
	past := time.Now().Add(-48 * time.Hour)
	os.Chtimes(fresh, past, past) // an APPEND's old internal date: still fresh by ctime
	mustSelect(t, s, "INBOX")
	if _, err := os.Stat(old); err == nil {
		t.Fatal("stale tmp file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatal("a delivery in progress was removed")
	}
}
