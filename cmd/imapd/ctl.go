package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"imapd/auth"
)

// The messages between the daemon (root) and a login process, over a
// SOCK_SEQPACKET socket pair: one JSON object per packet, a descriptor
// riding along where one is handed over. See privsep.go for who sends
// what, and why.

// loginInit is the daemon's first message: all a login process needs,
// read by root (the certificate's key) before the login process gives up
// root and may read nothing more.
type loginInit struct {
	// Config is the configuration file's text; ConfigName its path, for
	// messages.
	Config     []byte
	ConfigName string
	// CertPEM and KeyPEM are the TLS certificate chain and key, if any.
	CertPEM, KeyPEM []byte
	// TLS says the connection speaks TLS from its first octet (993).
	TLS bool
	// UID and GID are what the login process runs as; Chroot is the
	// empty directory it is confined to ("" for none).
	UID, GID int
	Chroot   string
}

// loginRequest is a login process asking the daemon: "auth" to check a
// password, "handoff" to pass on the connection of the user it last
// checked (the descriptor rides along), Pending and Tag for the session.
type loginRequest struct {
	Op       string
	Username string `json:",omitempty"`
	Password string `json:",omitempty"`
	Tag      string `json:",omitempty"`
	Pending  []byte `json:",omitempty"`
	TLS      bool   `json:",omitempty"`
}

// loginReply answers a loginRequest: Err is "" for yes, else one of the
// reply errors below.
type loginReply struct {
	Err string `json:",omitempty"`
}

// The errors a loginReply can carry, as the login process's session must
// see them.
const (
	replyFailed      = "failed"
	replyThrottled   = "throttled"
	replyUnavailable = "unavailable"
	replyLimit       = "limit"
)

// sessionStart is what the daemon gives a session process (on its fd 3,
// a pipe), which starts as the user and logged in.
type sessionStart struct {
	Config     []byte
	ConfigName string
	Identity   auth.Identity
	Tag        string
	Pending    []byte
	TLS        bool
	// Remote is the client's address ("ip:port"), which a relayed
	// connection does not carry.
	Remote string
}

// maxCtlMessage bounds a packet: a config, a certificate chain and a
// key, or a command line's worth of pipelined input.
const maxCtlMessage = 1 << 20

// ctlPair makes a connected SOCK_SEQPACKET pair: ours, and the one to
// give a child (as an *os.File for its ExtraFiles).
func ctlPair() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	ours, err := fileUnixConn(os.NewFile(uintptr(fds[0]), "ctl"))
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return ours, os.NewFile(uintptr(fds[1]), "ctl"), nil
}

// fileUnixConn makes f a *net.UnixConn (net.FileConn dups it; f is
// closed).
func fileUnixConn(f *os.File) (*net.UnixConn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("descriptor is a %T, not a Unix socket", c)
	}
	return uc, nil
}

// sendMsg writes v as one packet, with fd (if >= 0) riding along.
func sendMsg(c *net.UnixConn, v any, fd int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// recvMsg reads one packet into v and returns the descriptor that rode
// along, or nil. A packet too long for maxCtlMessage, or more than one
// descriptor, is an error (the peer is not to be trusted).
func recvMsg(c *net.UnixConn, v any) (*os.File, error) {
	buf := make([]byte, maxCtlMessage)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	fds, ferr := parseRights(oob[:oobn])
	var f *os.File
	for i, fd := range fds {
		if i == 0 && ferr == nil && len(fds) == 1 {
			unix.CloseOnExec(fd)
			f = os.NewFile(uintptr(fd), "passed")
		} else {
			unix.Close(fd)
		}
	}
	fail := func(err error) (*os.File, error) {
		if f != nil {
			f.Close()
		}
		return nil, err
	}
	switch {
	case ferr != nil:
		return fail(ferr)
	case len(fds) > 1:
		return fail(errors.New("more than one descriptor in a message"))
	case n == 0:
		return fail(net.ErrClosed) // the peer closed: SOCK_SEQPACKET's end of stream
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0:
		return fail(errors.New("message too long"))
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		return fail(fmt.Errorf("bad message: %w", err))
	}
	return f, nil
}

// parseRights returns the descriptors of SCM_RIGHTS messages in oob.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		r, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, err
		}
		fds = append(fds, r...)
	}
	return fds, nil
}
