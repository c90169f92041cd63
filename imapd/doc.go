// Package imapd is the IMAP4rev1 server (RFC 3501) over the maildir
// store, with the extensions its command table declares (commands.go).
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
//   - Each command is declared once, in the command table (commands.go):
//     its name and UID form, the states it is allowed in, its grammar
//     (the parser knows no other commands), its handler, the capability
//     it belongs to, whether EXPUNGE may follow it. Handlers never check
//     the state; they return their outcome (a response code and text,
//     the end of the connection, or an error) and the dispatcher writes
//     the tagged response. CAPABILITY is generated from the extensions
//     declared there, so nothing is advertised that is not served.
//   - Errors become responses in one place (errors.go): syntax is BAD,
//     what the user can act on is NO with a code, anything else is NO
//     [SERVERBUG] with the details only in the log.
//   - The selected folder as the client knows it is a tracker
//     (tracker.go): the UIDs it was told of, in sequence order, and the
//     keywords of its last FLAGS. The store's changes by anyone (this
//     session included: its EXPUNGE, COPY or APPEND to the selected
//     folder) are fed to it before each command; it alone turns them
//     into untagged EXPUNGE, EXISTS, RECENT and FETCH FLAGS, flushed by
//     the dispatcher after each command and before its tagged response,
//     and at once in IDLE. After FETCH, STORE and SEARCH (not their UID
//     forms) expunges are held back (RFC 3501 §7.4.1): such a message
//     stays in view, answered from its last metadata. A new keyword goes
//     out in FLAGS before any FETCH that carries it (§7.2.6). A
//     session's own STORE is answered by the STORE handler itself.
//     Once the client enabled QRESYNC, expunges go out as one VANISHED
//     of UIDs in view, under the same rule; with CONDSTORE on, FETCH
//     FLAGS carries MODSEQ (RFC 7162; condstore.go).
//   - A panic in a session is recovered, logged, counted
//     (Server.RecoveredPanics) and ends that connection with BYE.
package imapd
