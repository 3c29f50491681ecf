package fill

import (
	"sync"
	"sync/atomic"
	"time"
)

// FakeClock is a Clock whose time moves only by Advance (for the tests of
// this package and of fill_test).
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped *atomic.Bool
}

// NewFakeClock returns a FakeClock at now.
func NewFakeClock(now time.Time) *FakeClock { return &FakeClock{now: now} }

// Now implements Clock.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements Clock.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	stopped := new(atomic.Bool)
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), f, stopped})
	return func() bool { return !stopped.Swap(true) }
}

// Timers returns the number of timers waiting.
func (c *FakeClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tm := range c.timers {
		if !tm.stopped.Load() {
			n++
		}
	}
	return n
}

// Advance moves the clock by d and runs the timers that are due, each in
// its own goroutine.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []fakeTimer
	keep := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(c.now) {
			due = append(due, tm)
		} else {
			keep = append(keep, tm)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	for _, tm := range due {
		if !tm.stopped.Swap(true) {
			go tm.f()
		}
	}
}
