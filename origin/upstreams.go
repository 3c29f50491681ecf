package origin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of UpstreamOptions and PoolOptions.
const (
	DefaultQueueWait      = 5 * time.Second
	DefaultDeadline       = 30 * time.Second
	DefaultBackoff        = 50 * time.Millisecond
	DefaultHealthInterval = 5 * time.Second
)

// PhaseDeadline is the Phase of a TimeoutError for a fetch that ran out of
// its per-request deadline (PoolOptions.Deadline) across upstreams.
const PhaseDeadline = "request deadline"

// ErrAllOpen is wrapped by the *UnavailableError of a fetch that found
// every upstream's circuit breaker open (or every upstream looping back to
// this box): no upstream was asked.
var ErrAllOpen = errors.New("every upstream's circuit breaker is open")

// UnavailableError is the error of a fetch that no upstream could take:
// every breaker open (it wraps ErrAllOpen) or every upstream at its load
// limit (it wraps ErrOverloaded). It counts as an origin failure for
// stale-if-error; the server answers it 503 with a Retry-After of
// RetryAfter.
type UnavailableError struct {
	Path       string        // requested path
	Reason     string        // what happened to each upstream, for the client and the log
	RetryAfter time.Duration // when asking again may succeed (at least 1s)
	Err        error         // ErrAllOpen or ErrOverloaded
}

// Error implements error.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("upstreams %s: %s", e.Path, e.Reason)
}

// Unwrap returns ErrAllOpen or ErrOverloaded.
func (e *UnavailableError) Unwrap() error { return e.Err }

// UpstreamOptions configure one upstream of Upstreams: a parent cache, a
// sibling box, or the origin.
type UpstreamOptions struct {
	// Name identifies the upstream in logs and Stats; default its URL.
	Name string
	// URL is its base URL, as for NewClient.
	URL string
	// Client holds its timeouts and MaxConnsPerHost (the most connections
	// open to it).
	Client Options
	// MaxInFlight is the most fetches in flight to it at once (headers
	// asked for until the body is closed); default Client.MaxConnsPerHost.
	MaxInFlight int
	// QueueLength is the most fetches waiting for an in-flight slot; one
	// more is refused at once (ErrOverloaded). Default 4 × MaxInFlight;
	// negative: none wait.
	QueueLength int
	// QueueWait is the longest a fetch waits for a slot; default 5s.
	QueueWait time.Duration
	// Breaker configures its circuit breaker.
	Breaker BreakerOptions
	// HealthPath, if set, is fetched (its first byte) every HealthInterval
	// to feed the breaker: a failure counts as a request's, and a probe is
	// what lets an open breaker close without risking a client's request.
	// Any answer below 500 is healthy.
	HealthPath string
	// HealthInterval is the period of health probes; default 5s.
	HealthInterval time.Duration
}

// PoolOptions configure Upstreams.
type PoolOptions struct {
	// Via is this box's pseudonym, appended to every upstream request's
	// Via field ("1.1 <Via>", RFC 9110 §7.6.3) so a box that finds its own
	// name there can refuse a loop; "" sends no Via.
	Via string
	// Deadline bounds one Fetch across every upstream it tries, up to the
	// answer's headers (the body has its own idle timeout); default 30s.
	Deadline time.Duration
	// Backoff is the base of the jittered pause before trying the next
	// upstream (doubled each time, times 0.5..1.5); default 50ms, negative:
	// none.
	Backoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the breakers' clock; default time.Now.
	Now func() time.Time
}

// upstream is one upstream of Upstreams.
type upstream struct {
	name   string
	url    string
	c      *Client
	br     *Breaker
	lim    *limiter
	health string
	every  time.Duration
	probeT time.Duration // health probe timeout

	loopUntil atomic.Int64 // UnixNano until which it is skipped after a 508

	cutMu sync.Mutex
	cut   map[string]time.Time // paths whose body it cut short lately, and when

	requests, failures, failovers atomic.Int64
	loops, checks, checkFailures  atomic.Int64
}

// Upstreams fetches from an ordered list of upstreams with failover, a
// circuit breaker and bounded load per upstream. It implements the cache's
// Source, as Client does for one origin.
//
// A Fetch tries the upstreams in order, skipping those whose breaker is
// open. A connection error, a timeout, a 500, 502, 503 or 504, or an answer
// that does not match the request (ErrInconsistent) moves on to the next,
// after a jittered backoff, within PoolOptions.Deadline; any other status
// (304, 4xx, 3xx) is the answer. A 508 (the upstream found this box in
// Via: a loop) moves on too and has the upstream skipped for its breaker's
// cool-down. Once an answer's headers are in, its body is the caller's:
// a failure mid-body is reported to the breaker, and the caller resumes
// with another Fetch, which skips the upstream that cut that path short
// in the last 10s unless it is the last one (the cache checks validators,
// so versions never mix).
//
// When every upstream failed, the last one's error is returned, wrapped
// (so *StatusError, *TimeoutError and ErrInconsistent are seen through
// errors.As and errors.Is). When none could be asked, the error is an
// *UnavailableError.
type Upstreams struct {
	ups []*upstream
	opt PoolOptions
	log *slog.Logger
	now func() time.Time

	ctx    context.Context // health probes run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewUpstreams returns Upstreams over ups, in order (at least one), and
// starts their health probes. Close stops them.
func NewUpstreams(ups []UpstreamOptions, opt PoolOptions) (*Upstreams, error) {
	if len(ups) == 0 {
		return nil, errors.New("upstreams: none configured")
	}
	if opt.Deadline <= 0 {
		opt.Deadline = DefaultDeadline
	}
	if opt.Backoff == 0 {
		opt.Backoff = DefaultBackoff
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	p := &Upstreams{opt: opt, log: opt.Logger, now: opt.Now}
	for i, o := range ups {
		c, err := NewClient(o.URL, o.Client)
		if err != nil {
			for _, u := range p.ups {
				u.c.Close()
			}
			return nil, fmt.Errorf("upstream %d: %w", i+1, err)
		}
		if o.Name == "" {
			o.Name = o.URL
		}
		if o.MaxInFlight <= 0 {
			o.MaxInFlight = c.opt.MaxConnsPerHost
		}
		switch {
		case o.QueueLength == 0:
			o.QueueLength = 4 * o.MaxInFlight
		case o.QueueLength < 0:
			o.QueueLength = 0
		}
		if o.QueueWait <= 0 {
			o.QueueWait = DefaultQueueWait
		}
		if o.HealthInterval <= 0 {
			o.HealthInterval = DefaultHealthInterval
		}
		p.ups = append(p.ups, &upstream{
			name:   o.Name,
			url:    o.URL,
			c:      c,
			br:     NewBreaker(o.Name, o.Breaker, opt.Now, opt.Logger),
			lim:    newLimiter(o.MaxInFlight, o.QueueLength, o.QueueWait),
			health: o.HealthPath,
			every:  o.HealthInterval,
			probeT: c.opt.ConnectTimeout + c.opt.FirstByteTimeout,
		})
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, u := range p.ups {
		if u.health != "" {
			p.wg.Add(1)
			go p.probe(u)
		}
	}
	return p, nil
}

// Close stops the health probes and closes idle connections. Fetches in
// progress are not interrupted.
func (p *Upstreams) Close() {
	p.cancel()
	p.wg.Wait()
	for _, u := range p.ups {
		u.c.Close()
	}
}

// errDeadline is the cancellation cause of an attempt that ran out of the
// per-request deadline.
var errDeadline = errors.New("upstream request deadline")

// Fetch asks the upstreams in order for bytes [off, off+n) of the object at
// path, as Client.Fetch does (same arguments, same answers), with Via
// appended to h's. See Upstreams for the failover rules and errors.
func (p *Upstreams) Fetch(ctx context.Context, path string, off, n int64, h http.Header) (*Response, error) {
	// A 508 to a request that came with Via entries of its own may be
	// about those: a client can forge one naming an upstream.
	forwardedVia := len(h["Via"]) > 0
	h = p.header(h)
	deadline := time.Now().Add(p.opt.Deadline)
	var (
		last             error
		open, busy, loop []string
		retryIn          time.Duration
		attempts         int
	)
	for i, u := range p.ups {
		if p.now().UnixNano() < u.loopUntil.Load() {
			loop = append(loop, u.name)
			continue
		}
		if i < len(p.ups)-1 && u.cutLately(path, time.Now()) {
			continue // a resume after its body failed: ask the next one
		}
		ok, probe := u.br.Allow()
		if !ok {
			open = append(open, u.name)
			if ri := u.br.RetryIn(); retryIn == 0 || (ri > 0 && ri < retryIn) {
				retryIn = ri
			}
			continue
		}
		if attempts > 0 {
			if err := p.backoff(ctx, attempts, deadline); err != nil {
				u.br.Release(probe)
				return nil, fmt.Errorf("upstreams %s: %w", path, err)
			}
		}
		if err := u.lim.acquire(ctx, deadline); err != nil {
			u.br.Release(probe)
			if ctx.Err() != nil {
				return nil, fmt.Errorf("upstream %s: %s: %w", u.name, path, err)
			}
			busy = append(busy, u.name)
			continue
		}
		attempts++
		u.requests.Add(1)
		r, err := p.attempt(ctx, u, probe, path, off, n, h, deadline)
		if err == nil {
			return r, nil
		}
		err = fmt.Errorf("upstream %s: %w", u.name, err)
		if ctx.Err() != nil || !failsOver(err) {
			return nil, err
		}
		last = err
		if isLoop(err) {
			u.loops.Add(1)
			if forwardedVia {
				// This request's own Via (a client's, or a cache's in front)
				// may name the upstream: skip it for this request only, or a
				// client could forge a Via to keep every request off it.
				p.log.Debug("upstream answered 508 Loop Detected to a request with Via entries of its own; trying the next", "upstream", u.name, "path", path)
			} else {
				until := p.now().Add(u.br.opt.CoolDown)
				u.loopUntil.Store(until.UnixNano())
				p.log.Warn("upstream answered 508 Loop Detected: it fetches from this box; skipping it for the cool-down",
					"upstream", u.name, "path", path, "cool_down", u.br.opt.CoolDown)
			}
		} else {
			u.failovers.Add(1)
			p.log.Debug("upstream failed; trying the next", "upstream", u.name, "path", path, "err", err)
		}
		if time.Now().After(deadline) {
			break
		}
	}
	switch {
	case len(busy) > 0:
		return nil, &UnavailableError{Path: path, Err: ErrOverloaded, RetryAfter: time.Second,
			Reason: reason("at their load limit (in-flight and queue full)", busy, open, loop, last)}
	case last != nil:
		return nil, last
	case len(open) > 0:
		return nil, &UnavailableError{Path: path, Err: ErrAllOpen, RetryAfter: max(retryIn.Round(time.Second), time.Second),
			Reason: reason("circuit breaker open", nil, open, loop, nil)}
	default:
		return nil, &StatusError{Code: http.StatusLoopDetected, Path: path, Size: -1,
			Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
			Body:   []byte("loop detected: every upstream fetches from this box (" + joinNames(loop) + ")\n")}
	}
}

// reason describes why no upstream answered.
func reason(what string, busy, open, loop []string, last error) string {
	s := ""
	add := func(part string) {
		if s != "" {
			s += "; "
		}
		s += part
	}
	if len(busy) > 0 {
		add(what + ": " + joinNames(busy))
	}
	if len(open) > 0 {
		add("circuit breaker open: " + joinNames(open))
	}
	if len(loop) > 0 {
		add("looping: " + joinNames(loop))
	}
	if last != nil {
		add("failed: " + last.Error())
	}
	return s
}

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// header returns h with this box's Via appended (h itself is not
// modified), keeping Client.Fetch's rule that no fields means
// "Accept-Encoding: identity".
func (p *Upstreams) header(h http.Header) http.Header {
	if p.opt.Via == "" {
		return h
	}
	out := make(http.Header, len(h)+2)
	for k, v := range h {
		out[k] = v
	}
	if h == nil {
		out.Set("Accept-Encoding", "identity")
	}
	out["Via"] = append(slices.Clip(h["Via"]), "1.1 "+p.opt.Via)
	return out
}

// backoff sleeps before the attempt after the given number, jittered, and
// not past deadline.
func (p *Upstreams) backoff(ctx context.Context, attempts int, deadline time.Time) error {
	if p.opt.Backoff < 0 {
		return nil
	}
	d := p.opt.Backoff << min(attempts-1, 6)
	d = time.Duration(float64(d) * (0.5 + rand.Float64()))
	d = min(d, time.Until(deadline))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// attempt fetches from u, holding the slot the caller took until the
// answer's body is closed, and reports the outcome to u's breaker.
func (p *Upstreams) attempt(ctx context.Context, u *upstream, probe bool, path string, off, n int64, h http.Header, deadline time.Time) (*Response, error) {
	actx, cancel := context.WithCancelCause(ctx)
	t := time.AfterFunc(time.Until(deadline), func() { cancel(errDeadline) })
	began := time.Now()
	r, err := u.c.Fetch(actx, path, off, n, h)
	if !t.Stop() && err == nil {
		r.Body.Close() // the deadline fired as the answer came in
		err = errDeadline
	}
	if err != nil {
		cancel(nil)
		u.lim.release()
		if errors.Is(err, errDeadline) && ctx.Err() == nil {
			err = &TimeoutError{Phase: PhaseDeadline, Path: path, After: p.opt.Deadline}
		}
		if ctx.Err() != nil {
			u.br.Release(probe)
		} else {
			ok, why := judge(err)
			if !ok {
				u.failures.Add(1)
			}
			u.br.Done(probe, ok, why)
		}
		return nil, err
	}
	ok, why := true, ""
	if st := u.br.opt.SlowThreshold; st > 0 {
		if took := time.Since(began); took > st {
			ok, why = false, fmt.Sprintf("slow: headers after %v (threshold %v)", took.Round(time.Millisecond), st)
			u.failures.Add(1)
		}
	}
	u.br.Done(probe, ok, why)
	r.Body = &upstreamBody{rc: r.Body, u: u, ctx: ctx, cancel: cancel, path: path}
	return r, nil
}

// judge says whether err, a fetch's error, leaves the upstream healthy.
// A failure is what says the upstream itself is down or stuck: a
// connection that could not be made (refused, unreachable, a name that
// does not resolve, a TLS handshake that failed) or a timeout (connect,
// first byte, idle, the request's deadline). Everything about one request
// is not: an answer, whatever its status (a 500, 502, 503 or 504 is an
// application's failure for the path asked for, or a parent's about its
// own upstream), and a connection that was made and then closed or reset
// without a usable answer, or with an answer that is not valid for the
// request (an application that crashes on one path does that). Any client
// can provoke those by asking for a path that fails: counted, five such
// requests opened the breaker for every client (an abuse review, and the
// cache-tests suite's status and connection-close tests, which then failed
// 150 unrelated tests with 503). They fail over (failsOver) but do not
// count against the upstream, as Traffic Server marks a server down only
// when connections to it fail. why describes a failure.
func judge(err error) (ok bool, why string) {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM) {
		return true, "" // this process short of descriptors or memory: not the upstream's fault
	}
	var (
		te   *TimeoutError
		oe   *net.OpError
		dnse *net.DNSError
		cve  *tls.CertificateVerificationError
		rhe  tls.RecordHeaderError
		ae   tls.AlertError
	)
	switch {
	case errors.As(err, &te), errors.As(err, &oe) && oe.Op == "dial", errors.As(err, &dnse),
		errors.As(err, &cve), errors.As(err, &rhe), errors.As(err, &ae):
		return false, err.Error()
	}
	return true, ""
}

// failsOver reports whether err moves a Fetch on to the next upstream:
// any error but an answer (a failure of the upstream or of the exchange,
// see judge), a loop, or a 500, 502, 503 or 504 answer.
func failsOver(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return true
	}
	switch se.Code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusLoopDetected:
		return true
	}
	return false
}

// isLoop reports whether err is a 508 Loop Detected answer.
func isLoop(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusLoopDetected
}

// upstreamBody is the body of an answer from an upstream: it reports a
// failure mid-body to the upstream's breaker, and its Close gives the
// in-flight slot back.
type upstreamBody struct {
	rc     io.ReadCloser
	u      *upstream
	ctx    context.Context // the caller's
	cancel context.CancelCauseFunc
	path   string
	failed bool
	closed atomic.Bool
}

// Read implements io.Reader.
func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && !b.failed && b.ctx.Err() == nil && !b.closed.Load() {
		b.failed = true
		if ok, _ := judge(err); !ok { // an idle timeout; a body cut short is about this request
			b.u.failures.Add(1)
			b.u.br.Done(false, false, "body: "+err.Error())
		}
		b.u.cutShort(b.path, time.Now())
	}
	return n, err
}

// Close closes the body and releases the upstream's in-flight slot.
func (b *upstreamBody) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	err := b.rc.Close()
	b.cancel(nil)
	b.u.lim.release()
	return err
}

// cutMemory is how long a body cut short keeps the path's resumes away
// from the upstream that cut it, and maxCut how many paths are remembered.
const (
	cutMemory = 10 * time.Second
	maxCut    = 4096
)

// cutShort remembers that u cut the body of path short at now.
func (u *upstream) cutShort(path string, now time.Time) {
	u.cutMu.Lock()
	defer u.cutMu.Unlock()
	if u.cut == nil || len(u.cut) >= maxCut {
		u.cut = make(map[string]time.Time)
	}
	u.cut[path] = now
}

// cutLately reports whether u cut a body of path short in the last
// cutMemory: the cache resuming that body had better ask another upstream.
func (u *upstream) cutLately(path string, now time.Time) bool {
	u.cutMu.Lock()
	defer u.cutMu.Unlock()
	at, ok := u.cut[path]
	if ok && now.Sub(at) > cutMemory {
		delete(u.cut, path)
		return false
	}
	return ok
}

// probe runs u's health probes until Close.
func (p *Upstreams) probe(u *upstream) {
	defer p.wg.Done()
	t := time.NewTicker(u.every)
	defer t.Stop()
	h := p.header(http.Header{"X-Edgecache-Health": {"1"}})
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		ok, probe := u.br.Allow()
		if !ok {
			continue
		}
		u.checks.Add(1)
		ctx, cancel := context.WithTimeout(p.ctx, u.probeT)
		r, err := u.c.Fetch(ctx, u.health, 0, 1, h)
		if err == nil {
			_, err = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		cancel()
		if p.ctx.Err() != nil {
			u.br.Release(probe)
			return
		}
		healthy, why := true, ""
		var se *StatusError
		switch {
		case errors.As(err, &se) && se.Code >= 500:
			healthy, why = false, fmt.Sprintf("status %d", se.Code) // the health path's answer is about the upstream
		case err != nil:
			healthy, why = judge(err)
		}
		if !healthy {
			u.checkFailures.Add(1)
			why = "health probe: " + why
		}
		u.br.Done(probe, healthy, why)
	}
}

// UpstreamStats are one upstream's state and counters, as Stats returns
// them. A Prometheus collector exports them as edgecache_upstream_*
// metrics labelled by Name: State as a gauge (0 closed, 1 open, 2
// half-open), the transition counters as counters, InFlight and Queued as
// gauges.
type UpstreamStats struct {
	Name, URL      string
	Breaker        BreakerStats // state, transitions (Opens, HalfOpens, Closes), rejections
	InFlight       int64        // fetches holding a slot now (until their body is closed)
	MaxInFlight    int64        // peak of InFlight
	Queued         int64        // fetches waiting for a slot now
	QueueWaits     int64        // fetches that waited for a slot
	Overloaded     int64        // fetches refused: queue full or waited too long
	Requests       int64        // requests sent
	Failures       int64        // requests that failed against the breaker (no connection, timeout, slow; see judge)
	Failovers      int64        // failures after which the next upstream was tried
	Loops          int64        // 508 Loop Detected answers
	HealthChecks   int64        // health probes sent
	HealthFailures int64        // health probes that failed
}

// Stats returns every upstream's state and counters, in order. It reads
// atomics only and never waits: call it from a metrics scrape.
func (p *Upstreams) Stats() []UpstreamStats {
	out := make([]UpstreamStats, len(p.ups))
	for i, u := range p.ups {
		out[i] = UpstreamStats{
			Name:           u.name,
			URL:            u.url,
			Breaker:        u.br.Stats(),
			InFlight:       u.lim.inflight.Load(),
			MaxInFlight:    u.lim.maxInflight.Load(),
			Queued:         u.lim.waiting.Load(),
			QueueWaits:     u.lim.queued.Load(),
			Overloaded:     u.lim.overloads.Load(),
			Requests:       u.requests.Load(),
			Failures:       u.failures.Load(),
			Failovers:      u.failovers.Load(),
			Loops:          u.loops.Load(),
			HealthChecks:   u.checks.Load(),
			HealthFailures: u.checkFailures.Load(),
		}
	}
	return out
}
