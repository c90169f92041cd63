//go:build !unix

package imapd

import (
	"net"
	"syscall"
)

// peerClosed cannot tell here: commands stop only at Shutdown.
func peerClosed(syscall.RawConn) bool { return false }

// rawSocket: here every connection is read to be waited on.
func rawSocket(net.Conn) syscall.RawConn { return nil }

func waitReadable(syscall.RawConn) error { return nil }
