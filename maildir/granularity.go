package maildir

import (
	"time"

	"golang.org/x/sys/unix"
)

// A listing that saw a directory with mtime M may have missed a file
// created after it when that change left the mtime at M: the change fell
// in the same tick of the clock that stamps the directory. Dovecot's rule
// for Maildir is to trust no mtime within two seconds of the listing that
// saw it, since many file systems keep whole seconds. The price is a
// listing on every look at a folder that somebody changed in the last two
// seconds; a folder that many sessions change never leaves that state.
//
// Where the stamps are fine, the window can be narrow. Linux's local file
// systems stamp a change with the kernel's coarse real-time clock (or a
// finer one, never earlier), which lags the real time by at most one tick
// (clock_getres of CLOCK_REALTIME_COARSE: 1 to 10 ms). A change made after
// a listing began at S is stamped after S minus that tick; so a directory
// whose mtime is older than S by more than a tick shows any later change
// as a new mtime. (S may be taken after the stat that read the mtime: a
// change between the stat and the listing is in the listing.) Two things
// must hold for that:
//
//   - the stamps come from this kernel's clock: a local file system, not
//     NFS, CIFS or FUSE, whose server's clock may be off by any amount
//     (fineWindowFor checks the file system type);
//   - the file system keeps the fraction of the second: ext4 with small
//     inodes, for one, keeps whole seconds. A stamp that is a whole
//     millisecond is taken as coarse (a fine one is so one time in a
//     million, and then costs only a listing).
//
// Everywhere else the two seconds hold.
const coarseWindow = int64(2 * time.Second)

// Local file systems whose timestamps come from the kernel's clock
// (statfs f_type, from linux/magic.h). overlayfs takes its stamps from
// its upper layer, a local file system.
var localClockFS = map[int64]bool{
	0xEF53:     true, // ext2, ext3, ext4
	0x58465342: true, // xfs
	0x9123683E: true, // btrfs
	0x01021994: true, // tmpfs
	0xF2F52010: true, // f2fs
	0x2FC12FC1: true, // zfs
	0x794C7630: true, // overlayfs
}

// fineWindowFor returns the window for fine stamps of the file system
// that holds dir, or 0 when only coarseWindow is safe there.
func fineWindowFor(dir string) int64 {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil || !localClockFS[int64(fs.Type)] {
		return 0
	}
	var res unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_REALTIME_COARSE, &res); err != nil || res.Nano() <= 0 || res.Nano() > int64(time.Second/10) {
		return 0
	}
	// Twice the tick, and 10 ms for a tick the kernel delivered late (an
	// idle CPU's clock catches up when it wakes).
	return 2*res.Nano() + int64(10*time.Millisecond)
}

// stampWindow is how close to a listing a directory mtime must stay to
// be distrusted: the folder's fine window when the stamp shows a fraction
// of a millisecond, else coarseWindow.
func (f *folder) stampWindow(mtime int64) int64 {
	if f.fineWindow > 0 && mtime%int64(time.Millisecond) != 0 {
		return f.fineWindow
	}
	return coarseWindow
}

// dirChanged reports whether a directory must be listed: its mtime moved,
// or it is so close to the last listing that a change in the same clock
// tick could hide behind an equal mtime.
func (f *folder) dirChanged(mtime, known, scanTime int64) bool {
	return mtime != known || mtime >= scanTime-f.stampWindow(mtime)
}

// settleLocked is called when a directory must be listed; it returns the
// mtime to record for the listing and the time the listing starts (now,
// after the stat: see above).
//
// A listing while the mtime is within the fine window of now is suspect
// in its turn, and our own changes after it cannot keep it complete
// (ownChange), so the next look lists again. In a folder that sessions
// change more often than the window that never ends: every look lists.
// So when the last listing was suspect too, this one first waits until
// the mtime has left the window (at most the window; we hold the
// folder's locks, so no change of ours moves it meanwhile) and stats the
// directory again. A single change by another program (a delivery to a
// quiet folder) is listed at once, without waiting.
func (f *folder) settleLocked(path string, mtime, known, scan int64) (int64, int64, error) {
	w := f.stampWindow(mtime)
	lastSuspect := scan != 0 && known >= scan-f.stampWindow(known)
	if w < coarseWindow && lastSuspect {
		// Never longer than the window: an mtime in the future (set by
		// touch, or the clock stepped back) is left to the old rule.
		if wait := time.Duration(mtime + w + 1 - time.Now().UnixNano()); wait > 0 && wait <= time.Duration(w+1) {
			f.hub.stats.Settles.Add(1)
			time.Sleep(wait)
			var err error
			if mtime, err = mtimeOf(path); err != nil {
				return 0, 0, err
			}
		}
	}
	return mtime, time.Now().UnixNano(), nil
}
