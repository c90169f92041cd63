package imapd

import (
	"runtime"
	"strings"

	"imapd/imapd/wire"
)

// cmdCapability is RFC 3501 §6.1.1, valid in any state.
func cmdCapability(s *session, c *wire.Command) error {
	s.w.Untagged().Raw("CAPABILITY ").Raw(s.capabilities()).CRLF()
	return nil
}

// cmdNoop is RFC 3501 §6.1.2: the dispatcher sends what changed.
func cmdNoop(s *session, c *wire.Command) error {
	if s.mbox != nil {
		if err := s.mbox.Refresh(false); err != nil {
			return err
		}
	}
	return nil
}

// cmdLogout is RFC 3501 §6.1.3: BYE, then the tagged OK.
func cmdLogout(s *session, c *wire.Command) error {
	s.w.Status("", "BYE", "", "Logging out")
	s.w.Status(c.Tag, "OK", "", "LOGOUT completed")
	s.state = stateLogout
	return nil
}

// cmdID is RFC 2971. The client's fields are logged, ours are few.
func cmdID(s *session, c *wire.Command) error {
	a := c.Args.(*wire.IDArgs)
	if len(a.Params) > 0 {
		var attrs []any
		for i, p := range a.Params {
			if i >= 30 {
				break
			}
			v := "NIL"
			if p.Value != nil {
				v = *p.Value
			}
			if len(v) > 1024 {
				v = v[:1024]
			}
			attrs = append(attrs, strings.ToLower(p.Name), v)
		}
		s.log.Info("client id", attrs...)
	}
	s.w.Untagged().Raw(`ID ("name" "imapd" "os" `).String(runtime.GOOS).Raw(")").CRLF()
	return nil
}

// enableable lists the capabilities this server offers that a client
// turns on with ENABLE (RFC 5161 §3.1), each with what enabling it does.
// None of the extensions served today (IDLE, UIDPLUS, MOVE, ...) need
// enabling, so the table is empty until CONDSTORE, QRESYNC or
// UTF8=ACCEPT come; an entry must also be advertised in capabilities.
var enableable = map[string]func(s *session){}

// cmdEnable is RFC 5161: the ENABLED response lists exactly the
// capabilities this command enabled: ones we offer that need enabling
// and were not enabled before. Unknown names are ignored (§3.1).
func cmdEnable(s *session, c *wire.Command) error {
	a := c.Args.(*wire.EnableArgs)
	s.w.Untagged().Raw("ENABLED")
	for _, name := range a.Capabilities {
		on, ok := enableable[name]
		if !ok || s.enabled[name] {
			continue
		}
		s.enabled[name] = true
		on(s)
		s.w.SP().Atom(name)
	}
	return s.w.CRLF()
}

// cmdNamespace is RFC 2342: one personal namespace, the whole tree.
func cmdNamespace(s *session, c *wire.Command) error {
	s.w.Untagged().Raw(`NAMESPACE (("" ".")) NIL NIL`).CRLF()
	return nil
}
