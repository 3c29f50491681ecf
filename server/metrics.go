package server

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"edgecache/cache"
	"edgecache/meter"
)

// Result is how a response was served, as the metrics (label "cache") and
// the access log (field "cache") name it.
type Result uint8

// Results.
const (
	ResultNone        Result = iota // answered without the cache: a bad request, a method other than GET and HEAD
	ResultHit                       // every chunk from memory or disk, or a remembered status answer
	ResultPartial                   // some chunks from memory or disk, the others from the origin
	ResultMiss                      // the object was unknown: fetched from the origin
	ResultRevalidated               // the stored version was stale: the origin was asked again
	ResultPass                      // the origin's answer may not be stored: fetched for this request
	ResultError                     // the origin failed or timed out (502, 504), or the fetch was cancelled (503)
	numResults
)

var resultNames = [numResults]string{"none", "hit", "partial", "miss", "revalidated", "pass", "error"}

// String returns the result's name: none, hit, partial, miss, revalidated,
// pass or error.
func (r Result) String() string { return resultNames[r] }

// Methods as the metrics count them: GET, HEAD and everything else.
const (
	methodIdxGet = iota
	methodIdxHead
	methodIdxOther
	numMethods
)

var methodNames = [numMethods]string{"GET", "HEAD", "OTHER"}

// Tiers a response's bytes are attributed to.
const (
	TierMemory = iota // chunks memory held when the response began
	TierDisk          // chunks only the disk tier held
	TierOrigin        // chunks no tier held: fetched from the origin for it (or joined a fetch)
	NumTiers
)

// TierNames names the tiers, indexed by TierMemory, TierDisk, TierOrigin.
var TierNames = [NumTiers]string{"memory", "disk", "origin"}

// counters are the Server's per-request counters: plain atomics and
// fixed-bucket histograms, read by Metrics on scrape.
type counters struct {
	requests [numMethods][5][numResults]atomic.Int64 // by method, status class (1xx..5xx), result
	bytes    [NumTiers]atomic.Int64
	ttfb     *meter.Histogram
	duration *meter.Histogram
}

// exchange is one request's record: what it asked and how it was
// answered. It lives on the handler's stack and, for a streamed body, in
// the safeBody, which finishes it when the body is closed.
type exchange struct {
	start    time.Time
	ttfb     time.Duration
	status   int
	method   uint8
	st       cache.Status
	lookedUp bool  // Lookup answered (st is set)
	err      bool  // ... with an error
	streamed bool  // a safeBody took the record over
	mem      int   // chunks of the answer memory held
	disk     int   // ... that only the disk tier held
	total    int   // chunks of the answer
	want     int64 // the bytes the lookup asked a first fetch for (see cache.Store.LookupRange)
	exact    bool  // served holds the body's bytes by tier, as its stream counted them
	served   [NumTiers]int64

	// Set only when an access log is kept.
	key, rng, rawMethod string
	client              netip.AddrPort
}

// chunks records where the answer's chunks were when it began.
func (x *exchange) chunks(mem, disk, total int) { x.mem, x.disk, x.total = mem, disk, total }

// result classifies the answer as the Cache-Status header does.
func (x *exchange) result() Result {
	switch {
	case !x.lookedUp:
		return ResultNone
	case x.err:
		switch x.st {
		case cache.Hit:
			return ResultHit // a remembered status answer
		case cache.Pass:
			return ResultPass
		}
		if x.status >= 500 && x.status != 501 {
			return ResultError
		}
		return ResultMiss // the origin's status answer, stored
	case x.st == cache.Miss:
		return ResultMiss
	case x.st == cache.Revalidated:
		return ResultRevalidated
	case x.st == cache.Pass:
		return ResultPass
	case x.mem+x.disk < x.total:
		return ResultPartial
	}
	return ResultHit
}

// Handle answers one request. It is the fasthttp handler of the content
// listener. A panic in it is recovered, logged and counted (see
// RecoveredPanics) and answered 500. Every answer is counted in the
// Server's metrics and, if Options.AccessLog is set, logged there when its
// body has been sent.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	if c, ok := ctx.Conn().(*clientConn); ok {
		c.handled() // every request fasthttp hands over, probes included
	}
	var x exchange
	x.start = ctx.Time()
	if x.start.IsZero() {
		x.start = time.Now() // a RequestCtx not served by fasthttp (benchmarks)
	}
	m := ctx.Method()
	switch string(m) {
	case "GET":
		x.method = methodIdxGet
	case "HEAD":
		x.method = methodIdxHead
	default:
		if isProbe(ctx, m) {
			answerProbe(ctx)
			return
		}
		x.method = methodIdxOther
	}
	if s.opt.AccessLog != nil {
		if x.method == methodIdxOther {
			x.rawMethod = strings.Clone(b2s(m))
		}
		x.rng = strings.Clone(b2s(ctx.Request.Header.Peek("Range")))
		x.client = clientAddr(ctx)
	}
	s.handle(ctx, &x)
	if x.streamed {
		return // the body's Close finishes the record
	}
	x.status = ctx.Response.StatusCode()
	s.finish(&x, int64(len(ctx.Response.Body())))
}

// streamed hands the request's record over to the body b: it is finished
// when fasthttp closes the body, once the bytes are sent.
func (b *safeBody) streamed(ctx *fasthttp.RequestCtx, x *exchange) {
	x.streamed = true
	b.x = *x
	b.x.status = ctx.Response.StatusCode()
}

// first notes the time of the body's first bytes.
func (b *safeBody) first() {
	if !b.started {
		b.started = true
		b.x.ttfb = time.Since(b.x.start)
	}
}

// finish counts a request whose answer's body has been sent (n bytes, all
// of it or as far as it went) and queues its access log line.
func (s *Server) finish(x *exchange, n int64) {
	if testAnswered != nil {
		defer testAnswered()
	}
	d := time.Since(x.start)
	if x.ttfb == 0 {
		x.ttfb = d // no body stream: the answer went out whole after the handler
	}
	class := min(max(x.status/100, 1), 5) - 1
	res := x.result()
	c := &s.counters
	c.requests[x.method][class][res].Add(1)
	var tier [NumTiers]int64
	if x.exact {
		tier = x.served
	} else if x.total > 0 && n > 0 {
		tier[TierMemory] = n * int64(x.mem) / int64(x.total)
		tier[TierDisk] = n * int64(x.disk) / int64(x.total)
		tier[TierOrigin] = n - tier[TierMemory] - tier[TierDisk]
	} else if n > 0 && x.lookedUp {
		// A status answer's body: remembered, or the origin's.
		if res == ResultHit {
			tier[TierMemory] = n
		} else {
			tier[TierOrigin] = n
		}
	}
	for i, b := range tier {
		if b > 0 {
			c.bytes[i].Add(b)
		}
	}
	c.ttfb.Observe(x.ttfb)
	c.duration.Observe(d)
	if l := s.opt.AccessLog; l != nil {
		method := x.rawMethod
		if method == "" {
			method = methodNames[x.method]
		}
		l.add(AccessEntry{Time: x.start, Client: x.client, Method: method, Path: x.key, Range: x.rng,
			Status: x.status, Bytes: n, Cache: res, TTFB: x.ttfb, Duration: d, UpstreamBytes: tier[TierOrigin]})
	}
}

// RequestCount is the number of answers of one method, status class and
// result.
type RequestCount struct {
	Method string // GET, HEAD or OTHER
	Class  string // 1xx, 2xx, 3xx, 4xx or 5xx
	Result Result
	Count  int64
}

// Metrics are the Server's counters, read without stopping it.
type Metrics struct {
	// Requests counts answers by method, status class and result; only
	// combinations seen so far are listed.
	Requests []RequestCount
	// Bytes are the payload bytes sent, by tier (TierMemory, TierDisk,
	// TierOrigin), as the response body counted them chunk by chunk
	// (multipart framing not included); a status answer's body counts as
	// memory when remembered, else as the origin's.
	Bytes [NumTiers]int64
	// TTFB is the time from the request being read to its first body byte
	// handed to the connection (for an answer without a streamed body: to
	// the end of the handler, after which it is written whole).
	TTFB meter.Snapshot
	// Duration is the time from the request being read to the last body
	// byte handed to the connection (or the body failing).
	Duration meter.Snapshot
	// RecoveredPanics is RecoveredPanics().
	RecoveredPanics int64
	// RejectedConnections is RejectedConnections().
	RejectedConnections int64
	// RejectedPerIP is RejectedPerIP().
	RejectedPerIP int64
	// OpenConnections is the client connections open now.
	OpenConnections int64
}

var classNames = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Metrics returns the Server's counters.
func (s *Server) Metrics() Metrics {
	m := Metrics{
		TTFB:                s.counters.ttfb.Snapshot(),
		Duration:            s.counters.duration.Snapshot(),
		RecoveredPanics:     s.RecoveredPanics(),
		RejectedConnections: s.RejectedConnections(),
		RejectedPerIP:       s.RejectedPerIP(),
		OpenConnections:     int64(s.fs.GetOpenConnectionsCount()),
	}
	for mi := range numMethods {
		for ci := range 5 {
			for ri := range numResults {
				if n := s.counters.requests[mi][ci][ri].Load(); n > 0 {
					m.Requests = append(m.Requests, RequestCount{methodNames[mi], classNames[ci], Result(ri), n})
				}
			}
		}
	}
	for i := range m.Bytes {
		m.Bytes[i] = s.counters.bytes[i].Load()
	}
	return m
}

// clientAddr returns the client's address for the access log (zero when
// the connection is not TCP).
func clientAddr(ctx *fasthttp.RequestCtx) netip.AddrPort {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort()
	}
	return netip.AddrPort{}
}
