package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"edgecache/cache"
	"edgecache/origin"
)

// Options configure a Server. Zero fields take the documented defaults.
type Options struct {
	Name           string        // cache name in Cache-Status and Server; default "edgecache"
	MaxPathLength  int           // longest raw request path; default 4096
	KeyQueryParams []string      // query parameters that are part of the cache key
	MaxRanges      int           // more ranges than this get a plain 200; default 16
	MinSendRate    int64         // bytes/s a client must read at: write deadline = 10s + size/rate; default 64 KiB/s
	ReadTimeout    time.Duration // reading a request's headers; default 30s
	IdleTimeout    time.Duration // keep-alive idle; default 120s
	SendBuffer     int           // SO_SNDBUF of client connections in bytes; 0 leaves the kernel's autotuning
	Logger         *slog.Logger  // default slog.Default()
}

// Server answers GET and HEAD requests from a cache.Store.
type Server struct {
	store  *cache.Store
	opt    Options
	topt   TargetOptions
	log    *slog.Logger
	fs     *fasthttp.Server
	status struct{ hit, hitDisk, hitPartial, miss, stale, negHit, negMiss, originErr string }
}

// New returns a Server in front of store.
func New(store *cache.Store, opt Options) *Server {
	if opt.Name == "" {
		opt.Name = "edgecache"
	}
	if opt.MaxPathLength <= 0 {
		opt.MaxPathLength = 4096
	}
	if opt.MaxRanges <= 0 {
		opt.MaxRanges = 16
	}
	if opt.MinSendRate <= 0 {
		opt.MinSendRate = 64 << 10
	}
	if opt.ReadTimeout <= 0 {
		opt.ReadTimeout = 30 * time.Second
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 120 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	s := &Server{
		store: store,
		opt:   opt,
		topt:  TargetOptions{MaxPathLength: opt.MaxPathLength, KeyQueryParams: opt.KeyQueryParams},
		log:   opt.Logger,
	}
	n := opt.Name
	s.status.hit = n + "; hit; detail=mem"
	s.status.hitDisk = n + "; hit; detail=disk"
	s.status.hitPartial = n + "; fwd=partial; stored"
	s.status.miss = n + "; fwd=miss; stored"
	s.status.stale = n + "; fwd=stale; stored"
	s.status.negHit = n + "; hit; detail=negative"
	s.status.negMiss = n + "; fwd=miss; stored; detail=negative"
	s.status.originErr = n + "; fwd=miss; detail=origin-error"
	s.fs = &fasthttp.Server{
		Handler:        s.Handle,
		Name:           opt.Name,
		ReadTimeout:    opt.ReadTimeout,
		IdleTimeout:    opt.IdleTimeout,
		ReadBufferSize: opt.MaxPathLength + 8192,
		// Headers plus a small object leave in one write(2).
		WriteBufferSize:               32 << 10,
		MaxRequestBodySize:            64 << 10,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		CloseOnShutdown:               true,
		DisableHeaderNamesNormalizing: false,
		Logger:                        fasthttpLogger{opt.Logger},
	}
	return s
}

// Serve accepts connections on ln until Shutdown. Keep ln a plain TCP
// listener: wrapping it disables sendfile.
func (s *Server) Serve(ln net.Listener) error {
	if s.opt.SendBuffer > 0 {
		ln = sendBufferListener{ln, s.opt.SendBuffer}
	}
	return s.fs.Serve(ln)
}

// sendBufferListener sets the send buffer of every accepted TCP connection
// and hands the *net.TCPConn itself on (a wrapped connection would lose
// sendfile). A small send buffer keeps the TCP transmit work of a response
// on the server's CPU at write time, instead of leaving most of it to run
// from the client's ACKs: measured on loopback with the peers benchmark,
// 64–256 KiB raised HIT-1M from about 1350 to about 1800 req/s.
type sendBufferListener struct {
	net.Listener
	size int
}

func (l sendBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size) // best effort: the kernel's default otherwise
	}
	return c, err
}

// Shutdown stops accepting connections and waits for the responses in
// progress to finish or ctx to end.
func (s *Server) Shutdown(ctx context.Context) error { return s.fs.ShutdownWithContext(ctx) }

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...), "component", "http")
}

var (
	methodGet  = []byte(http.MethodGet)
	methodHead = []byte(http.MethodHead)
)

// b2s views b as a string without copying; only for use within the handler.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Handle answers one request. It is the fasthttp handler of the content
// listener.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	// Header names below are written canonically ("ETag", not "Etag").
	ctx.Response.Header.DisableNormalizing()
	m := ctx.Method()
	head := bytes.Equal(m, methodHead)
	if !head && !bytes.Equal(m, methodGet) {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		s.plain(ctx, http.StatusMethodNotAllowed, "method not allowed: only GET and HEAD")
		return
	}
	target, err := NormalizeTarget(b2s(ctx.Request.Header.RequestURI()), s.topt)
	if err != nil {
		s.plain(ctx, http.StatusBadRequest, err.Error())
		return
	}
	// target may view the request buffer, which fasthttp reuses for the
	// connection's next request: the cache gets an owned copy.
	key := cache.NewKey(target)

	var specBuf [4]RangeSpec
	var specs []RangeSpec
	rangeHdr := ctx.Request.Header.Peek("Range")
	at := int64(0)
	if len(rangeHdr) > 0 {
		specs, err = ParseRangeSpecs(specBuf[:0], b2s(rangeHdr), s.opt.MaxRanges)
		if err != nil {
			specs = nil // invalid or too many: ignore Range, answer 200
		} else if first, ok := FirstByte(specs); ok {
			at = first
		} else {
			at = -1
		}
	}

	meta, st, err := s.store.Lookup(ctx, key, at)
	if err != nil {
		s.originError(ctx, key.String(), st, err)
		return
	}
	h := &ctx.Response.Header
	s.setValidators(h, meta)

	switch Evaluate(conditions(&ctx.Request.Header), Validators{ETag: meta.ETag, LastModified: meta.LastModified}) {
	case OutcomeNotModified:
		h.Set("Cache-Status", s.lookupStatus(st, 1, 0, 1))
		ctx.SetStatusCode(http.StatusNotModified)
		return
	case OutcomePreconditionFailed:
		h.Set("Cache-Status", s.lookupStatus(st, 1, 0, 1))
		s.plain(ctx, http.StatusPreconditionFailed, "precondition failed")
		return
	}
	if meta.ContentType != "" {
		h.SetContentType(meta.ContentType)
	}

	var rangeBuf [4]ByteRange
	var ranges []ByteRange
	if specs != nil && RangeAllowed(b2s(ctx.Request.Header.Peek("If-Range")), Validators{ETag: meta.ETag, LastModified: meta.LastModified}) {
		ranges, err = Resolve(rangeBuf[:0], specs, meta.Size)
		if err != nil {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(meta.Size, 10))
			h.Set("Cache-Status", s.lookupStatus(st, 1, 0, 1))
			s.plain(ctx, http.StatusRequestedRangeNotSatisfiable, "range not satisfiable")
			return
		}
		if len(ranges) > 1 && SumLength(ranges) > meta.Size {
			ranges = nil // asking for more than the object: send it once (as net/http does)
		}
	}

	switch len(ranges) {
	case 0:
		s.single(ctx, meta, st, head, http.StatusOK, 0, meta.Size)
	case 1:
		var cr [64]byte
		b := append(cr[:0], "bytes "...)
		b = strconv.AppendInt(b, ranges[0].Start, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, ranges[0].Start+ranges[0].Length-1, 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, meta.Size, 10)
		h.SetBytesV("Content-Range", b)
		s.single(ctx, meta, st, head, http.StatusPartialContent, ranges[0].Start, ranges[0].Length)
	default:
		s.multipart(ctx, meta, st, head, ranges)
	}
}

// single answers with one span of the object as the body.
func (s *Server) single(ctx *fasthttp.RequestCtx, meta *cache.Meta, st cache.Status, head bool, code int, off, n int64) {
	ctx.SetStatusCode(code)
	if head || n == 0 {
		inMem, onDisk, total := s.store.Residency(meta, off, n)
		ctx.Response.Header.Set("Cache-Status", s.lookupStatus(st, inMem, onDisk, total))
		ctx.Response.Header.SetContentLength(int(n))
		return
	}
	// The Reader holds the chunks it counts, so the Cache-Status says
	// where the bytes it sends come from, not where they were a moment ago.
	r := s.store.NewReader(meta, off, n)
	inMem, onDisk, total := r.Pin(cache.PinChunks)
	ctx.Response.Header.Set("Cache-Status", s.lookupStatus(st, inMem, onDisk, total))
	s.deadline(ctx, n)
	if inMem+onDisk < total {
		ctx.Response.ImmediateHeaderFlush = true // a miss: let the player see headers while bytes arrive
	}
	ctx.SetBodyStream(r, int(n))
}

// deadline gives the response time to be written at the minimum send rate.
func (s *Server) deadline(ctx *fasthttp.RequestCtx, n int64) {
	d := 10*time.Second + time.Duration(n/s.opt.MinSendRate)*time.Second
	_ = ctx.SetWriteDeadline(time.Now().Add(d))
}

// setValidators sets the headers every answer about a known object carries.
func (s *Server) setValidators(h *fasthttp.ResponseHeader, meta *cache.Meta) {
	h.Set("Accept-Ranges", "bytes")
	if meta.ETag != "" {
		h.Set("ETag", meta.ETag)
	}
	var buf [40]byte
	if !meta.LastModified.IsZero() {
		h.SetBytesV("Last-Modified", fasthttp.AppendHTTPDate(buf[:0], meta.LastModified))
	}
	age := int64(time.Since(meta.FetchedAt) / time.Second)
	h.SetBytesV("Age", strconv.AppendInt(buf[:0], max(age, 0), 10))
}

// lookupStatus is the Cache-Status value for an answer built from total
// chunks, inMem of them held in memory and onDisk only on disk.
func (s *Server) lookupStatus(st cache.Status, inMem, onDisk, total int) string {
	switch {
	case st == cache.Revalidated:
		return s.status.stale
	case st == cache.Miss:
		return s.status.miss
	case inMem+onDisk < total:
		return s.status.hitPartial
	case onDisk > 0:
		return s.status.hitDisk
	}
	return s.status.hit
}

// originError answers a request whose object the origin could not provide.
func (s *Server) originError(ctx *fasthttp.RequestCtx, key string, st cache.Status, err error) {
	var se *origin.StatusError
	var te interface{ Timeout() bool }
	switch {
	case errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusGone):
		if st == cache.Hit {
			ctx.Response.Header.Set("Cache-Status", s.status.negHit)
		} else {
			ctx.Response.Header.Set("Cache-Status", s.status.negMiss)
		}
		s.plain(ctx, se.Code, http.StatusText(se.Code))
		return
	case !(errors.As(err, &te) && te.Timeout()) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// The fetch was cancelled by the daemon, not timed out by the origin.
		s.plain(ctx, http.StatusServiceUnavailable, "shutting down")
		return
	}
	ctx.Response.Header.Set("Cache-Status", s.status.originErr)
	code, msg := http.StatusBadGateway, "bad gateway: origin unreachable or invalid answer"
	switch {
	case errors.As(err, &te) && te.Timeout():
		code, msg = http.StatusGatewayTimeout, "gateway timeout: origin did not answer in time"
	case se != nil:
		msg = "bad gateway: origin answered " + strconv.Itoa(se.Code)
	}
	s.log.Warn("origin fetch failed", "key", key, "status", code, "err", err)
	s.plain(ctx, code, msg)
}

// plain answers with a one-line text body.
func (s *Server) plain(ctx *fasthttp.RequestCtx, code int, msg string) {
	ctx.SetStatusCode(code)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg + "\n")
}

func conditions(h *fasthttp.RequestHeader) Conditions {
	return Conditions{
		IfMatch:           b2s(h.Peek("If-Match")),
		IfNoneMatch:       b2s(h.Peek("If-None-Match")),
		IfModifiedSince:   b2s(h.Peek("If-Modified-Since")),
		IfUnmodifiedSince: b2s(h.Peek("If-Unmodified-Since")),
	}
}

// multipart answers with several ranges as multipart/byteranges.
func (s *Server) multipart(ctx *fasthttp.RequestCtx, meta *cache.Meta, st cache.Status, head bool, ranges []ByteRange) {
	boundary := fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
	ct := meta.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	body := &multipartBody{store: s.store, meta: meta}
	inMem, onDisk, total := 0, 0, 0
	var size int64
	for i, r := range ranges {
		var hdr string
		if i > 0 {
			hdr = "\r\n"
		}
		hdr += fmt.Sprintf("--%s\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n",
			boundary, ct, r.Start, r.Start+r.Length-1, meta.Size)
		body.parts = append(body.parts, part{header: hdr, off: r.Start, n: r.Length})
		size += int64(len(hdr)) + r.Length
		m, d, t := s.store.Residency(meta, r.Start, r.Length)
		inMem, onDisk, total = inMem+m, onDisk+d, total+t
	}
	body.trailer = "\r\n--" + boundary + "--\r\n"
	size += int64(len(body.trailer))

	ctx.Response.Header.Set("Cache-Status", s.lookupStatus(st, inMem, onDisk, total))
	ctx.Response.Header.SetContentType("multipart/byteranges; boundary=" + boundary)
	ctx.SetStatusCode(http.StatusPartialContent)
	if head {
		ctx.Response.Header.SetContentLength(int(size))
		return
	}
	s.deadline(ctx, size)
	ctx.SetBodyStream(body, int(size))
}

type part struct {
	header string
	off, n int64
}

// multipartBody streams the parts of a multipart/byteranges answer.
type multipartBody struct {
	store   *cache.Store
	meta    *cache.Meta
	parts   []part
	trailer string
	r       io.Reader // Read's current piece
	i       int       // Read's next piece: 2 per part, then the trailer
}

// WriteTo writes every part to w.
func (b *multipartBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, p := range b.parts {
		n, err := io.WriteString(w, p.header)
		total += int64(n)
		if err != nil {
			return total, err
		}
		r := b.store.NewReader(b.meta, p.off, p.n)
		m, err := r.WriteTo(w)
		r.Close()
		total += m
		if err != nil {
			return total, err
		}
	}
	n, err := io.WriteString(w, b.trailer)
	return total + int64(n), err
}

// Read implements io.Reader for writers that do not use WriteTo.
func (b *multipartBody) Read(p []byte) (int, error) {
	for {
		if b.r != nil {
			n, err := b.r.Read(p)
			if err != io.EOF {
				return n, err
			}
			if c, ok := b.r.(io.Closer); ok {
				c.Close()
			}
			b.r = nil
			if n > 0 {
				return n, nil
			}
		}
		switch {
		case b.i < 2*len(b.parts) && b.i%2 == 0:
			b.r = bytes.NewReader([]byte(b.parts[b.i/2].header))
		case b.i < 2*len(b.parts):
			pt := b.parts[b.i/2]
			b.r = b.store.NewReader(b.meta, pt.off, pt.n)
		case b.i == 2*len(b.parts):
			b.r = bytes.NewReader([]byte(b.trailer))
		default:
			return 0, io.EOF
		}
		b.i++
	}
}

// Close releases a reader left open by Read.
func (b *multipartBody) Close() error {
	if c, ok := b.r.(io.Closer); ok {
		c.Close()
	}
	b.r = nil
	return nil
}
