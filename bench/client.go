package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"edgecache/origin"
)

const (
	readBufSize   = 256 << 10 // body read buffer of a worker
	noCountHeader = "X-Origin-No-Count"
	userAgent     = "edgecache-bench"
)

// Ways to obtain the expected bytes (Config.OriginBytes).
const (
	OriginBytesCompute = "compute" // origin.FillContent
	OriginBytesFetch   = "fetch"   // GET from the origin with X-Origin-No-Count: 1
)

// client sends requests to one target over keep-alive connections. Its
// connections are tracked so that interrupt can abort every request in
// flight (fasthttp's Do takes no context).
type client struct {
	hc      *fasthttp.HostClient
	base    string // scheme://host:port
	timeout time.Duration
	conns   *connSet
}

// parseBase checks a target or origin URL: http or https, a host, no path
// (other than "/"), no query. It returns scheme://host[:port].
func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("bench: URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("bench: URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("bench: URL %q: no host", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("bench: URL %q: give only scheme://host[:port]", raw)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// newClient returns a client for the target at raw with room for maxConns
// connections. Dials use ctx.
func newClient(ctx context.Context, raw string, maxConns int, timeout time.Duration) (*client, error) {
	u, err := parseBase(raw)
	if err != nil {
		return nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	c := &client{base: u.String(), timeout: timeout, conns: &connSet{m: map[*trackedConn]struct{}{}}}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c.hc = &fasthttp.HostClient{
		Addr:                addr,
		IsTLS:               u.Scheme == "https",
		Name:                userAgent,
		MaxConns:            maxConns,
		MaxIdleConnDuration: 60 * time.Second,
		ReadBufferSize:      64 << 10,
		WriteBufferSize:     4 << 10,
		StreamResponseBody:  true,
		// One retry covers a keep-alive connection the server closed
		// while it was idle; body errors are never retried.
		MaxIdemponentCallAttempts:     2,
		DisableHeaderNamesNormalizing: false,
		Dial: func(addr string) (net.Conn, error) {
			nc, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return c.conns.add(nc)
		},
	}
	return c, nil
}

// interrupt closes every connection and refuses new ones: requests in
// flight fail at once. It is final.
func (c *client) interrupt() { c.conns.closeAll() }

// close releases idle connections.
func (c *client) close() { c.hc.CloseIdleConnections() }

// connSet tracks the open connections of a client.
type connSet struct {
	mu     sync.Mutex
	m      map[*trackedConn]struct{}
	closed bool
}

var errInterrupted = errors.New("bench: interrupted")

func (s *connSet) add(nc net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return nil, errInterrupted
	}
	tc := &trackedConn{Conn: nc, set: s}
	s.m[tc] = struct{}{}
	return tc, nil
}

func (s *connSet) remove(tc *trackedConn) {
	s.mu.Lock()
	delete(s.m, tc)
	s.mu.Unlock()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*trackedConn, 0, len(s.m))
	for tc := range s.m {
		conns = append(conns, tc)
	}
	s.mu.Unlock()
	for _, tc := range conns {
		tc.Close()
	}
}

// trackedConn removes itself from its set when closed.
type trackedConn struct {
	net.Conn
	set *connSet
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	c.set.remove(c)
	return c.Conn.Close()
}

// outcome is what one request produced.
type outcome struct {
	ttfb, total time.Duration // total excludes time spent verifying
	bytes       int64         // body bytes read
	hit         int8          // 1 hit, 0 not a hit, -1 no cache status header
	abandoned   bool          // read partially and closed on purpose
	verified    bool          // body bytes compared with the origin's
	err         error         // a counted error
	cancelled   bool          // cut short by the context: not counted at all
}

// worker issues requests on behalf of one player (or one replay slot). It
// is not safe for concurrent use.
type worker struct {
	c    *client
	ref  reference
	req  *fasthttp.Request
	resp *fasthttp.Response
	buf  []byte // body read buffer
	exp  []byte // expected bytes
	want []byte // scratch for the expected Content-Range
}

func newWorker(c *client, ref reference) *worker {
	return &worker{
		c:    c,
		ref:  ref,
		req:  fasthttp.AcquireRequest(),
		resp: fasthttp.AcquireResponse(),
		buf:  make([]byte, readBufSize),
		exp:  make([]byte, readBufSize),
	}
}

// release returns the worker's pooled objects.
func (w *worker) release() {
	fasthttp.ReleaseRequest(w.req)
	fasthttp.ReleaseResponse(w.resp)
}

// do performs rq; with verify the body bytes are compared with the origin's.
func (w *worker) do(ctx context.Context, rq Request, verify bool) (o outcome) {
	o.hit = -1
	fail := func(format string, args ...any) outcome {
		if ctx.Err() != nil {
			return outcome{cancelled: true}
		}
		o.err = fmt.Errorf("%v: "+format, append([]any{rq}, args...)...)
		return o
	}
	if verify {
		if err := w.ref.open(ctx, rq); err != nil {
			return fail("reference bytes: %w", err)
		}
		defer w.ref.close()
	}
	req, resp := w.req, w.resp
	req.Reset()
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI(w.c.base + rq.Path)
	if h := rq.RangeHeader(); h != "" {
		req.Header.Set("Range", h)
	}
	req.SetTimeout(w.c.timeout)

	start := time.Now()
	if err := w.c.hc.Do(req, resp); err != nil {
		return fail("%w", err)
	}
	defer resp.CloseBodyStream()
	o.hit = cacheHit(&resp.Header)
	if err := w.checkHeaders(rq, &resp.Header); err != nil {
		return fail("%w", err)
	}

	stream := resp.BodyStream()
	var (
		got   int64
		spent time.Duration // verifying
	)
	for stream != nil {
		if rq.Abandons() && got >= rq.Read {
			break
		}
		b := w.buf
		if rq.Abandons() {
			b = b[:min(int64(len(b)), rq.Read-got)]
		}
		n, err := stream.Read(b)
		if n > 0 {
			if got == 0 {
				o.ttfb = time.Since(start)
			}
			if got+int64(n) > rq.Len {
				o.bytes = got + int64(n)
				return fail("body longer than the %d bytes announced", rq.Len)
			}
			if verify {
				t0 := time.Now()
				if err := w.verify(rq, rq.Off+got, b[:n]); err != nil {
					o.bytes = got
					o.verified = true
					return fail("%w", err)
				}
				spent += time.Since(t0)
			}
			got += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			o.bytes = got
			return fail("after %d of %d body bytes: %w", got, rq.Len, err)
		}
	}
	o.bytes = got
	o.total = time.Since(start) - spent
	if got == 0 {
		o.ttfb = o.total
	}
	if rq.Abandons() {
		o.abandoned = true
	} else if got != rq.Len {
		return fail("body has %d bytes, want %d", got, rq.Len)
	}
	o.verified = verify
	return o
}

// checkHeaders checks the status, Content-Range and Content-Length of the
// answer to rq.
func (w *worker) checkHeaders(rq Request, h *fasthttp.ResponseHeader) error {
	cl := h.ContentLength() // -1 chunked, -2 identity without length
	if rq.Whole {
		if sc := h.StatusCode(); sc != fasthttp.StatusOK {
			return fmt.Errorf("status %d, want 200", sc)
		}
		if cl >= 0 && int64(cl) != rq.Size {
			return fmt.Errorf("Content-Length %d, want %d", cl, rq.Size)
		}
		return nil
	}
	if sc := h.StatusCode(); sc != fasthttp.StatusPartialContent {
		return fmt.Errorf("status %d, want 206", sc)
	}
	want := append(w.want[:0], "bytes "...)
	want = strconv.AppendInt(want, rq.Off, 10)
	want = append(want, '-')
	want = strconv.AppendInt(want, rq.Off+rq.Len-1, 10)
	want = append(want, '/')
	want = strconv.AppendInt(want, rq.Size, 10)
	w.want = want
	if cr := h.Peek("Content-Range"); !bytes.Equal(cr, want) {
		return fmt.Errorf("Content-Range %q, want %q", cr, want)
	}
	if cl >= 0 && int64(cl) != rq.Len {
		return fmt.Errorf("Content-Length %d, want %d", cl, rq.Len)
	}
	return nil
}

// verify compares p, the body bytes at object offset off, with the origin's.
func (w *worker) verify(rq Request, off int64, p []byte) error {
	exp := w.exp[:len(p)]
	if err := w.ref.fill(rq.Path, off, exp); err != nil {
		return fmt.Errorf("reference bytes: %w", err)
	}
	if bytes.Equal(p, exp) {
		return nil
	}
	i := 0
	for p[i] == exp[i] {
		i++
	}
	return fmt.Errorf("wrong bytes: object byte %d is 0x%02x, the origin's is 0x%02x", off+int64(i), p[i], exp[i])
}

// cacheHit classifies an answer: 1 if its Cache-Status (first member) has
// the hit parameter or its X-Cache (or nginx's X-Cache-Status) starts with
// HIT, 0 if one of them says
// otherwise, -1 if it carries neither.
func cacheHit(h *fasthttp.ResponseHeader) int8 {
	if v := h.Peek("Cache-Status"); len(v) > 0 {
		if cacheStatusHit(string(v)) {
			return 1
		}
		return 0
	}
	v := h.Peek("X-Cache")
	if len(v) == 0 {
		v = h.Peek("X-Cache-Status") // nginx's $upstream_cache_status, as ../shared/peers sets it
	}
	if len(v) > 0 {
		if len(v) >= 3 && bytes.EqualFold(v[:3], []byte("HIT")) {
			return 1
		}
		return 0
	}
	return -1
}

// cacheStatusHit reports whether the first member of a Cache-Status field
// value (RFC 9211) carries the hit parameter, e.g.
// "edgecache; hit; detail=mem".
func cacheStatusHit(v string) bool {
	params := splitOutsideQuotes(firstMember(v), ';')
	for _, p := range params[1:] { // params[0] names the cache
		name, val, _ := cutTrim(p, '=')
		if name == "hit" {
			return val == "" || val == "?1"
		}
	}
	return false
}

// firstMember returns the list member before the first comma outside a
// quoted string.
func firstMember(v string) string { return splitOutsideQuotes(v, ',')[0] }

// splitOutsideQuotes splits v at sep outside double-quoted strings.
func splitOutsideQuotes(v string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// cutTrim splits s at the first sep and trims spaces and tabs around both
// parts.
func cutTrim(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return trimOWS(s[:i]), trimOWS(s[i+1:]), true
		}
	}
	return trimOWS(s), "", false
}

// trimOWS removes leading and trailing optional whitespace (SP, HTAB).
func trimOWS(s string) string { return strings.Trim(s, " \t") }

// reference supplies the origin's bytes of verified requests.
type reference interface {
	// open prepares the expected bytes of rq (before rq is sent).
	open(ctx context.Context, rq Request) error
	// fill writes the expected bytes at object offset off into p; calls
	// after open are sequential over rq's body.
	fill(path string, off int64, p []byte) error
	// close ends what open started.
	close()
}

// computed computes the synthetic origin's bytes with origin.FillContent.
type computed struct{}

func (computed) open(context.Context, Request) error { return nil }
func (computed) fill(path string, off int64, p []byte) error {
	origin.FillContent(path, off, p)
	return nil
}
func (computed) close() {}

// fetched streams the expected bytes from the origin (header
// X-Origin-No-Count: 1, so the origin's counters are not polluted) in step
// with the target's answer.
type fetched struct {
	hc   *http.Client
	base string
	body io.ReadCloser
	next int64 // object offset of the next byte of body
}

func newFetched(hc *http.Client, base string) *fetched { return &fetched{hc: hc, base: base} }

func (f *fetched) open(ctx context.Context, rq Request) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+rq.Path, nil)
	if err != nil {
		return err
	}
	req.Header.Set(noCountHeader, "1")
	ranged := rq.Off != 0 || rq.Read != rq.Size
	if ranged {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(rq.Off, 10)+"-"+strconv.FormatInt(rq.Off+rq.Read-1, 10))
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return err
	}
	want := http.StatusOK
	if ranged {
		want = http.StatusPartialContent
	}
	if resp.StatusCode != want {
		resp.Body.Close()
		return fmt.Errorf("origin answered %s, want %d", resp.Status, want)
	}
	f.body, f.next = resp.Body, rq.Off
	return nil
}

func (f *fetched) fill(_ string, off int64, p []byte) error {
	if f.body == nil || off != f.next {
		return fmt.Errorf("out of step: offset %d, origin stream at %d", off, f.next)
	}
	n, err := io.ReadFull(f.body, p)
	f.next += int64(n)
	if err != nil {
		return fmt.Errorf("reading from the origin: %w", err)
	}
	return nil
}

func (f *fetched) close() {
	if f.body != nil {
		f.body.Close()
		f.body = nil
	}
}

// sampler decides which requests are verified: all, or a deterministic
// fraction.
type sampler struct {
	all  bool
	frac float64
	rng  *rand.Rand
}

func newSampler(all bool, frac float64, seed, stream uint64) *sampler {
	return &sampler{all: all, frac: frac, rng: rand.New(rand.NewPCG(seed, stream<<1|1))}
}

// next reports whether the next request is verified. It draws one number
// every time, so the choice does not depend on earlier outcomes.
func (s *sampler) next() bool {
	u := s.rng.Float64()
	return s.all || u < s.frac
}
