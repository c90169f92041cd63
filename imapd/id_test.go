package imapd

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// RFC 2971 §3.3: at most 30 pairs, fields of 30 octets, values of 1024.
func TestIDLimits(t *testing.T) {
	ts := newTestServer(t)
	tc := ts.dial()
	pairs := func(n int, field, value string) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, `"%s%d" "%s"`, field, i, value)
		}
		return "ID (" + b.String() + ")"
	}
	for _, c := range []struct {
		cmd  string
		want string
	}{
		{pairs(30, "f", "v"), "OK"},
		{pairs(31, "f", "v"), "BAD"},
		{pairs(1, strings.Repeat("f", 29), "v"), "OK"}, // 30 octets with its number
		{pairs(1, strings.Repeat("f", 30), "v"), "BAD"},
		{pairs(1, "f", strings.Repeat("v", 1024)), "OK"},
		{pairs(1, "f", strings.Repeat("v", 1025)), "BAD"},
		{"ID NIL", "OK"},
	} {
		u, l := tc.transact("i1", c.cmd)
		if !strings.HasPrefix(l, "i1 "+c.want+" ") {
			t.Errorf("%.60s...: %q", c.cmd, l)
		}
		if c.want == "OK" && (len(u) != 1 || !strings.HasPrefix(u[0], "* ID (")) {
			t.Errorf("%.60s...: untagged %q", c.cmd, u)
		}
	}
}

// A client that sends many big IDs makes one short log line. (Logged
// in: before login a line is at most 8 KiB, less than an ID at RFC
// 2971's limits.)
func TestIDLogOnce(t *testing.T) {
	ts, logs := newLimitsServer(t, nil, Limits{})
	tc := ts.login()
	value := strings.Repeat("\x1b[31mred", 1024/8)
	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, ` "field%d" "%s"`, i, value)
	}
	cmd := "ID (" + b.String()[1:] + ")\r\n"
	const n = 50
	var all strings.Builder
	for i := range n {
		fmt.Fprintf(&all, "i%d %s", i, cmd)
	}
	tc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(tc.c, all.String()); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		u, l := tc.readLine(), tc.readLine()
		if !strings.HasPrefix(u, "* ID (") || l != fmt.Sprintf("i%d OK ID completed", i) {
			t.Fatalf("ID %d: %q %q", i, u, l)
		}
	}
	log := logs.String()
	if c := strings.Count(log, `msg="client id"`); c != 1 {
		t.Errorf("%d client id lines, want 1", c)
	}
	if len(log) > 6<<10 {
		t.Errorf("%d octets of log for %d IDs of %d octets", len(log), n, len(cmd))
	}
	if strings.Contains(log, "\x1b") {
		t.Error("a control character reached the log")
	}
	if !strings.Contains(log, "field9=") || strings.Contains(log, "field10=") || !strings.Contains(log, "more_fields=20") {
		t.Errorf("log line:\n%s", log)
	}
}
