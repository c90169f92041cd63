package wire

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors of the Reader. ErrLineTooLong reaches the caller inside a
// *LineError, the literal errors inside a *LiteralError; each says whether
// the stream is still in step.
var (
	// ErrLineTooLong: a line (not counting literal bodies) is longer than
	// Limits.MaxLine.
	ErrLineTooLong = errors.New("line too long")

	// ErrLiteralTooLarge: a literal is larger than the limit that applies
	// to it (MaxLiteral, or MaxAppendLiteral for an APPEND message).
	ErrLiteralTooLarge = errors.New("literal too large")

	// ErrCommandTooLarge: the command's lines and literals together would
	// exceed ReaderOptions.MaxCommand.
	ErrCommandTooLarge = errors.New("command too large")

	// ErrTooManyLiterals: the command has more than
	// ReaderOptions.MaxLiterals literals.
	ErrTooManyLiterals = errors.New("too many literals in one command")

	// ErrNoContinue: a synchronising literal arrived but
	// ReaderOptions.Continue is nil, so nobody could send "+".
	ErrNoContinue = errors.New("no continuation handler for a synchronising literal")

	// ErrSyntax is wrapped by every *SyntaxError.
	ErrSyntax = errors.New("syntax error")
)

// LiteralInfo describes a literal announced by the client, before its body
// is read.
type LiteralInfo struct {
	Tag  string // the command's tag, or "" if the line does not start with a valid tag
	Name string // the command name, upper-case ("APPEND", "UID FETCH"), or ""
	Size int64  // the announced size (larger than any limit if it overflows)
	// Sync is true for a synchronising literal {n}: the client waits for
	// "+" before sending it. It is false for a LITERAL+ literal {n+}.
	Sync bool
	// Binary is true for a literal8 ~{n} (RFC 3516), which may hold NUL.
	Binary bool
	// Message is true when the literal is the message data of an APPEND
	// (every APPEND literal after the mailbox name); MaxAppendLiteral
	// applies to it instead of MaxLiteral.
	Message bool
	Index   int // 0 for the command's first literal, 1 for the second, ...
}

// A LiteralError is returned by Reader.ReadCommand when a literal is refused,
// by the Reader's own limits or by ReaderOptions.Continue.
//
// If Fatal is false the stream is in step: for a synchronising literal the
// client has sent nothing after the announcement (it waits for "+"), and a
// small refused non-synchronising literal has been read and thrown away
// with the rest of its command. The server answers with a tagged NO or BAD
// (NO [TOOBIG] when errors.Is(err, ErrLiteralTooLarge) and Literal.Message
// is set) and reads the next command.
//
// If Fatal is true a non-synchronising literal was too large to skip: the
// server sends "* BYE" and closes the connection.
type LiteralError struct {
	Literal LiteralInfo
	Err     error // ErrLiteralTooLarge, ErrCommandTooLarge, ErrTooManyLiterals, ErrNoContinue, or Continue's error
	Limit   int64 // the limit that was exceeded, if Err is one of the Reader's limits
	Fatal   bool
}

func (e *LiteralError) Error() string {
	kind := "synchronising"
	if !e.Literal.Sync {
		kind = "non-synchronising"
	}
	if e.Limit > 0 {
		return fmt.Sprintf("%s literal of %d octets refused: %v (limit %d)", kind, e.Literal.Size, e.Err, e.Limit)
	}
	return fmt.Sprintf("%s literal of %d octets refused: %v", kind, e.Literal.Size, e.Err)
}

func (e *LiteralError) Unwrap() error { return e.Err }

// A LineError is returned by Reader.ReadCommand (and ReadLine) for a line
// longer than Limits.MaxLine. If Fatal is false the rest of the line (and
// of its command, when it announced a non-synchronising literal) has been
// read and thrown away: the server answers "tag BAD" and reads the next
// command, as Dovecot does. If Fatal is true the line went on past what
// the Reader will throw away, or the connection failed: send BYE and
// close.
type LineError struct {
	Tag   string // the command's tag, or "" if it could not be read
	Limit int    // the line limit
	Fatal bool
	head  []byte // the line's first octets
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line too long (limit %d octets)", e.Limit)
}

func (e *LineError) Unwrap() error { return ErrLineTooLong }

// IsFatal reports whether err, returned by a Reader method, leaves the
// connection unusable, so that the server must send BYE (if it still can)
// and close. A *LiteralError or *LineError is fatal only when its Fatal
// field says so; a *SyntaxError or *LimitError never is; everything else
// (I/O errors, EOF) is.
func IsFatal(err error) bool {
	if err == nil {
		return false
	}
	var le *LiteralError
	if errors.As(err, &le) {
		return le.Fatal
	}
	var line *LineError
	if errors.As(err, &line) {
		return line.Fatal
	}
	var se *SyntaxError
	var lim *LimitError
	return !errors.As(err, &se) && !errors.As(err, &lim)
}

// A SyntaxError says what is wrong with a command. Msg is meant for the
// client: it is printable US-ASCII with no CR or LF, and quotes at most a
// few octets of the client's input. The server replies "Tag BAD Msg", or
// "* BAD Msg" if Tag is empty (the line did not start with a valid tag).
type SyntaxError struct {
	Tag    string // the command's tag, or ""
	Name   string // the command name, or "" if it is missing or unknown
	Offset int    // byte offset in the command where the problem was found
	Msg    string
}

func (e *SyntaxError) Error() string { return e.Msg }

func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// A LimitError is a command that is well-formed but beyond a bound of
// ParseOptions (MaxKeys): a refusal the client can act on, not a syntax
// error. The whole command has been read, so the connection is in step:
// the server answers "Tag NO [LIMIT] Msg" (RFC 5530) and reads the next
// command. Msg is printable US-ASCII.
type LimitError struct {
	Tag   string // the command's tag
	Name  string // the command name
	Limit int    // the bound that was exceeded
	Msg   string
}

func (e *LimitError) Error() string { return e.Msg }

// quoteInput returns b as an ASCII-only quoted string, shortened to a few
// octets, for use in a SyntaxError message.
func quoteInput(b []byte) string {
	const max = 24
	if len(b) > max {
		return strconv.QuoteToASCII(string(b[:max])) + "..."
	}
	return strconv.QuoteToASCII(string(b))
}
