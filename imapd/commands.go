package imapd

import (
	"strconv"
	"strings"

	"imapd/imapd/wire"
)

// handler runs one command and returns its outcome: for a nil error the
// dispatcher answers OK with the outcome's code and text, else what
// classify makes of the error. It writes its own untagged responses.
type handler func(s *session, c *wire.Command) (outcome, error)

// outcome is what a command decided beyond success or failure: what its
// tagged OK says, and whether the connection goes on after it. With the
// error it fits in the nine registers results come back in, rather than
// in stack space of every caller on the way (see session.greet).
type outcome struct {
	code string // response code with its arguments, without brackets ("READ-WRITE")
	text string // the OK's text; "" for "<NAME> completed"
	end  ending
	// bye ends the connection with BYE and this text after the tagged
	// response (too many failed logins).
	bye string
}

// ending says whether the tagged response is written already (STARTTLS's,
// before the handshake) or cannot be (the connection failed), so that the
// dispatcher writes nothing; and whether the connection ends after the
// command: LOGOUT, after its tagged OK; a failed connection, at once.
type ending uint8

const (
	goOn       ending = iota
	logoutNext        // the tagged OK, then the end
	sentOn            // written already; the connection goes on
	closedNow         // written already, or never will be; the end
)

func (e ending) sent() bool   { return e == sentOn || e == closedNow }
func (e ending) logout() bool { return e == logoutNext || e == closedNow }

// closed is the outcome of a command after which the connection cannot
// go on: it failed, is out of step, or got its BYE already.
var closed = outcome{end: closedNow}

// command is one entry of the command table: everything the server
// knows about a command is declared here, once.
type command struct {
	name string // upper case, as the client sends it
	// uid: the command is also served as "UID <name>" (RFC 3501 §6.4.8),
	// with the same states, grammar and handler (c.UID() tells them apart).
	uid     bool
	states  state // the states the command is valid in (RFC 3501 §3)
	grammar wire.Grammar
	fn      handler
	// capability is the extension that brings the command (an entry of
	// extensions), or "" for one of IMAP4rev1.
	capability string
	// holdExpunge: EXPUNGE responses may not follow the command by
	// sequence number, whose numbers the client is still reading (RFC
	// 3501 §7.4.1: FETCH, STORE, SEARCH); its UID form allows them.
	holdExpunge bool
	// target: the command's mailbox is one to write into (APPEND, COPY,
	// MOVE), where a missing one is [TRYCREATE] (RFC 3501 §6.3.11).
	target bool
}

// commandTable is every command we serve, grouped as RFC 3501 §6 groups
// them by state.
var commandTable = []command{
	// §6.1: any state.
	{name: "CAPABILITY", states: anyState, grammar: wire.NoArgs, fn: cmdCapability},
	{name: "NOOP", states: anyState, grammar: wire.NoArgs, fn: cmdNoop},
	{name: "LOGOUT", states: anyState, grammar: wire.NoArgs, fn: cmdLogout},
	{name: "ID", states: anyState, grammar: wire.IDGrammar, fn: cmdID, capability: "ID"},
	// §6.2: not authenticated.
	{name: "STARTTLS", states: stateNotAuth, grammar: wire.NoArgs, fn: cmdStartTLS, capability: "STARTTLS"},
	{name: "AUTHENTICATE", states: stateNotAuth, grammar: wire.AuthenticateGrammar, fn: cmdAuthenticate},
	{name: "LOGIN", states: stateNotAuth, grammar: wire.LoginGrammar, fn: cmdLogin},
	// §6.3: authenticated (and selected).
	{name: "ENABLE", states: authed, grammar: wire.EnableGrammar, fn: cmdEnable, capability: "ENABLE"},
	{name: "NAMESPACE", states: authed, grammar: wire.NoArgs, fn: cmdNamespace, capability: "NAMESPACE"},
	{name: "SELECT", states: authed, grammar: wire.SelectGrammar, fn: cmdSelect},
	{name: "EXAMINE", states: authed, grammar: wire.SelectGrammar, fn: cmdSelect},
	{name: "CREATE", states: authed, grammar: wire.CreateGrammar, fn: cmdCreate},
	{name: "DELETE", states: authed, grammar: wire.MailboxGrammar, fn: cmdDelete},
	{name: "RENAME", states: authed, grammar: wire.RenameGrammar, fn: cmdRename},
	{name: "SUBSCRIBE", states: authed, grammar: wire.MailboxGrammar, fn: cmdSubscribe},
	{name: "UNSUBSCRIBE", states: authed, grammar: wire.MailboxGrammar, fn: cmdUnsubscribe},
	{name: "LIST", states: authed, grammar: wire.ListGrammar, fn: cmdList},
	{name: "LSUB", states: authed, grammar: wire.LsubGrammar, fn: cmdList},
	{name: "STATUS", states: authed, grammar: wire.StatusGrammar, fn: cmdStatus},
	{name: "APPEND", states: authed, grammar: wire.AppendGrammar, fn: cmdAppend, target: true},
	{name: "IDLE", states: authed, grammar: wire.NoArgs, fn: cmdIdle, capability: "IDLE"},
	// §6.4: selected.
	{name: "CHECK", states: stateSelected, grammar: wire.NoArgs, fn: cmdCheck},
	{name: "CLOSE", states: stateSelected, grammar: wire.NoArgs, fn: cmdClose},
	{name: "UNSELECT", states: stateSelected, grammar: wire.NoArgs, fn: cmdUnselect, capability: "UNSELECT"},
	{name: "EXPUNGE", states: stateSelected, grammar: wire.NoArgs, fn: cmdExpunge},
	{name: "UID EXPUNGE", states: stateSelected, grammar: wire.UIDExpungeGrammar, fn: cmdExpunge, capability: "UIDPLUS"},
	{name: "SEARCH", uid: true, states: stateSelected, grammar: wire.SearchGrammar, fn: cmdSearch, holdExpunge: true},
	{name: "FETCH", uid: true, states: stateSelected, grammar: wire.FetchGrammar, fn: cmdFetch, holdExpunge: true},
	{name: "STORE", uid: true, states: stateSelected, grammar: wire.StoreGrammar, fn: cmdStore, holdExpunge: true},
	{name: "COPY", uid: true, states: stateSelected, grammar: wire.CopyGrammar, fn: cmdCopy, target: true},
	{name: "MOVE", uid: true, states: stateSelected, grammar: wire.CopyGrammar, fn: cmdCopy, capability: "MOVE", target: true},
}

// An extension is a capability we serve beyond IMAP4rev1 (RFC 3501
// §7.2.1). CAPABILITY lists those offered to the session, in this order,
// and nothing else: a command's capability must be declared here
// (TestCapabilityMatchesTable checks it), and each entry is served by a
// command of the table or by the commands it extends.
type extension struct {
	name string
	// value, if set, gives what follows "=" in the capability
	// (APPENDLIMIT=n), from the configuration.
	value func(s *session) string
	// offered reports whether the session is offered the capability in
	// its present state; nil means always.
	offered func(s *session) bool
	// enable is set for a capability that a client turns on with ENABLE
	// (RFC 5161 §3.1): what enabling it does to the session.
	enable func(s *session)
}

var extensions = []extension{
	{name: "STARTTLS", offered: func(s *session) bool {
		return s.state == stateNotAuth && !s.tls && s.tlsConfigured()
	}},
	{name: "AUTH=PLAIN", offered: func(s *session) bool { return s.state == stateNotAuth && s.secure }},
	// RFC 3501 §6.2.3: LOGIN (and, here, AUTHENTICATE) refused until TLS.
	{name: "LOGINDISABLED", offered: func(s *session) bool { return s.state == stateNotAuth && !s.secure }},
	{name: "SASL-IR"},  // RFC 4959: AUTHENTICATE's initial response
	{name: "LITERAL+"}, // RFC 7888: the reader takes {n+}
	{name: "ID"},
	{name: "ENABLE"},
	{name: "IDLE"},
	{name: "NAMESPACE"},
	{name: "UIDPLUS"}, // RFC 4315: UID EXPUNGE, APPENDUID, COPYUID
	{name: "UNSELECT"},
	{name: "CHILDREN"}, // RFC 3348: LIST's \HasChildren, \HasNoChildren
	{name: "MOVE"},
	{name: "ESEARCH"},            // RFC 4731: SEARCH RETURN (MIN MAX COUNT ALL)
	{name: "SEARCHRES"},          // RFC 5182: SEARCH RETURN (SAVE) and "$"
	{name: "STATUS=SIZE"},        // RFC 8438: STATUS (SIZE)
	{name: "LIST-EXTENDED"},      // RFC 5258: LIST's selection and return options
	{name: "LIST-STATUS"},        // RFC 5819: LIST ... RETURN (STATUS (...))
	{name: "SPECIAL-USE"},        // RFC 6154: \Sent, \Trash... in LIST
	{name: "CREATE-SPECIAL-USE"}, // RFC 6154 §3: CREATE ... (USE (...))

	// RFC 7162 (condstore.go): MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE, VANISHED.
	{name: "CONDSTORE", enable: enableCondStore},
	{name: "QRESYNC", enable: enableQResync},
	{name: "APPENDLIMIT", value: func(s *session) string { // RFC 7889
		return strconv.FormatInt(s.srv.opts.Limits.MaxAppend, 10)
	}},
}

// commands maps each command name, UID forms included ("UID FETCH"), to
// its entry: the parser's grammar lookup and the dispatcher's table.
var commands = map[string]*command{}

func init() {
	for i := range commandTable {
		c := &commandTable[i]
		commands[c.name] = c
		if c.uid {
			commands["UID "+c.name] = c
		}
	}
}

// grammarOf is the parser's lookup (wire.ParseOptions.Grammar).
func grammarOf(name string) (wire.Grammar, bool) {
	c, ok := commands[name]
	if !ok {
		return wire.Grammar{}, false
	}
	return c.grammar, true
}

// capabilities lists what this connection offers now (RFC 3501 §7.2.1).
func (s *session) capabilities() string {
	var b strings.Builder
	b.WriteString("IMAP4rev1")
	for _, e := range extensions {
		if e.offered != nil && !e.offered(s) {
			continue
		}
		b.WriteString(" " + e.name)
		if e.value != nil {
			b.WriteString("=" + e.value(s))
		}
	}
	return b.String()
}

// enableable returns the extension called name if ENABLE can turn it on
// in this session: one that is offered and has something to enable.
// Of those served today only CONDSTORE and QRESYNC do (RFC 7162).
func (s *session) enableable(name string) (extension, bool) {
	for _, e := range extensions {
		if e.name == name && e.enable != nil && (e.offered == nil || e.offered(s)) {
			return e, true
		}
	}
	return extension{}, false
}

func (s *session) tlsConfigured() bool { return s.srv.tlsConfig() != nil }
