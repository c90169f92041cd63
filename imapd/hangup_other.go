//go:build !unix

package imapd

import "syscall"

// peerClosed cannot tell here: commands stop only at Shutdown.
func peerClosed(syscall.RawConn) bool { return false }
