// Package imapd is the IMAP4rev1 server (RFC 3501) over the maildir
// store, with IDLE, UIDPLUS, UNSELECT, LITERAL+, NAMESPACE, ID, ENABLE,
// CHILDREN, SASL-IR and MOVE.
//
// Invariants:
//
//   - One goroutine per connection does all of the session's work and
//     all of its writing; only IDLE reads the client's DONE on a second
//     goroutine, SEARCH scans on helpers from the server's scanPool
//     (Limits.SearchWorkers in all), and a watcher looks for a hang-up
//     while SEARCH runs (hangup.go). Shutdown reaches a session through
//     interrupt, which sets a read deadline and a short write deadline,
//     and through the server's context: a running command finishes
//     unless its client leaves our output unread, except the long ones
//     that change nothing (SEARCH, FETCH's message loop), which stop at
//     the next message, as they do when the client hangs up; the session
//     then ends (with BYE at Shutdown).
//   - Every write to the network has a deadline (WriteTimeout, through
//     timedWriter); every wait for the client a read deadline
//     (PreLoginTimeout counted from the connection's start before
//     login, IdleTimeout after).
//   - The command table (dispatch.go) says in which states each command
//     is allowed; handlers never check the state.
//   - Errors become responses in one place (errors.go): syntax is BAD,
//     what the user can act on is NO with a code, anything else is NO
//     [SERVERBUG] with the details only in the log.
//   - Untagged EXPUNGE, EXISTS, RECENT and FETCH FLAGS for changes by
//     anyone (this session included: its EXPUNGE, COPY or APPEND to the
//     selected folder) come from Mailbox.Poll, flushed by the dispatcher
//     after each command and before its tagged response, and at once in
//     IDLE. After FETCH, STORE and SEARCH (not their UID forms) expunges
//     are held back (RFC 3501 §7.4.1). A session's own STORE is
//     answered by the STORE handler itself.
//   - A panic in a session is recovered, logged, counted
//     (Server.RecoveredPanics) and ends that connection with BYE.
package imapd
