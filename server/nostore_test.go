package server

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"
)

// ccWriter replaces the Cache-Control of the answer it writes.
type ccWriter struct {
	http.ResponseWriter
	cc    string
	vary  string // if set, the answer's Vary
	wrote bool
}

func (w *ccWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.Header().Set("Cache-Control", w.cc)
		if w.vary != "" {
			w.Header().Set("Vary", w.vary)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *ccWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Issue #9 §3: a response that must not be stored (no-store, private,
// Vary: *) costs one origin fetch
// per chunk of each request that needs it (not two), is served right, and
// its Cache-Status does not say "stored".
func TestNoStoreFetchedOnce(t *testing.T) {
	for _, tc := range []struct{ cc, vary string }{{"no-store", ""}, {"private, max-age=60", ""}, {"public, max-age=60", "*"}} {
		cc := tc.cc
		t.Run(cc+" vary "+tc.vary, func(t *testing.T) {
			var fetches atomic.Int64
			var h *harness
			h = newHarness(t, harnessOptions{originHandle: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fetches.Add(1)
				h.syn.ServeHTTP(&ccWriter{ResponseWriter: w, cc: cc, vary: tc.vary}, r)
			})})
			for _, tc := range []struct {
				path        string
				off, n      int64
				rangeHdr    string
				wantFetches int64
			}{
				{"/s/100000/small.json", 0, 100000, "", 1},
				{"/s/100000/small.json", 10, 20, "bytes=10-29", 1},
				{"/s/3M/big.bin", 0, 3 << 20, "", 3},
				{"/s/3M/big.bin", 2<<20 + 5, 100, "bytes=2097157-2097256", 1},
			} {
				for round := range 2 {
					fetches.Store(0)
					var hdr []string
					if tc.rangeHdr != "" {
						hdr = []string{"Range", tc.rangeHdr}
					}
					resp, body := h.do("GET", tc.path, hdr...)
					if resp.StatusCode/100 != 2 || !bytes.Equal(body, originBytes(tc.path, tc.off, tc.n)) {
						t.Fatalf("%s %q round %d: status %d, bytes differ from the origin's", tc.path, tc.rangeHdr, round, resp.StatusCode)
					}
					if n := fetches.Load(); n != tc.wantFetches {
						t.Errorf("%s %q round %d: %d origin fetches, want %d", tc.path, tc.rangeHdr, round, n, tc.wantFetches)
					}
					if cs := resp.Header.Get("Cache-Status"); cs != "edgecache; fwd=miss" {
						t.Errorf("%s: Cache-Status %q, want %q", tc.path, cs, "edgecache; fwd=miss")
					}
					if got := resp.Header.Get("Cache-Control"); got != cc {
						t.Errorf("%s: Cache-Control %q, want %q", tc.path, got, cc)
					}
				}
			}
		})
	}
}
