package server

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxConnectionsPerIP is Limits.MaxConnectionsPerIP's default: a
// tenth of DefaultMaxConnections, so that one client cannot hold every
// connection the box serves, while a household's players (a few
// connections each) or a small NAT stay far below it.
const DefaultMaxConnectionsPerIP = 1000

// perIPAnswer is what a connection past its address's limit gets before
// it is closed, without its request being read (as fasthttp's
// MaxConnsPerIP answers).
const perIPAnswer = "HTTP/1.1 429 Too Many Requests\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: 39\r\n" +
	"Retry-After: 1\r\n" +
	"Connection: close\r\n\r\n" +
	"too many connections from your address\n"

// Bounds of the lingering close of a refused connection (see refuse): a
// client that sent its request before reading the 429 would otherwise
// get a reset in its place. At most maxRefusing refused connections
// linger at once; past that they are closed at once.
const (
	refuseLinger = 500 * time.Millisecond
	maxRefusing  = 64
)

// ipConns counts the open client connections of each client address
// (an IPv6 client by its /64, which one subscriber holds whole). The
// counts are keyed by a netip.Prefix, a value: nothing of a connection
// is kept. It is safe for concurrent use.
type ipConns struct {
	mu       sync.Mutex
	n        map[netip.Prefix]int32
	refusing chan struct{} // a slot per lingering refused connection
}

func newIPConns() *ipConns {
	return &ipConns{n: make(map[netip.Prefix]int32), refusing: make(chan struct{}, maxRefusing)}
}

// clientPrefix is the address a connection counts against: the IPv4
// address, or the /64 of an IPv6 one. ok is false for an address that is
// not IP (tests' pipes).
func clientPrefix(a net.Addr) (netip.Prefix, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip := ta.AddrPort().Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

// take counts a connection from p, unless max (> 0) are already open from
// it; it reports whether the connection was counted.
func (c *ipConns) take(p netip.Prefix, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n[p]
	if max > 0 && int(n) >= max {
		return false
	}
	c.n[p] = n + 1
	return true
}

// give uncounts a connection from p.
func (c *ipConns) give(p netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.n[p]; n > 1 {
		c.n[p] = n - 1
	} else {
		delete(c.n, p)
	}
}

// refuse answers tc 429 and closes it. The write goes to a fresh socket's
// empty send buffer, so it does not block Accept; the close lingers (in a
// goroutine, at most maxRefusing at once) so that the client reads the
// answer rather than a reset.
func (c *ipConns) refuse(tc *net.TCPConn) {
	_ = tc.SetWriteDeadline(time.Now().Add(refuseLinger))
	if _, err := tc.Write([]byte(perIPAnswer)); err != nil {
		_ = tc.Close()
		return
	}
	select {
	case c.refusing <- struct{}{}:
	default:
		_ = tc.Close()
		return
	}
	go func() {
		defer func() { <-c.refusing }()
		_ = lingerClose(tc, refuseLinger, 64<<10)
	}()
}
