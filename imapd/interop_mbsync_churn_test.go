package imapd

// mbsync against a folder another session is changing under it (issue
// 12 item 3). Before issue 10's fix one run in five failed: mbsync's
// `UID FETCH 1:200 (UID FLAGS)` met a message expunged a moment before
// and got NO [EXPUNGEISSUED]. Now such a FETCH answers OK with what
// still exists, and every run must exit 0.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// churnMessage is a small message whose Message-ID is <churn-n@example.org>.
func churnMessage(n int) string {
	return fmt.Sprintf("From: Churn <churn@example.org>\r\nTo: demo@example.org\r\n"+
		"Subject: churn %d\r\nMessage-ID: <churn-%d@example.org>\r\n\r\nBody %d.\r\n", n, n, n)
}

var messageIDRE = regexp.MustCompile(`(?mi)^Message-ID: *(<[^>]*>)`)

// messageIDs returns the sorted Message-IDs of the messages.
func messageIDs(t *testing.T, msgs []string) []string {
	t.Helper()
	var ids []string
	for _, m := range msgs {
		hdr, _, _ := strings.Cut(strings.ReplaceAll(m, "\r\n", "\n"), "\n\n")
		id := messageIDRE.FindStringSubmatch(hdr)
		if id == nil {
			t.Fatalf("message without Message-ID:\n%q", m)
		}
		ids = append(ids, id[1])
	}
	slices.Sort(ids)
	return ids
}

// churner is a plain IMAP session that, in rounds, marks a few random
// messages of a folder \Deleted, EXPUNGEs them and APPENDs as many new
// ones, so the folder keeps its size while its UIDs move on.
type churner struct {
	lc     *liveClient
	folder string
	rng    *rand.Rand
	next   int // the number of the next message to APPEND
	rounds int // rounds done, over all runs
}

// round does one round of changes.
func (c *churner) round() error {
	u, err := c.lc.ok("UID SEARCH ALL")
	if err != nil {
		return err
	}
	var uids []string
	for _, l := range u {
		if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
			uids = append(uids, strings.Fields(rest)...)
		}
	}
	n := 1 + c.rng.IntN(4)
	c.rng.Shuffle(len(uids), func(i, j int) { uids[i], uids[j] = uids[j], uids[i] })
	if len(uids) > n {
		uids = uids[:n]
	}
	if len(uids) > 0 {
		if _, err := c.lc.ok("UID STORE " + strings.Join(uids, ",") + ` +FLAGS.SILENT (\Deleted)`); err != nil {
			return err
		}
		if _, err := c.lc.ok("EXPUNGE"); err != nil {
			return err
		}
	}
	for range n {
		m := churnMessage(c.next)
		c.next++
		if _, err := c.lc.ok(fmt.Sprintf("APPEND %s {%d+}\r\n%s", c.folder, len(m), m)); err != nil {
			return err
		}
	}
	c.rounds++
	return nil
}

// during runs rounds, a few milliseconds apart, until f returns; it
// returns f's result and the churner's first error.
func (c *churner) during(f func() error) (ferr, cerr error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := c.round(); err != nil {
				cerr = err
				return
			}
			time.Sleep(time.Duration(5+c.rng.IntN(20)) * time.Millisecond)
		}
	}()
	ferr = f()
	close(stop)
	wg.Wait()
	return ferr, cerr
}

func TestInteropMbsyncWhileExpunging(t *testing.T) {
	mbsync := interopBinary(t, "mbsync", "isync")
	ts := newTestServer(t)
	const folder = "Churn"
	const initial = 200
	if err := ts.store().Create(folder); err != nil {
		t.Fatal(err)
	}
	for i := range initial {
		ts.deliver(folder, strings.ReplaceAll(churnMessage(i), "\r\n", "\n"))
	}
	host, port := ts.hostPort()
	home := t.TempDir()
	local := filepath.Join(home, "local")
	if err := os.Mkdir(local, 0o700); err != nil {
		t.Fatal(err)
	}
	// Pull only: the server's folder is the truth, and what it loses
	// the local Maildir loses too (Gone is part of Pull; Expunge Near
	// removes the local copies it marks).
	cfg := filepath.Join(home, "mbsyncrc")
	cfgText := fmt.Sprintf(`IMAPAccount srv
Host %s
Port %s
User demo
Pass demo
AuthMechs LOGIN
SSLType None

IMAPStore remote
Account srv

MaildirStore local
Path %s/
SubFolders Verbatim

Channel ch
Far :remote:%s
Near :local:%s
Sync Pull
Create Near
Expunge Near
SyncState *
`, host, port, local, folder, folder)
	if err := os.WriteFile(cfg, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "LC_ALL=C"}
	sync := func() (string, error) {
		o, e, err := interopRun(t, env, mbsync, "-V", "-c", cfg, "-a")
		return string(o) + string(e), err
	}

	lc := liveMustLogin(t, ts.addr, folder)
	seed := uint64(time.Now().UnixNano())
	t.Logf("churn seed %d", seed)
	c := &churner{lc: lc, folder: folder, rng: rand.New(rand.NewPCG(seed, 0)), next: initial}

	const runs = 20
	start := time.Now()
	for i := range runs {
		var log string
		serr, cerr := c.during(func() error {
			var err error
			log, err = sync()
			return err
		})
		if cerr != nil {
			t.Fatalf("run %d: the churning session: %v", i+1, cerr)
		}
		if serr != nil {
			t.Fatalf("run %d of %d: mbsync while another session expunges: %v\nconfig:\n%s\nfull output:\n%s", i+1, runs, serr, cfgText, log)
		}
	}
	t.Logf("%d mbsync runs with %d churn rounds in %v", runs, c.rounds, time.Since(start).Round(time.Millisecond))
	if c.rounds < runs {
		t.Errorf("only %d churn rounds over %d runs: the syncs did not overlap the changes", c.rounds, runs)
	}

	// A quiet sync brings the local Maildir to the server's state.
	if log, err := sync(); err != nil {
		t.Fatalf("final quiet mbsync: %v\nfull output:\n%s", err, log)
	}
	_, bodies := ts.folderMessages(folder)
	want := messageIDs(t, bodies)
	if len(want) != initial {
		t.Errorf("server's %s holds %d messages, want %d (the churner deletes as many as it appends)", folder, len(want), initial)
	}
	got := messageIDs(t, localMessages(t, filepath.Join(local, folder)))
	if !slices.Equal(got, want) {
		extra, missing := diffSorted(got, want)
		t.Errorf("local %s after the quiet sync: %d messages, server %d; %d only local %q, %d only on the server %q",
			folder, len(got), len(want), len(extra), extra, len(missing), missing)
	}
}

// diffSorted returns what only a has and what only b has, a and b sorted.
func diffSorted(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}
