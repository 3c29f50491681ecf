package origin

import (
	"context"
	"net/http"
	"sync/atomic"
)

// Switch is a Fetcher whose upstreams can be replaced while it serves: a
// configuration reload builds new Upstreams and sets them here. A fetch
// uses the Fetcher that was current when it began; the one replaced is
// the caller's to close (fetches in progress on it finish).
type Switch struct {
	cur atomic.Pointer[switched]
}

// switched boxes a Fetcher for the atomic pointer.
type switched struct{ f Fetcher }

// NewSwitch returns a Switch fetching from f.
func NewSwitch(f Fetcher) *Switch {
	s := &Switch{}
	s.Set(f)
	return s
}

// Set makes f the current Fetcher and returns the one it replaces (nil the
// first time).
func (s *Switch) Set(f Fetcher) Fetcher {
	if old := s.cur.Swap(&switched{f}); old != nil {
		return old.f
	}
	return nil
}

// Current returns the current Fetcher.
func (s *Switch) Current() Fetcher { return s.cur.Load().f }

// Fetch implements Fetcher with the current Fetcher.
func (s *Switch) Fetch(ctx context.Context, path string, off, n int64, h http.Header) (*Response, error) {
	return s.cur.Load().f.Fetch(ctx, path, off, n, h)
}
