package imapd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkQResyncReconnect is a client coming back to a large INBOX
// (benchMessages: IMAPD_BENCH_N=100000 for the figure) after
// another session made changes: half flag changes, half expunges. Each
// iteration makes them, untimed, then times SELECT INBOX (QRESYNC
// (uidvalidity modseq)) to its tagged OK, checking that the answer names
// exactly those changes; plain-select is a SELECT with nothing to
// resync, for comparison. Run on our server and, when Dovecot's imap
// binary is installed, on a copy of the same Maildir served by Dovecot
// (PREAUTH over a pipe, its index built before timing; not with
// IMAPD_BENCH_NO_DOVECOT set):
//
//	IMAPD_BENCH_N=100000 go test ./imapd -run '^$' -bench QResyncReconnect -benchtime 200x
func BenchmarkQResyncReconnect(b *testing.B) {
	bc := benchConn(b, benchMessages)
	peers := []struct {
		name        string
		reader, sel qresyncPeer
	}{{"imapd", &tcpPeer{bc.testConn}, &tcpPeer{benchDial(b, bc)}}}
	if _, err := os.Stat(dovecotIMAP); err == nil && os.Getenv("IMAPD_BENCH_NO_DOVECOT") == "" {
		home := newDovecotHome(b, bc.root)
		peers = append(peers, struct {
			name        string
			reader, sel qresyncPeer
		}{"dovecot", &pipePeer{home.start(b)}, &pipePeer{home.start(b)}})
	}
	for _, p := range peers {
		// A first SELECT builds Dovecot's index; both sessions then
		// stay selected.
		p.reader.cmd(b, "e", "ENABLE QRESYNC")
		p.sel.cmd(b, "s", "SELECT INBOX")
		// The floor: a SELECT with nothing to resync, what every
		// SELECT of the folder costs.
		b.Run(p.name+"/plain-select", func(b *testing.B) {
			for b.Loop() {
				p.reader.cmd(b, "p", "SELECT INBOX")
			}
		})
		for _, changes := range []int{10, 100} {
			b.Run(fmt.Sprintf("%s/changes=%d", p.name, changes), func(b *testing.B) {
				benchQResync(b, p.reader, p.sel, changes)
			})
		}
	}
}

// next is the lowest UID the benchmark has not touched yet, per server.
var qresyncNext = map[qresyncPeer]uint32{}

func benchQResync(b *testing.B, reader, changer qresyncPeer, changes int) {
	lines := reader.cmd(b, "r", "SELECT INBOX")
	uidv, hms := qresyncState(b, lines)
	next := qresyncNext[changer]
	if next == 0 {
		next = 1
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// The UIDs from where the last iteration stopped: flag changes
		// on the first half, expunges on the second.
		if int(next)+changes > benchMessages {
			b.Fatalf("all %d messages used up: raise IMAPD_BENCH_N or lower -benchtime", benchMessages)
		}
		var flag, gone []string
		for k := 0; k < changes; k++ {
			u := strconv.FormatUint(uint64(next), 10)
			next++
			if k < changes/2 {
				flag = append(flag, u)
			} else {
				gone = append(gone, u)
			}
		}
		changer.cmd(b, "f", "UID STORE "+strings.Join(flag, ",")+" +FLAGS.SILENT (\\Flagged)")
		changer.cmd(b, "d", "UID STORE "+strings.Join(gone, ",")+" +FLAGS.SILENT (\\Deleted)")
		changer.cmd(b, "x", "UID EXPUNGE "+strings.Join(gone, ","))
		b.StartTimer()
		lines := reader.cmd(b, "q", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", uidv, hms))
		b.StopTimer()
		fetched, vanished := 0, ""
		for _, l := range lines {
			switch {
			case strings.Contains(l, " FETCH ("):
				fetched++
			case strings.HasPrefix(l, "* VANISHED (EARLIER) "):
				vanished = l
			}
		}
		if fetched != len(flag) || vanished == "" {
			b.Fatalf("QRESYNC after %d flag changes and %d expunges: %d FETCH, %q", len(flag), len(gone), fetched, vanished)
		}
		_, hms = qresyncState(b, lines)
		b.StartTimer()
	}
	qresyncNext[changer] = next
}

var (
	qresyncValidity = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)
	qresyncHighest  = regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`)
)

// qresyncState reads UIDVALIDITY and HIGHESTMODSEQ from SELECT's answer.
func qresyncState(b *testing.B, lines []string) (uidv, hms uint64) {
	for _, l := range lines {
		if m := qresyncValidity.FindStringSubmatch(l); m != nil {
			uidv, _ = strconv.ParseUint(m[1], 10, 32)
		}
		if m := qresyncHighest.FindStringSubmatch(l); m != nil {
			hms, _ = strconv.ParseUint(m[1], 10, 64)
		}
	}
	if uidv == 0 || hms == 0 {
		b.Fatalf("SELECT without UIDVALIDITY or HIGHESTMODSEQ: %q", lines)
	}
	return uidv, hms
}

// qresyncPeer is a session on one of the servers compared.
type qresyncPeer interface {
	// cmd sends a command and returns every line of its answer.
	cmd(b *testing.B, tag, line string) []string
}

type tcpPeer struct{ c *testConn }

func (p *tcpPeer) cmd(b *testing.B, tag, line string) []string {
	p.c.c.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(p.c.c, tag+" "+line+"\r\n"); err != nil {
		b.Fatal(err)
	}
	var out []string
	for {
		l, err := p.c.tryReadLine(time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				b.Fatalf("%s: %s", line, l)
			}
			return out
		}
	}
}

type pipePeer struct{ p *diffPeer }

func (p *pipePeer) cmd(b *testing.B, tag, line string) []string {
	if _, err := io.WriteString(p.p.w, tag+" "+line+"\r\n"); err != nil {
		b.Fatal(err)
	}
	var out []string
	for {
		l, ok, timedOut := p.p.next(10 * time.Minute)
		if !ok || timedOut {
			b.Fatalf("%s: no answer (timed out %v); stderr:\n%s", line, timedOut, p.p.stderr)
		}
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				b.Fatalf("%s: %s", line, l)
			}
			return out
		}
	}
}

// benchDial opens another logged-in session on bc's server.
func benchDial(b *testing.B, bc *benchClient) *testConn {
	nc, err := net.Dial("tcp", bc.c.RemoteAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	c := &testConn{c: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	if _, err := c.tryReadLine(5 * time.Second); err != nil {
		b.Fatal(err)
	}
	c.roundTrip(b, "l", "LOGIN demo demo")
	return c
}
