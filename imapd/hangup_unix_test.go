//go:build unix

package imapd

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestWaitReadableAtOnce: waitReadable tells input that was already on
// the socket (a pipelining client, which the session yields for) from
// input it had to wait for, and peeks without taking it.
func TestWaitReadableAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	rc := rawSocket(server)
	if rc == nil {
		t.Fatal("no raw socket for a TCP connection")
	}

	// Nothing sent: the wait ends at the deadline, and nothing was there.
	server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if atOnce, err := waitReadable(rc); !errors.Is(err, os.ErrDeadlineExceeded) || atOnce {
		t.Fatalf("silent client: atOnce %v, err %v; want false, deadline exceeded", atOnce, err)
	}
	server.SetReadDeadline(time.Time{})

	if _, err := client.Write([]byte("a NOOP\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := waitReadable(rc); err != nil {
		t.Fatal(err)
	}
	// The command is still unread: a second look finds it at once.
	if atOnce, err := waitReadable(rc); err != nil || !atOnce {
		t.Fatalf("waiting command: atOnce %v, err %v; want true, nil", atOnce, err)
	}
	buf := make([]byte, 16)
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "a NOOP\r\n" {
		t.Fatalf("read %q, %v after the peeks; want the command whole", buf[:n], err)
	}
}
