package wire

import (
	"encoding/base64"
	"strings"

	"imapd/internal/mutf7"
)

// DefaultMaxDepth is the default bound on the nesting of SEARCH keys
// (parentheses, NOT, OR): far above what clients send, far below what
// could exhaust a goroutine's stack.
const DefaultMaxDepth = 64

// DefaultMaxKeys is the default bound on the keys of one SEARCH: a
// client's saved searches rarely reach a hundred, and each key costs the
// server a pass over every message.
const DefaultMaxKeys = 1000

// ParseOptions says which commands there are (Grammar) and bounds the
// parser; zero bounds mean the defaults.
type ParseOptions struct {
	// MaxDepth bounds nesting (DefaultMaxDepth if 0). Deeper input gets
	// a SyntaxError, never deep recursion.
	MaxDepth int
	// Streamed says that the command ends at the announcement of an
	// APPEND message literal whose octets the Reader left on the
	// connection (Reader.Pending): the message is then
	// AppendMessage.Streamed.
	Streamed bool
	// MaxKeys bounds the keys of one SEARCH (DefaultMaxKeys if 0), at
	// every depth: each search-key of RFC 3501's grammar counts one, so
	// "NOT TEXT x" is two keys, "OR SEEN 1:5" three and "(SEEN DRAFT)"
	// three. More gets a *LimitError, found as soon as the key over the
	// limit is reached.
	MaxKeys int
	// Grammar gives the grammar of the arguments of the command name
	// ("FETCH", "UID FETCH"): the server's command table says which
	// commands exist. A name it does not know is an unknown command.
	Grammar func(name string) (Grammar, bool)
}

// A Grammar reads the arguments of one command, from the space after its
// name to the end of the line, into its XxxArgs. The package holds the
// grammars of the commands a server may serve (the XxxGrammar values);
// a server's command table names one for each command it serves, so no
// syntax is accepted that nothing answers.
type Grammar struct {
	parse func(*parser) (Args, error) // nil: no arguments
}

// The grammars, each with the command (or commands) that use it.
var (
	NoArgs              = Grammar{}                  // CAPABILITY, NOOP, LOGOUT, STARTTLS, CHECK, CLOSE, EXPUNGE, UNSELECT, IDLE, NAMESPACE
	LoginGrammar        = Grammar{parseLogin}        // LOGIN
	AuthenticateGrammar = Grammar{parseAuthenticate} // AUTHENTICATE
	EnableGrammar       = Grammar{parseEnable}       // ENABLE
	IDGrammar           = Grammar{parseID}           // ID
	SelectGrammar       = Grammar{parseSelect}       // SELECT, EXAMINE
	CreateGrammar       = Grammar{parseCreate}       // CREATE
	MailboxGrammar      = Grammar{parseMailboxOnly}  // DELETE, SUBSCRIBE, UNSUBSCRIBE
	RenameGrammar       = Grammar{parseRename}       // RENAME
	ListGrammar         = Grammar{parseList}         // LIST
	LsubGrammar         = Grammar{parseLsub}         // LSUB
	StatusGrammar       = Grammar{parseStatus}       // STATUS
	AppendGrammar       = Grammar{parseAppend}       // APPEND
	CopyGrammar         = Grammar{parseCopy}         // COPY, MOVE and their UID forms
	UIDExpungeGrammar   = Grammar{parseUIDExpunge}   // UID EXPUNGE
	StoreGrammar        = Grammar{parseStore}        // STORE, UID STORE
	FetchGrammar        = Grammar{parseFetch}        // FETCH, UID FETCH
	SearchGrammar       = Grammar{parseSearch}       // SEARCH, UID SEARCH
)

// A Command is one parsed client command.
type Command struct {
	Tag string
	// Name is the command name in upper case. For a UID command it is
	// "UID " and the sub-command: "UID FETCH", "UID SEARCH", "UID STORE",
	// "UID COPY", "UID MOVE", "UID EXPUNGE".
	Name string
	// Args holds the arguments: a pointer to the XxxArgs type documented
	// with each command, or nil for a command that takes none
	// (CAPABILITY, NOOP, LOGOUT, STARTTLS, CHECK, CLOSE, EXPUNGE, UNSELECT,
	// IDLE, NAMESPACE).
	Args Args
}

// UID reports whether the command is a UID command ("UID FETCH", ...).
func (c *Command) UID() bool { return strings.HasPrefix(c.Name, "UID ") }

// Args is implemented by the XxxArgs types.
type Args interface{ isArgs() }

// Mailbox is a mailbox name as the client sent it: the octets of an
// astring, modified UTF-7 by RFC 3501 §5.1.3 (undecoded, so a name that is
// not valid modified UTF-7 can still be reported). LIST patterns and
// references use the same type.
type Mailbox string

// IsInbox reports whether the name is INBOX, in any case (RFC 3501 §5.1).
func (m Mailbox) IsInbox() bool { return strings.EqualFold(string(m), "INBOX") }

// UTF8 returns the name decoded from modified UTF-7, with INBOX in any case
// returned as "INBOX". The error wraps mutf7.ErrInvalid.
func (m Mailbox) UTF8() (string, error) {
	if m.IsInbox() {
		return "INBOX", nil
	}
	return mutf7.Decode(string(m))
}

// LoginArgs are the arguments of LOGIN (RFC 3501 §6.2.3): two astrings,
// as raw octets.
type LoginArgs struct {
	Username, Password string
}

// AuthenticateArgs are the arguments of AUTHENTICATE (RFC 3501 §6.2.2)
// with the SASL-IR initial response (RFC 4959).
type AuthenticateArgs struct {
	Mechanism string // upper-case, e.g. "PLAIN"
	// HasInitialResponse is true when the client sent an initial
	// response; InitialResponse is then its decoded value, empty for "=".
	HasInitialResponse bool
	InitialResponse    []byte
}

// EnableArgs are the arguments of ENABLE (RFC 5161): capability names in
// upper case.
type EnableArgs struct {
	Capabilities []string
}

// IDArgs are the arguments of ID (RFC 2971). Params is nil for "ID NIL".
type IDArgs struct {
	Params []IDParam
}

// IDParam is one field of ID; Value is nil for NIL.
type IDParam struct {
	Name  string
	Value *string
}

func (*LoginArgs) isArgs()        {}
func (*AuthenticateArgs) isArgs() {}
func (*EnableArgs) isArgs()       {}
func (*IDArgs) isArgs()           {}

// ParseCommand parses one command as Reader.ReadCommand returns it, with
// the options o; o.Grammar says which commands there are. Errors are
// *SyntaxError (the server answers BAD) or *LimitError (NO [LIMIT]). The
// returned Command may hold slices of line (APPEND message data).
func (o ParseOptions) ParseCommand(line []byte) (*Command, error) {
	p := &parser{buf: line, maxDepth: o.MaxDepth, maxKeys: o.MaxKeys, streamed: o.Streamed}
	if p.maxDepth <= 0 {
		p.maxDepth = DefaultMaxDepth
	}
	if p.maxKeys <= 0 {
		p.maxKeys = DefaultMaxKeys
	}
	tag, ok := p.tagToken()
	if !ok {
		return nil, p.errorf("a command must start with a tag (letters, digits and most punctuation, not '+'), found %s", p.found())
	}
	p.tag = tag
	if err := p.sp("after the tag"); err != nil {
		return nil, err
	}
	name := p.word()
	if name == "" {
		return nil, p.errorf("expected a command name after the tag, found %s", p.found())
	}
	if name == "UID" {
		if err := p.sp("after UID"); err != nil {
			return nil, err
		}
		sub := p.word()
		if sub == "" {
			return nil, p.errorf("UID must be followed by a command name, found %s", p.found())
		}
		name += " " + sub
	}
	var g Grammar
	if o.Grammar != nil {
		g, ok = o.Grammar(name)
	}
	if o.Grammar == nil || !ok {
		return nil, p.errorf("unknown command %s", quoteInput([]byte(name)))
	}
	p.name = name
	cmd := &Command{Tag: tag, Name: name}
	var err error
	if g.parse != nil {
		if cmd.Args, err = g.parse(p); err != nil {
			return nil, err
		}
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// tagToken reads a tag: 1*<any ASTRING-CHAR except "+">.
func (p *parser) tagToken() (string, bool) {
	start := p.pos
	for p.pos < len(p.buf) && isTagChar(p.buf[p.pos]) {
		p.pos++
	}
	return string(p.buf[start:p.pos]), p.pos > start
}

func parseLogin(p *parser) (Args, error) {
	var a LoginArgs
	var err error
	if err = p.sp("before the user name"); err != nil {
		return nil, err
	}
	if a.Username, err = p.astring("user name"); err != nil {
		return nil, err
	}
	if err = p.sp("before the password"); err != nil {
		return nil, err
	}
	if a.Password, err = p.astring("password"); err != nil {
		return nil, err
	}
	return &a, nil
}

func parseAuthenticate(p *parser) (Args, error) {
	var a AuthenticateArgs
	if err := p.sp("before the mechanism"); err != nil {
		return nil, err
	}
	mech, err := p.atom("SASL mechanism name")
	if err != nil {
		return nil, err
	}
	a.Mechanism = strings.ToUpper(mech)
	if !p.accept(' ') {
		return &a, nil
	}
	// RFC 4959: initial-response = base64 / "=".
	a.HasInitialResponse = true
	if p.peek() == '=' && p.pos+1 == len(p.buf) {
		p.pos++
		a.InitialResponse = []byte{}
		return &a, nil
	}
	start := p.pos
	for p.pos < len(p.buf) && p.buf[p.pos] != ' ' {
		p.pos++
	}
	if a.InitialResponse, err = DecodeSASL(p.buf[start:p.pos]); err != nil {
		p.pos = start
		return nil, p.errorf("the initial response is not valid base64")
	}
	return &a, nil
}

// DecodeSASL decodes one client line of a SASL exchange (RFC 3501 §6.2.2:
// base64, padded) or an initial response (RFC 4959). The caller checks
// for "*" (the client cancels) first. An empty line decodes to an empty
// response.
func DecodeSASL(line []byte) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
	n, err := base64.StdEncoding.Strict().Decode(out, line)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

func parseEnable(p *parser) (Args, error) {
	var a EnableArgs
	for {
		if err := p.sp("before a capability name"); err != nil {
			return nil, err
		}
		c, err := p.atom("capability name")
		if err != nil {
			return nil, err
		}
		a.Capabilities = append(a.Capabilities, strings.ToUpper(c))
		if p.peek() != ' ' {
			return &a, nil
		}
	}
}

// parseID parses ID's argument: "(" *(string SP nstring) ")" or NIL (RFC
// 2971). Field names are accepted as astrings and values as astrings or
// NIL, a little wider than the grammar.
func parseID(p *parser) (Args, error) {
	var a IDArgs
	if err := p.sp("before the parameter list"); err != nil {
		return nil, err
	}
	if p.peek() != '(' {
		if p.word() != "NIL" {
			return nil, p.errorf("expected a parameter list or NIL")
		}
		return &a, nil
	}
	a.Params = []IDParam{}
	p.pos++
	if p.accept(')') {
		return &a, nil
	}
	for {
		name, err := p.astring("ID field name")
		if err != nil {
			return nil, err
		}
		if err := p.sp("after the ID field name"); err != nil {
			return nil, err
		}
		param := IDParam{Name: name}
		if p.peek()|0x20 == 'n' && p.wordAt() == "NIL" {
			p.word()
		} else {
			v, err := p.astring("ID field value")
			if err != nil {
				return nil, err
			}
			param.Value = &v
		}
		a.Params = append(a.Params, param)
		if p.accept(')') {
			return &a, nil
		}
		if err := p.sp("or ')' after the ID field value"); err != nil {
			return nil, err
		}
	}
}
