package server

import (
	"net"

	"golang.org/x/sys/unix"
)

// setNotSentLowat sets c's TCP_NOTSENT_LOWAT to n bytes: a write blocks
// (the goroutine parks in the poller) once more than n bytes of the
// connection are queued and not yet sent, however large the send buffer the
// kernel autotunes for the bytes in flight. Connections served at once thus
// take turns in writes of about n bytes without capping any one's window.
// Best effort: an error leaves the kernel's default.
func setNotSentLowat(c *net.TCPConn, n int) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, n)
	})
}
