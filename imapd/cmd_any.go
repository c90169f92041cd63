package imapd

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"

	"imapd/imapd/wire"
)

// cmdCapability is RFC 3501 §6.1.1, valid in any state.
func cmdCapability(s *session, c *wire.Command) (outcome, error) {
	s.w.Untagged().Raw("CAPABILITY ").Raw(s.capabilities()).CRLF()
	return outcome{}, nil
}

// cmdNoop is RFC 3501 §6.1.2: the dispatcher sends what changed.
func cmdNoop(s *session, c *wire.Command) (outcome, error) {
	if s.mbox != nil {
		if err := s.mbox.Refresh(false); err != nil {
			return outcome{}, err
		}
	}
	return outcome{}, nil
}

// cmdLogout is RFC 3501 §6.1.3: BYE, then the tagged OK.
func cmdLogout(s *session, c *wire.Command) (outcome, error) {
	s.w.Status("", "BYE", "", "Logging out")
	return outcome{end: logoutNext}, nil
}

// RFC 2971 §3.3's limits on what a client sends in ID, and what of it
// we log: an operator wants to know the client, not to store its essays.
const (
	idMaxPairs      = 30
	idMaxField      = 30
	idMaxValue      = 1024
	idLogPairs      = 10
	idLogValueBytes = 256
)

// cmdID is RFC 2971, valid in any state. A client that breaks §3.3's
// limits gets BAD. Its fields are logged at info once per connection
// (a few, shortened), later IDs only at debug; ours are few.
func cmdID(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.IDArgs)
	if len(a.Params) > idMaxPairs {
		return outcome{}, bad(fmt.Sprintf("Too many ID fields (at most %d)", idMaxPairs))
	}
	for _, p := range a.Params {
		if len(p.Name) > idMaxField {
			return outcome{}, bad(fmt.Sprintf("ID field name too long (at most %d octets)", idMaxField))
		}
		if p.Value != nil && len(*p.Value) > idMaxValue {
			return outcome{}, bad(fmt.Sprintf("ID value too long (at most %d octets)", idMaxValue))
		}
	}
	if len(a.Params) > 0 {
		level := slog.LevelInfo
		if s.idLogged {
			level = slog.LevelDebug
		}
		s.idLogged = true
		if s.log.Enabled(context.Background(), level) {
			s.log.Log(context.Background(), level, "client id", idLogAttrs(a.Params)...)
		}
	}
	s.w.Untagged().Raw(`ID ("name" "imapd" "os" `).String(runtime.GOOS).Raw(")").CRLF()
	return outcome{}, nil
}

// idLogAttrs turns the first idLogPairs fields of an ID into log
// attributes, values cut to idLogValueBytes; names and values are
// escaped, so no control character reaches the log.
func idLogAttrs(params []wire.IDParam) []any {
	var attrs []any
	for i, p := range params {
		if i == idLogPairs {
			attrs = append(attrs, "more_fields", len(params)-idLogPairs)
			break
		}
		v := "NIL"
		if p.Value != nil {
			v = logSafe(*p.Value, idLogValueBytes)
		}
		attrs = append(attrs, logSafe(strings.ToLower(p.Name), idMaxField), v)
	}
	return attrs
}

// logSafe is s cut to at most n bytes (marked with "..."), with control
// characters, invalid UTF-8 and backslashes escaped as Go does in
// strconv.Quote.
func logSafe(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	q := strconv.Quote(s)
	q = q[1 : len(q)-1]
	if cut {
		q += "..."
	}
	return q
}

// cmdEnable is RFC 5161: the ENABLED response lists exactly the
// capabilities this command enabled: ones we offer that need enabling
// and were not enabled before. Unknown names are ignored (§3.1).
func cmdEnable(s *session, c *wire.Command) (outcome, error) {
	a := c.Args.(*wire.EnableArgs)
	s.beforeEnable(a.Capabilities)
	s.w.Untagged().Raw("ENABLED")
	for _, name := range a.Capabilities {
		ext, ok := s.enableable(name)
		if !ok || s.enabled[name] {
			continue
		}
		s.enabled[name] = true
		ext.enable(s)
		s.w.SP().Atom(name)
	}
	return outcome{}, s.w.CRLF()
}

// cmdNamespace is RFC 2342: one personal namespace, the whole tree.
func cmdNamespace(s *session, c *wire.Command) (outcome, error) {
	s.w.Untagged().Raw(`NAMESPACE (("" ".")) NIL NIL`).CRLF()
	return outcome{}, nil
}
