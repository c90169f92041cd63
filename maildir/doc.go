// Package maildir is the only code that touches mail on disk. It serves
// plain Maildir trees that Postfix, procmail, mutt and Dovecot read and
// write at the same time, and gives IMAP what Maildir lacks: stable UIDs,
// modification sequences, \Recent, keywords beyond 26 letters and a cache
// of parsed message structure.
//
// # Layout
//
// A Store is one user's Maildir. Its root is INBOX; sub-folders are
// Maildir++ directories beside cur/, new/ and tmp/: ".Sent",
// ".Archive.2024" (IMAP "Archive.2024", hierarchy delimiter '.', as in
// Dovecot's default namespace). Each level is stored in modified UTF-7, as
// Dovecot stores it, so a tree moves between the two servers unchanged. A
// file name cannot hold '/', so a '/' in a folder name is written %2F, and
// '%' itself %25; no other sequence is an escape, so a bare '%' made by
// another tool stays what it is. Names may contain '\' and '"'. Control
// characters, invalid UTF-8 and empty levels are refused
// (ErrInvalidName). Nothing below the root that is a symbolic link is ever
// followed: a linked folder is not listed and refused by name
// (ErrOutside), and so is a folder whose cur/, new/ or tmp/ is a link.
// Nor is any file followed: a message file, a sidecar, the lock file,
// dovecot-keywords, subscriptions and imapd-specialuse (the special uses
// of RFC 6154 that names alone do not give, kept in step by Delete and
// Rename) are opened with O_NOFOLLOW|O_NONBLOCK
// and must be regular files (fstat on the descriptor). A link, FIFO,
// device or directory in new/ or cur/ is not a message: listings skip it
// and log it once; a keyword or sidecar file that is not a regular file is
// ignored (logged) and replaced, never written through: every one of them
// is written by atomicfile.WriteFileNoFollow, a rename over the name, and
// files in tmp/ are created O_EXCL|O_NOFOLLOW (nofollow.go).
//
// Messages are files named "<base>:2,<info>". The info letters are S
// \Seen, R \Answered, F \Flagged, T \Deleted, D \Draft, and P, which we
// show as the keyword $Forwarded (Dovecot leaves P unmapped; mutt and
// Maildir's own specification use it for "passed", i.e. forwarded). The
// letters a-z are keywords, named by the folder's dovecot-keywords file
// (Dovecot's own, read and written in place). When all 26 letters are
// taken, further keywords are kept in the sidecar, never dropped. Letters
// the keyword file does not name are kept on every rename. A file name
// without ":2," is served as a message with no flags and never renamed
// away: its whole name is its base.
//
// # UIDs: the sidecar
//
// Each folder has an imapd-uidlist file (see sidecarFile for its format):
// UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and per message its UID, MODSEQ,
// base name, fingerprint (size and mtime, and the inode that spares a
// stat), CRLF size and the location and info of its file. Changes are
// appended as records; the file is rewritten (temp file, fsync, rename,
// fsync of the directory) only when it is created, damaged, or mostly
// dead records. Adding a message to a folder of 100,000 appends one
// line. Records that give out UIDs are forced to disk before the client
// hears of them (unless fsync is off); flag changes are not, as in
// Dovecot: a power cut may undo the last of them, never a delivery.
//
// Identity is the base name (the part before ":2,"), as in Dovecot's
// dovecot-uidlist. A file only renamed (flags changed, moved from new/ to
// cur/) keeps its UID; so does a file another tool gave a new base name,
// when its inode, size and mtime show it is the same file. A rewrite is
// told by what a rewrite changes, the size or the mtime, never by the
// inode alone: a copy of the Maildir (cp -a, rsync -a, tar, mv to another
// file system) has new inodes and keeps its UIDs. A file found on a new
// inode with its recorded size and mtime is the same message; its new
// inode is recorded (an "i" record), so that listings match it by its
// directory entry again, without a stat. An mtime equal to the recorded
// one cut to the whole second counts as equal, since tar in GNU's default
// format restores only seconds. A file whose content changed (replaced
// under the same base name, or rewritten in place; found by any listing
// when the inode changed, by the full check of CHECK and of the watcher
// when it did not) gets a new UID and its old UID is expunged. Where size
// and mtime pass but cannot tell (the file is on another inode, or its
// mtime has lost the recorded fraction of a second: a copy, or a rewrite
// to the same size with its mtime put back), the message's content
// fingerprint decides: XXH3-128 of its octets, kept in the cache, taken
// when APPEND writes the file or when its structure is first parsed. The
// file is hashed only then, never on the quick path, and once: a match
// records the new inode, and the cache the file it matched. The limit:
// a message without a fingerprint (delivered by another program or by
// COPY and never read since, or whose structure an older imapd cached)
// rewritten to the same size with its mtime put back,
// or any message rewritten in place on its inode with its exact mtime
// put back, keeps its UID.
// UIDs never repeat within a UIDVALIDITY: UIDNEXT only grows.
// UIDVALIDITY changes only when the sidecar is truly lost, and then to a
// value larger than any this Maildir handed out before (the root's
// imapd-uidvalidity file remembers the last one). A sidecar that cannot be
// read line by line keeps every UID it could read and is rewritten.
//
// A folder without a sidecar that has Dovecot's dovecot-uidlist (version 1
// or 3) or Courier's courierimapuiddb adopts its UIDVALIDITY, UIDNEXT and
// UIDs by base name, so clients of a migrated mailbox download nothing.
//
// # Opening fast, and granularity
//
// The sidecar records the mtimes of new/ and cur/ it last saw complete.
// Opening a folder whose directories still have those mtimes reads the
// sidecar and two stat results, nothing else. A directory whose mtime is
// within two seconds of the listing that saw it is listed again, as
// Dovecot does, so a change in the same clock tick as a listing is never
// missed; on a local file system that keeps fractions of a second the
// window is the kernel clock's tick and some margin, 18 ms with a 4 ms
// tick (granularity.go), and a folder changed faster than that waits for
// its mtime to leave the window before a second suspect listing in a
// row (settleLocked), so that it does not list on every look. Our own
// changes (appends, flag renames, expunges) keep the
// record complete without a new listing when nobody else changed the
// directory before them (ownChange), so they cost the same in a folder of
// any size.
//
// # Locks and writers
//
// Per folder, a process has one shared folder object (Hub) guarded by a
// mutex, and every change also holds flock(2) on imapd-uidlist.lock, so
// several processes (inetd mode, per-user children) can share a folder.
// Lock order: folder mutex, then the file lock; for a move, the two
// folders in the order of their directory names. Under the lock a writer
// first reads what others appended to the sidecar and lists changed
// directories, then changes files, then appends its records. Message
// files are never written in place: new ones are written in tmp/, fsync'ed
// and renamed into cur/; flags are renames; COPY links (or copies through
// tmp/, with the source's mtime); MOVE renames (into the folder itself:
// to a new base name, so a new UID); EXPUNGE unlinks. Other programs
// rename message files without our lock at any moment, so a recorded name
// may be stale: whatever opens, links or renames a message file and meets
// ENOENT looks for its base name in new/ and cur/ again (locate.go,
// bounded retries) and calls the message expunged only when the base is
// in neither. No rename
// replaces a file already under the target name (RENAME_NOREPLACE). A
// crash at any point leaves every message on disk, and the next open
// reconciles the sidecar with the directories.
//
// # Sessions and changes
//
// A session's Mailbox knows messages by UID only: there are no sequence
// numbers in this package. What the client has been told, and when it may
// be told more (RFC 3501 §7.4.1), is the server's (imapd's tracker).
// Initial is the folder's UIDs at selection. Every later change, whoever
// made it (this session, another session, another process, Postfix),
// travels one road: the folder notices it (its own write or a rescan),
// records it, and queues an event for every session that has the folder
// selected, waking it. Changes drains the queue: Added (a UID above every
// UID the folder gave before), Expunged (with the message's metadata as
// it went, so that a client not yet told can still be answered), and
// FlagsChanged. A session's own flag changes are reported by its STORE,
// not again by Changes; its own expunges, appends and copies come
// through Changes like everyone else's.
//
// # Mod-sequences (CONDSTORE, QRESYNC)
//
// Every change to a folder gets the next MODSEQ from the sidecar's
// HIGHESTMODSEQ under the folder's locks, and is written to the sidecar
// before anyone is told of it: ours (an 'f', 'a' or 'x' record carries
// it), another process's (read from its records by sync, so every
// process agrees), and what a listing finds on disk that no record
// announced (a rename by mutt, a delivery by Postfix: the first process
// to list it under the lock records it with a fresh MODSEQ). A change
// that changes nothing (a STORE of a flag already set) gets none.
// ChangedSince reads an index of the records by MODSEQ, so its cost
// follows the changes, not the folder. Expunged UIDs are remembered as
// runs of consecutive UIDs with the MODSEQ of the run's last expunge
// ('e' records, written at a rewrite; 'x' records in between): the
// newest 4096 runs, whatever their age, so a folder whose messages go
// one by one in UID order costs one run, and one whose every other
// message is expunged remembers the last 4096 of them. Older runs are
// forgotten, and ExpungedSince then says its answer may be incomplete
// (QRESYNC answers with every UID of the client's known set that is not
// in the folder, as RFC 7162 §3.2.5.2 allows). A run reports all its UIDs
// to anyone asking from before its last expunge: more than asked, never
// a UID still in the folder.
//
// \Recent (RFC 3501 §2.3.2) is one number in the sidecar, as in
// Dovecot: messages whose UID is at or above it are recent. Whenever a
// folder is updated while some session of the process has it selected
// read-write, the oldest such session claims them (they are recent there
// and nowhere else) and the mark moves to UIDNEXT, under the lock, so no
// other process claims them again. Until then STATUS counts them, and
// EXAMINE shows them as recent without claiming them. Files in new/ are
// moved to cur/ by any read-write selection, as a Maildir reader should.
//
// # The metadata cache
//
// imapd-cache keeps, per UID, the parsed structure of the message
// (package message): CRLF sizes, envelope fields, the MIME tree with
// offsets and line counts, its content fingerprint (see above), the
// header fields message lists ask for, taken at the first parse
// (Mailbox.ListHeader, up to 8 KiB), and what callers derive from a
// message and ask to keep (Mailbox.Derived: imapd keeps rendered
// ENVELOPE, BODYSTRUCTURE and HEADER.FIELDS answers there, as Dovecot
// keeps them in its dovecot.index.cache). Records that wait to be
// written together go out key by key, so that a FETCH of one item reads
// that item's records in runs. Entries are never invalidated, only
// dropped with their UID. A missing, truncated or damaged cache is
// rebuilt from the messages, never fatal.
package maildir
