package server

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"edgecache/cache"
	"edgecache/meter"
	"edgecache/origin"
	"edgecache/ratelog"
	"edgecache/rfc9111"
)

// Options configure a Server. Zero fields take the documented defaults.
type Options struct {
	Name           string        // cache name in Cache-Status and Server; default "edgecache"
	MaxPathLength  int           // longest raw request path; default 4096
	KeyQueryParams []string      // if set, the only query parameters that are part of the cache key
	MaxRanges      int           // more ranges than this get a plain 200; default 16
	MinSendRate    int64         // bytes/s a client must read at: write deadline = 10s + size/rate; default 64 KiB/s
	ReadTimeout    time.Duration // reading a request's headers; default 30s
	IdleTimeout    time.Duration // keep-alive idle; default 120s
	SendBuffer     int           // SO_SNDBUF of client connections in bytes; 0 leaves the kernel's autotuning
	SendLowat      int           // TCP_NOTSENT_LOWAT of client connections in bytes (Linux); 0 leaves the kernel's default
	Logger         *slog.Logger  // default slog.Default()

	// KeyIgnoreQueryParams names query parameters that are not part of the
	// cache key, nor of the origin request built from it (signed-URL
	// tokens); see TargetOptions.
	KeyIgnoreQueryParams []string

	// MaxConnections caps the client connections served at once, idle
	// keep-alive ones included; one more is answered 503 and closed at
	// accept (fasthttp's Server.Concurrency, which wraps nothing, so sendfile
	// is kept). Default 10000: each connection costs a goroutine and read and
	// write buffers (about 50 KiB while a request is served, MaxPathLength +
	// 8 KiB + 32 KiB), so 10000 bound that memory near 500 MiB, while 10000
	// players at a few Mbit/s each are already more than a 10-25 Gbit/s box
	// can stream. The process's open-file limit must allow it (RLIMIT_NOFILE
	// above MaxConnections + disk chunk files + origin connections).
	MaxConnections int
	// MaxConnectionsPerIP is Limits.MaxConnectionsPerIP at start (0: its
	// default, DefaultMaxConnectionsPerIP; negative: no cap).
	MaxConnectionsPerIP int
	// AccessLog, if not nil, gets one line per answer once its body is
	// sent. The Server does not close it.
	AccessLog *AccessLog
	// MaxRangeFetchChunks bounds what a multi-range request may cost the
	// origin in chunks: when its parts need more chunks than this that no
	// tier holds, the parts that need them are fetched from the origin as
	// their exact bytes, not stored (cache.Store.Direct), instead of as
	// whole chunks. Default 4: a multi-range request then never pulls more
	// than about 4 chunks (1 MiB at the default chunk size) for bytes it may
	// not need, as many as a typical single-range media request fills,
	// while ranges clustered in a few chunks still fill the cache for the
	// next player. Negative: no bound (always through the chunks).
	MaxRangeFetchChunks int
	// Via is this box's pseudonym in the Via field of its upstream
	// requests (origin.PoolOptions.Via): a request whose Via names it has
	// gone round a loop of caches and is answered 508 Loop Detected. "":
	// no check.
	Via string
}

// Defaults of Options.
const (
	DefaultMaxConnections      = 10000
	DefaultMaxRangeFetchChunks = 4
)

// PanicLogMessage is the message of the ERROR line a Server logs when it
// recovers a panic (in its handler, in a response body, or one fasthttp
// recovered while writing a body), with the panic value and, where it is
// known, the stack. Tests fail on it.
const PanicLogMessage = "recovered panic"

// warnInterval is how often one cause of a warning is logged at most; the
// lines suppressed meanwhile are counted in the next one.
const warnInterval = 10 * time.Second

// Server answers GET and HEAD requests from a cache.Store.
type Server struct {
	limits atomic.Pointer[Limits]   // see SetLimits
	proto  *fasthttp.ResponseHeader // see headerPrototype
	store  *cache.Store
	opt    Options
	topt   TargetOptions
	log    *slog.Logger
	fs     *fasthttp.Server

	// testLead, if set (by tests, before the server serves), is called
	// with the body bytes of every lead sent (see leadBytes).
	testLead func(body int64)

	status struct {
		hit, hitDisk, hitPartial, miss, pass, stale, negHit, negMiss, originErr string
		staleWhileRevalidate, staleIfError                                      string
	}

	counters counters // per-request metrics (see Metrics)

	warn *ratelog.Limiter // repeated warnings and errors, per cause
	// writeGrace is the time any write has, beyond its bytes at
	// MinSendRate: baseWriteTimeout (tests shorten it).
	writeGrace    time.Duration
	panics        atomic.Int64       // panics recovered
	ips           *ipConns           // open connections per client address
	perIPRejected atomic.Int64       // connections refused by MaxConnectionsPerIP
	ctx           context.Context    // direct origin fetches run under it; ended by Shutdown
	cancel        context.CancelFunc //
}

// Limits are the request limits a running Server can change (a
// configuration reload): the Options fields of the same names.
type Limits struct {
	MaxRanges           int
	MinSendRate         int64
	MaxRangeFetchChunks int
	// MaxConnectionsPerIP caps the connections open at once from one
	// client address (an IPv4 address, or an IPv6 /64); past it a new
	// connection is answered 429 and closed before its request is read.
	// Default DefaultMaxConnectionsPerIP; negative: no cap. A change
	// applies to connections accepted after it.
	MaxConnectionsPerIP int
}

// SetLimits makes l the Server's limits from the next request on. Zero
// fields take the defaults, as in Options.
func (s *Server) SetLimits(l Limits) {
	if l.MaxRanges <= 0 {
		l.MaxRanges = 16
	}
	if l.MinSendRate <= 0 {
		l.MinSendRate = 64 << 10
	}
	if l.MaxRangeFetchChunks == 0 {
		l.MaxRangeFetchChunks = DefaultMaxRangeFetchChunks
	}
	if l.MaxConnectionsPerIP == 0 {
		l.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	s.limits.Store(&l)
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
	if opt.MaxConnections <= 0 {
		opt.MaxConnections = DefaultMaxConnections
	}
	if opt.MaxRangeFetchChunks == 0 {
		opt.MaxRangeFetchChunks = DefaultMaxRangeFetchChunks
	}
	s := &Server{
		store: store,
		opt:   opt,
		topt:  TargetOptions{MaxPathLength: opt.MaxPathLength, KeyQueryParams: opt.KeyQueryParams, KeyIgnoreQueryParams: opt.KeyIgnoreQueryParams},
		log:   opt.Logger,
		warn:  ratelog.New(opt.Logger, warnInterval),

		writeGrace: baseWriteTimeout,
		ips:        newIPConns(),
	}
	s.SetLimits(Limits{MaxRanges: opt.MaxRanges, MinSendRate: opt.MinSendRate, MaxRangeFetchChunks: opt.MaxRangeFetchChunks,
		MaxConnectionsPerIP: opt.MaxConnectionsPerIP})
	if p, err := headerPrototype(opt.Name); err != nil {
		s.log.Error("answers will carry this server's Date, not the origin's", "err", err)
		s.proto = &fasthttp.ResponseHeader{} // a plain header: fasthttp sends its own Date
		s.proto.SetServer(opt.Name)
	} else {
		s.proto = p
	}
	s.counters.ttfb = meter.NewHistogram(meter.LatencyBuckets)
	s.counters.duration = meter.NewHistogram(meter.LatencyBuckets)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	n := opt.Name
	s.status.hit = n + "; hit; detail=mem"
	s.status.hitDisk = n + "; hit; detail=disk"
	s.status.hitPartial = n + "; fwd=partial; stored"
	s.status.miss = n + "; fwd=miss; stored"
	s.status.pass = n + "; fwd=miss"
	s.status.stale = n + "; fwd=stale; stored"
	s.status.staleWhileRevalidate = n + "; hit; detail=stale-while-revalidate"
	s.status.staleIfError = n + "; fwd=stale; detail=stale-if-error"
	s.status.negHit = n + "; hit; detail=negative"
	s.status.negMiss = n + "; fwd=miss; stored; detail=negative"
	s.status.originErr = n + "; fwd=miss; detail=origin-error"
	s.fs = &fasthttp.Server{
		Handler:        s.Handle,
		ErrorHandler:   s.requestError,
		Name:           opt.Name,
		Concurrency:    opt.MaxConnections,
		ReadTimeout:    opt.ReadTimeout,
		IdleTimeout:    opt.IdleTimeout,
		WriteTimeout:   baseWriteTimeout, // see deadline
		ReadBufferSize: opt.MaxPathLength + 8192,
		// Headers plus an object of up to about 7 KiB leave in one
		// write(2). A larger body is written from the chunk's memory
		// straight to the socket, except the part that tops up the
		// buffer behind the headers: bufio copies that much of every
		// body. At 32 KiB that copy was 8% of the CPU of a 256 KiB range
		// hit (perf, RANGE-256K); at 8 KiB it is 3.4% (srv_us 65 -> 53
		// and 74 -> 64 in two runs, HIT-1M and SMALL-4K unchanged).
		WriteBufferSize:    8 << 10,
		MaxRequestBodySize: maxRequestBody,
		// A body announced past the limit with Expect: 100-continue gets
		// 417 at once instead of 100 Continue and then 413.
		ContinueHandler:               func(h *fasthttp.RequestHeader) bool { return h.ContentLength() <= maxRequestBody },
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		CloseOnShutdown:               true,
		DisableHeaderNamesNormalizing: false,
		Logger:                        fasthttpLogger{s},
	}
	return s
}

// Serve accepts connections on ln until Shutdown. Keep ln a plain TCP
// listener: wrapping it disables sendfile. Serve hands each accepted
// *net.TCPConn to fasthttp embedded in a clientConn (see listener), which
// keeps sendfile, sets the send buffer and answers a header block with bare
// LF line ends at once.
func (s *Server) Serve(ln net.Listener) error {
	return s.fs.Serve(listener{ln, s, s.opt.SendBuffer, s.opt.SendLowat})
}

// Shutdown stops accepting connections and waits for the responses in
// progress to finish or ctx to end; then it cancels the origin fetches of
// responses still under way.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.fs.ShutdownWithContext(ctx)
	s.cancel()
	return err
}

// RecoveredPanics returns how many panics the Server has recovered: in its
// handler, in a response body, or (reported through fasthttp's Logger) while
// fasthttp wrote a body. Each is logged at ERROR as PanicLogMessage.
func (s *Server) RecoveredPanics() int64 { return s.panics.Load() }

// RejectedConnections returns how many connections were answered 503 and
// closed because MaxConnections were being served.
func (s *Server) RejectedConnections() int64 { return int64(s.fs.GetRejectedConnectionsCount()) }

// RejectedPerIP returns how many connections were answered 429 and closed
// because their client address had Limits.MaxConnectionsPerIP open.
func (s *Server) RejectedPerIP() int64 { return s.perIPRejected.Load() }

// logPanic counts a recovered panic and logs it at ERROR: at most one line
// per place per warnInterval, so a panic on every request cannot flood the
// log (the count is exact, and the next line says how many were not logged).
func (s *Server) logPanic(where string, v any, stack []byte) {
	s.panics.Add(1)
	st := "unavailable (recovered by fasthttp)"
	if stack != nil {
		st = string(stack)
	}
	s.warn.Log(slog.LevelError, "panic "+where, PanicLogMessage,
		"component", "http", "where", where, "panic", fmt.Sprint(v), "stack", st)
}

// maxRequestBody is the largest request body read (GET and HEAD have
// none worth reading; other methods get 405).
const maxRequestBody = 64 << 10

// recoverHandler, deferred by Handle, turns a panic in the handler into a
// logged, counted 500 that closes the connection. Nothing has been sent when
// the handler runs (fasthttp writes the response after it returns), so the
// answer is always a whole 500.
func (s *Server) recoverHandler(ctx *fasthttp.RequestCtx) {
	v := recover()
	if v == nil {
		return
	}
	s.logPanic("handler", v, debug.Stack())
	ctx.Response.Reset() // closes a body stream already set
	ctx.SetConnectionClose()
	s.plain(ctx, http.StatusInternalServerError, "internal server error")
}

// requestError is fasthttp's ErrorHandler: the answer to a request it could
// not read, counted and access-logged as any answer (method "-" in the
// log, OTHER in the metrics). The connection is closed after it. A request that does not fit
// the read buffer gets 414 when its request line alone does not (the
// target is too long, as nginx answers), else 431.
func (s *Server) requestError(ctx *fasthttp.RequestCtx, err error) {
	c, _ := ctx.Conn().(*clientConn) // nil when not TCP (tests)
	if c != nil {
		c.linger.Store(true) // the rest of the request may be on its way: see clientConn.Close
	}
	var small *fasthttp.ErrSmallBuffer
	var te interface{ Timeout() bool }
	switch {
	case errors.Is(err, errBareLF):
		s.plain(ctx, http.StatusBadRequest, "bad request: header lines must end with CRLF")
	case errors.As(err, &small):
		if c != nil && c.scan.inRequestLine() {
			s.plain(ctx, http.StatusRequestURITooLong, "request line too long")
			break
		}
		s.plain(ctx, http.StatusRequestHeaderFieldsTooLarge, "request header too large")
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.plain(ctx, http.StatusRequestEntityTooLarge, "request body too large")
	case errors.As(err, &te) && te.Timeout():
		s.plain(ctx, http.StatusRequestTimeout, "request timeout")
	default:
		s.plain(ctx, http.StatusBadRequest, "bad request: malformed request")
	}
	// Counted and logged as any answer (method OTHER: the request was not
	// read), so that malformed requests and slow clients show up.
	x := exchange{start: ctx.Time(), method: methodIdxOther, status: ctx.Response.StatusCode()}
	if x.start.IsZero() {
		x.start = time.Now()
	}
	if s.opt.AccessLog != nil {
		x.rawMethod = "-"
		x.client = clientAddr(ctx)
	}
	s.finish(&x, int64(len(ctx.Response.Body())))
}

// fasthttpLogger takes fasthttp's log lines: a panic it recovered while
// writing a body is an error (logged and counted as a recovered panic); the
// connection limit being reached is a warning; the rest (connection errors
// of clients) is debug.
type fasthttpLogger struct{ s *Server }

// Printf implements fasthttp.Logger.
func (f fasthttpLogger) Printf(format string, args ...any) {
	for _, a := range args {
		var p *fasthttp.ErrBodyStreamWritePanic
		if err, ok := a.(error); ok && errors.As(err, &p) {
			f.s.logPanic("fasthttp body writer", p.Error(), nil)
			return
		}
	}
	if strings.HasPrefix(format, "The incoming connection cannot be served") {
		f.s.warn.Log(slog.LevelWarn, "max connections", "connection limit reached: new connections get 503",
			"component", "http", "max_connections", f.s.opt.MaxConnections)
		return
	}
	f.s.log.Debug(fmt.Sprintf(format, args...), "component", "http")
}

// bodyStream is what the Server hands fasthttp as a response body.
type bodyStream interface {
	io.ReadCloser
	io.WriterTo
	// Served returns the payload bytes served so far by where they came
	// from (see cache.Reader.Served); called before Close.
	Served() (memory, disk, origin int64)
}

// safeBody runs a response body's WriteTo, Read and Close under a deferred
// recover, so a panic there is logged with its stack and counted, and the
// response fails like any broken body (the connection is closed). Without
// it fasthttp recovers such a panic itself but loses the stack. WriteTo
// hands the connection's writer straight to the body: a disk chunk still
// goes out with sendfile.
type safeBody struct {
	s       *Server
	r       bodyStream
	c       *clientConn // the client connection, if the response has one to itself; else nil
	held    bool        // c holds the response's header for the body's first bytes (heldBody)
	lead    bool        // the body's first bytes go out on c as a lead (see leadBytes)
	x       exchange    // the request's record, finished by Close
	started bool        // fasthttp asked for the first bytes
	written int64       // bytes handed to the connection
}

var safeBodies = sync.Pool{New: func() any { return new(safeBody) }}

// guard returns r under a safeBody; fasthttp closes it after the response.
// The safeBody takes over x: it finishes the request's record when the body
// is closed (see streamed).
func (s *Server) guard(ctx *fasthttp.RequestCtx, r bodyStream, x *exchange) *safeBody {
	b := safeBodies.Get().(*safeBody)
	b.s, b.r = s, r
	b.streamed(ctx, x)
	return b
}

// recovered, deferred, turns a panic into *err.
func (b *safeBody) recovered(err *error) {
	if v := recover(); v != nil {
		b.s.logPanic("body", v, debug.Stack())
		*err = fmt.Errorf("panic in response body: %v", v)
	}
}

// heldBody is a body whose first bytes may be held in memory (a
// cache.Reader): they go out with the response's header in one writev(2)
// (clientConn.hold).
type heldBody interface {
	// Held appends the body's next bytes held in memory, up to limit, to
	// dst without consuming them; they stay valid until Discard.
	Held(dst [][]byte, limit int64) [][]byte
	// Discard consumes n bytes that Held returned.
	Discard(n int64)
}

// heldMax is the most bytes of a body one writeHeld sends. Each send has
// its own write deadline (min_send_rate: 10 s plus 16 s at 64 KiB/s for
// 1 MiB), so a client that stops reading is cut off within about that,
// not after a deadline for the megabytes a Reader pins. 1 MiB, not less:
// a 1 MiB hit in two sends of 512 KiB cost about 5% more CPU (srv_us
// 246-279 against 235-263, two alternating runs).
const heldMax = 1 << 20

// leadBytes is the most bytes of a large body (leadMin and longer) that
// go out first, on their own, after which the goroutine writing the
// response yields (runtime.Gosched): other responses ready to start then
// send their own header and lead before this one sends its bulk, and a
// client reading many responses at once finds each one's first bytes
// before the bulk of any. Without it, each response's first send filled
// its socket, and later responses' first bytes waited behind earlier ones'
// bulk. Measured with the peers harness's COLLAPSE client (100 clients
// asking at once for one 8 MiB object) against two daemons side by side,
// alternating, 15 rounds each, median time to the first body byte: hits
// from memory 62 ms without, 27 ms with a lead; misses 65 and 48 ms;
// misses with a disk tier 74 and 37 ms. A lead of 4 KiB did better than
// 16 or 64 KiB (30-36 and 38 ms on memory hits).
const leadBytes = 4 << 10

// leadMin is the shortest body sent with a lead (see leadBytes): a lead
// costs a send and a yield more, which a 1 MiB hit felt (HIT-1M with
// leads from 64 KiB: 229-383 µs of server CPU per response against
// 208-247 µs, three alternating runs each); 8 MiB hits did not (2065-2390
// µs with, 2013-2423 without).
const leadMin = 2 << 20

// WriteTo implements io.WriterTo. When the connection holds the response's
// header (b.held), the header and the body's bytes held in memory go first,
// together, and the body's next bytes in memory one writev(2) at a time;
// the body's WriteTo sends the rest. A large body's first bytes go out as
// a lead (b.lead, see leadBytes).
func (b *safeBody) WriteTo(w io.Writer) (n int64, err error) {
	defer b.recovered(&err)
	b.first()
	c, lead := b.c, b.lead
	if b.held {
		h := b.r.(heldBody)
		limit := int64(heldMax)
		if lead {
			limit = leadBytes
		}
		for {
			c.bufs = h.Held(c.bufs[:0], limit)
			if len(c.bufs) == 0 && len(c.held) == 0 {
				break
			}
			k, err := c.writeHeld()
			h.Discard(k)
			n += k
			b.written += k
			if err != nil {
				return n, err
			}
			if k == 0 {
				break // only the header was held
			}
			if lead {
				lead, limit = false, heldMax
				c.leadSent(k)
			}
		}
	}
	if lead {
		// The body's first bytes come from the reader's own sends.
		c.lead = leadBytes
		defer func() { c.lead = 0 }()
	}
	m, err := b.r.WriteTo(w)
	b.written += m
	return n + m, err
}

// Read implements io.Reader.
func (b *safeBody) Read(p []byte) (n int, err error) {
	defer b.recovered(&err)
	b.first()
	n, err = b.r.Read(p)
	b.written += int64(n)
	return n, err
}

// Close implements io.Closer and returns b to its pool.
func (b *safeBody) Close() (err error) {
	defer func() {
		b.s.finish(&b.x, b.written)
		*b = safeBody{}
		safeBodies.Put(b)
	}()
	defer b.recovered(&err)
	if b.held {
		// A response reset (or cut) before its body was written: its
		// hold ends here, and a header held goes out, so that neither
		// waits for the connection's next write.
		_ = b.c.flushHeld()
	}
	m, d, o := b.r.Served()
	b.x.served, b.x.exact = [NumTiers]int64{TierMemory: m, TierDisk: d, TierOrigin: o}, true
	return b.r.Close()
}

var (
	methodGet  = []byte(http.MethodGet)
	methodHead = []byte(http.MethodHead)
	methodOpts = []byte(http.MethodOptions)
)

var protoHTTP11 = []byte("HTTP/1.1")

// unsupportedVersion reports whether proto, a request line's HTTP-version,
// names a major version other than 1 (or 0): "HTTP/2.0" sent as text, say.
// Such a request gets 505 (RFC 9110 §15.6.6), as from nginx; a higher
// minor version of HTTP/1 is served (RFC 9112 §2.3).
func unsupportedVersion(proto []byte) bool {
	return len(proto) > len("HTTP/") && proto[len("HTTP/")] != '1' && proto[len("HTTP/")] != '0'
}

// request is the cache's view of a request (cache.Request). Values views
// the request buffer: it is valid only during the handler, and the cache
// copies what it keeps.
type request struct{ ctx *fasthttp.RequestCtx }

// Time returns when the request arrived (fasthttp read the clock for it).
func (r request) Time() time.Time { return r.ctx.Time() }

// Values returns the lines of the field name, nil if absent.
func (r request) Values(name string) []string {
	vs := r.ctx.Request.Header.PeekAll(name)
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = b2s(v)
	}
	return out
}

// Clone returns all the fields as an owned http.Header.
func (r request) Clone() http.Header {
	h := make(http.Header)
	for k, v := range r.ctx.Request.Header.All() {
		h.Add(string(k), string(v))
	}
	return h
}

// b2s views b as a string without copying; only for use within the handler.
func b2s(b []byte) string {
	if testView != nil {
		return testView(b)
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Test hooks, set only by this package's TestMain before any server runs
// (never in a build of the daemon): testView is given every view b2s makes
// and returns the string to use instead, and testAnswered is called in the
// goroutine that served a request once its answer is finished. The tests
// hand out copies and scribble over them when the answer is finished, as
// fasthttp reuses its request buffers, so that a view kept past the handler
// shows up as wrong bytes in what was kept (ownership_test.go).
var (
	testView     func(b []byte) string
	testAnswered func()
)

// handle answers one request (see Handle), recording in x what the
// metrics and the access log need.
func (s *Server) handle(ctx *fasthttp.RequestCtx, x *exchange) {
	defer s.recoverHandler(ctx)
	// Header names below are written canonically ("ETag", not "Etag").
	ctx.Response.Header.DisableNormalizing()
	if p := ctx.Request.Header.Protocol(); !bytes.Equal(p, protoHTTP11) && unsupportedVersion(p) {
		ctx.SetConnectionClose()
		s.plain(ctx, http.StatusHTTPVersionNotSupported, "HTTP version not supported: only HTTP/1.0 and HTTP/1.1")
		return
	}
	m := ctx.Method()
	head := bytes.Equal(m, methodHead)
	if !head && !bytes.Equal(m, methodGet) {
		if bytes.Equal(m, methodOpts) {
			s.options(ctx)
			return
		}
		ctx.Response.Header.Set("Allow", "GET, HEAD, OPTIONS")
		s.plain(ctx, http.StatusMethodNotAllowed, "method not allowed: only GET and HEAD")
		return
	}
	if s.loopDetected(ctx) {
		return
	}
	target, err := NormalizeTarget(b2s(ctx.Request.Header.RequestURI()), s.topt)
	if err != nil {
		status := http.StatusBadRequest
		if err == errPathTooLong || err == errKeyTooLong {
			status = http.StatusRequestURITooLong // RFC 9110 §15.5.15
		}
		s.plain(ctx, status, err.Error())
		return
	}

	var specBuf [4]RangeSpec
	var specs []RangeSpec
	rangeHdr := ctx.Request.Header.Peek("Range")
	at, want := int64(0), int64(-1) // the bytes a first fetch may ask for: the whole object
	if len(rangeHdr) > 0 {
		specs, err = ParseRangeSpecs(specBuf[:0], b2s(rangeHdr), s.limits.Load().MaxRanges)
		if err != nil {
			specs = nil // invalid or too many: ignore Range, answer 200
		} else if first, ok := FirstByte(specs); ok {
			at, want = first, spanWant(specs)
		} else {
			at = -1
		}
	}
	if head && at >= 0 {
		want = 1 // a HEAD needs the answer's headers: a first fetch asks for one chunk, not a span
	}

	// target may view the request buffer, which fasthttp reuses for the
	// connection's next request: a fresh hit is found with that view (and
	// nothing keeps it: x.key is the Meta's own Key, equal to target),
	// anything else gets an owned copy the cache may keep.
	x.want = want
	meta, hit := s.store.Fresh(target, request{ctx})
	if onlyIfCached(&ctx.Request.Header) && !(hit && s.heldWhole(meta)) {
		s.plain(ctx, http.StatusGatewayTimeout, "not in the cache, and the request says only-if-cached")
		return
	}
	st, err := cache.Hit, error(nil)
	var key cache.Key
	if hit {
		x.key = meta.Key
	} else {
		key = cache.NewKey(target)
		x.key = key.String()
		meta, st, err = s.store.LookupRange(ctx, key, at, want, request{ctx})
	}
	x.st, x.lookedUp = st, true
	if err != nil {
		x.err = true
		s.originError(ctx, key.String(), st, err)
		return
	}
	if st == cache.Miss || st == cache.Pass {
		s.earlyHints(ctx, meta)
	}
	h := &ctx.Response.Header
	r := s.render(meta)
	outcome := Evaluate(conditions(&ctx.Request.Header), Validators{ETag: meta.ETag, LastModified: meta.LastModified})
	switch outcome {
	case OutcomePreconditionFailed:
		s.setValidators(h, meta)
	case OutcomeNotModified:
		s.notModified(r, meta).CopyTo(h) // the version's fields, its Date included
	default:
		r.full.CopyTo(h)
	}
	setAge(h, meta, ctx.Time())

	switch outcome {
	case OutcomeNotModified:
		h.Set("Cache-Status", s.lookupStatus(st, 1, 0, 1))
		ctx.SetStatusCode(http.StatusNotModified)
		return
	case OutcomePreconditionFailed:
		h.Set("Cache-Status", s.lookupStatus(st, 1, 0, 1))
		s.plain(ctx, http.StatusPreconditionFailed, "precondition failed")
		return
	}

	var rangeBuf [4]ByteRange
	var ranges []ByteRange
	// An empty representation is sent whole (200) whatever the Range: no
	// byte range of it can be sent (RFC 9110 §14.2 lets a server ignore
	// Range), and ffmpeg, whose first request is "bytes=0-", cannot open a
	// 416; net/http answers the same.
	if specs != nil && meta.Size > 0 && RangeAllowed(b2s(ctx.Request.Header.Peek("If-Range")), Validators{ETag: meta.ETag, LastModified: meta.LastModified}) {
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
		ranges = Coalesce(ranges, CoalesceGap) // one range left: a plain 206
	}

	switch len(ranges) {
	case 0:
		s.single(ctx, x, meta, st, head, http.StatusOK, 0, meta.Size)
	case 1:
		var cr [64]byte
		b := append(cr[:0], "bytes "...)
		b = strconv.AppendInt(b, ranges[0].Start, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, ranges[0].Start+ranges[0].Length-1, 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, meta.Size, 10)
		h.SetBytesV("Content-Range", b)
		s.single(ctx, x, meta, st, head, http.StatusPartialContent, ranges[0].Start, ranges[0].Length)
	default:
		s.multipart(ctx, x, meta, st, head, ranges)
	}
}

// spanWant is how many bytes from its first byte a first fetch for specs
// (none of them a suffix range) may ask for: a single range's length, to
// the end for an open-ended one, 1 for several ranges (their chunks are
// fetched as they are read).
func spanWant(specs []RangeSpec) int64 {
	switch {
	case len(specs) != 1:
		return 1
	case specs[0].Last < 0:
		return -1
	}
	return max(specs[0].Last-specs[0].First+1, 1)
}

// sendfileMin is the body length above which a response with chunks on
// disk flushes its headers on their own, so that the file sections go out
// with sendfile(2) (as fasthttp does for a file of more than 8 KiB).
const sendfileMin = 8 << 10

// single answers with one span of the object as the body.
func (s *Server) single(ctx *fasthttp.RequestCtx, x *exchange, meta *cache.Meta, st cache.Status, head bool, code int, off, n int64) {
	ctx.SetStatusCode(code)
	if head || n == 0 {
		// No byte is sent: the answer is the version's header, held in
		// memory, wherever its chunks are (a HEAD of an object whose
		// chunks were evicted said fwd=partial, and asked nothing).
		inMem, onDisk, total := 1, 0, 1
		x.chunks(inMem, onDisk, total)
		ctx.Response.Header.Set("Cache-Status", s.lookupStatus(st, inMem, onDisk, total))
		ctx.Response.Header.SetContentLength(int(n))
		return
	}
	// The Reader holds the chunks it counts, so the Cache-Status says
	// where the bytes it sends come from, not where they were a moment ago.
	r := s.store.NewReader(meta, off, n)
	if st == cache.Miss || st == cache.Pass {
		r.Missed(x.want) // the Lookup asked the origin for the first chunks
	}
	inMem, onDisk, total := r.Pin(cache.PinChunks)
	x.chunks(inMem, onDisk, total)
	ctx.Response.Header.Set("Cache-Status", s.lookupStatus(st, inMem, onDisk, total))
	if inMem+onDisk < total {
		// The first chunk may be missing: know that it is coming before
		// the headers go out, so a failed fetch is an error status, not a
		// 200 cut short.
		if err := r.WaitFirst(ctx); err != nil {
			r.Close()
			ctx.Response.Reset()
			ctx.Response.Header.DisableNormalizing()
			// The version was held, its first chunk was not: the
			// origin failed to send it. Not a remembered status answer
			// (which a Hit with an error is), and nothing was stored:
			// "fwd=miss", counted as a miss or, for a 5xx, an error.
			x.err, x.st = true, cache.Miss
			s.originError(ctx, meta.Key, cache.Pass, err)
			return
		}
	}
	s.deadline(ctx, n)
	b := s.guard(ctx, r, x)
	c, isConn := ctx.Conn().(*clientConn)
	switch {
	case inMem+onDisk < total:
		ctx.Response.ImmediateHeaderFlush = true // a miss: let the player see headers while bytes arrive
	case n <= sendfileMin:
		// Header and body fit the write buffer: one write.
	case isConn:
		// A hit: rather than the write buffer's header block topped up
		// with body bytes, then the rest of each chunk in a write (or
		// sendfile) of its own, the connection holds the header block,
		// flushed on its own, and sends it with the chunks memory holds
		// at the range's start in one writev(2) (safeBody.WriteTo). A
		// system call costs more than copying its bytes: see
		// cache.Reader.Held. Chunks on disk then go out with sendfile
		// (the header alone first, when the range starts on disk).
		ctx.Response.ImmediateHeaderFlush = true
		c.hold()
		b.c, b.held = c, true
	case onDisk > 0:
		// Disk chunks go out with sendfile(2) (clientConn.ReadFrom) from
		// an empty write buffer: headers left in it would be topped up
		// with the first chunk's bytes through a pread and a copy.
		ctx.Response.ImmediateHeaderFlush = true
	}
	if isConn && n >= leadMin {
		b.c, b.lead = c, true
	}
	ctx.SetBodyStream(b, int(n))
}

// onlyIfCached reports whether the request's Cache-Control has
// only-if-cached: the client wants a stored response or a 504 (RFC 9111
// §5.2.1.7). It is the one request directive the box honours: it can only
// spare the origin.
func onlyIfCached(h *fasthttp.RequestHeader) bool {
	vs := h.PeekAll("Cache-Control")
	if len(vs) == 0 {
		return false
	}
	hh := make(http.Header, 1)
	for _, v := range vs {
		hh.Add("Cache-Control", string(v))
	}
	return rfc9111.ParseCacheControl(hh, "Cache-Control").OnlyIfCached
}

// heldWhole reports whether every chunk of meta, a fresh hit, is in memory
// or on disk: what an only-if-cached request may be answered from.
// Anything else (unknown, stale, varying, partly held) is answered 504,
// which RFC 9111 always allows for such a request.
func (s *Server) heldWhole(meta *cache.Meta) bool {
	mem, disk, total := s.store.Residency(meta, 0, meta.Size)
	return mem+disk == total
}

// baseWriteTimeout is the time every response has to be written; a body
// of n bytes gets n/MinSendRate seconds more (see deadline).
const baseWriteTimeout = 10 * time.Second

// deadline gives the response time to be written at the minimum send rate.
// A body shorter than a second's worth at that rate keeps the write
// timeout fasthttp sets for every response (baseWriteTimeout): a deadline
// of the handler's own costs fasthttp a second call to reset it, and the
// two calls were 3% of a 4 KiB hit's CPU (perf, SMALL-4K). A longer one on
// a client connection is paced: each write of k bytes has the grace plus
// k/MinSendRate to complete (clientConn.pace), so a client must keep
// reading at about that rate, rather than have one deadline for the whole
// body, which a client reading a byte every few seconds could stretch to
// hours on a large object while it held a connection, pinned chunks and,
// for a direct range part, an origin slot.
func (s *Server) deadline(ctx *fasthttp.RequestCtx, n int64) {
	rate := s.limits.Load().MinSendRate
	if n < rate {
		return
	}
	if c, ok := ctx.Conn().(*clientConn); ok {
		c.pace(rate, s.writeGrace)
		return
	}
	d := s.writeGrace + time.Duration(n/rate)*time.Second
	_ = ctx.SetWriteDeadline(ctx.Time().Add(d)) // from the request's arrival: fasthttp read the clock then
}

// setValidators sets the validators and Accept-Ranges of a 412 answer,
// which carries none of the version's other fields.
func (s *Server) setValidators(h *fasthttp.ResponseHeader, meta *cache.Meta) {
	h.Set("Accept-Ranges", "bytes")
	if meta.ETag != "" {
		h.Set("ETag", meta.ETag)
	}
	var buf [40]byte
	if !meta.LastModified.IsZero() {
		h.SetBytesV("Last-Modified", fasthttp.AppendHTTPDate(buf[:0], meta.LastModified))
	}
}

// lookupStatus is the Cache-Status value for an answer built from total
// chunks, inMem of them held in memory and onDisk only on disk.
func (s *Server) lookupStatus(st cache.Status, inMem, onDisk, total int) string {
	switch {
	case st == cache.Revalidated:
		return s.status.stale
	case st == cache.Stale:
		return s.status.staleWhileRevalidate
	case st == cache.StaleError:
		return s.status.staleIfError
	case st == cache.Miss:
		return s.status.miss
	case st == cache.Pass:
		return s.status.pass
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
	case errors.As(err, &se) && se.Code != http.StatusRequestedRangeNotSatisfiable:
		// The origin's answer, whatever its status: passed on as it came.
		switch st {
		case cache.Hit:
			ctx.Response.Header.Set("Cache-Status", s.status.negHit)
		case cache.Pass:
			ctx.Response.Header.Set("Cache-Status", s.status.pass)
		default:
			ctx.Response.Header.Set("Cache-Status", s.status.negMiss)
		}
		s.passStatus(ctx, se)
		return
	case !(errors.As(err, &te) && te.Timeout()) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// The fetch was cancelled by the daemon, not timed out by the origin.
		s.plain(ctx, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if s.unavailable(ctx, key, err) {
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
	// One line per cause and interval: an origin that is down must not
	// cost a log line per request.
	s.warn.Log(slog.LevelWarn, "origin fetch failed: "+errorClass(err), "origin fetch failed", "key", key, "status", code, "err", err)
	s.plain(ctx, code, msg)
}

// errorClass names the cause of an origin error in a few words, without the
// request's path: the key repeated warnings are counted under.
func errorClass(err error) string {
	var se *origin.StatusError
	var toe *origin.TimeoutError
	var te interface{ Timeout() bool }
	switch {
	case errors.As(err, &se):
		return "status " + strconv.Itoa(se.Code)
	case errors.As(err, &toe):
		return "timeout " + toe.Phase
	case errors.As(err, &te) && te.Timeout():
		return "timeout"
	case errors.Is(err, origin.ErrInconsistent):
		return "inconsistent answer"
	case errors.Is(err, cache.ErrVersionChanged):
		return "version changed"
	}
	return "unreachable"
}

// passStatus answers with the origin's status answer se: its status, its
// end-to-end header fields (except those the server sets itself) and its
// body.
func (s *Server) passStatus(ctx *fasthttp.RequestCtx, se *origin.StatusError) {
	h := &ctx.Response.Header
	for name, values := range se.Header {
		switch name {
		case "Age", "Cache-Status", "Content-Length", "Content-Range", "Date", "Server":
			continue
		case "Content-Type":
			h.SetContentType(values[0])
			continue
		}
		for _, v := range values {
			h.Add(name, v)
		}
	}
	ctx.SetStatusCode(se.Code)
	ctx.SetBody(se.Body)
}

// options answers an OPTIONS request itself, without asking the origin
// (every player page's preflights would otherwise reach it uncached):
// 204 with Allow. A CORS preflight (Origin and
// Access-Control-Request-Method) for GET or HEAD is allowed for any
// origin, with the request fields it names and without credentials: the
// box serves only GET and HEAD of content meant for every player, and the
// origin's own Access-Control-* fields, sent with each answer, still decide
// whether a page may read it. A preflight for another method gets no
// Access-Control-* fields, so the browser does not send that request. (A
// player check found that a page whose requests need a preflight, such as
// one with a suffix Range or its own request fields, could not play
// through the box: OPTIONS was 405.)
func (s *Server) options(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Allow", "GET, HEAD, OPTIONS")
	rh := &ctx.Request.Header
	if len(rh.Peek("Origin")) > 0 {
		switch string(rh.Peek("Access-Control-Request-Method")) {
		case http.MethodGet, http.MethodHead:
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Allow-Methods", "GET, HEAD")
			// Echoed when it is a list of field names, of at most 4 KiB.
			if names := rh.Peek("Access-Control-Request-Headers"); len(names) > 0 && len(names) <= 4096 {
				if _, ok := rfc9111.FieldNames(b2s(names)); ok {
					h.SetBytesV("Access-Control-Allow-Headers", names)
				}
			}
			h.Set("Access-Control-Max-Age", "86400")
		}
	}
	ctx.SetStatusCode(http.StatusNoContent)
	ctx.Response.SkipBody = true
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

// multipart answers with several ranges as multipart/byteranges. When the
// parts need more chunks that no tier holds than MaxRangeFetchChunks, the
// parts of at most a chunk that need any are fetched from the origin as
// their exact bytes and not stored (cache.Store.Direct): scattered small
// ranges of a cold object must not pull a whole chunk each.
func (s *Server) multipart(ctx *fasthttp.RequestCtx, x *exchange, meta *cache.Meta, st cache.Status, head bool, ranges []ByteRange) {
	boundary := fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64())
	ct := meta.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	body := &multipartBody{srv: s, store: s.store, meta: meta}
	inMem, onDisk, total := 0, 0, 0
	var size int64
	for i, r := range ranges {
		var hdr string
		if i > 0 {
			hdr = "\r\n"
		}
		hdr += fmt.Sprintf("--%s\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n",
			boundary, ct, r.Start, r.Start+r.Length-1, meta.Size)
		m, d, t := s.store.Residency(meta, r.Start, r.Length)
		body.parts = append(body.parts, part{header: hdr, off: r.Start, n: r.Length, cold: m+d < t})
		size += int64(len(hdr)) + r.Length
		inMem, onDisk, total = inMem+m, onDisk+d, total+t
	}
	body.trailer = "\r\n--" + boundary + "--\r\n"
	size += int64(len(body.trailer))
	if budget := s.limits.Load().MaxRangeFetchChunks; !head && budget >= 0 && total-inMem-onDisk > budget && s.coldChunks(meta, ranges) > budget {
		for i := range body.parts {
			// Only small parts: a direct part streams from its origin
			// request at the client's pace, holding an origin slot while
			// the client reads; a part of more than a chunk goes through
			// the chunks (stored), whose fetches do not wait for readers.
			body.parts[i].direct = body.parts[i].cold && body.parts[i].n <= s.store.ChunkSize()
		}
	}

	x.chunks(inMem, onDisk, total)
	ctx.Response.Header.Del("Content-Range") // a 200's own, if the origin sent one: each part has its own
	ctx.Response.Header.Set("Cache-Status", s.lookupStatus(st, inMem, onDisk, total))
	ctx.Response.Header.SetContentType("multipart/byteranges; boundary=" + boundary)
	ctx.SetStatusCode(http.StatusPartialContent)
	if head {
		ctx.Response.Header.SetContentLength(int(size))
		return
	}
	s.deadline(ctx, size)
	if inMem+onDisk < total {
		ctx.Response.ImmediateHeaderFlush = true // as single: headers first while bytes arrive
	}
	ctx.SetBodyStream(s.guard(ctx, body, x), int(size))
}

// coldChunks counts the distinct chunks that ranges (disjoint, as Coalesce
// leaves them) touch and no tier holds: a chunk shared by neighbouring
// ranges counts once.
func (s *Server) coldChunks(meta *cache.Meta, ranges []ByteRange) int {
	sorted := slices.SortedFunc(slices.Values(ranges), func(a, b ByteRange) int { return cmp.Compare(a.Start, b.Start) })
	n := 0
	for i, r := range sorted {
		m, d, t := s.store.Residency(meta, r.Start, r.Length)
		n += t - m - d
		if i == 0 {
			continue
		}
		// Does r begin in the chunk where the range before it ends?
		last := sorted[i-1].Start + sorted[i-1].Length - 1
		if _, _, t := s.store.Residency(meta, last, r.Start-last+1); t == 1 {
			if m, d, _ := s.store.Residency(meta, r.Start, 1); m+d == 0 {
				n-- // counted with the range before
			}
		}
	}
	return n
}

// part is one part of a multipart body: its header, then bytes [off, off+n)
// of the object, through the cache or, if direct, from the origin.
type part struct {
	header string
	off, n int64
	cold   bool // a chunk of it was in no tier when the answer began
	direct bool // fetched from the origin, not stored (Store.Direct)
}

// multipartBody streams the parts of a multipart/byteranges answer.
type multipartBody struct {
	srv     *Server
	store   *cache.Store
	meta    *cache.Meta
	parts   []part
	trailer string
	r       io.Reader // Read's current piece
	rn      int64     // bytes read from r
	i       int       // Read's next piece: 2 per part, then the trailer
	served  [NumTiers]int64
}

// Served implements bodyStream: the parts' bytes by where they came from
// (Direct fetches count as the origin's), without the multipart framing.
func (b *multipartBody) Served() (memory, disk, origin int64) {
	return b.served[TierMemory], b.served[TierDisk], b.served[TierOrigin]
}

// closePart closes a part's reader, counting what it served.
func (b *multipartBody) closePart(r io.Reader, n int64) {
	if cr, ok := r.(*cache.Reader); ok {
		m, d, o := cr.Served()
		b.served[TierMemory] += m
		b.served[TierDisk] += d
		b.served[TierOrigin] += o
	} else if _, ok := r.(*bytes.Reader); !ok {
		b.served[TierOrigin] += n // a Direct fetch
	}
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
}

// open returns a reader of part p's bytes.
func (b *multipartBody) open(p part) (io.ReadCloser, error) {
	if p.direct {
		r, err := b.store.Direct(b.srv.ctx, b.meta, p.off, p.n)
		if err != nil && b.srv.ctx.Err() == nil {
			// The answer is cut short: say why, as a failed chunk fetch does.
			b.srv.warn.Log(slog.LevelWarn, "direct fetch failed: "+errorClass(err), "origin fetch failed",
				"key", b.meta.Key, "range", fmt.Sprintf("%d-%d", p.off, p.off+p.n-1), "err", err)
		}
		return r, err
	}
	return b.store.NewReader(b.meta, p.off, p.n), nil
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
		r, err := b.open(p)
		if err != nil {
			return total, err
		}
		m, err := io.Copy(w, r) // a cache.Reader's WriteTo, or w's ReadFrom
		b.closePart(r, m)
		total += m
		if err == nil && m != p.n {
			err = fmt.Errorf("part [%d,+%d) of %s: %d bytes: %w", p.off, p.n, b.meta.Key, m, io.ErrUnexpectedEOF)
		}
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
			b.rn += int64(n)
			if err != io.EOF {
				return n, err
			}
			b.closePart(b.r, b.rn)
			b.r, b.rn = nil, 0
			if n > 0 {
				return n, nil
			}
		}
		switch {
		case b.i < 2*len(b.parts) && b.i%2 == 0:
			b.r = bytes.NewReader([]byte(b.parts[b.i/2].header))
		case b.i < 2*len(b.parts):
			r, err := b.open(b.parts[b.i/2])
			if err != nil {
				return 0, err
			}
			b.r = r
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
	if b.r != nil {
		b.closePart(b.r, b.rn)
	}
	b.r, b.rn = nil, 0
	return nil
}

// earlyHints passes the origin's 103 (Early Hints) answers for meta's
// version (their Link values) on to the client whose request asked the
// origin (RFC 9110 §15.2: a proxy forwards 1xx answers), as one 103 before
// the answer, to an HTTP/1.1 client only. It sends none when the
// connection's previous answer may still wait in fasthttp's write buffer
// (a pipelined request: clientConn.previousSent), which a 103 written now
// would overtake.
func (s *Server) earlyHints(ctx *fasthttp.RequestCtx, meta *cache.Meta) {
	links := meta.EarlyHints()
	if len(links) == 0 {
		return
	}
	c, ok := ctx.Conn().(*clientConn)
	if !ok || !c.previousSent() {
		return
	}
	h := &ctx.Response.Header
	for _, l := range links {
		h.Add("Link", l)
	}
	if err := ctx.EarlyHints(); err != nil {
		s.log.Debug("early hints not sent", "component", "http", "err", err)
	}
	h.Del("Link")
}
