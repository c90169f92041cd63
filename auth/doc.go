// Package auth says who a user is and where the user's mail lives.
//
// An Authenticator checks a username and password and returns an Identity
// (Maildir path, owning uid/gid, whether the session must run as a system
// user). Htpasswd is the backend for virtual users in an Apache-style
// htpasswd file; a PAM backend implements the same interface. Throttle wraps
// any backend with the failure delays and the failure log. File and Update
// are the writer the admin CLI uses.
//
// Invariants:
//
//   - A client learns one bit: ErrFailed (wrong user or password, never
//     which) or ErrUnavailable; or that it was refused unchecked
//     (ErrThrottled), which says nothing about the credentials. Error texts name a reason for the operator's
//     log and are never sent to a client.
//   - Passwords and hashes are never logged and never put in an error, at
//     any level. Usernames are logged, bounded in length.
//   - An htpasswd line is used only if its hash is one of the recognised
//     formats (see hash.go); a line that could be a plaintext password (or a
//     DES crypt, which cannot be told from one) is refused and logged once
//     per load with its line number. A refused user cannot log in.
//   - Failures cost the same: a failed login for an unknown user, an invalid
//     name or a refused line runs a bcrypt comparison at the file's highest
//     bcrypt cost, and Throttle answers every failure the same delay after
//     its check began. Throttle's delay doubles per failure from the same
//     address (IPv4 address, IPv6 /64) up to a cap, and is forgotten after a
//     quiet window; a success does not reset it.
//   - The delay belongs to the address, not to a connection: once an
//     address has failed, its checks are spaced a delay apart across all of
//     its connections, and an attempt that would wait too long is refused
//     unchecked (ErrThrottled). At most ThrottleOptions.Concurrency checks
//     run at once per Throttle. All of the per-address state is one type,
//     addrTable, in memory or, with a ThrottleState, in a file that the
//     processes serving one connection each share: each step reads it
//     and writes it back under an exclusive flock on it, taken inside
//     addrTable.mu and only there.
//   - The login cache (cache.go) remembers successes only, never a
//     failure, and never a password: an HMAC under a per-process secret
//     of the user's htpasswd hash, the username and the password. An
//     entry serves only the exact pair, and for htpasswd only while the
//     user's line holds the same hash; it lasts CacheOptions.TTL from
//     the check, at most CacheOptions.Size are kept (least recently used
//     dropped first), and Reload (SIGHUP) forgets them all. PAM results
//     are cached only with PAMOptions.CacheResults. A cache hit skips
//     the Throttle's gate and pool: only the right password gets one.
//   - Every username accepted is a single safe path element (ValidUsername),
//     and a Maildir built from a template stays below the template's base.
//   - Writers: only File.Save writes the htpasswd file, always under an
//     exclusive flock on path+".lock" and by atomic replacement (temp file,
//     fsync, rename, fsync of the directory); Update holds the lock from load
//     to save, so concurrent edits by goroutines or processes are never lost.
//     Save refuses (ErrModified) if the file changed since it was loaded.
//   - Readers never lock: Htpasswd parses a whole file into a new table and
//     swaps it in atomically, so Authenticate sees an old or a new version,
//     never a mixture. It looks at the file's stat (inode, size, mtime) at
//     most once a second and reloads on a change; if the file cannot be
//     read, the last good version stays in use and the error is logged once.
//   - Locks: Htpasswd.mu only serialises reloads (Authenticate never waits on
//     it); addrTable.mu guards only the Throttle's counts and slots and is
//     never held while the backend runs or while sleeping. Neither is ever
//     taken inside the other. loginCache.mu guards only its map and list
//     and is taken last (Reload takes it inside Htpasswd.mu).
package auth
