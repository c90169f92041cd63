// Package wire is the syntax of IMAP4rev1 (RFC 3501) and the extensions
// imapd serves, and nothing else: it reads commands and writes responses,
// knows no mailbox, no session state and no network policy, and can be
// fuzzed without either.
//
// # Reading
//
// A Reader wraps the client's byte stream. ReadCommand returns one whole
// command: its first line, and for every literal announced at the end of a
// line ("{n}", "{n+}" of LITERAL+ RFC 7888, "~{n}" of literal8 RFC 3516)
// the literal's octets and the line after them. ParseCommand turns that
// into a Command with typed arguments.
//
// Everything the client controls is bounded (ReaderOptions): the length of
// each line (MaxLine, 64 KiB, never an unbounded ReadLine), each literal
// (MaxLiteral, 64 KiB; MaxAppendLiteral, 64 MiB, for APPEND's message
// data), the number of literals (MaxLiterals) and the size of the whole
// command (MaxCommand). The parser bounds the nesting of SEARCH keys
// (ParseOptions.MaxDepth, 64) without unbounded recursion, and their
// number (ParseOptions.MaxKeys, 1,000).
//
// A synchronising literal's size is checked before the continuation
// request is sent: the Reader checks its limits, then calls
// ReaderOptions.Continue, which writes "+ ..." (or refuses). So a refused
// synchronising literal costs nothing and the connection stays in step:
// the client, still waiting for "+", receives the tagged NO or BAD and its
// next line starts a new command. A non-synchronising literal is already
// on its way when it is announced; if it must be refused it is read and
// thrown away with the rest of its command when that is small
// (MaxDiscard), else the connection cannot be resynchronised.
//
// # What the server does with errors
//
//   - ErrLineTooLong, an I/O error, EOF, or a *LiteralError with Fatal set
//     (IsFatal reports all of these): send "* BYE" if possible and close.
//   - *LiteralError, not fatal: "tag NO [TOOBIG] ..." when
//     errors.Is(err, ErrLiteralTooLarge) and the literal is an APPEND
//     message (LiteralInfo.Message), else "tag BAD ..." or "tag NO ...";
//     then read the next command.
//   - *SyntaxError from ParseCommand: "tag BAD " + Msg, or "* BAD " + Msg
//     when Tag is empty. Msg says what was wrong and is safe to send.
//   - *LimitError from ParseCommand: "tag NO [LIMIT] " + Msg; the command
//     is well-formed but asks for more than ParseOptions allow.
//
// # What the parser decides and what it leaves
//
// The parser checks syntax exactly as RFC 3501 §9 and the extensions'
// grammars have it: one SP between tokens, CRLF only at the end, no NUL
// outside literal8, nz-numbers non-zero and below 2^32, mod-sequences
// below 2^63, real calendar dates, known options only (an unknown
// selection or return option, select parameter, STATUS item, FETCH or
// STORE modifier or SEARCH key is a syntax error, answered with BAD). It
// accepts a little more than the grammar where clients are known to
// stray and nothing can be misread: a bare LF as line end, octets above
// 0x7f in quoted strings and in the atom form of astrings, a 1-digit day
// in date-time, and "%" and "*" in the atom form of a mailbox name
// ("SELECT 100%", as offlineimap sends it; LIST and LSUB patterns read
// them as wildcards, as the grammar has it).
//
// It leaves meaning to the server: strings are raw octets (SEARCH
// CHARSET decoding, modified UTF-7 of mailbox names via Mailbox.UTF8),
// sequence numbers are not checked against the mailbox (SeqSet.MaxExplicit
// and HasStar help with RFC 3501's BAD for numbers beyond it), "$" of
// SEARCHRES is left in SeqSet.Saved for the server, and whether a
// command is allowed in the current state, or an extension enabled
// (QRESYNC for VANISHED), is for the
// server's command table.
//
// # Writing
//
// A Writer encodes responses with chainable methods over a buffered
// writer. The first write error sticks and comes back from CRLF, Flush
// and Err, so a handler checks once per response. String, AString and
// Mailbox choose the form the grammar allows: an atom (astrings only), a
// quoted string, or a literal for anything a quoted string cannot carry
// without escapes (CR, LF, NUL, 8-bit, DQUOTE, backslash: a mailbox name
// with a backslash always goes out as a literal).
//
// Nothing in this package is safe for concurrent use; a connection has
// one Reader, used by its command loop, and one Writer, used under the
// session's output lock.
package wire
