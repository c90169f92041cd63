package imapd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"imapd/maildir"
)

// renameLoop renames the message file of base in dir's cur/ in a tight
// loop with os.Rename, as mutt does when it changes flags (it does not
// take our lock): \Answered on, \Answered off, keeping \Seen. It stops
// when stop is closed.
func renameLoop(dir, base string, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cur := filepath.Join(dir, "cur")
		plain, answered := filepath.Join(cur, base+":2,S"), filepath.Join(cur, base+":2,RS")
		for {
			select {
			case <-stop:
				return
			default:
			}
			if os.Rename(plain, answered) == nil {
				os.Rename(answered, plain)
				continue
			}
			// First turn, or the server renamed it: take it whatever its name.
			ents, _ := os.ReadDir(cur)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), base+":2,") {
					os.Rename(filepath.Join(cur, e.Name()), plain)
				}
			}
		}
	}()
	return &wg
}

// Issue 10, class 4: FETCH BODY[], SEARCH TEXT and COPY of a message whose
// file another program renames all the time (flag changes) never answer
// NO [SERVERBUG], and always give the message's content.
func TestFetchSearchCopyWhileAnotherProgramRenames(t *testing.T) {
	ts := newTestServer(t)
	const body = "From: a@example.org\r\nSubject: raced\r\n\r\nthe body under renames\r\n"
	if _, err := ts.store().Append("INBOX", strings.NewReader(body), maildir.AppendOptions{Flags: maildir.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	if err := ts.store().Create("Archive"); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(ts.root, "cur"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("cur/: %v %v", ents, err)
	}
	base := strings.SplitN(ents[0].Name(), ":2,", 2)[0]
	tc := ts.login()
	tc.transactOK("s", "SELECT INBOX")
	stop := make(chan struct{})
	wg := renameLoop(ts.root, base, stop)
	defer wg.Wait()
	defer close(stop)
	want := "BODY[] {" + strconv.Itoa(len(body)) + "}" + escapeCRLF(body) + ")"
	for i := 0; i < 400; i++ {
		var cmd string
		switch i % 4 {
		case 0, 1:
			cmd = "FETCH 1 BODY[]"
		case 2:
			cmd = "UID SEARCH TEXT \"under renames\""
		case 3:
			cmd = "COPY 1 Archive"
		}
		untagged, tagged := tc.transact("f", cmd)
		if !strings.HasPrefix(tagged, "f OK") {
			t.Fatalf("%d: %s: %s", i, cmd, tagged)
		}
		got := false
		for _, l := range untagged {
			switch {
			case i%4 < 2 && strings.HasPrefix(l, "* 1 FETCH (") && strings.Contains(l, "BODY[]"):
				got = strings.HasSuffix(l, want)
				if !got {
					t.Fatalf("%d: %q, want ...%q", i, l, want)
				}
			case i%4 == 2 && l == "* SEARCH 1":
				got = true
			}
		}
		if i%4 == 3 {
			got = strings.HasPrefix(tagged, "f OK [COPYUID ")
		}
		if !got {
			t.Fatalf("%d: %s: %q %s", i, cmd, untagged, tagged)
		}
	}
}
