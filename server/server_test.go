package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgecache/cache"
	"edgecache/origin"

	"golang.org/x/sys/unix"
)

// harness is a cache in front of an in-process synthetic origin, all on
// 127.0.0.1 ports picked by the kernel.
type harness struct {
	t      *testing.T
	syn    *origin.Synthetic
	origin *httptest.Server
	store  *cache.Store
	srv    *Server
	base   string // the cache's URL
	client *http.Client
}

type harnessOptions struct {
	chunk, mem   int64
	originHandle http.Handler // in front of the synthetic origin, if set
	originURL    string       // use this origin URL instead (e.g. a dead port)
	timeouts     origin.Options
	server       Options          // the server's options; Logger nil: panicLogger
	setup        func(*Server)    // if set, called before the server serves
	now          func() time.Time // the cache's clock, if set
	cache        cache.Options    // other cache options (ChunkSize, Memory, NegativeTTL and Now are set from the above)
}

// panicLogger returns a logger that passes records on to slog.Default and
// fails the test on the ERROR line of a recovered panic: a panic anywhere
// in the server is a bug even when the client's answer looks right.
func panicLogger(t *testing.T) *slog.Logger {
	h := &panicHandler{Handler: slog.Default().Handler(), t: t, done: new(atomic.Bool)}
	t.Cleanup(func() { h.done.Store(true) }) // registered first, so it runs last
	return slog.New(h)
}

type panicHandler struct {
	slog.Handler
	t    *testing.T
	done *atomic.Bool // the test is over: t must not be used
}

func (h *panicHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && r.Message == PanicLogMessage && !h.done.Load() {
		var attrs []string
		r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a.String()); return true })
		h.t.Errorf("the server recovered a panic: %s", strings.Join(attrs, " "))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *panicHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &panicHandler{Handler: h.Handler.WithAttrs(as), t: h.t, done: h.done}
}

func (h *panicHandler) WithGroup(name string) slog.Handler {
	return &panicHandler{Handler: h.Handler.WithGroup(name), t: h.t, done: h.done}
}

func newHarness(t *testing.T, ho harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, syn: origin.NewSynthetic(origin.SyntheticOptions{})}
	if ho.server.Logger == nil {
		ho.server.Logger = panicLogger(t)
	}
	var handler http.Handler = h.syn
	if ho.originHandle != nil {
		handler = ho.originHandle
	}
	h.origin = httptest.NewServer(handler)
	t.Cleanup(h.origin.Close)
	url := h.origin.URL
	if ho.originURL != "" {
		url = ho.originURL
	}
	client, err := origin.NewClient(url, ho.timeouts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	if ho.chunk == 0 {
		ho.chunk = 1 << 20
	}
	if ho.mem == 0 {
		ho.mem = 256 << 20
	}
	co := ho.cache
	co.ChunkSize, co.Memory, co.NegativeTTL, co.Now = ho.chunk, ho.mem, time.Minute, ho.now
	h.store, err = cache.New(client, co)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.store.Close)
	srv := New(h.store, ho.server)
	h.srv = srv
	if ho.setup != nil {
		ho.setup(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	h.base = "http://" + ln.Addr().String()
	h.client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 200}}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

// request builds a request for path on the cache.
func (h *harness) request(method, path string) *http.Request {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return req
}

// waitHeld waits until every chunk of key is in the memory tier.
func (h *harness) waitHeld(key string) {
	h.t.Helper()
	for i := 0; i < 500; i++ {
		meta, _, err := h.store.Lookup(context.Background(), cache.NewKey(key), 0, nil)
		if err != nil {
			h.t.Fatal(err)
		}
		if held, _, total := h.store.Residency(meta, 0, meta.Size); held == total {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("%s never landed in memory", key)
}

// get performs a request through the cache and reads the whole body.
func (h *harness) do(method, path string, hdr ...string) (*http.Response, []byte) {
	h.t.Helper()
	req := h.request(method, path)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, body
}

// originBytes returns what the origin holds at [off, off+n) of path.
func originBytes(path string, off, n int64) []byte {
	p := make([]byte, n)
	origin.FillContent(path, off, p)
	return p
}

// raw sends a literal request on a new connection and returns the response.
func (h *harness) raw(req string) (*http.Response, []byte) {
	h.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		h.t.Fatalf("%q: %v", req, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestFullGet(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const path = "/s/3000000/full.m4s"
	for i, wantStatus := range []string{"edgecache; fwd=miss; stored", "edgecache; hit; detail=mem"} {
		if i > 0 {
			h.waitHeld(path)
		}
		resp, body := h.do("GET", path)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if !bytes.Equal(body, originBytes(path, 0, 3000000)) {
			t.Fatalf("request %d: body differs from the origin's (%d bytes)", i, len(body))
		}
		checkHeaders(t, resp, map[string]string{
			"Accept-Ranges":  "bytes",
			"ETag":           origin.SyntheticETag(path, 3000000),
			"Content-Type":   "video/iso.segment",
			"Content-Length": "3000000",
			"Cache-Status":   wantStatus,
			"Last-Modified":  "Mon, 01 Jan 2024 00:00:00 GMT",
		})
		if _, err := strconv.Atoi(resp.Header.Get("Age")); err != nil {
			t.Errorf("Age %q", resp.Header.Get("Age"))
		}
	}
	if st := h.syn.Stats(); st.Bytes != 3000000 {
		t.Errorf("origin sent %d bytes, want 3000000 (once)", st.Bytes)
	}
}

func checkHeaders(t *testing.T, resp *http.Response, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

func TestRanges(t *testing.T) {
	const size = 3000000
	const path = "/s/3000000/r.m4s"
	cases := []struct {
		rng        string
		start, end int64 // inclusive
	}{
		{"bytes=0-0", 0, 0},
		{"bytes=100-2000000", 100, 2000000},
		{"bytes=1048575-1048576", 1048575, 1048576},
		{"bytes=-500", size - 500, size - 1},
		{"bytes=2999000-", 2999000, size - 1},
		{"bytes=2097152-", 2097152, size - 1}, // the short last chunk
		{"bytes=5-9999999", 5, size - 1},
		{"bytes=-99999999", 0, size - 1},
		{"bytes=1048576-2097151", 1048576, 2097151},
	}
	for _, cold := range []bool{true, false} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/cold=%v", tc.rng, cold), func(t *testing.T) {
				h := newHarness(t, harnessOptions{})
				if !cold {
					h.do("GET", path)
				}
				resp, body := h.do("GET", path, "Range", tc.rng)
				if resp.StatusCode != 206 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				want := fmt.Sprintf("bytes %d-%d/%d", tc.start, tc.end, size)
				if cr := resp.Header.Get("Content-Range"); cr != want {
					t.Fatalf("Content-Range %q, want %q", cr, want)
				}
				if !bytes.Equal(body, originBytes(path, tc.start, tc.end-tc.start+1)) {
					t.Fatal("body differs from the origin's")
				}
			})
		}
	}
}

func TestHead(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	resp, body := h.do("HEAD", "/s/5000/h")
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != 5000 {
		t.Fatalf("HEAD: %d, body %d, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	resp, _ = h.do("HEAD", "/s/5000/h", "Range", "bytes=10-19")
	if resp.StatusCode != 206 || resp.ContentLength != 10 || resp.Header.Get("Content-Range") != "bytes 10-19/5000" {
		t.Fatalf("ranged HEAD: %d %d %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Range"))
	}
	// The HEAD started filling the cache; once the fill lands the GET is a
	// hit and byte-exact.
	h.waitHeld("/s/5000/h")
	resp, body = h.do("GET", "/s/5000/h")
	if !bytes.Equal(body, originBytes("/s/5000/h", 0, 5000)) || resp.Header.Get("Cache-Status") != "edgecache; hit; detail=mem" {
		t.Fatalf("GET after HEAD: %q", resp.Header.Get("Cache-Status"))
	}
}

func TestConditional(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const path = "/s/70000/c"
	etag := origin.SyntheticETag(path, 70000)
	cases := []struct {
		name   string
		hdr    []string
		status int
		start  int64
		n      int64
	}{
		{"if-none-match hit", []string{"If-None-Match", etag}, 304, 0, 0},
		{"if-none-match list", []string{"If-None-Match", `"x", ` + etag}, 304, 0, 0},
		{"if-none-match other", []string{"If-None-Match", `"x"`}, 200, 0, 70000},
		{"if-modified-since later", []string{"If-Modified-Since", "Tue, 02 Jan 2024 00:00:00 GMT"}, 304, 0, 0},
		{"if-modified-since earlier", []string{"If-Modified-Since", "Sun, 31 Dec 2023 00:00:00 GMT"}, 200, 0, 70000},
		{"if-match fails", []string{"If-Match", `"nope"`}, 412, 0, 0},
		{"if-range etag matches", []string{"Range", "bytes=10-19", "If-Range", etag}, 206, 10, 10},
		{"if-range etag differs", []string{"Range", "bytes=10-19", "If-Range", `"old"`}, 200, 0, 70000},
		{"if-range date matches", []string{"Range", "bytes=10-19", "If-Range", "Mon, 01 Jan 2024 00:00:00 GMT"}, 206, 10, 10},
		{"if-range date differs", []string{"Range", "bytes=10-19", "If-Range", "Mon, 01 Jan 2024 00:00:01 GMT"}, 200, 0, 70000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.do("GET", path, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if resp.StatusCode == 304 {
				if len(body) != 0 || resp.Header.Get("ETag") != etag {
					t.Fatalf("304 with body %d, ETag %q", len(body), resp.Header.Get("ETag"))
				}
				return
			}
			if tc.status < 300 && !bytes.Equal(body, originBytes(path, tc.start, tc.n)) {
				t.Fatal("body differs from the origin's")
			}
		})
	}
}

func TestUnsatisfiable(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, warm := range []bool{false, true} {
		resp, body := h.do("GET", "/s/1000/u", "Range", "bytes=5000-")
		if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */1000" {
			t.Fatalf("warm=%v: %d %q", warm, resp.StatusCode, resp.Header.Get("Content-Range"))
		}
		if !strings.HasSuffix(string(body), "\n") || strings.Count(string(body), "\n") != 1 {
			t.Fatalf("body %q is not one line", body)
		}
	}
	// An empty object is sent whole whatever the Range (ffmpeg's first
	// request is bytes=0-: a 416 stopped it), cold and warm.
	for _, rng := range []string{"bytes=0-", "bytes=-5", "bytes=3-7", ""} {
		resp, body := h.do("GET", "/s/0/empty", "Range", rng)
		if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Range") != "" || resp.Header.Get("Content-Length") != "0" {
			t.Fatalf("empty object, Range %q: %d, %d bytes, Content-Range %q", rng, resp.StatusCode, len(body), resp.Header.Get("Content-Range"))
		}
	}
	// A position past int64 is past any end: a first one is unsatisfiable,
	// a last one clamps to the end.
	resp, _ := h.do("GET", "/s/1000/u", "Range", "bytes=99999999999999999999-")
	if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */1000" {
		t.Fatalf("first-pos past int64: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	resp, body := h.do("GET", "/s/1000/u", "Range", "bytes=10-18446744073709551615")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 10-999/1000" || !bytes.Equal(body, originBytes("/s/1000/u", 10, 990)) {
		t.Fatalf("last-pos past int64: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
}

func TestIgnoredRanges(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const path = "/s/100000/i"
	many := "bytes=" + strings.Repeat("0-1,", 16) + "2-3"
	for _, rng := range []string{"bytes=abc", "bytes=5-2", "items=0-1", "bytes=-", many} {
		resp, body := h.do("GET", path, "Range", rng)
		if resp.StatusCode != 200 || !bytes.Equal(body, originBytes(path, 0, 100000)) {
			t.Fatalf("Range %q: status %d, %d bytes", rng, resp.StatusCode, len(body))
		}
	}
}

func TestMultipart(t *testing.T) {
	const size = 3000000
	const path = "/s/3000000/mp.m4s"
	h := newHarness(t, harnessOptions{})
	want := [][2]int64{{0, 9}, {1048570, 1048580}, {size - 5, size - 1}}
	for pass := 0; pass < 2; pass++ {
		resp, body := h.do("GET", path, "Range", "bytes=0-9, 1048570-1048580,-5")
		if resp.StatusCode != 206 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if resp.ContentLength != int64(len(body)) {
			t.Fatalf("Content-Length %d, body %d", resp.ContentLength, len(body))
		}
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for i, w := range want {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if cr := p.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", w[0], w[1], size) {
				t.Fatalf("part %d Content-Range %q", i, cr)
			}
			if ct := p.Header.Get("Content-Type"); ct != "video/iso.segment" {
				t.Fatalf("part %d Content-Type %q", i, ct)
			}
			got, _ := io.ReadAll(p)
			if !bytes.Equal(got, originBytes(path, w[0], w[1]-w[0]+1)) {
				t.Fatalf("part %d differs from the origin's", i)
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Fatalf("after the last part: %v", err)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		resp, _ := h.do(m, "/s/10/x")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("%s: %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if n := h.syn.Stats().Requests; n != 0 {
		t.Errorf("origin saw %d requests", n)
	}
}

// OPTIONS is answered by the box: 204 with Allow; a CORS preflight for GET
// or HEAD is allowed for any origin with the fields it names (a page whose
// requests need a preflight could not play through the box), one for
// another method is not; the origin is never asked.
func TestOptions(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, tc := range []struct {
		name    string
		hdr     []string
		allowed bool
		headers string
	}{
		{"plain", nil, false, ""},
		{"preflight GET", []string{"Origin", "https://player.example", "Access-Control-Request-Method", "GET",
			"Access-Control-Request-Headers", "range, x-session-id"}, true, "range, x-session-id"},
		{"preflight HEAD", []string{"Origin", "https://player.example", "Access-Control-Request-Method", "HEAD"}, true, ""},
		{"preflight DELETE", []string{"Origin", "https://player.example", "Access-Control-Request-Method", "DELETE"}, false, ""},
		{"bad field names", []string{"Origin", "https://player.example", "Access-Control-Request-Method", "GET",
			"Access-Control-Request-Headers", "range, x:y"}, true, ""},
	} {
		resp, body := h.do("OPTIONS", "/s/10/x", tc.hdr...)
		if resp.StatusCode != 204 || len(body) != 0 || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Errorf("%s: %d, %d bytes, Allow %q", tc.name, resp.StatusCode, len(body), resp.Header.Get("Allow"))
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin") == "*"; got != tc.allowed {
			t.Errorf("%s: Access-Control-Allow-Origin %q", tc.name, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		if tc.allowed && (resp.Header.Get("Access-Control-Allow-Methods") != "GET, HEAD" || resp.Header.Get("Access-Control-Allow-Headers") != tc.headers ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "") {
			t.Errorf("%s: %v", tc.name, resp.Header)
		}
	}
	if n := h.syn.Stats().Requests; n != 0 {
		t.Errorf("origin saw %d requests", n)
	}
	// The connection goes on: a GET after an OPTIONS on it is served.
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "OPTIONS /s/10/x HTTP/1.1\r\nHost: x\r\n\r\nGET /s/10/x HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for i, want := range []int{204, 200} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || want == 200 && !bytes.Equal(body, originBytes("/s/10/x", 0, 10)) {
			t.Fatalf("answer %d: %d %q, want %d", i, resp.StatusCode, body, want)
		}
	}
}

func TestBadTargets(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, target := range []string{
		"/s/10/../../etc/passwd",
		"/s/10/%2e%2e/x",
		"/s/10/..%2F..%2Fx",
		"/s/10/a%00b",
		"/s/10/a%zzb",
		"*",
	} {
		resp, body := h.raw("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 400 {
			t.Errorf("%.40q: status %d, want 400 (%q)", target, resp.StatusCode, body)
		}
	}
	if n := h.syn.Stats().Requests; n != 0 {
		t.Errorf("origin saw %d requests for bad targets", n)
	}
}

// A target longer than server.max_path_length (raw, or once normalized) is
// 414, as is a request line longer than the read buffer; a header block
// that does not fit the buffer is 431. None reaches the origin.
func TestTooLong(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, c := range []struct {
		name string
		req  string
		want int
	}{
		{"path", "GET /" + strings.Repeat("a", 5000) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414},
		{"absolute-form path", "GET http://h/" + strings.Repeat("a", 5000) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414},
		{"normalized key", "GET /a?x=" + strings.Repeat("%C3%A9", 700) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414},
		{"request line past the buffer", "GET /" + strings.Repeat("a", 20000) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 414},
		{"header past the buffer", "GET /s/10/x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 20000) + "\r\nConnection: close\r\n\r\n", 431},
		{"headers past the buffer", "GET /s/10/x HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: "+strings.Repeat("c", 100)+"\r\n", 200) + "Connection: close\r\n\r\n", 431},
	} {
		resp, body := h.raw(c.req)
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d (%q)", c.name, resp.StatusCode, c.want, body)
		}
	}
	// Within the limits, the same shapes are served.
	resp, body := h.raw("GET /s/10/" + strings.Repeat("a", 4000) + " HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 4000) + "\r\nConnection: close\r\n\r\n")
	if want := originBytes("/s/10/"+strings.Repeat("a", 4000), 0, 10); resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Errorf("long but within limits: status %d, %d bytes", resp.StatusCode, len(body))
	}
	if n := h.syn.Stats().Requests; n != 1 {
		t.Errorf("origin saw %d requests, want 1", n)
	}
}

// A request line naming another major version of HTTP gets 505 and the
// connection is closed; HTTP/1.0, 1.1 and a higher 1.x minor are served.
func TestUnsupportedVersion(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, c := range []struct {
		proto string
		want  int
	}{{"HTTP/2.0", 505}, {"HTTP/3.0", 505}, {"HTTP/9.9", 505}, {"HTTP/1.0", 200}, {"HTTP/1.1", 200}, {"HTTP/1.2", 200}} {
		resp, body := h.raw("GET /s/10/v HTTP/" + strings.TrimPrefix(c.proto, "HTTP/") + "\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d (%q)", c.proto, resp.StatusCode, c.want, body)
		} else if c.want == 200 && !bytes.Equal(body, originBytes("/s/10/v", 0, 10)) {
			t.Errorf("%s: body %q", c.proto, body)
		}
	}
	if n := h.syn.Stats().Requests; n != 1 {
		t.Errorf("origin saw %d requests, want 1", n)
	}
}

// An absolute-form target is served from the configured origin, never from
// the host it names: the cache is not an open proxy.
func TestAbsoluteFormIsNotProxied(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	resp, body := h.raw("GET http://evil.example:9/s/100/abs HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || !bytes.Equal(body, originBytes("/s/100/abs", 0, 100)) {
		t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
	}
	// Two spellings of one path are one object.
	h.waitHeld("/s/100/abs")
	resp, body = h.do("GET", "/s//100/./ab%73")
	if resp.StatusCode != 200 || !bytes.Equal(body, originBytes("/s/100/abs", 0, 100)) || resp.Header.Get("Cache-Status") != "edgecache; hit; detail=mem" {
		t.Fatalf("respelled path: %d %q", resp.StatusCode, resp.Header.Get("Cache-Status"))
	}
}

func TestOriginNotFound(t *testing.T) {
	var hits atomic.Int64
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		syn.ServeHTTP(w, r)
	})
	h := newHarness(t, harnessOptions{originHandle: counting})
	for _, tc := range []struct {
		path string
		code int
	}{{"/nope", 404}, {"/gone/x", 410}} {
		for i := 0; i < 3; i++ {
			resp, _ := h.do("GET", tc.path)
			if resp.StatusCode != tc.code {
				t.Fatalf("%s: %d, want %d", tc.path, resp.StatusCode, tc.code)
			}
		}
	}
	if n := hits.Load(); n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (negative answers are cached)", n)
	}
}

func TestOriginDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	h := newHarness(t, harnessOptions{originURL: dead})
	resp, body := h.do("GET", "/s/100/x")
	if resp.StatusCode != 502 || strings.Count(string(body), "\n") != 1 {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
}

func TestOriginTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	h := newHarness(t, harnessOptions{originHandle: slow, timeouts: origin.Options{FirstByteTimeout: 200 * time.Millisecond}})
	defer close(release)
	resp, body := h.do("GET", "/s/100/x")
	if resp.StatusCode != 504 || strings.Count(string(body), "\n") != 1 {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
}

// 100 concurrent cold requests for one 8 MiB object cost the origin exactly
// 8 chunk requests and 8 MiB.
func TestCollapse(t *testing.T) {
	delayed := func(syn http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Millisecond) // widen the window
			syn.ServeHTTP(w, r)
		})
	}
	var h *harness
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	// 100 clients reading 8 MiB each under -race on a loaded machine may
	// stall past the pacing's 10 s grace per write: give them a minute.
	h = newHarness(t, harnessOptions{originHandle: delayed(syn), setup: func(s *Server) { s.writeGrace = time.Minute }})
	const path = "/s/8M/collapse.m4s"
	want := originBytes(path, 0, 8<<20)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	start := make(chan struct{})
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := h.client.Get(h.base + path)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			// Compared as it arrives: 100 bodies of 8 MiB held at once
			// were 800 MiB of heap under -race.
			buf := make([]byte, 64<<10)
			var off int
			for {
				n, err := resp.Body.Read(buf)
				if off+n > len(want) || !bytes.Equal(buf[:n], want[off:off+n]) {
					errs <- fmt.Errorf("body differs from the origin's at byte %d", off)
					return
				}
				off += n
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- fmt.Errorf("after %d bytes: %w", off, err)
					return
				}
			}
			if off != len(want) {
				errs <- fmt.Errorf("body of %d bytes, want %d", off, len(want))
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := syn.Stats()
	if st.Requests != 1 || st.Bytes != 8<<20 { // one span fetch of the 8 chunks
		t.Fatalf("origin saw %d requests and %d bytes, want 1 and %d", st.Requests, st.Bytes, 8<<20)
	}
}

// A player that abandons an open-ended range leaves nothing stuck: the chunk
// it started completes for the cache, and the next reader gets every byte.
func TestAbandonedOpenRange(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const path = "/s/64M/abandon.m4s"
	resp, err := h.client.Do(mustReq(t, h.base+path, "Range", "bytes=0-"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, originBytes(path, 0, 1000)) {
		t.Fatal("first bytes differ")
	}
	resp.Body.Close() // the player seeks away
	h.client.CloseIdleConnections()
	resp2, body := h.do("GET", path, "Range", "bytes=0-1048575")
	if resp2.StatusCode != 206 || !bytes.Equal(body, originBytes(path, 0, 1<<20)) {
		t.Fatalf("second reader: %d", resp2.StatusCode)
	}
	// Give flights started by the abandoned reader time to end, then check
	// the origin was not asked for the whole 64 MiB.
	time.Sleep(200 * time.Millisecond)
	if st := h.syn.Stats(); st.Bytes > 8<<20 {
		t.Fatalf("origin sent %d bytes for an abandoned open-ended range", st.Bytes)
	}
}

func mustReq(t *testing.T, url string, hdr ...string) *http.Request {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// With a send buffer and an unsent-bytes limit set, accepted connections
// get them (the send buffer as the kernel reports it back: doubled) and
// answers stay byte-exact.
func TestSendBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sl := listener{ln, nil, 64 << 10, 48 << 10}
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	c, err := sl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The *net.TCPConn itself, embedded (sendfile needs its ReadFrom).
	cc, ok := c.(*clientConn)
	if !ok || cc.TCPConn == nil {
		t.Fatalf("accepted %T, want a *clientConn embedding the *net.TCPConn", c)
	}
	tc := cc.TCPConn
	raw, _ := tc.SyscallConn()
	var got int
	raw.Control(func(fd uintptr) { got, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF) })
	if got < 64<<10 || got > 2*(64<<10) {
		t.Fatalf("SO_SNDBUF %d, want 64 KiB (doubled by Linux)", got)
	}
	raw.Control(func(fd uintptr) { got, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT) })
	if got != 48<<10 {
		t.Fatalf("TCP_NOTSENT_LOWAT %d, want 48 KiB", got)
	}

	h := newHarness(t, harnessOptions{server: Options{SendBuffer: 64 << 10, SendLowat: 32 << 10}})
	const path = "/s/3000000/sndbuf.m4s"
	for i := 0; i < 2; i++ {
		resp, body := h.do("GET", path)
		if resp.StatusCode != 200 || !bytes.Equal(body, originBytes(path, 0, 3000000)) {
			t.Fatalf("request %d: status %d, %d bytes differ from the origin's", i, resp.StatusCode, len(body))
		}
	}
}

// A large response is paced: each write has the grace plus its bytes at
// server.min_send_rate to complete, so a client that stops reading is cut
// off about the grace after its socket buffers fill, not after one deadline
// for the whole body (10 s + size/rate: hours for a large object read a
// byte at a time); a client that reads is served the whole body. A memory
// hit's writes are at most heldMax (1 MiB: 4 s at this rate), not the
// megabytes a Reader pins (4 MiB took 16 s).
func TestSlowReaderCutOff(t *testing.T) {
	const path = "/s/64M/slow"
	h := newHarness(t, harnessOptions{server: Options{MinSendRate: 256 << 10}, // 256 s for the whole body
		setup: func(s *Server) { s.writeGrace = 300 * time.Millisecond }})
	resp, got := h.do("GET", path)
	if resp.StatusCode != 200 || !bytes.Equal(got, originBytes(path, 0, 64<<20)) {
		t.Fatalf("a reading client: status %d, %d bytes", resp.StatusCode, len(got))
	}
	h.client.CloseIdleConnections()
	open := func() int32 { return h.srv.fs.GetOpenConnectionsCount() }
	for i := 0; open() > 0; i++ {
		if i == 100 {
			t.Fatal("the reading client's connection still open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	start := time.Now()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// It never reads: the server's writes block once the socket buffers
	// are full, and the paced deadline ends the connection.
	for open() == 0 && time.Since(start) < 5*time.Second {
		time.Sleep(time.Millisecond) // the connection is counted once accepted
	}
	for open() > 0 {
		if time.Since(start) > 12*time.Second {
			t.Fatalf("the client that stopped reading is still connected after %v", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("cut off after %v", time.Since(start))
}

// Scattered small parts of a cold object are fetched as their exact bytes
// (not stored), but a part of more than a chunk goes through the chunks:
// a direct part streams from its origin request at the client's pace,
// holding an origin slot as long as the client takes.
func TestMultipartLargePartsThroughChunks(t *testing.T) {
	const path = "/s/16M/mr"
	h := newHarness(t, harnessOptions{server: Options{MaxRangeFetchChunks: 1}})
	ranges := "bytes=0-2097151,8388608-10485759,15000000-15000009"
	resp, body := h.do("GET", path, "Range", ranges)
	if resp.StatusCode != 206 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, want := range [][2]int64{{0, 2 << 20}, {8 << 20, 2 << 20}, {15000000, 10}} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, originBytes(path, want[0], want[1])) {
			t.Fatalf("part at %d: %d bytes, not the origin's", want[0], len(got))
		}
	}
	h.settle()
	// The large parts' chunks are held now; the small part's is not.
	for _, c := range []struct {
		rng, status string
	}{{"bytes=0-2097151", "edgecache; hit; detail=mem"}, {"bytes=8388608-10485759", "edgecache; hit; detail=mem"},
		{"bytes=15000000-15000009", "edgecache; fwd=partial; stored"}} {
		resp, got := h.do("GET", path, "Range", c.rng)
		var a, b int64
		fmt.Sscanf(c.rng, "bytes=%d-%d", &a, &b)
		if !bytes.Equal(got, originBytes(path, a, b-a+1)) || resp.Header.Get("Cache-Status") != c.status {
			t.Errorf("%s: Cache-Status %q, want %q", c.rng, resp.Header.Get("Cache-Status"), c.status)
		}
	}
}

// An answer to a request that could not be read (here 431: a header block
// past the read buffer) reaches a client that is still sending the rest:
// the server closes its side and drops what comes before closing, rather
// than reset the connection with the client's bytes unread.
func TestLingeringCloseAfterBadRequest(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /s/10/x HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", 20000)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server has answered by now
	if _, err := io.WriteString(c, strings.Repeat("b", 50000)+"\r\n\r\n"); err != nil {
		t.Fatalf("the rest of the request: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the answer was lost: %v", err)
	}
	if resp.StatusCode != 431 {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// A HEAD of a cold object asks the origin for one chunk, not a span of
// them: it needs the answer's headers only.
func TestHeadFetchesOneChunk(t *testing.T) {
	const chunk = 64 << 10
	h := newHarness(t, harnessOptions{chunk: chunk})
	resp, _ := h.do("HEAD", "/s/8M/headcold")
	if resp.StatusCode != 200 || resp.ContentLength != 8<<20 {
		t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	h.settle()
	if st := h.syn.Stats(); st.Requests != 1 || st.Bytes > chunk {
		t.Fatalf("origin: %d requests, %d bytes; want one chunk (%d)", st.Requests, st.Bytes, chunk)
	}
}

// A HEAD of an object held fresh is a hit, wherever its chunks are: no
// byte is sent or fetched (with its chunks evicted it said fwd=partial).
func TestHeadOfEvictedChunksIsAHit(t *testing.T) {
	const chunk = 64 << 10
	h := newHarness(t, harnessOptions{chunk: chunk, mem: 4 * chunk})
	const path, size = "/s/1048576/evicted", 1048576 // 16 chunks through a 4-chunk memory tier
	if resp, body := h.do("GET", path); resp.StatusCode != 200 || !bytes.Equal(body, originBytes(path, 0, size)) {
		t.Fatalf("GET: %d, bytes are not the origin's", resp.StatusCode)
	}
	before := h.syn.Stats().Requests
	resp, body := h.do("HEAD", path)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != size ||
		resp.Header.Get("Cache-Status") != "edgecache; hit; detail=mem" {
		t.Errorf("HEAD: %d, Content-Length %d, Cache-Status %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Cache-Status"))
	}
	if n := h.syn.Stats().Requests - before; n != 0 {
		t.Errorf("HEAD asked the origin %d times", n)
	}
}
