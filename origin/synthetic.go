package origin

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of SyntheticOptions.
const (
	DefaultSyntheticSize   = 1 << 20        // bytes of a /v/<title>/<seg>.m4s object
	DefaultSyntheticMaxAge = 24 * time.Hour // Cache-Control max-age
	maxStatsPaths          = 10000          // bound of the per-path counters
	noCountHeader          = "X-Origin-No-Count"
)

// DefaultSyntheticModTime is the default Last-Modified of synthetic objects.
var DefaultSyntheticModTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// SyntheticOptions configures a Synthetic origin. Zero values select the
// defaults.
type SyntheticOptions struct {
	// DefaultSize is the size of /v/<title>/<seg>.m4s objects
	// (default DefaultSyntheticSize; values <= 0 mean the default).
	DefaultSize int64
	// ModTime is the Last-Modified of every object (default
	// DefaultSyntheticModTime).
	ModTime time.Time
	// MaxAge is the Cache-Control max-age of objects and 410 answers
	// (default DefaultSyntheticMaxAge; negative means max-age=0).
	MaxAge time.Duration
	// Delay is slept before every object response (not before 404s or
	// stats). The sleep ends early if the request context is cancelled.
	Delay time.Duration
}

// Synthetic is a deterministic synthetic video origin, an http.Handler that
// is byte-compatible with the reference origin (peers/origin). It serves
// GET and HEAD for:
//
//	/v/<title>/<seg>.m4s  object of DefaultSize bytes
//	/s/<bytes>/<name>     object of an explicit size (see ParseSize)
//	/gone/<anything>      410 Gone (for negative-caching tests)
//
// and 404 for anything else. Object bodies come from FillContent; responses
// carry a strong ETag (SyntheticETag), Last-Modified, Cache-Control: public,
// max-age=N and Accept-Ranges: bytes, and are served with
// http.ServeContent, so single and multiple ranges, conditional requests
// and 416 answers follow the standard library. Objects are streamed, never
// buffered.
//
// Traffic counters are served as JSON at /_stats (?paths=1 adds per-path
// request counts) and zeroed by /_stats/reset. Requests carrying the header
// "X-Origin-No-Count: 1" are served but not counted.
type Synthetic struct {
	defSize      int64
	modTime      time.Time
	cacheControl string
	delay        time.Duration

	requests    atomic.Int64
	bytes       atomic.Int64
	gets        atomic.Int64
	heads       atomic.Int64
	ranged      atomic.Int64
	status200   atomic.Int64
	status206   atomic.Int64
	status304   atomic.Int64
	statusOther atomic.Int64
	inflight    atomic.Int64
	maxInflight atomic.Int64

	mu      sync.Mutex
	perPath map[string]int64 // at most maxStatsPaths entries
	since   time.Time
}

// Stats is a snapshot of the counters of a Synthetic origin. Its JSON form
// is the /_stats document of the reference origin.
type Stats struct {
	Requests    int64     `json:"requests"`     // counted object requests (and 410s)
	Bytes       int64     `json:"bytes"`        // body bytes actually written
	Get         int64     `json:"get"`          // GET requests
	Head        int64     `json:"head"`         // HEAD requests
	Range       int64     `json:"range"`        // requests with a Range header
	Status200   int64     `json:"status_200"`   // 200 answers
	Status206   int64     `json:"status_206"`   // 206 answers
	Status304   int64     `json:"status_304"`   // 304 answers
	StatusOther int64     `json:"status_other"` // any other status (416, 410, ...)
	Inflight    int64     `json:"inflight"`     // requests being served now
	MaxInflight int64     `json:"max_inflight"` // peak of Inflight since reset
	Distinct    int       `json:"distinct"`     // distinct paths requested (bounded)
	Since       time.Time `json:"since"`        // last reset (UTC)
	// Paths holds per-path request counts; only filled for /_stats?paths=1.
	Paths map[string]int64 `json:"paths,omitempty"`
}

// NewSynthetic returns a Synthetic origin with the given options.
func NewSynthetic(opt SyntheticOptions) *Synthetic {
	s := &Synthetic{
		defSize: opt.DefaultSize,
		modTime: opt.ModTime,
		delay:   opt.Delay,
	}
	if s.defSize <= 0 {
		s.defSize = DefaultSyntheticSize
	}
	if s.modTime.IsZero() {
		s.modTime = DefaultSyntheticModTime
	}
	maxAge := opt.MaxAge
	if maxAge == 0 {
		maxAge = DefaultSyntheticMaxAge
	}
	secs := max(int64(maxAge/time.Second), 0)
	s.cacheControl = "public, max-age=" + strconv.FormatInt(secs, 10)
	s.ResetStats()
	return s
}

// SizeOf returns the size of the object the origin serves for path (a
// decoded URL path without query); ok is false if path is not an object.
func (s *Synthetic) SizeOf(path string) (int64, bool) { return sizeFor(path, s.defSize) }

// Stats returns a snapshot of the counters (without per-path counts).
func (s *Synthetic) Stats() Stats { return s.snapshot(false) }

// PathCounts returns the number of counted requests per path since the
// last reset (at most 10000 distinct paths are tracked).
func (s *Synthetic) PathCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.perPath)
}

// ResetStats zeroes the counters. MaxInflight restarts at the current
// number of in-flight requests.
func (s *Synthetic) ResetStats() {
	for _, c := range []*atomic.Int64{&s.requests, &s.bytes, &s.gets, &s.heads, &s.ranged,
		&s.status200, &s.status206, &s.status304, &s.statusOther} {
		c.Store(0)
	}
	s.maxInflight.Store(s.inflight.Load())
	s.mu.Lock()
	s.perPath = map[string]int64{}
	s.since = time.Now().UTC()
	s.mu.Unlock()
}

func (s *Synthetic) snapshot(withPaths bool) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Requests:    s.requests.Load(),
		Bytes:       s.bytes.Load(),
		Get:         s.gets.Load(),
		Head:        s.heads.Load(),
		Range:       s.ranged.Load(),
		Status200:   s.status200.Load(),
		Status206:   s.status206.Load(),
		Status304:   s.status304.Load(),
		StatusOther: s.statusOther.Load(),
		Inflight:    s.inflight.Load(),
		MaxInflight: s.maxInflight.Load(),
		Distinct:    len(s.perPath),
		Since:       s.since,
	}
	if withPaths {
		st.Paths = maps.Clone(s.perPath)
	}
	return st
}

// statsWithPaths always emits "paths", even when empty (the outer field
// shadows Stats.Paths, which is omitempty).
type statsWithPaths struct {
	Stats
	Paths map[string]int64 `json:"paths"`
}

// ServeHTTP implements http.Handler.
func (s *Synthetic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch path {
	case "/_stats":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		if r.URL.Query().Get("paths") == "1" {
			st := s.snapshot(true)
			_ = enc.Encode(statsWithPaths{Stats: st, Paths: st.Paths})
		} else {
			_ = enc.Encode(s.snapshot(false))
		}
		return
	case "/_stats/reset":
		s.ResetStats()
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	gone := strings.HasPrefix(path, "/gone/")
	size, ok := s.SizeOf(path)
	if !ok && !gone {
		http.NotFound(w, r)
		return
	}

	cw := &countingWriter{ResponseWriter: w}
	if r.Header.Get(noCountHeader) == "" {
		cw.bytes = &s.bytes
		s.begin(r, path)
		defer s.end(cw)
	}

	h := w.Header()
	if gone {
		h.Set("Cache-Control", s.cacheControl)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", "5")
		cw.WriteHeader(http.StatusGone)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(cw, "gone\n")
		}
		return
	}

	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	h.Set("ETag", SyntheticETag(path, size))
	h.Set("Cache-Control", s.cacheControl)
	h.Set("Accept-Ranges", "bytes")
	if strings.HasSuffix(path, ".m4s") {
		h.Set("Content-Type", "video/iso.segment")
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	// Since Go 1.23 ServeContent strips ETag, Last-Modified and
	// Cache-Control from its error answers; the reference origin (built
	// with the older default) keeps them on 416, and so do we.
	cw.keep416 = []string{"Etag", h.Get("ETag"), "Last-Modified", s.modTime.UTC().Format(http.TimeFormat),
		"Cache-Control", s.cacheControl}
	http.ServeContent(cw, r, "", s.modTime, &contentReader{seed: seedOf(path), size: size})
}

// begin counts a request entering service: the request, its method,
// Range and path are counted here and its bytes as they are written
// (countingWriter), before the client can have them, so that a client that
// has read a whole answer finds it counted; only its status waits for end.
func (s *Synthetic) begin(r *http.Request, path string) {
	s.requests.Add(1)
	if r.Method == http.MethodHead {
		s.heads.Add(1)
	} else {
		s.gets.Add(1)
	}
	if r.Header.Get("Range") != "" {
		s.ranged.Add(1)
	}
	s.mu.Lock()
	if _, seen := s.perPath[path]; seen || len(s.perPath) < maxStatsPaths {
		s.perPath[path]++
	}
	s.mu.Unlock()
	cur := s.inflight.Add(1)
	for {
		m := s.maxInflight.Load()
		if cur <= m || s.maxInflight.CompareAndSwap(m, cur) {
			return
		}
	}
}

// end counts a finished request's status.
func (s *Synthetic) end(cw *countingWriter) {
	s.inflight.Add(-1)
	switch cw.status {
	case http.StatusOK:
		s.status200.Add(1)
	case http.StatusPartialContent:
		s.status206.Add(1)
	case http.StatusNotModified:
		s.status304.Add(1)
	default:
		s.statusOther.Add(1)
	}
}

// copyBufPool holds the buffers countingWriter.ReadFrom streams through.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

// countingWriter records the status and counts the body bytes written in
// the origin's byte counter: before each write (so a client that has read
// them finds them counted), less what the write did not take.
type countingWriter struct {
	http.ResponseWriter
	status  int
	bytes   *atomic.Int64 // the origin's byte counter, nil for an uncounted request
	keep416 []string      // header name/value pairs restored on a 416
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if code == http.StatusRequestedRangeNotSatisfiable {
			for i := 0; i+1 < len(w.keep416); i += 2 {
				w.Header().Set(w.keep416[i], w.keep416[i+1])
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.bytes != nil {
		w.bytes.Add(int64(len(p))) // before the client can have them; less what was not written
	}
	n, err := w.ResponseWriter.Write(p)
	if w.bytes != nil && n < len(p) {
		w.bytes.Add(int64(n - len(p)))
	}
	return n, err
}

// ReadFrom streams r through a large pooled buffer (fewer, bigger writes
// than io.Copy's default 32 KiB).
func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	return io.CopyBuffer(writerOnly{w}, r, *bp)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides ReadFrom so io.CopyBuffer does not recurse.
type writerOnly struct{ io.Writer }
