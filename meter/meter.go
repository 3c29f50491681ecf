// Package meter holds the lock-free instruments the serving paths count
// with: a fixed-bucket histogram of durations updated with atomic adds. It
// knows nothing of Prometheus: the admin package reads Snapshots on scrape
// and exports them, so a request pays a few atomic adds, never a label
// lookup or a mutex.
package meter

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, that the daemon's
// latency histograms use: from 100µs (a memory hit) to 5 minutes (a large
// body sent at the minimum send rate).
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// Histogram counts durations in fixed buckets. Observe is safe for
// concurrent use and costs a short search and two atomic adds. The zero
// value is not usable: use NewHistogram.
type Histogram struct {
	bounds []time.Duration // upper bounds, ascending
	counts []atomic.Uint64 // counts[i]: observations <= bounds[i]; the last: above every bound
	sum    atomic.Int64    // nanoseconds
}

// NewHistogram returns a Histogram with the given upper bounds in seconds,
// ascending.
func NewHistogram(bounds []float64) *Histogram {
	h := &Histogram{bounds: make([]time.Duration, len(bounds)), counts: make([]atomic.Uint64, len(bounds)+1)}
	for i, b := range bounds {
		h.bounds[i] = time.Duration(b * float64(time.Second))
	}
	return h
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	lo, hi := 0, len(h.bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if h.bounds[m] < d {
			lo = m + 1
		} else {
			hi = m
		}
	}
	h.counts[lo].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot is a Histogram's state in the form Prometheus exports it.
type Snapshot struct {
	Count   uint64             // observations
	Sum     float64            // their sum in seconds
	Buckets map[float64]uint64 // upper bound in seconds → cumulative count
}

// Snapshot returns the histogram's cumulative counts; Count is the
// buckets' total. An observation made while it runs may be in the buckets
// and not yet in Sum, or the other way round.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Buckets: make(map[float64]uint64, len(h.bounds))}
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		s.Buckets[b.Seconds()] = cum
	}
	cum += h.counts[len(h.bounds)].Load()
	s.Sum = time.Duration(h.sum.Load()).Seconds()
	s.Count = cum
	return s
}
