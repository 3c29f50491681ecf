package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: microseconds, up to one hour, 3 significant digits.
const (
	histMax     = int64(time.Hour / time.Microsecond)
	histDigits  = 3
	maxFirstErr = 5 // errors described in a Result
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, histDigits) }

// Quantiles are latency quantiles in milliseconds.
type Quantiles struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func quantiles(h *hdrhistogram.Histogram) Quantiles {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Quantiles{
		P50:  ms(h.ValueAtQuantile(50)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
	}
}

// Result is the measurement of one target.
type Result struct {
	Name         string    `json:"name"`
	Target       string    `json:"target"`
	Trace        string    `json:"trace,omitempty"` // replays only
	DurationS    float64   `json:"duration_s"`      // measured time
	Requests     int64     `json:"requests"`        // finished requests, errors included
	RequestsPerS float64   `json:"requests_per_s"`  //
	Bytes        int64     `json:"bytes"`           // body bytes received
	GbitPerS     float64   `json:"gbit_per_s"`      // body bytes, 10^9 bit/s
	TTFB         Quantiles `json:"ttfb_ms"`         // to the first body byte
	Latency      Quantiles `json:"latency_ms"`      // to the last body byte (answers read completely)
	// HitRatio is the share of answers with a cache status header that
	// were hits; null when no answer carried one.
	HitRatio *float64 `json:"hit_ratio"`
	// ByteHitRatio is the share of body bytes (of those answers) that came
	// from hits.
	ByteHitRatio *float64 `json:"byte_hit_ratio"`
	Hits         int64    `json:"hits"`
	// OriginRequests and OriginBytes are what the origin's /_stats counted
	// during the measured phase; null without an origin that answers.
	OriginRequests *int64 `json:"origin_requests"`
	OriginBytes    *int64 `json:"origin_bytes"`
	// OriginError says why the origin counters are unknown, if an origin
	// was given.
	OriginError string   `json:"origin_error,omitempty"`
	Errors      int64    `json:"errors"`
	Abandoned   int64    `json:"abandoned"` // answers read partially on purpose
	Verified    int64    `json:"verified"`  // answers whose bytes were compared
	FirstErrors []string `json:"first_errors"`
	Interrupted bool     `json:"interrupted,omitempty"` // cancelled before the end
}

// recorder accumulates the outcomes of one target. It is safe for
// concurrent use.
type recorder struct {
	mu          sync.Mutex
	ttfb, lat   *hdrhistogram.Histogram
	requests    int64
	bytes       int64
	errors      int64
	abandoned   int64
	verified    int64
	hits        int64
	known       int64 // answers with a cache status
	hitBytes    int64
	knownBytes  int64
	firstErrors []string
	elapsed     time.Duration
	originReq   int64
	originBytes int64
	originOK    bool   // every measured phase had origin counters
	originErr   string // the first reason they were missing
	phases      int
}

func newRecorder() *recorder {
	return &recorder{ttfb: newHist(), lat: newHist(), firstErrors: []string{}, originOK: true}
}

func record(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), 1), histMax)
	_ = h.RecordValue(us) // in range by construction
}

// add records one finished request.
func (r *recorder) add(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.bytes += o.bytes
	if o.verified {
		r.verified++
	}
	if o.err != nil {
		r.errors++
		if len(r.firstErrors) < maxFirstErr {
			r.firstErrors = append(r.firstErrors, o.err.Error())
		}
		return
	}
	record(r.ttfb, o.ttfb)
	if o.abandoned {
		r.abandoned++
	} else {
		record(r.lat, o.total)
	}
	if o.hit >= 0 {
		r.known++
		r.knownBytes += o.bytes
		if o.hit == 1 {
			r.hits++
			r.hitBytes += o.bytes
		}
	}
}

// phase adds one measured phase: its duration and the origin counters
// before and after it (ok false if they could not be read, for the reason
// err, nil without an origin).
func (r *recorder) phase(elapsed time.Duration, before, after originStats, ok bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phases++
	r.elapsed += elapsed
	if !ok {
		r.originOK = false
		if err != nil && r.originErr == "" {
			r.originErr = err.Error()
		}
		return
	}
	r.originReq += after.Requests - before.Requests
	r.originBytes += after.Bytes - before.Bytes
}

// result summarizes the recorder.
func (r *recorder) result(name, target string) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &Result{
		Name:        name,
		Target:      target,
		DurationS:   r.elapsed.Seconds(),
		Requests:    r.requests,
		Bytes:       r.bytes,
		TTFB:        quantiles(r.ttfb),
		Latency:     quantiles(r.lat),
		Hits:        r.hits,
		Errors:      r.errors,
		Abandoned:   r.abandoned,
		Verified:    r.verified,
		FirstErrors: append([]string{}, r.firstErrors...),
		OriginError: r.originErr,
	}
	if s := r.elapsed.Seconds(); s > 0 {
		res.RequestsPerS = float64(r.requests) / s
		res.GbitPerS = float64(r.bytes) * 8 / s / 1e9
	}
	if r.known > 0 {
		res.HitRatio = ptr(float64(r.hits) / float64(r.known))
		if r.knownBytes > 0 {
			res.ByteHitRatio = ptr(float64(r.hitBytes) / float64(r.knownBytes))
		}
	}
	if r.originOK && r.phases > 0 {
		res.OriginRequests = ptr(r.originReq)
		res.OriginBytes = ptr(r.originBytes)
	}
	return res
}

func ptr[T any](v T) *T { return &v }

// originStats are the fields of an origin's /_stats document the benchmark
// uses.
type originStats struct {
	Requests int64 `json:"requests"`
	Bytes    int64 `json:"bytes"`
}

// statsReader reads an origin's /_stats; a nil statsReader (no origin)
// reads nothing.
type statsReader struct {
	hc   *http.Client
	base string
}

// settleWait is how long read waits for the origin's requests in flight to
// end before it takes its counters as they are.
const settleWait = time.Second

// read returns the origin's counters; ok is false without an origin or
// when it does not answer with them. Requests still in flight at the
// origin (a cache's read-ahead, or an origin that counts a request only
// when its handler returns, after the client has read its last byte) are
// not in the counters yet: while its /_stats says requests are in flight,
// read asks again, for up to settleWait.
func (s *statsReader) read(ctx context.Context) (st originStats, ok bool, err error) {
	if s == nil {
		return st, false, nil
	}
	deadline := time.Now().Add(settleWait)
	for {
		st, inflight, err := s.readOnce(ctx)
		if err != nil || inflight == 0 || !time.Now().Before(deadline) {
			return st, err == nil, err
		}
		select {
		case <-ctx.Done():
			return st, true, nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// readOnce reads the origin's counters and its requests in flight (0 if it
// does not say).
func (s *statsReader) readOnce(ctx context.Context) (st originStats, inflight int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/_stats", nil)
	if err != nil {
		return st, 0, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return st, 0, fmt.Errorf("origin stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, 0, fmt.Errorf("origin stats: %s answered %s", req.URL, resp.Status)
	}
	var doc struct {
		Requests *int64 `json:"requests"`
		Bytes    *int64 `json:"bytes"`
		Inflight int64  `json:"inflight"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return st, 0, fmt.Errorf("origin stats: %s: %w", req.URL, err)
	}
	if doc.Requests == nil || doc.Bytes == nil {
		return st, 0, fmt.Errorf("origin stats: %s has no requests/bytes counters", req.URL)
	}
	return originStats{Requests: *doc.Requests, Bytes: *doc.Bytes}, doc.Inflight, nil
}
