//go:build !linux

package server

import "net"

// setNotSentLowat does nothing where TCP_NOTSENT_LOWAT is not set this way:
// the kernel's default applies.
func setNotSentLowat(c *net.TCPConn, n int) {}
