package cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"edgecache/origin"
	"edgecache/rfc9111"
)

// reval is one revalidation of a stale version in progress: a conditional
// request (If-None-Match, If-Modified-Since) for the chunk a reader needs.
// Every Lookup of the version while it runs waits for the same answer.
type reval struct {
	done chan struct{}
	meta *Meta // the refreshed or new version, once done
	err  error
}

// staleLookup answers a Lookup whose stored version is stale: at once with
// it while it is revalidated in the background if its
// stale-while-revalidate allows (Stale); else after revalidating it, or
// with it anyway if the origin fails and its stale-if-error allows
// (StaleError). idx is the chunk the reader needs first; fwd are the
// request fields a revalidation the request starts sends (owned).
func (s *Store) staleLookup(ctx context.Context, stale *Meta, idx int64, now time.Time, fwd http.Header) (*Meta, Status, error, bool) {
	fr := s.fresh.Load()
	swr, sie := rfc9111.StaleWindows(nil, stale.Header, rfc9111.StaleLimits{
		MaxWhileRevalidate: fr.MaxStaleWhileRevalidate,
		MaxIfError:         fr.MaxStaleIfError,
		DefaultIfError:     fr.StaleIfError,
	})
	staleness := now.Sub(stale.Expires)
	if staleness < swr {
		s.startReval(stale, idx, fwd)
		s.staleHits.Add(1)
		return stale, Stale, nil, false
	}
	r := s.startReval(stale, idx, fwd)
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, Revalidated, fmt.Errorf("revalidating %s: %w", stale.path, ctx.Err()), false
	}
	if r.err != nil {
		if staleness < sie && originFailed(r.err) {
			s.staleHits.Add(1)
			s.log.Debug("origin failed; serving stale", "key", stale.Key, "stale", staleness, "err", r.err)
			return stale, StaleError, nil, false
		}
		return nil, s.statusAnswer(stale.Key, r.err, Revalidated, now), r.err, false
	}
	st := Revalidated
	if r.meta.NoStore {
		st = Pass
	}
	return r.meta, st, nil, false
}

// originFailed reports whether err says the origin could not give an
// answer: it could not be reached, timed out, or answered 500, 502, 503 or
// 504 (the errors stale-if-error covers, RFC 5861 §4). A cancelled request
// or the Store's closing is not an origin failure.
func originFailed(err error) bool {
	var se *origin.StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case 500, 502, 503, 504:
			return true
		}
		return false
	}
	return !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled)
}

// startReval joins the revalidation of stale's variant or starts one,
// which sends the request fields fwd (owned; nil: stale's own).
func (s *Store) startReval(stale *Meta, idx int64, fwd http.Header) *reval {
	s.revalMu.Lock()
	defer s.revalMu.Unlock()
	if r := s.revals[stale.Key]; r != nil {
		return r
	}
	r := &reval{done: make(chan struct{})}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		r.err = fmt.Errorf("revalidating %s: %w", stale.Key, ErrClosed)
		close(r.done)
		return r
	}
	s.wg.Add(1)
	s.closeMu.RUnlock()
	s.revals[stale.Key] = r
	go s.runReval(r, stale, idx, fwd)
	return r
}

// runReval revalidates stale: a conditional request for chunk idx. A 304
// refreshes the stored version's header fields and freshness without
// fetching a byte (RFC 9111 §4.3.4). Any other answer with a body (a new
// version, or an origin that ignored the conditionals) becomes the flight
// of chunk idx, as if the chunk had been missed. A version without
// validators is fetched again unconditionally. The requests send fwd, the
// fields of the client request that started the revalidation, with the
// values stale was selected by (it varies on them).
func (s *Store) runReval(r *reval, stale *Meta, idx int64, fwd http.Header) {
	defer s.wg.Done()
	defer func() {
		s.revalMu.Lock()
		delete(s.revals, stale.Key)
		s.revalMu.Unlock()
		close(r.done)
	}()
	s.revalidations.Add(1)
	h := make(http.Header, len(fwd)+len(stale.fwd)+2)
	for k, v := range fwd {
		h[k] = v
	}
	for k, v := range stale.fwd {
		h[k] = v
	}
	fwd = h.Clone() // the refetch's fields, without the conditionals below
	if stale.ETag != "" {
		h.Set("If-None-Match", stale.ETag)
	}
	if !stale.LastModified.IsZero() {
		h.Set("If-Modified-Since", stale.LastModified.UTC().Format(http.TimeFormat))
	}
	var resp *origin.Response
	sent := s.opt.Now()
	if stale.ETag != "" || !stale.LastModified.IsZero() {
		var err error
		resp, err = s.src.Fetch(s.ctx, stale.path, idx*s.chunk, s.chunk, h)
		var se *origin.StatusError
		switch {
		case errors.As(err, &se) && se.Code == http.StatusNotModified:
			s.notModified.Add(1)
			r.meta = stale.refreshed(se.Header, sent, s.opt.Now(), s.fresh.Load().DefaultTTL)
			s.override(r.meta)
			s.learn(r.meta)
			return
		case errors.As(err, &se) && se.Code == http.StatusRequestedRangeNotSatisfiable:
			resp = nil // the object shrank: ask as a miss does
		case err != nil:
			r.err = err
			return
		}
	}
	id := chunkID{stale.Key, idx}
	g := s.flights.shard(id)
	g.mu.Lock()
	f := g.m[id]
	if f != nil {
		g.mu.Unlock()
		if resp != nil {
			resp.Body.Close() // the chunk's flight is already asking
		}
	} else {
		f = newFlight(id, stale.path, fwd)
		f.resp, f.sent = resp, sent
		if s.begin(f) {
			g.m[id] = f
			go s.run(f)
		}
		g.mu.Unlock()
	}
	r.meta, r.err = s.flightMeta(s.ctx, f)
}
