package origin

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Fault is a way a Faulty upstream misbehaves.
type Fault int32

// The faults of a Faulty upstream.
const (
	// FaultNone serves the Synthetic origin's answers as they are.
	FaultNone Fault = iota
	// FaultStatus answers every object request 503 Service Unavailable.
	FaultStatus
	// FaultSlow waits Faulty.Delay before answering (the request's end
	// cuts the wait short).
	FaultSlow
	// FaultDead closes the connection without answering.
	FaultDead
	// FaultWrongLength answers a range request 206 with a Content-Range
	// that does not hold the first byte asked for.
	FaultWrongLength
	// FaultShortBody sends the headers and half the body, then closes the
	// connection.
	FaultShortBody
	// FaultNewVersion serves other bytes under another ETag: the object
	// changed.
	FaultNewVersion
)

// Faulty is an http.Handler in front of a Synthetic origin that
// misbehaves on demand (SetFault), for tests of failover, circuit breakers
// and stale serving. Requests to paths outside /v/, /s/ and /gone/ (such
// as /_stats) are never faulted. It is safe for concurrent use.
type Faulty struct {
	Origin *Synthetic    // what it serves when healthy
	Delay  time.Duration // wait of FaultSlow; set before serving

	fault    atomic.Int32
	requests atomic.Int64
	lastVia  atomic.Value // string
}

// NewFaulty returns a healthy Faulty in front of origin.
func NewFaulty(origin *Synthetic) *Faulty {
	f := &Faulty{Origin: origin, Delay: time.Minute}
	f.lastVia.Store("")
	return f
}

// SetFault makes every following request misbehave as f says.
func (f *Faulty) SetFault(fault Fault) { f.fault.Store(int32(fault)) }

// Requests returns how many object requests it received.
func (f *Faulty) Requests() int64 { return f.requests.Load() }

// LastVia returns the Via field lines of the last object request, joined
// with ", ".
func (f *Faulty) LastVia() string { return f.lastVia.Load().(string) }

// ServeHTTP implements http.Handler.
func (f *Faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if len(p) < 3 || (p[:3] != "/v/" && p[:3] != "/s/" && (len(p) < 6 || p[:6] != "/gone/")) {
		f.Origin.ServeHTTP(w, r)
		return
	}
	f.requests.Add(1)
	f.lastVia.Store(strings.Join(r.Header.Values("Via"), ", "))
	switch Fault(f.fault.Load()) {
	case FaultStatus:
		http.Error(w, "unavailable (faulty upstream)", http.StatusServiceUnavailable)
	case FaultSlow:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			f.Origin.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	case FaultDead:
		hijackClose(w)
	case FaultWrongLength:
		size, ok := f.Origin.SizeOf(p)
		if !ok || r.Header.Get("Range") == "" || size < 2 {
			f.Origin.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", size-1, size-1, size))
		w.Header().Set("Content-Length", "1")
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write([]byte{0})
	case FaultShortBody:
		rec := &halfWriter{ResponseWriter: w}
		f.Origin.ServeHTTP(rec, r)
		if rec.cut {
			panic(http.ErrAbortHandler) // the connection is closed mid-body
		}
	case FaultNewVersion:
		size, ok := f.Origin.SizeOf(p)
		if !ok {
			f.Origin.ServeHTTP(w, r)
			return
		}
		v2 := "/v2" + p
		w.Header().Set("ETag", SyntheticETag(v2, size))
		w.Header().Set("Cache-Control", "public, max-age=60")
		http.ServeContent(w, r, "", DefaultSyntheticModTime.Add(time.Hour), NewContentReader(v2, size))
	default:
		f.Origin.ServeHTTP(w, r)
	}
}

// VersionTwoContent fills p with the bytes FaultNewVersion serves at off of
// the object at path.
func VersionTwoContent(path string, off int64, p []byte) { FillContent("/v2"+path, off, p) }

// hijackClose closes the request's connection without an answer.
func hijackClose(w http.ResponseWriter) {
	if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
		c.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// halfWriter passes on the headers and the first half of the body a
// Content-Length announces, then drops the rest.
type halfWriter struct {
	http.ResponseWriter
	left int64
	cut  bool
	set  bool
}

func (h *halfWriter) WriteHeader(code int) {
	if !h.set {
		h.set = true
		n, _ := strconv.ParseInt(h.Header().Get("Content-Length"), 10, 64)
		h.left = n / 2
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *halfWriter) Write(p []byte) (int, error) {
	if !h.set {
		h.WriteHeader(http.StatusOK)
	}
	if int64(len(p)) > h.left {
		p = p[:h.left]
		h.cut = true
	}
	n, err := h.ResponseWriter.Write(p)
	h.left -= int64(n)
	if err == nil && h.cut {
		if fl, ok := h.ResponseWriter.(http.Flusher); ok {
			fl.Flush()
		}
		return n, fmt.Errorf("faulty upstream: body cut")
	}
	return n, err
}
