package origin

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState int32

// The states of a Breaker, in the order a failing upstream goes through
// them. Their numeric values are stable: a metrics exporter may publish
// them as a gauge (0 closed, 1 open, 2 half-open).
const (
	// BreakerClosed lets every request through and counts failures.
	BreakerClosed BreakerState = iota
	// BreakerOpen lets nothing through until its cool-down ends.
	BreakerOpen
	// BreakerHalfOpen lets a few probe requests through; their success
	// closes the breaker, a failure opens it again.
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Defaults of BreakerOptions.
const (
	DefaultBreakerFailures    = 5
	DefaultBreakerRatio       = 0.5
	DefaultBreakerWindow      = 10 * time.Second
	DefaultBreakerMinRequests = 20
	DefaultBreakerCoolDown    = 10 * time.Second
	DefaultBreakerProbes      = 1
)

// BreakerOptions configure a Breaker. Zero fields take the defaults.
type BreakerOptions struct {
	// Failures is how many failures in a row open the breaker; default 5,
	// negative: never on a count.
	Failures int
	// FailureRatio opens the breaker when at least this share of the
	// requests that ended in the last Window failed (and there were at
	// least MinRequests of them); default 0.5, negative: never on a ratio.
	FailureRatio float64
	// Window is the sliding window of FailureRatio; default 10s.
	Window time.Duration
	// MinRequests is the fewest requests in Window for FailureRatio to
	// apply; default 20.
	MinRequests int
	// SlowThreshold makes an answer whose headers took longer than this a
	// failure (it is still used); 0: latency is not judged.
	SlowThreshold time.Duration
	// CoolDown is how long the breaker stays open before it lets probes
	// through; default 10s.
	CoolDown time.Duration
	// HalfOpenProbes is how many probe requests a half-open breaker lets
	// through at once, and how many must succeed to close it; default 1.
	HalfOpenProbes int
}

// withDefaults returns o with its zero fields set to the defaults.
func (o BreakerOptions) withDefaults() BreakerOptions {
	if o.Failures == 0 {
		o.Failures = DefaultBreakerFailures
	}
	if o.FailureRatio == 0 {
		o.FailureRatio = DefaultBreakerRatio
	}
	if o.Window <= 0 {
		o.Window = DefaultBreakerWindow
	}
	if o.MinRequests <= 0 {
		o.MinRequests = DefaultBreakerMinRequests
	}
	if o.CoolDown <= 0 {
		o.CoolDown = DefaultBreakerCoolDown
	}
	if o.HalfOpenProbes <= 0 {
		o.HalfOpenProbes = DefaultBreakerProbes
	}
	return o
}

// windowBuckets is how many buckets the sliding window is counted in.
const windowBuckets = 10

// bucket counts the requests that ended in one slice of the window.
type bucket struct {
	epoch         int64 // which slice of time it counts (time / slice length)
	total, failed int
}

// Breaker is a circuit breaker for one upstream: closed, it counts
// failures and opens after Failures in a row or FailureRatio of the
// requests in its window; open, it refuses every request for CoolDown; then
// half-open, it lets HalfOpenProbes probes through, closing when they
// succeed and opening again when one fails. Transitions are logged (WARN
// on open, INFO on close) and counted. It is safe for concurrent use.
type Breaker struct {
	name string
	opt  BreakerOptions
	now  func() time.Time
	log  *slog.Logger

	mu        sync.Mutex
	state     BreakerState
	consec    int // failures in a row (closed)
	buckets   [windowBuckets]bucket
	openUntil time.Time // end of the cool-down (open)
	probes    int       // probes let through and not ended (half-open)
	probeOK   int       // probes that succeeded (half-open)
	lastErr   string    // what opened it last

	stateV              atomic.Int32
	opens, halfOpens    atomic.Int64
	closes, rejected    atomic.Int64
	successes, failures atomic.Int64
}

// NewBreaker returns a closed Breaker for the upstream called name
// (in its log lines). now is the clock (nil: time.Now); log nil is
// slog.Default().
func NewBreaker(name string, opt BreakerOptions, now func() time.Time, log *slog.Logger) *Breaker {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Breaker{name: name, opt: opt.withDefaults(), now: now, log: log}
}

// Allow reports whether a request may go to the upstream now. probe says
// that it is a half-open breaker's probe: its outcome must be reported to
// Done with probe set. An open breaker whose cool-down has ended turns
// half-open here.
func (b *Breaker) Allow() (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true, false
	case BreakerOpen:
		if b.now().Before(b.openUntil) {
			b.rejected.Add(1)
			return false, false
		}
		b.setState(BreakerHalfOpen)
		b.halfOpens.Add(1)
		b.probes, b.probeOK = 0, 0
		b.log.Info("upstream circuit breaker half-open: probing", "upstream", b.name)
	}
	if b.probes >= b.opt.HalfOpenProbes {
		b.rejected.Add(1)
		return false, false
	}
	b.probes++
	return true, true
}

// RetryIn returns how long until an open breaker lets a probe through;
// 0 when it is not open.
func (b *Breaker) RetryIn() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != BreakerOpen {
		return 0
	}
	return max(b.openUntil.Sub(b.now()), 0)
}

// Release gives back what Allow let through without an outcome to
// report: the request was not sent after all, or its caller went away.
func (b *Breaker) Release(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	if b.state == BreakerHalfOpen {
		b.probes--
	}
	b.mu.Unlock()
}

// Done reports the outcome of a request Allow let through (probe as Allow
// said): ok false for a failure (connection error, timeout, 5xx, a slow
// answer), with why in reason for the log.
func (b *Breaker) Done(probe, ok bool, reason string) {
	if ok {
		b.successes.Add(1)
	} else {
		b.failures.Add(1)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	switch {
	case probe && b.state == BreakerHalfOpen:
		b.probes--
		if !ok {
			b.open(now, "probe failed: "+reason)
			return
		}
		if b.probeOK++; b.probeOK >= b.opt.HalfOpenProbes {
			b.setState(BreakerClosed)
			b.closes.Add(1)
			b.consec = 0
			b.buckets = [windowBuckets]bucket{}
			b.log.Info("upstream circuit breaker closed: upstream answers again", "upstream", b.name)
		}
	case b.state == BreakerClosed:
		bk := b.bucket(now)
		bk.total++
		if ok {
			b.consec = 0
			return
		}
		bk.failed++
		b.consec++
		if b.opt.Failures > 0 && b.consec >= b.opt.Failures {
			b.open(now, reason)
			return
		}
		if b.opt.FailureRatio > 0 {
			total, failed := b.window(now)
			if total >= b.opt.MinRequests && float64(failed) >= b.opt.FailureRatio*float64(total) {
				b.open(now, reason)
			}
		}
	}
	// Outcomes of requests let through before the breaker opened, or of
	// non-probes while half-open, do not move it.
}

// open opens the breaker for the cool-down (b.mu held).
func (b *Breaker) open(now time.Time, reason string) {
	total, failed := b.window(now)
	b.setState(BreakerOpen)
	b.opens.Add(1)
	b.openUntil = now.Add(b.opt.CoolDown)
	b.lastErr = reason
	b.log.Warn("upstream circuit breaker open: no traffic to it until the cool-down ends",
		"upstream", b.name, "cool_down", b.opt.CoolDown, "failures_in_a_row", b.consec,
		"window_requests", total, "window_failures", failed, "last_error", reason)
}

// setState sets the state (b.mu held).
func (b *Breaker) setState(s BreakerState) {
	b.state = s
	b.stateV.Store(int32(s))
}

// bucket returns the window bucket of time now, emptied if it held an
// older slice (b.mu held).
func (b *Breaker) bucket(now time.Time) *bucket {
	slice := max(b.opt.Window/windowBuckets, 1)
	epoch := now.UnixNano() / int64(slice)
	bk := &b.buckets[epoch%windowBuckets]
	if bk.epoch != epoch {
		*bk = bucket{epoch: epoch}
	}
	return bk
}

// window sums the buckets of the last Window (b.mu held).
func (b *Breaker) window(now time.Time) (total, failed int) {
	slice := max(b.opt.Window/windowBuckets, 1)
	epoch := now.UnixNano() / int64(slice)
	for _, bk := range b.buckets {
		if bk.epoch > epoch-windowBuckets && bk.epoch <= epoch {
			total += bk.total
			failed += bk.failed
		}
	}
	return total, failed
}

// State returns the breaker's state now (an open breaker whose cool-down
// has ended reports open until a request asks).
func (b *Breaker) State() BreakerState { return BreakerState(b.stateV.Load()) }

// BreakerStats are a Breaker's state and counters since it was made.
type BreakerStats struct {
	State     BreakerState
	Opens     int64 // transitions to open (from closed or half-open)
	HalfOpens int64 // transitions to half-open
	Closes    int64 // transitions from half-open to closed
	Rejected  int64 // requests refused while open or half-open
	Successes int64 // outcomes reported ok
	Failures  int64 // outcomes reported failed
}

// Stats returns the state and counters, read from atomics: it never
// waits for a request in progress.
func (b *Breaker) Stats() BreakerStats {
	return BreakerStats{
		State:     b.State(),
		Opens:     b.opens.Load(),
		HalfOpens: b.halfOpens.Load(),
		Closes:    b.closes.Load(),
		Rejected:  b.rejected.Load(),
		Successes: b.successes.Load(),
		Failures:  b.failures.Load(),
	}
}
