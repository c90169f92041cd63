package wire

// testGrammars is the command table the package's tests parse with:
// every grammar, under the names a server gives them.
var testGrammars = map[string]Grammar{
	"CAPABILITY": NoArgs, "NOOP": NoArgs, "LOGOUT": NoArgs, "STARTTLS": NoArgs,
	"CHECK": NoArgs, "CLOSE": NoArgs, "EXPUNGE": NoArgs, "UNSELECT": NoArgs,
	"IDLE": NoArgs, "NAMESPACE": NoArgs,
	"LOGIN": LoginGrammar, "AUTHENTICATE": AuthenticateGrammar,
	"ENABLE": EnableGrammar, "ID": IDGrammar,
	"SELECT": SelectGrammar, "EXAMINE": SelectGrammar, "CREATE": CreateGrammar,
	"DELETE": MailboxGrammar, "SUBSCRIBE": MailboxGrammar, "UNSUBSCRIBE": MailboxGrammar,
	"RENAME": RenameGrammar, "LIST": ListGrammar, "LSUB": LsubGrammar,
	"STATUS": StatusGrammar, "APPEND": AppendGrammar,
	"COPY": CopyGrammar, "UID COPY": CopyGrammar, "MOVE": CopyGrammar, "UID MOVE": CopyGrammar,
	"UID EXPUNGE": UIDExpungeGrammar,
	"STORE":       StoreGrammar, "UID STORE": StoreGrammar,
	"FETCH": FetchGrammar, "UID FETCH": FetchGrammar,
	"SEARCH": SearchGrammar, "UID SEARCH": SearchGrammar,
}

func testGrammar(name string) (Grammar, bool) {
	g, ok := testGrammars[name]
	return g, ok
}

// parseCommand parses line as a server with every grammar would.
func parseCommand(line []byte) (*Command, error) {
	return ParseOptions{Grammar: testGrammar}.ParseCommand(line)
}
