// Package origin talks to the upstream origin of the edge cache and
// provides a deterministic synthetic origin.
//
// Client fetches byte ranges of objects from one configured origin over
// net/http and validates every answer (status, Content-Range, lengths)
// before handing it to the cache; failures come back as *StatusError,
// *TimeoutError (connect, first byte and idle phases) or errors wrapping
// ErrInconsistent.
//
// Synthetic is an http.Handler serving objects whose bytes are a pure
// function of (path, offset), byte-compatible with the reference origin in
// peers/origin, so the demo, tests and benchmarks can verify any byte range
// with FillContent or NewContentReader without storing anything.
package origin
