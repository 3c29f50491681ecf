// Package origin talks to the upstream origin of the edge cache and
// provides a deterministic synthetic origin.
//
// Client fetches byte ranges of objects from one configured origin over
// net/http and validates every answer (status, Content-Range, lengths)
// before handing it to the cache; failures come back as *StatusError,
// *TimeoutError (connect, first byte and idle phases) or errors wrapping
// ErrInconsistent.
//
// Upstreams implements the cache's Source over several Clients, in order
// (parent caches and sibling boxes, then the origin): failover on
// connection errors, timeouts, 5xx and inconsistent answers within a
// per-request deadline; a Breaker (circuit breaker) and a bounded
// in-flight limit with a wait queue per upstream (ErrOverloaded);
// optional health probes; Via on every request for loop detection. When
// no upstream can be asked it fails fast with an *UnavailableError.
// Upstreams.Stats returns each upstream's state and counters for metrics.
//
// Synthetic is an http.Handler serving objects whose bytes are a pure
// function of (path, offset), byte-compatible with the reference origin in
// peers/origin, so the demo, tests and benchmarks can verify any byte range
// with FillContent or NewContentReader without storing anything. Faulty
// stands in front of it and misbehaves on demand (5xx, slow, dead, wrong
// length, short body, new version), for tests.
package origin
