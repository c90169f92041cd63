package maildir

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imapd/internal/atomicfile"
	"imapd/message"

	"golang.org/x/sys/unix"
)

// AppendOptions are the flags, keywords and internal date of a new message.
type AppendOptions struct {
	Flags    Flags
	Keywords []string
	Date     time.Time // zero: now
}

// Appended says where a message went: UIDPLUS's APPENDUID.
type Appended struct {
	UIDValidity uint32
	UID         uint32
	Size        int64 // RFC822.SIZE
}

var deliveries atomic.Uint64

// hostPart is the host name as a Maildir name carries it ('/', ':' and ','
// escaped), and processID the process's ID: both read once, not with a
// system call per delivery. A host renamed while the server runs keeps
// its old name in new files, as in Dovecot; names stay unique by the
// process ID, counter and random part.
var (
	hostPart = sync.OnceValue(func() string {
		host, _ := os.Hostname()
		return strings.NewReplacer("/", `\057`, ":", `\072`, ",", `\054`).Replace(host)
	})
	processID = sync.OnceValue(os.Getpid)
)

// newBase returns a unique Maildir base name; prev (if any) lends its
// size fields so that a renamed duplicate keeps them.
func newBase(prev string) string {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	now := time.Now()
	b := fmt.Sprintf("%d.M%dP%dQ%dR%s.%s", now.Unix(), now.Nanosecond()/1000, processID(), deliveries.Add(1), hex.EncodeToString(rnd[:]), hostPart())
	if i := strings.IndexByte(prev, ','); i >= 0 {
		b += prev[i:]
	}
	return b
}

// tmpBuffer is writeTmp's buffers, reused from one message to the next.
type tmpBuffer struct {
	w   *bufio.Writer
	buf []byte
}

var tmpBuffers = sync.Pool{New: func() any {
	return &tmpBuffer{w: bufio.NewWriterSize(nil, 64<<10), buf: make([]byte, 64<<10)}
}}

// tmpFile is a message file writeTmp finished in tmp/: its path, its
// size, its size with CRLF line endings, its content fingerprint, and
// its stat after the last change.
type tmpFile struct {
	path        string
	size, vsize int64
	fp          fingerprint
	info        os.FileInfo
}

// writeTmp copies r into a new file in dir/tmp, counting its size and
// its size with CRLF line endings and hashing it (the fingerprint, while
// the octets pass by), gives it date as mtime (the internal date) unless
// date is zero, and makes it durable.
func (h *Hub) writeTmp(dir string, r io.Reader, maxSize int64, date time.Time) (t tmpFile, err error) {
	path := filepath.Join(dir, "tmp", newBase(""))
	fh, err := atomicfile.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, h.opts.FilePerm)
	if err != nil {
		return tmpFile{}, err
	}
	defer func() {
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			t = tmpFile{}
		}
	}()
	bufs := tmpBuffers.Get().(*tmpBuffer)
	defer tmpBuffers.Put(bufs)
	w, buf := bufs.w, bufs.buf
	w.Reset(fh)
	defer w.Reset(nil)
	var crlf message.CRLFCounter
	var size int64
	hash := newFingerprintHash()
	defer releaseFingerprintHash(hash)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			size += int64(n)
			crlf.Write(chunk)
			hash.Write(chunk)
			if _, err = w.Write(chunk); err != nil {
				return tmpFile{}, err
			}
		}
		if rerr == io.EOF {
			break
		} else if rerr != nil {
			return tmpFile{}, rerr
		}
		if maxSize > 0 && size > maxSize {
			return tmpFile{}, ErrTooBig
		}
	}
	if err = w.Flush(); err != nil {
		return tmpFile{}, err
	}
	// Without a date, the moment the file was written is its date.
	if !date.IsZero() {
		// Set on the name without following it (it is our O_EXCL
		// file, but tmp/ is the user's directory).
		ts := []unix.Timespec{unix.NsecToTimespec(date.UnixNano()), unix.NsecToTimespec(date.UnixNano())}
		if err = unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return tmpFile{}, &os.PathError{Op: "utimensat", Path: path, Err: err}
		}
	}
	if !h.opts.NoSync {
		if err = fh.Sync(); err != nil {
			return tmpFile{}, err
		}
	}
	// The stat the UID record keeps (inode, mtime as the file system
	// stored it), from the open file: no second path look-up.
	info, err := fh.Stat()
	if err != nil {
		return tmpFile{}, err
	}
	t = tmpFile{path: path, size: size, vsize: crlf.N, info: info}
	copy(t.fp[:], hash.Sum(nil))
	return t, nil
}

// ErrTooBig says an appended message exceeded the limit given.
var ErrTooBig = errors.New("message too big")

// Append delivers a message to a folder (RFC 3501 APPEND): written in
// tmp/, made durable, renamed into cur/ with its flags, sizes and date,
// then given the next UID. Opening the folder for it reads no listing of
// a large folder (see ownChange).
func (s *Store) Append(name string, r io.Reader, opts AppendOptions) (Appended, error) {
	_, dir, err := s.dir(name)
	if err != nil {
		return Appended{}, err
	}
	tmp, err := s.hub.writeTmp(dir, r, 0, opts.Date)
	if err != nil {
		return Appended{}, err
	}
	delivered := false
	defer func() {
		if !delivered {
			os.Remove(tmp.path)
		}
	}()
	f, err := s.hub.acquire(s.root, dir)
	if err != nil {
		return Appended{}, err
	}
	defer s.hub.release(f)
	var res Appended
	err = f.update(false, func() error {
		if err := f.checkKeywordsLocked(s.limits.MaxKeywords, opts.Keywords); err != nil {
			return err
		}
		r, err := f.deliverLocked(tmp, opts.Flags, opts.Keywords)
		if r != nil {
			delivered = true // renamed into cur/, whatever the sidecar says
		}
		if err != nil {
			return err
		}
		res = Appended{UIDValidity: f.side.uidValidity, UID: r.uid, Size: tmp.vsize}
		return nil
	})
	if err == nil {
		f.cache.putFingerprint(res.UID, tmp.fp, 0, 0, true)
	}
	return res, err
}

// deliverLocked renames a finished tmp file into cur/ and gives it a UID.
func (f *folder) deliverLocked(tmp tmpFile, flags Flags, keywords []string) (*msgRec, error) {
	base := fmt.Sprintf("%s,S=%d,W=%d", filepath.Base(tmp.path), tmp.size, tmp.vsize)
	r := &msgRec{uid: f.side.uidNext, ino: inodeOf(tmp.info), size: tmp.size, mtime: tmp.info.ModTime().UnixNano(), vsize: tmp.vsize, base: base}
	var log strings.Builder
	letters, extra, err := f.lettersFor(keywords, &log)
	if err != nil {
		return nil, err
	}
	r.setInfo(fileName("", info{flags: flags, letters: letters})[3:])
	r.extra = extra
	err = f.ownChange(false, func() error {
		return renameMessage(tmp.path, filepath.Join(f.dir, "cur", r.name()))
	})
	if err != nil {
		return nil, err
	}
	// The rename and the UID record reach the disk side by side (two
	// devices' worth of waiting in one): both are durable before the
	// client hears of the message. A crash in between leaves either a
	// file without a UID (it gets one at the next listing) or a UID
	// without its file (taken as expunged, with the file still in tmp/),
	// for a message the client was never told of.
	var dirSynced chan struct{}
	if !f.hub.opts.NoSync {
		dirSynced = make(chan struct{})
		go func() {
			_ = atomicfile.SyncDir(filepath.Join(f.dir, "cur"))
			close(dirSynced)
		}()
	}
	f.bumpLocked(r)
	f.side.insert(r)
	log.WriteString(addLine(r))
	if len(extra) > 0 {
		log.WriteString(keywordLine(r))
	}
	log.WriteString(f.side.dirLine())
	// A session of ours with the folder selected read-write gets its
	// \Recent now, in the same write, rather than in a second one after.
	log.WriteString(f.claimRecentLine())
	f.events = append(f.events, event{kind: evAdd, uid: r.uid})
	err = f.side.appendLines([]byte(log.String()), !f.hub.opts.NoSync)
	if dirSynced != nil {
		<-dirSynced
	}
	return r, err
}

// lettersFor maps keywords to letters of the folder's keyword file,
// giving new ones a letter while one is free; the rest are returned to be
// kept in the sidecar. $Forwarded is a system letter and not passed here.
func (f *folder) lettersFor(keywords []string, log *strings.Builder) (string, []string, error) {
	var letters []byte
	var extra []string
	for _, k := range keywords {
		l, ok, err := f.kw.assign(k)
		if err != nil {
			return "", nil, err
		}
		if ok {
			letters = append(letters, l)
		} else {
			extra = append(extra, k)
		}
	}
	return string(letters), sortedKeywords(extra), nil
}

// SetFlags changes the flags of messages (RFC 3501 STORE) by renaming
// their files. Keywords for which no letter is free are kept in the
// sidecar. The returned UIDs are those whose flags changed; the other
// sessions hear of the change, this one reports it itself. unchangedSince
// (CONDSTORE) skips, and returns in failed, messages modified after it; 0
// means no condition.
func (m *Mailbox) SetFlags(uids []uint32, op FlagOp, flags Flags, keywords []string, unchangedSince uint64) (changed, failed []uint32, err error) {
	if m.readOnly {
		return nil, nil, ErrReadOnly
	}
	f := m.f
	if len(uids) >= pauseRenames && f.hub.watch.pauseCur(f) {
		defer f.hub.watch.resumeCur(f)
	}
	err = f.update(false, func() error {
		var log strings.Builder
		var kwLetters string
		var extraKw []string
		if op != FlagsRemove || len(keywords) > 0 {
			var err error
			if op == FlagsRemove {
				for _, k := range keywords {
					if l, ok := f.kw.letter(k); ok {
						kwLetters += string(l)
					} else {
						extraKw = append(extraKw, k)
					}
				}
			} else if lerr := f.checkKeywordsLocked(m.store.limits.MaxKeywords, keywords); lerr != nil {
				// Refused before any letter is assigned or file renamed:
				// a STORE over the limit changes nothing at all.
				return lerr
			} else if kwLetters, extraKw, err = f.lettersFor(keywords, &log); err != nil {
				return err
			}
		}
		werr := f.ownChange(true, func() error {
			dirs := openMsgDirs(f.dir, len(uids))
			defer dirs.close()
			for _, uid := range uids {
				r := f.side.get(uid)
				if r == nil {
					continue
				}
				if unchangedSince != 0 && r.modseq > unchangedSince {
					failed = append(failed, uid)
					continue
				}
				nf, nl, nx := f.applyFlags(r, op, flags, kwLetters, extraKw)
				if nf == r.inf.flags && nl == r.inf.letters && equalStrings(nx, r.extra) && r.hasInfo && !r.inNew {
					continue
				}
				newRaw := fileName("", info{flags: nf, letters: nl, other: r.inf.other})[3:]
				if to := r.base + ":2," + newRaw; r.inNew || to != r.name() {
					if err := dirs.rename(r.inNew, r.name(), false, to); err != nil {
						if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) {
							// Gone or renamed by another program, or another
							// file already has the name: the next listing says
							// which, and gives a duplicate a name of its own.
							continue
						}
						return err
					}
				}
				r.inNew = false
				r.setInfo(newRaw)
				if !equalStrings(nx, r.extra) {
					r.extra = nx
					log.WriteString(keywordLine(r))
				}
				f.bumpLocked(r)
				log.WriteString(flagsLine(r))
				f.events = append(f.events, event{kind: evFlags, uid: uid, origin: m})
				changed = append(changed, uid)
			}
			return nil
		})
		if log.Len() == 0 {
			return werr // nothing changed: nothing to record
		}
		log.WriteString(f.side.dirLine())
		// Not forced to disk, as Dovecot does not either: the renames
		// that carry the flags are not, and a flag change lost to a
		// power cut loses no message and reuses no UID.
		if err := f.side.appendLines([]byte(log.String()), false); err != nil {
			return err
		}
		return werr
	})
	return changed, failed, err
}

// applyFlags computes a message's new system flags, keyword letters and
// sidecar keywords. Letters the keyword file does not name are invisible
// to IMAP, so no STORE removes them: other tools keep what they set.
func (f *folder) applyFlags(r *msgRec, op FlagOp, flags Flags, letters string, extra []string) (Flags, string, []string) {
	cur := r.inf.letters
	switch op {
	case FlagsSet:
		var unnamed []byte
		for i := 0; i < len(cur); i++ {
			if f.kw.name(cur[i]) == "" {
				unnamed = append(unnamed, cur[i])
			}
		}
		return flags, mergeLetters(string(unnamed), letters), sortedKeywords(extra)
	case FlagsAdd:
		return r.inf.flags | flags, mergeLetters(cur, letters), sortedKeywords(append(append([]string(nil), r.extra...), extra...))
	default:
		var out []byte
		for i := 0; i < len(cur); i++ {
			if !strings.ContainsRune(letters, rune(cur[i])) {
				out = append(out, cur[i])
			}
		}
		var nx []string
		for _, k := range r.extra {
			if !containsFold(extra, k) {
				nx = append(nx, k)
			}
		}
		return r.inf.flags &^ flags, string(out), nx
	}
}

func mergeLetters(a, b string) string {
	_, inf, _ := splitName(":2," + a + b)
	return inf.letters
}

func containsFold(list []string, s string) bool {
	for _, k := range list {
		if strings.EqualFold(k, s) {
			return true
		}
	}
	return false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Expunge removes the messages flagged \Deleted (RFC 3501 EXPUNGE); with
// uids given, only those among them (RFC 4315 UID EXPUNGE). The EXPUNGE
// responses reach this session, like every other, through Poll.
func (m *Mailbox) Expunge(uids []uint32) error {
	if m.readOnly {
		return ErrReadOnly
	}
	f := m.f
	return f.update(false, func() error {
		var log strings.Builder
		var targets []*msgRec
		if uids == nil {
			for _, r := range f.side.recs {
				if r.inf.flags&FlagDeleted != 0 {
					targets = append(targets, r)
				}
			}
		} else {
			for _, u := range uids {
				if r := f.side.get(u); r != nil && r.inf.flags&FlagDeleted != 0 {
					targets = append(targets, r)
				}
			}
		}
		werr := f.ownChange(true, func() error {
			for _, r := range targets {
				err := os.Remove(filepath.Join(f.dir, dirOf(r.inNew), r.name()))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				f.expungeRecLocked(r, &log)
			}
			return nil
		})
		log.WriteString(f.side.dirLine())
		if err := f.side.appendLines([]byte(log.String()), !f.hub.opts.NoSync); err != nil {
			return err
		}
		return werr
	})
}
