//go:build unix

package imapd

import (
	"crypto/tls"
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

// rawSocket is the socket of c, when c is one as it is (not TLS, whose
// decrypted input may be buffered where the socket cannot show it), or a
// wrapper of one that tells the client's address; nil otherwise.
func rawSocket(c net.Conn) syscall.RawConn {
	if _, ok := c.(*tls.Conn); ok {
		return nil
	}
	if w, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = w.NetConn()
	}
	var sc syscall.Conn
	switch c := c.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// waitReadable waits, reading nothing, until the socket rc has input, has
// reached its end or failed, or its read deadline passes (the error then).
// A recv that peeks tells, so a readiness the poller already reported is
// never waited for again.
func waitReadable(rc syscall.RawConn) error {
	var buf [1]byte
	return rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN)
	})
}
