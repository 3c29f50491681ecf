package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// Issue #9 §2: every origin status is passed on with its header fields and
// body; 502/504 are only the box's own failures. A status answer is stored
// only when it is cacheable by default or has explicit freshness, and not
// when it says no-store.
func TestOriginStatusesPassedThrough(t *testing.T) {
	var fetches atomic.Int64
	h := newHarness(t, harnessOptions{originHandle: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		parts := strings.Split(r.URL.Path, "/") // /st/<code>/<cache-control>
		if len(parts) < 3 {
			t.Errorf("origin asked for %q by %q", r.URL.Path, r.Header.Get("User-Agent"))
			w.WriteHeader(400)
			return
		}
		hd := w.Header()
		hd.Set("X-Origin", "yes")
		hd.Set("Content-Type", "text/html")
		if len(parts) > 3 && parts[3] != "" {
			hd.Set("Cache-Control", strings.ReplaceAll(parts[3], "_", "="))
		}
		switch parts[2] {
		case "301":
			hd.Set("Location", "/moved")
			w.WriteHeader(301)
		case "302":
			hd.Set("Location", "/elsewhere")
			w.WriteHeader(302)
		case "503":
			hd.Set("Retry-After", "30")
			w.WriteHeader(503)
		case "404":
			w.WriteHeader(404)
		case "500":
			w.WriteHeader(500)
		case "403":
			w.WriteHeader(403)
		}
		w.Write([]byte("<p>origin page " + parts[2] + "</p>"))
	})})
	h.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tc := range []struct {
		path   string
		code   int
		header string // a field the answer must carry, "Name: value"
		stored bool
	}{
		{"/st/301/", 301, "Location: /moved", true},
		{"/st/302/", 302, "Location: /elsewhere", false},
		{"/st/302/max-age_60", 302, "Location: /elsewhere", true},
		{"/st/404/", 404, "X-Origin: yes", true},
		{"/st/404/no-store", 404, "X-Origin: yes", false},
		{"/st/403/", 403, "X-Origin: yes", false},
		{"/st/500/", 500, "X-Origin: yes", false},
		{"/st/503/", 503, "Retry-After: 30", false},
	} {
		fetches.Store(0)
		for round := range 2 {
			resp, body := h.do("GET", tc.path)
			if resp.StatusCode != tc.code {
				t.Fatalf("%s round %d: status %d, want %d", tc.path, round, resp.StatusCode, tc.code)
			}
			name, value, _ := strings.Cut(tc.header, ": ")
			if got := resp.Header.Get(name); got != value {
				t.Errorf("%s: %s %q, want %q", tc.path, name, got, value)
			}
			if want := "<p>origin page " + strings.Split(tc.path, "/")[2] + "</p>"; string(body) != want {
				t.Errorf("%s: body %q, want %q", tc.path, body, want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html" {
				t.Errorf("%s: Content-Type %q", tc.path, ct)
			}
		}
		want := int64(2)
		if tc.stored {
			want = 1
		}
		if n := fetches.Load(); n != want {
			t.Errorf("%s: %d origin fetches for two requests, want %d (stored: %v)", tc.path, n, want, tc.stored)
		}
	}
	resp, body := h.do("HEAD", "/st/404/")
	if resp.StatusCode != 404 || len(body) != 0 {
		t.Errorf("HEAD: status %d, %d body bytes", resp.StatusCode, len(body))
	}
}

// Every answer's status line carries its own status's reason phrase: the
// header block an answer is rendered from (with the version's fields) has
// a status line of its own, which must not leak (a 206 once went out as
// "206 OK").
func TestStatusLineReasonPhrases(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const path, size = "/s/100000/reasons", 100000
	resp, body := h.do(http.MethodGet, path)
	if !bytes.Equal(body, originBytes(path, 0, size)) {
		t.Fatal("the first answer's bytes are not the origin's")
	}
	etag := resp.Header.Get("ETag")
	for _, tc := range []struct {
		name  string
		hdr   []string
		code  int
		parts [][2]int64 // origin byte ranges (offset, length) the body holds
	}{
		{"whole", nil, 200, [][2]int64{{0, size}}},
		{"range", []string{"Range", "bytes=10-99"}, 206, [][2]int64{{10, 90}}},
		{"ranges", []string{"Range", "bytes=10-99,200-299"}, 206, [][2]int64{{10, 90}, {200, 100}}},
		{"not modified", []string{"If-None-Match", etag}, 304, nil},
		{"unsatisfiable", []string{"Range", "bytes=999999-"}, 416, nil},
		{"precondition failed", []string{"If-Match", `"other"`}, 412, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.do(http.MethodGet, path, tc.hdr...)
			want := fmt.Sprintf("%d %s", tc.code, fasthttp.StatusMessage(tc.code))
			if resp.Status != want {
				t.Fatalf("status line %q, want %q", resp.Status, want)
			}
			for _, p := range tc.parts {
				if !bytes.Contains(body, originBytes(path, p[0], p[1])) {
					t.Fatalf("the body lacks the origin's bytes %d-%d", p[0], p[0]+p[1]-1)
				}
			}
		})
	}
}

// A request with Cache-Control: only-if-cached is answered from the cache
// or with a 504, never from the origin (RFC 9111 §5.2.1.7).
func TestOnlyIfCached(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const path, size = "/s/100000/oic", 100000
	resp, _ := h.do(http.MethodGet, path, "Cache-Control", "only-if-cached")
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("not stored: %d, want 504", resp.StatusCode)
	}
	if n := h.syn.Stats().Requests; n != 0 {
		t.Fatalf("origin saw %d requests for an only-if-cached request", n)
	}
	if resp, body := h.do(http.MethodGet, path); resp.StatusCode != 200 || !bytes.Equal(body, originBytes(path, 0, size)) {
		t.Fatalf("plain GET: %d", resp.StatusCode)
	}
	h.waitHeld(path)
	for _, tc := range []struct {
		cc, rng  string
		code     int
		off, len int64
	}{
		{"only-if-cached", "", 200, 0, size},
		{"max-age=60, ONLY-IF-CACHED", "", 200, 0, size},
		{"only-if-cached", "bytes=10-99", 206, 10, 90},
	} {
		hdr := []string{"Cache-Control", tc.cc}
		if tc.rng != "" {
			hdr = append(hdr, "Range", tc.rng)
		}
		resp, body := h.do(http.MethodGet, path, hdr...)
		if resp.StatusCode != tc.code || !bytes.Equal(body, originBytes(path, tc.off, tc.len)) {
			t.Errorf("%q %q: %d, %d bytes, want %d and the origin's bytes", tc.cc, tc.rng, resp.StatusCode, len(body), tc.code)
		}
		if !strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
			t.Errorf("%q %q: Cache-Status %q, want a hit", tc.cc, tc.rng, resp.Header.Get("Cache-Status"))
		}
	}
	if n := h.syn.Stats().Requests; n != 1 {
		t.Errorf("origin saw %d requests, want 1", n)
	}
}
