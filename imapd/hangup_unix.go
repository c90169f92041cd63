//go:build unix

package imapd

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed reports whether the socket rc has reached end of stream or
// was reset: a recv that peeks, without waiting, returns 0 octets at end
// of stream, EAGAIN while the peer is there and silent, and data (left
// where it is) if the client sent more. A socket we closed ourselves
// (Shutdown's last resort) counts as closed.
func peerClosed(rc syscall.RawConn) bool {
	var closed bool
	var buf [1]byte
	err := rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil || errors.Is(err, syscall.ECONNRESET)
		return true // never wait for readiness
	})
	return closed || errors.Is(err, net.ErrClosed)
}
