package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ThrottleState is the file that holds a Throttle's per-address failure
// counts for processes that each serve one connection (inetd, PAM mode's
// session processes): each reads it, under an exclusive flock, before
// every step of an attempt (admit, check, failure) and writes it back
// before unlocking, so the failures of one process delay the next.
//
// It is opened once, before the process drops its privileges, and used
// through that descriptor, so the file can stay root's, mode 0600, in a
// directory only root can write to. Its format is a line per address
// block, "block failures last next queued refused" with the times in
// Unix nanoseconds; lines that do not parse are dropped. It holds at most
// MaxAddrs blocks, and only those with recent failures.
type ThrottleState struct {
	// f is the file, open for reading and writing.
	f *os.File
}

// OpenThrottleState opens (creating, with its directory) the state file
// at path.
func OpenThrottleState(path string) (*ThrottleState, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("throttle state: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("throttle state: %w", err)
	}
	return &ThrottleState{f: f}, nil
}

// Close closes the file.
func (s *ThrottleState) Close() error { return s.f.Close() }

// lockAndRead takes the file's lock and reads it; on error the lock is
// not held.
func (s *ThrottleState) lockAndRead() (map[netip.Prefix]*addrState, error) {
	if err := flock(s.f, unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("throttle state: lock: %w", err)
	}
	addrs, err := s.read()
	if err != nil {
		s.unlock()
		return nil, fmt.Errorf("throttle state: read: %w", err)
	}
	return addrs, nil
}

func (s *ThrottleState) unlock() { flock(s.f, unix.LOCK_UN) }

// flock retries an interrupted flock.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func (s *ThrottleState) read() (map[netip.Prefix]*addrState, error) {
	addrs := map[netip.Prefix]*addrState{}
	sc := bufio.NewScanner(io.NewSectionReader(s.f, 0, 1<<40))
	for sc.Scan() {
		k, st, ok := parseAddrLine(sc.Text())
		if ok {
			addrs[k] = st
		}
	}
	return addrs, sc.Err()
}

func parseAddrLine(line string) (netip.Prefix, *addrState, bool) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return netip.Prefix{}, nil, false
	}
	var k netip.Prefix
	var err error
	if f[0] != "none" {
		if k, err = netip.ParsePrefix(f[0]); err != nil {
			return netip.Prefix{}, nil, false
		}
	}
	var v [5]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return netip.Prefix{}, nil, false
		}
	}
	return k, &addrState{n: int(v[0]), last: time.Unix(0, v[1]), next: time.Unix(0, v[2]),
		queued: int(v[3]), refused: int(v[4])}, true
}

// write replaces the file's contents with addrs. Under the lock; a
// reader never sees a half-written file, since readers take the lock.
func (s *ThrottleState) write(addrs map[netip.Prefix]*addrState) error {
	var b bytes.Buffer
	for k, st := range addrs {
		// The zero Prefix (logins without an address) is written as
		// "invalid Prefix"; keep it parseable.
		ks := k.String()
		if !k.IsValid() {
			ks = "none"
		}
		fmt.Fprintf(&b, "%s %d %d %d %d %d\n", ks, st.n, st.last.UnixNano(), st.next.UnixNano(), st.queued, st.refused)
	}
	if _, err := s.f.WriteAt(b.Bytes(), 0); err != nil {
		return fmt.Errorf("throttle state: write: %w", err)
	}
	if err := s.f.Truncate(int64(b.Len())); err != nil {
		return fmt.Errorf("throttle state: write: %w", err)
	}
	return nil
}
