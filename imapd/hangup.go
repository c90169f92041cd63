package imapd

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// A long command (SEARCH over a large folder, with many text keys) must
// not outlive its reason to run: issue 9 measured a SEARCH that kept a
// core busy for minutes after the client had hung up. The session does
// not read while a command runs, so a hang-up would only be noticed at
// the next read; commandContext notices it meanwhile, by a look at the
// socket every hangupPoll, and Shutdown through the server's context.

// errClientGone is the cause of a command context's end when the client
// closed its end of the connection.
var errClientGone = errors.New("client closed the connection")

// hangupPoll is how often a running command's connection is looked at.
const hangupPoll = 50 * time.Millisecond

// commandContext returns the context of a long, read-only command: done
// when Shutdown begins, or with cause errClientGone when the client has
// closed the connection (seen on a TCP or Unix socket, TLS or not; other
// connections, a pipe or net.Pipe, are never seen to close). stop ends
// the watch, and must be called before the session reads again; it
// returns why ctx ended before, or nil if it had not.
func (s *session) commandContext() (ctx context.Context, stop func() error) {
	ctx, cancel := context.WithCancelCause(s.srv.ctx)
	probe := peerProbe(s.conn)
	if probe == nil {
		return ctx, func() error {
			err := context.Cause(ctx)
			cancel(nil)
			return err
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(hangupPoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if probe() {
					cancel(errClientGone)
					return
				}
			}
		}
	})
	return ctx, func() error {
		close(done)
		wg.Wait()
		err := context.Cause(ctx)
		cancel(nil)
		return err
	}
}

// stopCause reports, between the messages of a long command that writes
// as it goes (FETCH), why it should stop: Shutdown began, or its output
// no longer reaches the client (a write failed: it hung up). nil: go on.
// It needs no watcher: such a command writes a buffer at a time.
func (s *session) stopCause() error {
	if s.w.Err() != nil {
		return errClientGone
	}
	return context.Cause(s.srv.ctx)
}

// abandon is the outcome of a command that stopped because ctx ended
// with cause: the session ends, with nothing more written to a client
// that hung up, and BYE to one whose server shuts down.
func (s *session) abandon(name string, cause error) outcome {
	if errors.Is(cause, errClientGone) {
		s.log.Info("client hung up during a command; stopped it", "cmd", name)
	} else {
		s.log.Info("command stopped by shutdown", "cmd", name)
		s.bye("Server shutting down")
	}
	return closed
}

// peerProbe returns a function that reports whether the peer of c has
// closed the connection, or nil if c cannot tell (no socket under it).
func peerProbe(c net.Conn) func() bool {
	if w, ok := c.(interface{ NetConn() net.Conn }); ok {
		// A *tls.Conn, or a relayed connection that tells the client's
		// address: the socket beneath is what is peeked at (TLS
		// records are never consumed: the FIN after them is what
		// counts).
		c = w.NetConn()
	}
	sc, ok := c.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return nil
	}
	if _, ok := c.(*net.TCPConn); !ok {
		if _, ok := c.(*net.UnixConn); !ok {
			return nil
		}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func() bool { return peerClosed(rc) }
}
