package server

import (
	"errors"
	"net"
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
// setting its send buffer and its unsent-bytes limit if asked to. A clientConn embeds the
// *net.TCPConn, so the connection's ReadFrom, which fasthttp's buffered
// writer calls with a disk chunk's *os.File, is the TCPConn's own and sends
// with sendfile(2): unlike a wrapper holding a net.Conn interface (such as
// fasthttp's MaxConnsPerIP), it keeps the zero-copy path.
type listener struct {
	net.Listener
	sendBuffer int // SO_SNDBUF in bytes; 0 leaves the kernel's autotuning
	sendLowat  int // TCP_NOTSENT_LOWAT in bytes; 0 leaves the kernel's default
}

// Accept implements net.Listener.
func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, err // not TCP (tests): served as is, without the guard
	}
	if l.sendBuffer > 0 {
		_ = tc.SetWriteBuffer(l.sendBuffer) // best effort: the kernel's default otherwise
	}
	if l.sendLowat > 0 {
		setNotSentLowat(tc, l.sendLowat) // best effort, as the send buffer
	}
	return &clientConn{TCPConn: tc}, err
}

// clientConn is a client connection that watches the request header bytes
// it reads for a header block fasthttp would wait on forever (see
// errBareLF). Everything but Read is the embedded TCPConn's. It is used by
// its connection's goroutine only, as fasthttp serves a connection.
type clientConn struct {
	*net.TCPConn
	scan headScan
}

// Read implements net.Conn.
func (c *clientConn) Read(p []byte) (int, error) {
	if c.scan.mode == scanBad {
		return 0, errBareLF
	}
	n, err := c.TCPConn.Read(p)
	if c.scan.mode == scanHead && n > 0 {
		c.scan.feed(p[:n])
	}
	return n, err
}

// handled tells the connection that fasthttp parsed a request and called
// the handler: whatever its scan concluded about the bytes before, they made
// a request, and the next bytes to scan start a new one.
func (c *clientConn) handled() {
	if c.scan.mode != scanHead {
		c.scan = headScan{}
	}
}

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
	crlf    bool // the previous line ended with CRLF
	body    bool // a header line announced a body
	nameLen int  // bytes of the current line in name
	name    [len("transfer-encoding:")]byte
}

// feed scans b, the next bytes read.
func (s *headScan) feed(b []byte) {
	for _, ch := range b {
		switch ch {
		case '\n':
			bare := s.prev != '\r'
			switch {
			case s.text:
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
				return
			default:
				*s = headScan{} // the next request's block
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

// announcesBody reports whether the line just ended is a Content-Length or
// Transfer-Encoding field.
func (s *headScan) announcesBody() bool {
	n := string(s.name[:s.nameLen])
	return n == "transfer-encoding:" || len(n) >= len("content-length:") && n[:len("content-length:")] == "content-length:"
}
