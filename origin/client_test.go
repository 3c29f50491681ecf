package origin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTestClient returns a Client for srv whose transport records every
// response body, so tests can check that Fetch closes them on errors.
func newTestClient(t *testing.T, base string, opt Options) (*Client, *bodyRecorder) {
	t.Helper()
	c, err := NewClient(base, opt)
	if err != nil {
		t.Fatal(err)
	}
	rec := &bodyRecorder{rt: c.tr}
	c.hc.Transport = rec
	t.Cleanup(c.Close)
	return c, rec
}

// bodyRecorder wraps a RoundTripper and tracks response body closes.
type bodyRecorder struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	bodies []*trackedBody
}

type trackedBody struct {
	io.ReadCloser
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return b.ReadCloser.Close() }

func (r *bodyRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err == nil {
		tb := &trackedBody{ReadCloser: resp.Body}
		resp.Body = tb
		r.mu.Lock()
		r.bodies = append(r.bodies, tb)
		r.mu.Unlock()
	}
	return resp, err
}

// allClosed reports whether every recorded body was closed.
func (r *bodyRecorder) allClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bodies {
		if !b.closed.Load() {
			return false
		}
	}
	return true
}

func readAll(t *testing.T, r *Response) []byte {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return b
}

func TestNewClient(t *testing.T) {
	for _, tc := range []struct {
		base string
		ok   bool
		want string // substring of the error, or the client's base
	}{
		{"http://127.0.0.1:8081", true, "http://127.0.0.1:8081"},
		{"http://127.0.0.1:8081/", true, "http://127.0.0.1:8081"},
		{"https://origin.example/pre/fix/", true, "https://origin.example/pre/fix"},
		{"ftp://127.0.0.1/", false, "http://"},
		{"127.0.0.1:8081", false, "127.0.0.1:8081"},
		{"", false, "http://"},
		{"http://", false, "no host"},
		{"http:///path", false, "no host"},
		{"http://:80", false, "no host"},
		{"http://h/?q=1", false, "query"},
		{"http://h/?", false, "query"},
		{"http://h/#frag", false, "fragment"},
		{"http://u:p@h/", false, "user info"},
		{"http://h/%zz", false, "bad base URL"},
	} {
		c, err := NewClient(tc.base, Options{})
		if tc.ok {
			if err != nil || c.base != tc.want {
				t.Errorf("NewClient(%q): base %v, err %v", tc.base, c, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewClient(%q) error %v, want mention of %q", tc.base, err, tc.want)
		}
	}
	c, _ := NewClient("http://127.0.0.1:1", Options{})
	if c.opt.ConnectTimeout != 3*time.Second || c.opt.FirstByteTimeout != 15*time.Second ||
		c.opt.IdleTimeout != 15*time.Second || c.opt.MaxConnsPerHost != 512 {
		t.Errorf("defaults: %+v", c.opt)
	}
	if c.tr.Proxy != nil || !c.tr.DisableCompression || c.tr.MaxIdleConnsPerHost != 512 ||
		c.tr.ResponseHeaderTimeout != 15*time.Second || c.tr.ForceAttemptHTTP2 {
		t.Errorf("transport settings: %+v", c.tr)
	}
}

func TestFetchRangesFromSynthetic(t *testing.T) {
	s := NewSynthetic(SyntheticOptions{})
	mux := http.NewServeMux()
	mux.Handle("/", s)
	mux.Handle("/pre/", http.StripPrefix("/pre", s))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	const path = "/s/100000/seg.m4s"
	const size = 100000
	want := refBytes(path, 0, size)
	for _, base := range []string{srv.URL, srv.URL + "/pre/"} {
		c, rec := newTestClient(t, base, Options{})
		for _, tc := range []struct {
			off, n         int64
			status         int
			offset, length int64
		}{
			{0, 100, 206, 0, 100},
			{3, 1000, 206, 3, 1000},
			{99990, 100, 206, 99990, 10}, // clipped at the end
			{size - 1, 1, 206, size - 1, 1},
			{12345, 54321, 206, 12345, 54321},
			{0, size, 206, 0, size},
			{0, -1, 200, 0, size}, // whole object
			{500, -1, 206, 500, size - 500},
		} {
			name := fmt.Sprintf("%s off=%d n=%d", base, tc.off, tc.n)
			r, err := c.Fetch(context.Background(), path, tc.off, tc.n, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if r.Status != tc.status || r.Offset != tc.offset || r.Length != tc.length || r.Size != size {
				t.Errorf("%s: status %d offset %d length %d size %d", name, r.Status, r.Offset, r.Length, r.Size)
			}
			if r.ETag != SyntheticETag(path, size) || !r.LastModified.Equal(DefaultSyntheticModTime) ||
				r.ContentType != "video/iso.segment" || r.CacheControl != "public, max-age=86400" || r.Date.IsZero() {
				t.Errorf("%s: metadata %+v", name, r)
			}
			if got := readAll(t, r); !bytes.Equal(got, want[r.Offset:r.Offset+r.Length]) {
				t.Errorf("%s: body differs", name)
			}
		}
		if !rec.allClosed() {
			t.Error("unclosed bodies")
		}
	}
}

func TestFetchRequestAndConnectionReuse(t *testing.T) {
	s := NewSynthetic(SyntheticOptions{DefaultSize: 5000})
	var seen []string
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s|%s|%s|%s", r.RequestURI, r.Header.Get("Range"),
			r.Header.Get("User-Agent"), r.Header.Get("Accept-Encoding")))
		mu.Unlock()
		s.ServeHTTP(w, r)
	}))
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, rec := newTestClient(t, srv.URL, Options{})
	ctx := context.Background()

	paths := []string{"/v/a%2Fb/1.m4s", "/v/t/1.m4s?x=a%20b&y", "//v/t/1.m4s", "/nope", "/gone/z", "/v/t/2.m4s"}
	for _, p := range paths {
		r, err := c.Fetch(ctx, p, 10, 20, nil)
		if err == nil {
			readAll(t, r)
		}
	}
	if _, err := c.Fetch(ctx, "/v/t/9.m4s", 6000, 10, nil); err == nil { // 416
		t.Fatal("416 expected")
	}
	want := []string{
		"/v/a%2Fb/1.m4s|bytes=10-29|edgecache|identity",
		"/v/t/1.m4s?x=a%20b&y|bytes=10-29|edgecache|identity",
		"//v/t/1.m4s|bytes=10-29|edgecache|identity",
		"/nope|bytes=10-29|edgecache|identity",
		"/gone/z|bytes=10-29|edgecache|identity",
		"/v/t/2.m4s|bytes=10-29|edgecache|identity",
		"/v/t/9.m4s|bytes=6000-6009|edgecache|identity",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests seen:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for sequential fetches, want 1 (reuse)", n)
	}
	if !rec.allClosed() {
		t.Error("unclosed bodies")
	}

	// Paths that are not absolute or carry a fragment are refused.
	for _, p := range []string{"", "v/a", "@evil.example/x", "/a#b"} {
		if _, err := c.Fetch(ctx, p, 0, 1, nil); err == nil {
			t.Errorf("Fetch(%q) accepted", p)
		}
	}
	for _, r := range [][2]int64{{-1, 10}, {0, 0}, {5, 0}} {
		if _, err := c.Fetch(ctx, "/v/t/1.m4s", r[0], r[1], nil); err == nil {
			t.Errorf("Fetch range %v accepted", r)
		}
	}
}

// handler is a test origin answering every request with fixed headers and
// body.
func handler(status int, hdr map[string]string, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range hdr {
			w.Header()[k] = []string{v}
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

func TestFetchOriginIgnoresRange(t *testing.T) {
	body := strings.Repeat("x", 1000)
	srv := httptest.NewServer(handler(200, map[string]string{
		"Content-Type": "application/octet-stream", "Etag": `"e1"`, "Expires": "Thu, 01 Jan 2037 00:00:00 GMT",
		"Age": "42", "Cache-Control": "max-age=5",
	}, body))
	defer srv.Close()
	c, rec := newTestClient(t, srv.URL, Options{})
	r, err := c.Fetch(context.Background(), "/x", 100, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || r.Offset != 0 || r.Length != 1000 || r.Size != 1000 || r.ETag != `"e1"` ||
		r.Expires != "Thu, 01 Jan 2037 00:00:00 GMT" || r.Age != "42" || r.CacheControl != "max-age=5" ||
		!r.LastModified.IsZero() {
		t.Errorf("response %+v", r)
	}
	if got := readAll(t, r); string(got) != body {
		t.Error("body differs")
	}
	if !rec.allClosed() {
		t.Error("unclosed body")
	}
}

func TestFetchInconsistent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		hdr    map[string]string
		body   string
		off, n int64
	}{
		{"wrong offset", 206, map[string]string{"Content-Range": "bytes 1-10/100"}, "0123456789", 0, 10},
		{"range after the byte asked", 206, map[string]string{"Content-Range": "bytes 20-29/100"}, "0123456789", 10, 10},
		{"range before the byte asked", 206, map[string]string{"Content-Range": "bytes 0-9/100"}, "0123456789", 10, 10},
		{"unknown size", 206, map[string]string{"Content-Range": "bytes 0-9/*"}, "0123456789", 0, 10},
		{"no content-range", 206, nil, "0123456789", 0, 10},
		{"garbage content-range", 206, map[string]string{"Content-Range": "bytes x-y/z"}, "0123456789", 0, 10},
		{"end beyond size", 206, map[string]string{"Content-Range": "bytes 0-9/5"}, "0123456789", 0, 10},
		{"content-length mismatch", 206, map[string]string{"Content-Range": "bytes 0-9/100", "Content-Length": "5"}, "01234", 0, 10},
		{"multipart", 206, map[string]string{"Content-Type": "multipart/byteranges; boundary=x"}, "--x--", 0, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := handler(tc.status, tc.hdr, tc.body)
			srv := httptest.NewServer(h)
			defer srv.Close()
			c, rec := newTestClient(t, srv.URL, Options{})
			r, err := c.Fetch(context.Background(), "/obj", tc.off, tc.n, nil)
			if err == nil {
				r.Body.Close()
				t.Fatalf("accepted: %+v", r)
			}
			if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "/obj") ||
				!strings.Contains(err.Error(), "asked") {
				t.Errorf("error %v", err)
			}
			if !rec.allClosed() {
				t.Error("body not closed")
			}
		})
	}
}

// Issue #9 §9: a 200 without Content-Length (chunked, as a compressing
// origin answers) is a valid answer: read whole, up to MaxUnsizedBody, and
// its size is what arrived.
func TestFetchUnsizedAnswer(t *testing.T) {
	big := strings.Repeat("q", MaxUnsizedBody+1)
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{{"small", "abc", true}, {"empty", "", true}, {"too long", big, false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("ETag", `"u"`)
				w.Header().Set("Content-Encoding", "gzip")
				w.WriteHeader(200)
				w.(http.Flusher).Flush() // forces chunked encoding
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, rec := newTestClient(t, srv.URL, Options{})
			r, err := c.Fetch(context.Background(), "/obj", 0, 10, nil)
			if !tc.ok {
				if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "/obj") {
					t.Fatalf("error %v, want one wrapping ErrInconsistent naming the path", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if string(got) != tc.body || r.Size != int64(len(tc.body)) || r.Length != r.Size || r.Offset != 0 ||
				r.ETag != `"u"` || r.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("got %q, %+v", got, r)
			}
			if !rec.allClosed() {
				t.Error("body not closed")
			}
		})
	}
}

// Answers without Content-Length are held in a budget of
// MaxUnsizedBuffered bytes per Client until their bodies are closed: a
// read that finds it spent waits (closing a body makes room), within the
// idle timeout, then fails with errUnsizedBudget, which does not count
// against the upstream.
func TestFetchUnsizedBudget(t *testing.T) {
	body := strings.Repeat("u", 20<<20) // each holds a 32 MiB buffer: two fit in the budget, three do not
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush() // forces chunked encoding
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, Options{IdleTimeout: time.Minute})
	var held []*Response
	for i := range 2 {
		r, err := c.Fetch(context.Background(), fmt.Sprintf("/o%d", i), 0, 10, nil)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		held = append(held, r)
	}
	third := make(chan error, 1)
	go func() {
		r, err := c.Fetch(context.Background(), "/o2", 0, 10, nil)
		if err == nil {
			got, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if string(got) != body {
				err = fmt.Errorf("%d bytes, want the origin's %d", len(got), len(body))
			}
		}
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("a third unsized answer while two are held: %v, want it to wait", err)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Body.Close()
	held[0].Body.Close() // idempotent: gives its bytes back once
	if err := <-third; err != nil {
		t.Fatalf("after a body was closed: %v", err)
	}
	held[1].Body.Close()
	if !c.unsized.TryAcquire(MaxUnsizedBuffered) {
		t.Fatal("the budget was not all given back")
	}

	// The budget spent for longer than the idle timeout.
	small := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "small")
	}))
	defer small.Close()
	c2, _ := newTestClient(t, small.URL, Options{IdleTimeout: 300 * time.Millisecond})
	if !c2.unsized.TryAcquire(MaxUnsizedBuffered) {
		t.Fatal("a new client's budget is not free")
	}
	_, err := c2.Fetch(context.Background(), "/s", 0, 10, nil)
	if !errors.Is(err, errUnsizedBudget) {
		t.Fatalf("with the budget spent: %v, want errUnsizedBudget", err)
	}
	if ok, _ := judge(err); !ok {
		t.Error("the budget's error counts against the upstream")
	}
	c2.unsized.Release(MaxUnsizedBuffered)
}

func TestFetchStatusErrors(t *testing.T) {
	s := NewSynthetic(SyntheticOptions{})
	mux := http.NewServeMux()
	mux.Handle("/", s)
	mux.Handle("/err500", handler(500, nil, "boom"))
	mux.Handle("/big404", handler(404, nil, strings.Repeat("z", 200<<10)))
	mux.Handle("/nm", handler(304, map[string]string{"Etag": `"a"`}, ""))
	mux.Handle("/redir", http.RedirectHandler("/s/10/x", http.StatusFound))
	mux.Handle("/416nosize", handler(416, nil, ""))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, rec := newTestClient(t, srv.URL, Options{})
	for _, tc := range []struct {
		path   string
		off, n int64
		code   int
		size   int64
		header string // header that must be present in StatusError.Header
	}{
		{"/nope", 0, 10, 404, -1, "Content-Type"},
		{"/big404", 0, 10, 404, -1, "Content-Type"},
		{"/gone/x", 0, 10, 410, -1, "Cache-Control"},
		{"/s/1000/x", 1000, 10, 416, 1000, "Content-Range"},
		{"/s/1000/x", 5000, -1, 416, 1000, "Content-Type"},
		{"/416nosize", 0, 10, 416, -1, "Date"},
		{"/err500", 0, 10, 500, -1, "Content-Type"},
		{"/nm", 0, 10, 304, -1, "Etag"},
		{"/redir", 0, 10, 302, -1, "Location"},
	} {
		_, err := c.Fetch(context.Background(), tc.path, tc.off, tc.n, nil)
		var se *StatusError
		if !errors.As(err, &se) {
			t.Errorf("%s: error %v is not a StatusError", tc.path, err)
			continue
		}
		if se.StatusCode() != tc.code || se.Code != tc.code || se.Size != tc.size || se.Path != tc.path ||
			se.Header.Get(tc.header) == "" {
			t.Errorf("%s: %+v", tc.path, se)
		}
		if tc.code == 416 && tc.size > 0 && se.Header.Get("ETag") != SyntheticETag(tc.path, tc.size) {
			t.Errorf("%s: 416 ETag %q", tc.path, se.Header.Get("ETag"))
		}
		if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), fmt.Sprint(tc.code)) {
			t.Errorf("%s: message %q", tc.path, err)
		}
		var to interface{ Timeout() bool }
		if errors.As(err, &to) && to.Timeout() {
			t.Errorf("%s: status error reports a timeout", tc.path)
		}
	}
	if !rec.allClosed() {
		t.Error("unclosed bodies")
	}
}

// rawServer starts a TCP server on 127.0.0.1 that answers each connection
// with fn (after reading the request head) and then closes it.
func rawServer(t *testing.T, fn func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = http.ReadRequest(bufio.NewReader(c))
				fn(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestFetchShortBody(t *testing.T) {
	declared := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-999/5000")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(206)
		_, _ = io.WriteString(w, strings.Repeat("a", 500))
	}))
	defer declared.Close()
	closeDelimited := rawServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-999/5000\r\nConnection: close\r\n\r\n"+
			strings.Repeat("b", 500))
	})
	for _, base := range []string{declared.URL, closeDelimited} {
		c, rec := newTestClient(t, base, Options{})
		r, err := c.Fetch(context.Background(), "/short", 0, 1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) != 500 ||
			!strings.Contains(err.Error(), "/short") || !strings.Contains(err.Error(), "500 of 1000") {
			t.Errorf("%s: read %d bytes, err %v", base, len(got), err)
		}
		if _, err2 := r.Body.Read(make([]byte, 10)); !errors.Is(err2, io.ErrUnexpectedEOF) {
			t.Errorf("error not sticky: %v", err2)
		}
		r.Body.Close()
		if !rec.allClosed() {
			t.Error("unclosed body")
		}
	}
}

func TestFetchBodyLongerThanRange(t *testing.T) {
	base := rawServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\nConnection: close\r\n\r\n"+
			"01234567890123456789")
	})
	c, _ := newTestClient(t, base, Options{})
	r, err := c.Fetch(context.Background(), "/long", 0, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	got, err := io.ReadAll(r.Body)
	if string(got) != "0123456789" || !errors.Is(err, ErrInconsistent) {
		t.Errorf("got %q, %v", got, err)
	}
}

// stall waits until the request is cancelled (the client hung up) or the
// test's safety limit passes.
func stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func TestFetchFirstByteTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { stall(r) }))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, Options{FirstByteTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := c.Fetch(context.Background(), "/slow", 0, 10, nil)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	var te *TimeoutError
	if !errors.As(err, &te) || te.Phase != PhaseFirstByte || !isTimeout(err) {
		t.Fatalf("error %v (%T)", err, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "origin first byte timeout") || !strings.Contains(msg, "/slow") {
		t.Errorf("message %q", msg)
	}
}

func TestFetchIdleTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-999/1000")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(206)
		_, _ = io.WriteString(w, strings.Repeat("a", 100))
		w.(http.Flusher).Flush()
		stall(r)
	}))
	defer srv.Close()
	c, rec := newTestClient(t, srv.URL, Options{IdleTimeout: 100 * time.Millisecond})
	r, err := c.Fetch(context.Background(), "/stall", 0, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := io.ReadAll(r.Body)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	var te *TimeoutError
	if len(got) != 100 || !errors.As(err, &te) || te.Phase != PhaseIdle || te.Bytes != 100 || !isTimeout(err) {
		t.Fatalf("read %d bytes, error %v (%T)", len(got), err, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "origin idle timeout") || !strings.Contains(msg, "/stall") ||
		!strings.Contains(msg, "after 100 bytes") {
		t.Errorf("message %q", msg)
	}
	r.Body.Close()
	if !rec.allClosed() {
		t.Error("unclosed body")
	}
}

func TestFetchSlowReaderIsNotIdle(t *testing.T) {
	srv := httptest.NewServer(NewSynthetic(SyntheticOptions{}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, Options{IdleTimeout: 50 * time.Millisecond})
	r, err := c.Fetch(context.Background(), "/s/64K/x", 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	time.Sleep(150 * time.Millisecond) // before the first Read
	buf := make([]byte, 16<<10)
	var got []byte
	for {
		n, err := r.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond) // caller busy between Reads
	}
	if !bytes.Equal(got, refBytes("/s/64K/x", 0, 64<<10)) {
		t.Fatal("body differs")
	}
}

func TestFetchConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, _ := newTestClient(t, "http://"+addr, Options{})
	_, err = c.Fetch(context.Background(), "/v/a/1.m4s", 0, 10, nil)
	var oe *net.OpError
	if err == nil || !errors.As(err, &oe) || isTimeout(err) {
		t.Fatalf("error %v", err)
	}
	if !strings.HasPrefix(err.Error(), "origin /v/a/1.m4s: ") {
		t.Errorf("message %q", err)
	}
}

func TestFetchConnectTimeout(t *testing.T) {
	c, _ := newTestClient(t, "http://127.0.0.1:1", Options{ConnectTimeout: 100 * time.Millisecond})
	// A dial that never completes (like SYNs into a black hole).
	hang := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
	}
	c.tr.DialContext = connectTimeoutDial(hang, c.opt.ConnectTimeout)
	start := time.Now()
	_, err := c.Fetch(context.Background(), "/v/a/1.m4s", 0, 10, nil)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	var te *TimeoutError
	if !errors.As(err, &te) || te.Phase != PhaseConnect || !isTimeout(err) {
		t.Fatalf("error %v (%T)", err, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "origin connect timeout after 100ms") || !strings.Contains(msg, "/v/a/1.m4s") {
		t.Errorf("message %q", msg)
	}

	// The caller's own deadline during the dial is not a connect timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = c.Fetch(ctx, "/v/a/1.m4s", 0, 10, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) {
		t.Fatalf("caller deadline: %v", err)
	}
}

func TestFetchContextCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "1000")
			_, _ = io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
		}
		stall(r)
	}))
	defer srv.Close()
	c, rec := newTestClient(t, srv.URL, Options{})

	// Cancelled while waiting for headers.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Fetch(ctx, "/head", 0, -1, nil)
	var te *TimeoutError
	if !errors.Is(err, context.Canceled) || errors.As(err, &te) || !strings.Contains(err.Error(), "/head") {
		t.Fatalf("error %v", err)
	}

	// Cancelled while reading the body.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	r, err := c.Fetch(ctx, "/body", 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	got, err := io.ReadAll(r.Body)
	if string(got) != "abc" || !errors.Is(err, context.Canceled) || errors.As(err, &te) {
		t.Fatalf("read %q, error %v", got, err)
	}
	r.Body.Close()
	if !rec.allClosed() {
		t.Error("unclosed body")
	}
	if _, err := r.Body.Read(make([]byte, 1)); err == nil {
		t.Error("read after close succeeded")
	}
}

func TestFetchConcurrent(t *testing.T) {
	srv := httptest.NewServer(NewSynthetic(SyntheticOptions{}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, Options{MaxConnsPerHost: 4})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			path := fmt.Sprintf("/v/c/%d.m4s", i%5)
			off := int64(i * 1000)
			r, err := c.Fetch(context.Background(), path, off, 5000, nil)
			if err != nil {
				errs <- err
				return
			}
			defer r.Body.Close()
			b, err := io.ReadAll(r.Body)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(b, refBytes(path, off, 5000)) {
				errs <- fmt.Errorf("%s@%d: body differs", path, off)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFetchCloseAbortsRead(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "abc")
		w.(http.Flusher).Flush()
		stall(r)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, Options{})
	r, err := c.Fetch(context.Background(), "/x", 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { r.Body.Close() })
	start := time.Now()
	got, err := io.ReadAll(r.Body)
	if string(got) != "abc" || err == nil || isTimeout(err) || time.Since(start) > 3*time.Second {
		t.Fatalf("read %q, error %v", got, err)
	}
}

func TestFetchStalledErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "not ")
		w.(http.Flusher).Flush()
		stall(r)
	}))
	defer srv.Close()
	c, rec := newTestClient(t, srv.URL, Options{IdleTimeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := c.Fetch(context.Background(), "/x", 0, 10, nil)
	// The body is passed on to the client, so a stalled one is the
	// origin timing out.
	var te *TimeoutError
	if !errors.As(err, &te) || te.Phase != PhaseIdle || time.Since(start) > 3*time.Second {
		t.Fatalf("error %v after %v", err, time.Since(start))
	}
	if !rec.allClosed() {
		t.Error("unclosed body")
	}
}

// Issue #9 §9: a 206 for another range than asked that holds the first byte
// asked for is a valid answer; Offset and Length say what came.
func TestFetchOtherRange(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cr, body string
		off, n   int64
		wantOff  int64
		wantLen  int64
		wantSize int64
	}{
		{"shorter", "bytes 0-8/100", "012345678", 0, 10, 0, 9, 100},
		{"longer", "bytes 0-19/100", "01234567890123456789", 0, 10, 0, 20, 100},
		{"earlier start", "bytes 90-99/200", "0123456789", 95, 10, 90, 10, 200},
		{"past the end asked", "bytes 95-99/200", "01234", 95, 10, 95, 5, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(handler(206, map[string]string{"Content-Range": tc.cr}, tc.body))
			defer srv.Close()
			c, _ := newTestClient(t, srv.URL, Options{})
			r, err := c.Fetch(context.Background(), "/obj", tc.off, tc.n, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			if r.Offset != tc.wantOff || r.Length != tc.wantLen || r.Size != tc.wantSize {
				t.Fatalf("offset %d length %d size %d, want %d %d %d", r.Offset, r.Length, r.Size, tc.wantOff, tc.wantLen, tc.wantSize)
			}
			b, err := io.ReadAll(r.Body)
			if err != nil || string(b) != tc.body {
				t.Fatalf("body %q, %v; want %q", b, err, tc.body)
			}
		})
	}
}
