package origin

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"edgecache/meter"
)

// FetchResult classifies one origin fetch for the metrics.
type FetchResult uint8

// Fetch results.
const (
	FetchOK           FetchResult = iota // a usable answer (200, 206, or 416 telling the size)
	FetchStatus                          // a status answer other than 200, 206 and 416 (passed on to the client)
	FetchTimeout                         // a connect or first-byte timeout
	FetchInconsistent                    // an answer that did not match the request
	FetchError                           // the origin unreachable, or another transport error
	FetchCanceled                        // the daemon gave the fetch up (shutdown, no reader left)
	NumFetchResults
)

var fetchResultNames = [NumFetchResults]string{"ok", "status", "timeout", "inconsistent", "error", "canceled"}

// String returns the result's name as the metrics label it.
func (r FetchResult) String() string { return fetchResultNames[r] }

// Fetcher fetches byte ranges of objects: a Client, or Upstreams.
type Fetcher interface {
	Fetch(ctx context.Context, path string, off, n int64, h http.Header) (*Response, error)
}

// Metered is a Fetcher that counts its fetches by result and times them to
// the answer's headers. It stands in for the Fetcher as the cache's source;
// counting costs a few atomic adds per fetch.
type Metered struct {
	src     Fetcher
	results [NumFetchResults]atomic.Int64
	latency *meter.Histogram
}

// NewMetered returns f with metering.
func NewMetered(f Fetcher) *Metered {
	return &Metered{src: f, latency: meter.NewHistogram(meter.LatencyBuckets)}
}

// Fetch is the Fetcher's Fetch, counted.
func (m *Metered) Fetch(ctx context.Context, path string, off, n int64, h http.Header) (*Response, error) {
	start := time.Now()
	resp, err := m.src.Fetch(ctx, path, off, n, h)
	m.latency.Observe(time.Since(start))
	m.results[classify(ctx, err)].Add(1)
	return resp, err
}

// classify returns the result of a fetch that ended with err.
func classify(ctx context.Context, err error) FetchResult {
	var se *StatusError
	var te interface{ Timeout() bool }
	switch {
	case err == nil:
		return FetchOK
	case errors.As(err, &se):
		if se.Code == 416 || se.Code == 304 { // an answer about the object: its size, or a revalidation's "unchanged"
			return FetchOK
		}
		return FetchStatus
	case errors.As(err, &te) && te.Timeout():
		return FetchTimeout
	case errors.Is(err, ErrInconsistent):
		return FetchInconsistent
	case ctx.Err() != nil:
		return FetchCanceled
	}
	return FetchError
}

// FetchStats are a Metered's counters.
type FetchStats struct {
	// Results counts fetches by result, indexed by FetchResult.
	Results [NumFetchResults]int64
	// Latency is the time from asking to the answer's headers (or the
	// failure).
	Latency meter.Snapshot
}

// Stats returns the counters.
func (m *Metered) Stats() FetchStats {
	var s FetchStats
	for i := range s.Results {
		s.Results[i] = m.results[i].Load()
	}
	s.Latency = m.latency.Snapshot()
	return s
}
