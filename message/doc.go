// Package message parses RFC 5322 / MIME messages into the part tree an
// IMAP4rev1 server (RFC 3501) needs for BODYSTRUCTURE, BODY, ENVELOPE,
// BODY[section]<partial> and SEARCH, without keeping the message in memory.
// It imports nothing from this module, and only the standard library and
// golang.org/x/text.
//
// # Two coordinate spaces
//
// Messages on disk end their lines with LF (Postfix), CRLF, a mix, or even
// a bare CR. IMAP speaks only CRLF. Every Part therefore carries:
//
//   - raw offsets (HeaderStart, BodyStart, BodyEnd): byte positions in the
//     file, for ReadAt;
//   - CRLF-space sizes (HeaderSize, BodySize) and line counts: what the
//     client sees once line endings are normalised. A bare LF or bare CR
//     counts as CRLF, 2 octets; an existing CRLF counts 2.
//
// Invariant: for every part, HeaderSize == len(ToCRLF(nil, raw[HeaderStart:
// BodyStart])) and BodySize likewise for [BodyStart, BodyEnd). Ranges begin
// at line starts and end at a line start or just before a line ending,
// never between a CR and its LF, so converting a range alone gives the same
// bytes as converting the whole file and cutting. The server serves
// BODY[...] by reading the raw range and piping it through NewCRLFReader,
// and reports sizes straight from the Part; partial fetches <start.count>
// count in CRLF space.
//
// BodyLines counts text lines in CRLF space: line endings in the body,
// plus one if the body ends with a partial line.
//
// # Boundaries
//
// A body part ends before the line ending that precedes its delimiter line
// (RFC 2046 §5.1.1). A delimiter line is "--" boundary, or "--" boundary
// "--" to close, followed only by spaces and tabs; lines are tested against
// the open multiparts innermost first, so a boundary that is a prefix of
// another is told apart by the exact match, and an enclosing multipart's
// delimiter ends every part nested in it (a missing close delimiter). The
// preamble and epilogue are skipped. When the blank line closing a header
// is itself the line ending before a delimiter, the body is empty and the
// header keeps its blank line.
//
// # Trees and numbering
//
// A multipart has at least one child: one with no body part at all gets an
// empty text/plain child (as Dovecot does) and is marked Broken. A
// message/rfc822 part has exactly one child, the nested message, whose
// HeaderStart is the wrapper's BodyStart and which carries the Envelope;
// the root carries one too. Find implements RFC 3501 §6.4.5 numbering: a
// non-multipart message's part 1 is the message itself (its body), and a
// message/rfc822 part's subparts are those of the nested message.
// Children lie in order inside their parent's body: parent.BodyStart <=
// child.HeaderStart and child.BodyEnd <= parent.BodyEnd.
//
// # Limits
//
// Input is hostile. Lines are read through a fixed 32 KiB window; a longer
// line is counted, and only its head is looked at. Each header field keeps
// at most 64 KiB of unfolded value. A part at depth DefaultMaxDepth (100,
// root at 0) or deeper is never expanded: a multipart or message/rfc822
// there becomes an application/octet-stream leaf marked Demoted, whose body
// holds the rest of its content; so does a message/rfc822 with a base64 or
// quoted-printable encoding, which cannot be parsed in place. After
// DefaultMaxParts (10,000) parts, delimiters are no longer recognised and
// the next part runs to the end of the message. Parsing is one pass over
// the file; each line is compared with at most MaxDepth boundaries.
// Recursion is bounded by the depth limit, here and in UnmarshalBinary.
//
// A multipart without a usable boundary parameter, like any invalid
// Content-Type, is taken as text/plain; charset=us-ascii (RFC 2045 §5.2) and
// marked Broken. A header line that is neither a field nor a continuation
// is skipped and marks the part Broken; the header still ends only at the
// blank line.
//
// # Caching
//
// MarshalBinary writes a compact, versioned, checksummed form for the
// store's per-message cache; UnmarshalBinary rejects anything truncated,
// damaged or describing a tree Parse could not have produced, with an error
// rather than a panic.
//
// The package has no global state; a Part is not modified after Parse and
// may be shared between goroutines for reading.
package message
