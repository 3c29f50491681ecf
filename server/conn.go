package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// errBareLF is the read error a client connection returns once the client
// has ended a request's header block without CRLF CRLF (with bare LF line
// ends, RFC 9112 §2.2) or sent more than one empty line before a request
// line. fasthttp v1.78 accepts a header block only when it holds CRLF CRLF
// (so that it frames requests as a peer insisting on CRLF would: a defence
// against request smuggling) and otherwise waits for more bytes until
// ReadTimeout, 30 s by default, with no answer. The connection's next read
// fails with errBareLF instead of waiting, so fasthttp answers 400 (through
// Server.requestError) and closes the connection at once.
var errBareLF = errors.New("header block not ended by CRLF CRLF (bare LF line ends)")

// listener hands every accepted TCP connection on as a *clientConn, after
// setting its send buffer and its unsent-bytes limit if asked to. A
// clientConn embeds the *net.TCPConn, and its ReadFrom, which fasthttp's
// buffered writer calls with a body's file section (see fileSection), sends
// it with sendfile(2): unlike a wrapper holding a net.Conn interface (such
// as fasthttp's MaxConnsPerIP), it keeps the zero-copy path.
//
// A connection from a client address that already has
// Limits.MaxConnectionsPerIP open is answered 429 and closed here, before
// fasthttp sees it (see ipConns).
type listener struct {
	net.Listener
	s          *Server // its limits, counters and log; nil: no per-address cap
	sendBuffer int     // SO_SNDBUF in bytes; 0 leaves the kernel's autotuning
	sendLowat  int     // TCP_NOTSENT_LOWAT in bytes; 0 leaves the kernel's default
}

// Accept implements net.Listener.
func (l listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return c, err // not TCP (tests): served as is, without the guard
		}
		cc := &clientConn{TCPConn: tc}
		if p, ok := clientPrefix(tc.RemoteAddr()); ok && l.s != nil {
			if !l.s.ips.take(p, l.s.limits.Load().MaxConnectionsPerIP) {
				l.s.perIPRejected.Add(1)
				l.s.warn.Log(slog.LevelWarn, "max connections per ip", "connection limit of a client address reached: its new connections get 429",
					"component", "http", "client", p.String(), "max_connections_per_ip", l.s.limits.Load().MaxConnectionsPerIP)
				l.s.ips.refuse(tc)
				continue
			}
			cc.ips, cc.ip = l.s.ips, p
		}
		if l.s != nil {
			cc.onLead = l.s.testLead
		}
		if l.sendBuffer > 0 {
			_ = tc.SetWriteBuffer(l.sendBuffer) // best effort: the kernel's default otherwise
		}
		if l.sendLowat > 0 {
			setNotSentLowat(tc, l.sendLowat) // best effort, as the send buffer
		}
		return cc, err
	}
}

// clientConn is a client connection that watches the request header bytes
// it reads for a header block fasthttp would wait on forever (see
// errBareLF), and sends file sections with sendfile(2) from their offsets.
// Everything but Read and ReadFrom is the embedded TCPConn's. It is used by
// its connection's goroutine only, as fasthttp serves a connection.
type clientConn struct {
	*net.TCPConn
	scan headScan

	// sendfile state, kept here so that a send allocates nothing
	raw    syscall.RawConn    // the TCPConn's, once asked for
	step   func(uintptr) bool // c.sendfileStep, bound once
	sfIn   int                // the file's descriptor
	sfOff  int64              // the next byte's file offset
	sfLeft int64              // bytes left to send
	sfSent int64              // bytes sent
	sfErr  error              // sendfile's error

	// The response being written is paced (see pace): each write has
	// grace plus its bytes at rate to complete; rate 0: not paced.
	rate  int64
	grace time.Duration

	// ahead: bytes past the request being handled had been read when its
	// handler began (see handled); prevAhead: the same for the previous
	// request.
	ahead, prevAhead bool
	handledN         int // requests handed to the handler (see handled)

	// linger: close after an answer to a request that could not be read
	// (see Close); atomic, as fasthttp may close an idle connection from
	// another goroutine.
	linger atomic.Bool

	// lead: the next body bytes to send are the response's lead (see
	// leadBytes): at most lead bytes go out on their own, then the
	// goroutine yields; 0: no lead. Set by safeBody.WriteTo.
	lead   int64
	onLead func(body int64) // Server.testLead

	// A held write (see hold): its bytes go out ahead of the next ones,
	// in the same writev(2) where they can.
	holdNext bool
	held     []byte
	bufs     [][]byte    // writeHeld's iovecs, kept so a send allocates nothing
	vec      net.Buffers // what of bufs writev has still to send

	// The connection counts against ip in ips until its first Close;
	// ips nil: not counted.
	ips    *ipConns
	ip     netip.Prefix
	closed atomic.Bool
}

// Lingering close: bounds of what Close reads and drops after an answer to
// a request that could not be read.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 1 << 20
)

// Close implements net.Conn. After an answer to a request fasthttp could
// not read (a header block past the read buffer, say: 414, 431, 400), the
// client may still be sending it: closing with those bytes unread makes
// the kernel reset the connection, and the client may lose the answer
// before reading it. So Close first shuts its sending side, then reads and
// drops what comes, for at most lingerTime and lingerBytes, until the
// client closes (nginx's lingering close).
func (c *clientConn) Close() error {
	if c.ips != nil && !c.closed.Swap(true) {
		defer c.ips.give(c.ip)
	}
	if c.linger.Swap(false) {
		return lingerClose(c.TCPConn, lingerTime, lingerBytes)
	}
	return c.TCPConn.Close()
}

// lingerClose shuts tc's sending side, reads and drops what the client
// still sends, for at most d and n bytes, then closes tc.
func lingerClose(tc *net.TCPConn, d time.Duration, n int64) error {
	if tc.CloseWrite() == nil {
		_ = tc.SetReadDeadline(time.Now().Add(d))
		_, _ = io.CopyN(io.Discard, tc, n)
	}
	return tc.Close()
}

// pace makes each write of the response being written set its own
// deadline: now plus grace plus its bytes at rate bytes/s. The next
// request (handled) ends it.
func (c *clientConn) pace(rate int64, grace time.Duration) { c.rate, c.grace = rate, grace }

// paceWrite sets the deadline of a write of n bytes of a paced response.
func (c *clientConn) paceWrite(n int64) {
	if c.rate > 0 {
		_ = c.TCPConn.SetWriteDeadline(time.Now().Add(c.grace + time.Duration(n)*time.Second/time.Duration(c.rate)))
	}
}

// Write implements net.Conn: paced when the response is. The write after
// hold is kept (copied) instead, and a write after a kept one sends both
// with one writev(2). A write when a lead is due sends the lead on its
// own first (see leadSent).
func (c *clientConn) Write(p []byte) (int, error) {
	if c.holdNext {
		c.holdNext = false
		c.held = append(c.held[:0], p...)
		return len(p), nil
	}
	if len(c.held) > 0 {
		c.bufs = append(c.bufs[:0], p)
		n, err := c.writeHeld()
		return int(n), err
	}
	var n int // the lead's bytes, sent
	if c.lead > 0 {
		k := int(min(c.lead, int64(len(p))))
		c.lead = 0
		c.paceWrite(int64(k))
		m, err := c.TCPConn.Write(p[:k])
		if err != nil {
			return m, err
		}
		c.leadSent(int64(k))
		if k == len(p) {
			return m, nil
		}
		n, p = k, p[k:]
	}
	c.paceWrite(int64(len(p)))
	m, err := c.TCPConn.Write(p)
	return n + m, err
}

// leadSent follows a response's lead, of n body bytes: the goroutine
// yields, so that other responses ready to start send their own first
// bytes before this one sends its bulk (see leadBytes).
func (c *clientConn) leadSent(n int64) {
	if c.onLead != nil {
		c.onLead(n)
	}
	runtime.Gosched()
}

// hold makes the connection keep the next write rather than send it: a
// response's header block, which fasthttp flushes on its own when asked
// to (Response.ImmediateHeaderFlush). The body that follows then goes out
// with it: see heldBody, and Write. Whatever writes next, the held bytes
// go out first; a held write that nothing follows is sent by flushHeld,
// which the response's body calls as it ends (safeBody). Only the
// goroutine writing the response uses them.
func (c *clientConn) hold() { c.holdNext = true }

// writeHeld sends the held bytes, if any, then c.bufs, with writev(2)
// (several calls if the socket takes them in parts), and returns how many
// bytes of c.bufs were sent. It leaves nothing held, and c.bufs empty.
func (c *clientConn) writeHeld() (int64, error) {
	h := int64(len(c.held))
	total := h
	for _, b := range c.bufs {
		total += int64(len(b))
	}
	if h > 0 {
		c.bufs = append(c.bufs, nil)
		copy(c.bufs[1:], c.bufs)
		c.bufs[0] = c.held
	}
	c.paceWrite(total)
	c.vec = c.bufs
	n, err := c.vec.WriteTo(c.TCPConn)
	clear(c.bufs) // no reference to the body's memory outlives the write
	c.bufs, c.vec, c.held, c.holdNext = c.bufs[:0], nil, c.held[:0], false
	return max(n-h, 0), err
}

// flushHeld sends the held bytes, if any.
func (c *clientConn) flushHeld() error {
	c.holdNext = false
	if len(c.held) == 0 {
		return nil
	}
	c.bufs = c.bufs[:0]
	_, err := c.writeHeld()
	return err
}

// fileSection is a response body part held in a file (the cache's disk
// chunks) that a connection may send with sendfile(2) from an explicit
// offset. The file's descriptor is shared by concurrent readers, so its own
// offset is never used. It is also an io.Reader, read by writers that are
// not TCP connections.
type fileSection interface {
	io.Reader
	// SendfileSection returns the file's descriptor and the part left to
	// send: n bytes from file offset off.
	SendfileSection() (fd uintptr, off, n int64)
	// Sent records that n more bytes were sent.
	Sent(n int64)
}

// maxSendfile is the most bytes one sendfile(2) call is asked for.
const maxSendfile = 1 << 30

// ReadFrom implements io.ReaderFrom. A fileSection (alone or inside the
// io.LimitedReader fasthttp bounds a body with) is sent with sendfile(2)
// from its offset; a file that ends early ends the send early, with no
// error (the caller counts the bytes); a lead that is due goes first, on
// its own (see leadSent). Anything else is the TCPConn's.
func (c *clientConn) ReadFrom(r io.Reader) (int64, error) {
	lr, limited := r.(*io.LimitedReader)
	src := r
	if limited {
		src = lr.R
	}
	if err := c.flushHeld(); err != nil {
		return 0, err
	}
	sec, ok := src.(fileSection)
	if !ok {
		var n int64 // bytes to come, if known
		if limited {
			n = lr.N
		}
		c.paceWrite(n)
		return c.TCPConn.ReadFrom(r)
	}
	fd, off, n := sec.SendfileSection()
	if limited {
		n = min(n, lr.N)
	}
	if n <= 0 {
		return 0, nil
	}
	var sent int64
	for n > 0 { // once, or twice after a lead
		k, lead := n, c.lead > 0
		if lead {
			k, c.lead = min(c.lead, n), 0
		}
		c.paceWrite(k)
		m, err := c.sendfile(int(fd), off, k)
		sec.Sent(m)
		if limited {
			lr.N -= m
		}
		sent += m
		if err != nil || m < k {
			return sent, err
		}
		if lead {
			c.leadSent(k)
		}
		off, n = off+m, n-m
	}
	return sent, nil
}

// sendfile sends n bytes of the file fd from offset off, waiting for the
// socket through the runtime's poller (and its write deadline).
func (c *clientConn) sendfile(fd int, off, n int64) (int64, error) {
	if c.raw == nil {
		raw, err := c.TCPConn.SyscallConn()
		if err != nil {
			return 0, fmt.Errorf("sendfile: %w", err)
		}
		c.raw, c.step = raw, c.sendfileStep
	}
	c.sfIn, c.sfOff, c.sfLeft, c.sfSent, c.sfErr = fd, off, n, 0, nil
	err := c.raw.Write(c.step)
	sent, serr := c.sfSent, c.sfErr
	c.sfErr = nil
	if serr != nil {
		err = os.NewSyscallError("sendfile", serr)
	}
	if err != nil {
		return sent, &net.OpError{Op: "sendfile", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return sent, nil
}

// sendfileStep is the raw connection's write callback: it sends until done,
// the file ends (sendfile sends 0 bytes) or an error, and returns false on
// EAGAIN so that the poller waits for the socket to take more.
func (c *clientConn) sendfileStep(out uintptr) bool {
	for c.sfLeft > 0 {
		m, err := syscall.Sendfile(int(out), c.sfIn, &c.sfOff, int(min(c.sfLeft, maxSendfile)))
		if m > 0 {
			c.sfSent += int64(m)
			c.sfLeft -= int64(m)
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return false
		case err != nil:
			c.sfErr = err
			return true
		case m == 0:
			return true // the file ended early
		}
	}
	return true
}

// Read implements net.Conn.
func (c *clientConn) Read(p []byte) (int, error) {
	if c.scan.mode == scanBad {
		return 0, errBareLF
	}
	n, err := c.TCPConn.Read(p)
	if c.scan.mode == scanHead && n > 0 {
		c.scan.feed(p[:n])
		if c.scan.mode == scanBad && c.scan.started {
			// A request's block ended badly: this read's bytes are not
			// handed on, as fasthttp would parse the bad block followed,
			// in the same bytes, by a CRLF one (two requests where a peer
			// insisting on CRLF sees one) before the next read could
			// fail. (Empty lines alone are handed on: fasthttp skips
			// them, and the next read fails.)
			return 0, errBareLF
		}
	}
	return n, err
}

// handled tells the connection that fasthttp parsed a request and called
// the handler: whatever its scan concluded about the bytes before, they made
// a request, and the next bytes to scan start a new one.
func (c *clientConn) handled() {
	// fasthttp reads nothing while a handler runs and writes its answer
	// into a buffer it flushes only when nothing more was read: whether
	// bytes past this request were read already (the next request's, or a
	// body not scanned) is whether this answer will wait in the buffer.
	c.handledN++
	c.holdNext = false // a hold not taken up by its response's header
	sc := &c.scan
	c.prevAhead, c.ahead = c.ahead, sc.ended > c.handledN || sc.mode != scanHead || sc.started || sc.blanks > 0 || sc.prev != 0
	if sc.mode != scanHead {
		*sc = headScan{ended: sc.ended}
	}
	c.rate = 0
}

// previousSent reports whether the answer to the connection's previous
// request has been handed to the connection whole (fasthttp flushed it
// before it read this request), so that bytes written now follow it: true
// for a connection's first request.
func (c *clientConn) previousSent() bool { return !c.prevAhead }

// Modes of a headScan.
const (
	scanHead = iota // scanning a request's header block
	scanBody        // the block announced a body: not scanned until the request is handled
	scanBad         // the block cannot end as fasthttp wants: the next Read fails
)

// headScan follows request header blocks as their bytes are read: the
// request line and header lines, each ended by CRLF (or bare LF), then an
// empty line. A block ends well with CRLF CRLF. It ends badly with an empty
// line that is not CRLF after a CRLF-ended line, or before it begins with a
// second empty line (RFC 9112 §2.2 asks a server to ignore at least one).
// Requests without a body (GET, HEAD: everything a player sends) follow each
// other, pipelined or not; the body of a request that announces one
// (Content-Length, Transfer-Encoding) is not scanned: scanning resumes when
// the request is handled.
type headScan struct {
	mode    uint8
	started bool // the request line has begun
	blanks  int  // empty lines before the request line
	prev    byte // the previous byte
	text    bool // the current line has a byte other than CR
	lines   int  // lines with text ended (the request line is the first)
	crlf    bool // the previous line ended with CRLF
	body    bool // a header line announced a body
	nameLen int  // bytes of the current line in name
	name    [len("transfer-encoding:")]byte
	ended   int // header blocks ended well on the connection so far (kept across blocks)
}

// feed scans b, the next bytes read.
func (s *headScan) feed(b []byte) {
	for _, ch := range b {
		switch ch {
		case '\n':
			bare := s.prev != '\r'
			switch {
			case s.text:
				s.lines++
				s.crlf = !bare
				s.body = s.body || s.announcesBody()
			case !s.started:
				if s.blanks++; s.blanks > 1 {
					s.mode = scanBad
					return
				}
			case bare || !s.crlf:
				s.mode = scanBad
				return
			case s.body:
				s.mode = scanBody
				s.ended++
				return
			default:
				*s = headScan{ended: s.ended + 1} // the next request's block
				continue
			}
			s.text, s.nameLen = false, 0
		case '\r':
		default:
			s.text, s.started = true, true
			if s.nameLen < len(s.name) {
				s.name[s.nameLen] = ch | 0x20 // ASCII lower case (':' and '-' are unchanged)
				s.nameLen++
			}
		}
		s.prev = ch
	}
}

// inRequestLine reports whether the bytes scanned so far begin a request
// line that has not ended: a request that overflows the read buffer in this
// state has a request line longer than the buffer.
func (s *headScan) inRequestLine() bool {
	return s.mode == scanHead && s.started && s.lines == 0
}

// announcesBody reports whether the line just ended is a Content-Length or
// Transfer-Encoding field.
func (s *headScan) announcesBody() bool {
	n := string(s.name[:s.nameLen])
	return n == "transfer-encoding:" || len(n) >= len("content-length:") && n[:len("content-length:")] == "content-length:"
}
