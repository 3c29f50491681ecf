package meter

import (
	"sync"
	"testing"
	"time"
)

func TestHistogram(t *testing.T) {
	h := NewHistogram([]float64{0.001, 0.01, 1})
	for _, d := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond, time.Second, time.Hour} {
		h.Observe(d)
	}
	s := h.Snapshot()
	want := map[float64]uint64{0.001: 2, 0.01: 3, 1: 4}
	for b, n := range want {
		if s.Buckets[b] != n {
			t.Errorf("bucket %g: %d, want %d", b, s.Buckets[b], n)
		}
	}
	if s.Count != 5 {
		t.Errorf("count %d, want 5", s.Count)
	}
	if wantSum := (time.Hour + time.Second + 3*time.Millisecond).Seconds(); s.Sum != wantSum {
		t.Errorf("sum %g, want %g", s.Sum, wantSum)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := NewHistogram(LatencyBuckets)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(time.Duration(i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 4000 || s.Buckets[300] != 4000 {
		t.Errorf("count %d, +Inf-1 bucket %d, want 4000", s.Count, s.Buckets[300])
	}
}

func BenchmarkObserve(b *testing.B) {
	h := NewHistogram(LatencyBuckets)
	for i := 0; b.Loop(); i++ {
		h.Observe(time.Duration(i&0xfffff) * time.Microsecond)
	}
}
