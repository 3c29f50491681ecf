package origin

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrOverloaded is wrapped by the errors of fetches refused because an
// upstream's in-flight limit was reached and its wait queue was full, or
// the wait for a slot outlasted its deadline. The server answers them 503
// with Retry-After.
var ErrOverloaded = errors.New("upstream overloaded")

// limiter bounds the fetches in flight to one upstream: at most cap hold a
// slot; up to queue more wait for one, each at most wait; the others are
// refused at once.
type limiter struct {
	slots   chan struct{}
	queue   int64
	wait    time.Duration
	waiting atomic.Int64

	inflight, maxInflight atomic.Int64
	overloads             atomic.Int64 // refused: queue full or wait expired
	queued                atomic.Int64 // fetches that waited for a slot
}

func newLimiter(capacity, queue int, wait time.Duration) *limiter {
	return &limiter{slots: make(chan struct{}, capacity), queue: int64(queue), wait: wait}
}

// errQueueFull and errQueueWait are the causes of ErrOverloaded.
var (
	errQueueFull = errors.New("wait queue full")
	errQueueWait = errors.New("waited too long for a slot")
)

// acquire takes a slot, waiting in the queue at most l.wait (and no later
// than deadline, if not zero). It fails with errQueueFull, errQueueWait or
// ctx's error.
func (l *limiter) acquire(ctx context.Context, deadline time.Time) error {
	select {
	case l.slots <- struct{}{}:
		l.took()
		return nil
	default:
	}
	if l.waiting.Add(1) > l.queue {
		l.waiting.Add(-1)
		l.overloads.Add(1)
		return errQueueFull
	}
	defer l.waiting.Add(-1)
	l.queued.Add(1)
	wait := l.wait
	if !deadline.IsZero() {
		wait = min(wait, time.Until(deadline))
	}
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		l.took()
		return nil
	case <-t.C:
		l.overloads.Add(1)
		return errQueueWait
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// took counts a slot taken.
func (l *limiter) took() {
	n := l.inflight.Add(1)
	for {
		m := l.maxInflight.Load()
		if n <= m || l.maxInflight.CompareAndSwap(m, n) {
			return
		}
	}
}

// release gives a slot back.
func (l *limiter) release() {
	l.inflight.Add(-1)
	<-l.slots
}
