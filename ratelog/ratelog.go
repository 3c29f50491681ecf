// Package ratelog rate-limits repeated log lines from one cause: the first
// line of a cause is logged, later ones within the interval are counted, and
// the next line logged for that cause carries the count of those suppressed.
// An operator sees every cause at once and a steady one at most once per
// interval, instead of one line per failing request.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter logs through a slog.Logger at most once per interval per cause.
// It is safe for concurrent use. The zero value is not usable: use New.
type Limiter struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	causes map[string]*cause
}

type cause struct {
	next       time.Time // the next line may be logged from then on
	suppressed int64     // lines not logged since the last one
}

// maxCauses bounds the causes remembered; past it the table is reset, so a
// flood of distinct causes costs memory bounded by it.
const maxCauses = 1024

// New returns a Limiter logging to log at most once per interval per cause.
func New(log *slog.Logger, interval time.Duration) *Limiter {
	return &Limiter{log: log, interval: interval, now: time.Now, causes: make(map[string]*cause)}
}

// Log logs msg with args at level, unless a line of the same cause (a short,
// bounded string such as the message plus an error class — never a request
// path) was logged less than the interval ago; then it only counts it. A
// line that follows suppressed ones carries "suppressed"=N. It reports
// whether the line was logged.
func (l *Limiter) Log(level slog.Level, causeKey, msg string, args ...any) bool {
	now := l.now()
	l.mu.Lock()
	c := l.causes[causeKey]
	if c == nil {
		if len(l.causes) >= maxCauses {
			clear(l.causes)
		}
		c = &cause{}
		l.causes[causeKey] = c
	}
	if now.Before(c.next) {
		c.suppressed++
		l.mu.Unlock()
		return false
	}
	n := c.suppressed
	c.suppressed = 0
	c.next = now.Add(l.interval)
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Log(context.Background(), level, msg, args...)
	return true
}
