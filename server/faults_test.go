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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgecache/cache"
	"edgecache/origin"
	"edgecache/ratelog"
)

// capture is a slog.Handler that keeps every record.
type capture struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *capture) WithGroup(string) slog.Handler            { return c }

func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.recs = append(c.recs, r.Clone())
	c.mu.Unlock()
	return nil
}

// find returns the records at level or above with message msg ("" for any).
func (c *capture) find(level slog.Level, msg string) []slog.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []slog.Record
	for _, r := range c.recs {
		if r.Level >= level && (msg == "" || r.Message == msg) {
			out = append(out, r)
		}
	}
	return out
}

// attr returns the value of attribute key of r, "" if none.
func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// panicBody is a response body that panics when written.
type panicBody struct{}

func (panicBody) Read([]byte) (int, error)         { panic("panicBody.Read") }
func (panicBody) WriteTo(io.Writer) (int64, error) { panic("panicBody.WriteTo") }
func (panicBody) Served() (int64, int64, int64)    { return 0, 0, 0 }
func (panicBody) Close() error                     { return nil }

func panicInHandler() { panic("a bug in the handler") }

// A panic while a body is written, in our body (guarded: logged with its
// stack) or in one fasthttp recovers itself (logged through its Logger), and
// a panic in the handler (answered 500), are each logged at ERROR as
// PanicLogMessage and counted; the server keeps serving.
func TestRecoveredPanics(t *testing.T) {
	logs := &capture{}
	h := newHarness(t, harnessOptions{
		server: Options{Logger: slog.New(logs)},
		setup: func(s *Server) {
			s.fs.Handler = func(ctx *fasthttp.RequestCtx) {
				switch string(ctx.Path()) {
				case "/guarded":
					ctx.SetBodyStream(s.guard(ctx, panicBody{}, &exchange{start: time.Now()}), 100)
				case "/raw":
					ctx.SetBodyStream(panicBody{}, 100)
				case "/handler":
					defer s.recoverHandler(ctx)
					panicInHandler()
				default:
					s.Handle(ctx)
				}
			}
		},
	})
	cases := []struct {
		path, where, stack string
	}{
		{"/guarded", "body", "panicBody.WriteTo"},
		{"/raw", "fasthttp body writer", "unavailable"},
		{"/handler", "handler", "panicInHandler"},
	}
	for i, tc := range cases {
		resp, err := h.client.Get(h.base + tc.path)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.where == "handler" {
				if resp.StatusCode != 500 || rerr != nil {
					t.Errorf("%s: %d, %q, %v; want a whole 500", tc.path, resp.StatusCode, body, rerr)
				}
			} else if rerr == nil {
				t.Errorf("%s: a body that panicked was read whole (%d bytes)", tc.path, len(body))
			}
		} else if tc.where == "handler" {
			t.Errorf("%s: %v, want a 500", tc.path, err)
		}
		recs := logs.find(slog.LevelError, PanicLogMessage)
		if len(recs) != i+1 {
			t.Fatalf("%s: %d panic lines at ERROR, want %d", tc.path, len(recs), i+1)
		}
		r := recs[i]
		if attr(r, "where") != tc.where || !strings.Contains(attr(r, "stack"), tc.stack) || attr(r, "panic") == "" {
			t.Errorf("%s: logged where=%q panic=%q stack=%.200q; want where=%q and %q in the stack",
				tc.path, attr(r, "where"), attr(r, "panic"), attr(r, "stack"), tc.where, tc.stack)
		}
		if n := h.srv.RecoveredPanics(); n != int64(i+1) {
			t.Errorf("%s: RecoveredPanics %d, want %d", tc.path, n, i+1)
		}
	}
	// Still serving, byte-exact.
	resp, body := h.do("GET", "/s/1000/after")
	if resp.StatusCode != 200 || !bytes.Equal(body, originBytes("/s/1000/after", 0, 1000)) {
		t.Fatalf("after the panics: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// A Range starting far past the end of an object the cache does not hold is
// a 416 naming the size, learnt from the origin, and no warning; for chunk
// sizes that are not a power of two too.
func TestHugeRangeStartIs416(t *testing.T) {
	for _, chunk := range []int64{1 << 20, 1000000} {
		logs := &capture{}
		h := newHarness(t, harnessOptions{chunk: chunk, server: Options{Logger: slog.New(logs)}})
		for i, rng := range []string{
			"bytes=9000000000000000000-",
			"bytes=9223372036854775807-",
			"bytes=9223372036854775806-9223372036854775807",
			"bytes=9000000000000000000-,9100000000000000000-9100000000000000001",
		} {
			path := fmt.Sprintf("/s/3000000/huge%d", i)
			for pass := 0; pass < 2; pass++ { // cold, then known
				resp, body := h.do("GET", path, "Range", rng)
				if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */3000000" || strings.Count(string(body), "\n") != 1 {
					t.Errorf("chunk %d, %q pass %d: %d, Content-Range %q, body %q; want 416 bytes */3000000",
						chunk, rng, pass, resp.StatusCode, resp.Header.Get("Content-Range"), body)
				}
			}
		}
		if w := logs.find(slog.LevelWarn, ""); len(w) != 0 {
			t.Errorf("chunk %d: %d warnings, first %q", chunk, len(w), w[0].Message)
		}
	}
}

// An origin that fails every request gets one warning per interval, not one
// per request, and the next warning counts those suppressed.
func TestOriginWarningsRateLimited(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	logs := &capture{}
	const interval = time.Second
	h := newHarness(t, harnessOptions{originURL: dead, server: Options{Logger: slog.New(logs)},
		setup: func(s *Server) { s.warn = ratelog.New(s.log, interval) }})
	start := time.Now()
	for i := 0; i < 5; i++ {
		if resp, _ := h.do("GET", fmt.Sprintf("/s/100/down%d", i)); resp.StatusCode != 502 {
			t.Fatalf("status %d, want 502", resp.StatusCode)
		}
	}
	if time.Since(start) >= interval {
		t.Skip("the five requests took longer than the interval") // a very slow machine
	}
	if w := logs.find(slog.LevelWarn, "origin fetch failed"); len(w) != 1 {
		t.Fatalf("%d warnings for 5 failures within the interval, want 1", len(w))
	}
	time.Sleep(time.Until(start.Add(interval + 50*time.Millisecond)))
	h.do("GET", "/s/100/down-again")
	w := logs.find(slog.LevelWarn, "origin fetch failed")
	if len(w) != 2 || attr(w[1], "suppressed") != "4" {
		t.Fatalf("after the interval: %d warnings, suppressed=%q; want 2 and 4", len(w), attr(w[len(w)-1], "suppressed"))
	}
}

// readParts checks a multipart/byteranges answer against the origin's bytes
// and returns its parts' ranges.
func readParts(t *testing.T, resp *http.Response, body []byte, path string, size int64) [][2]int64 {
	t.Helper()
	got, err := partsOf(resp, body, path, size)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// partsOf checks a multipart/byteranges answer against the origin's bytes
// and returns its parts' ranges.
func partsOf(resp *http.Response, body []byte, path string, size int64) ([][2]int64, error) {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		return nil, fmt.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength != int64(len(body)) {
		return nil, fmt.Errorf("Content-Length %d, body %d", resp.ContentLength, len(body))
	}
	var got [][2]int64
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return nil, fmt.Errorf("part %d: %v", len(got), err)
		}
		var a, b, sz int64
		if _, err := fmt.Sscanf(p.Header.Get("Content-Range"), "bytes %d-%d/%d", &a, &b, &sz); err != nil || sz != size {
			return nil, fmt.Errorf("part %d: Content-Range %q", len(got), p.Header.Get("Content-Range"))
		}
		data, _ := io.ReadAll(p)
		if !bytes.Equal(data, originBytes(path, a, b-a+1)) {
			return nil, fmt.Errorf("part %d (%d-%d) differs from the origin's", len(got), a, b)
		}
		got = append(got, [2]int64{a, b})
	}
}

// waitOriginIdle waits until the origin has no request in progress, so its
// counters are final.
func (h *harness) waitOriginIdle() {
	h.t.Helper()
	for i := 0; h.syn.Stats().Inflight != 0; i++ {
		if i > 500 {
			h.t.Fatal("origin never idle")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Sixteen 1-byte ranges of a cold 16 MiB object, each in its own chunk,
// cost the origin the chunk Lookup learns the object from plus 16 bytes, not
// 16 chunks; every part is the origin's bytes. Within the budget, ranges go
// through the chunks and fill the cache.
func TestMultiRangeBoundedOriginCost(t *testing.T) {
	const size = 16 << 20
	const path = "/s/16M/scatter.m4s"
	h := newHarness(t, harnessOptions{})
	var specs []string
	var want [][2]int64
	for i := int64(0); i < 16; i++ {
		off := i<<20 + 1000*i
		specs = append(specs, fmt.Sprintf("%d-%d", off, off))
		want = append(want, [2]int64{off, off})
	}
	resp, body := h.do("GET", path, "Range", "bytes="+strings.Join(specs, ","))
	if resp.StatusCode != 206 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := readParts(t, resp, body, path, size); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parts %v, want %v", got, want)
	}
	h.waitOriginIdle()
	st := h.syn.Stats()
	if st.Bytes > 1<<20+16 || st.Requests > 17 {
		t.Fatalf("origin sent %d bytes in %d requests, want at most one chunk + 16 bytes in 17", st.Bytes, st.Requests)
	}
	t.Logf("origin: %d bytes in %d requests", st.Bytes, st.Requests)

	// Four ranges in four chunks: within the budget, through the cache.
	const path2 = "/s/16M/four.m4s"
	resp, body = h.do("GET", path2, "Range", "bytes=10-10,2097162-2097162,4194314-4194314,6291466-6291466")
	if resp.StatusCode != 206 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	readParts(t, resp, body, path2, size)
	meta, _, err := h.store.Lookup(context.Background(), cache.NewKey(path2), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{10, 2097162, 4194314, 6291466} {
		for i := 0; ; i++ {
			if m, _, _ := h.store.Residency(meta, off, 1); m == 1 {
				break
			}
			if i > 500 {
				t.Fatalf("the chunk holding byte %d never landed in memory", off)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	resp, body = h.do("GET", path2, "Range", "bytes=11-11,2097163-2097163,4194315-4194315,6291467-6291467")
	readParts(t, resp, body, path2, size)
	if cs := resp.Header.Get("Cache-Status"); cs != "edgecache; hit; detail=mem" {
		t.Fatalf("second request: Cache-Status %q, want a memory hit", cs)
	}
}

// Overlapping and nearly adjacent ranges are coalesced: one range left is a
// plain 206, and the parts of a multipart answer keep the client's order.
func TestCoalescedRanges(t *testing.T) {
	const size = 3000000
	const path = "/s/3000000/co.m4s"
	h := newHarness(t, harnessOptions{})
	resp, body := h.do("GET", path, "Range", "bytes=100-199,150-299,300-309")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 100-309/3000000" || !bytes.Equal(body, originBytes(path, 100, 210)) {
		t.Fatalf("%d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
	}
	resp, body = h.do("GET", path, "Range", "bytes=2000000-2000009,0-0,2000010-2000019,4-4")
	if resp.StatusCode != 206 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := readParts(t, resp, body, path, size); fmt.Sprint(got) != "[[2000000 2000019] [0 4]]" {
		t.Fatalf("parts %v", got)
	}
}

// A request with bare LF line ends, or a few empty lines and nothing else,
// is answered (400) or dropped at once, not after the read timeout; CRLF
// requests around it, pipelined, with a leading empty line or a body, are
// served as before.
func TestBareLF(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	addr := strings.TrimPrefix(h.base, "http://")
	send := func(req string) (*bufio.Reader, net.Conn) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second)) // far below the 30 s read timeout
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		return bufio.NewReader(c), c
	}
	for _, req := range []string{
		"GET /s/10/x HTTP/1.1\nHost: x\n\n",
		"GET /s/10/x HTTP/1.1\r\nHost: x\n\n",
		"GET /s/10/x HTTP/1.1\r\nHost: x\r\n\n",
		"GET /s/10/x HTTP/1.1\nHost: x\n\r\n",
		"GET /s/10/x HTTP/1.0\n\n",
		// In one write with a CRLF request after it: fasthttp parsed both
		// (two 200s), where a peer insisting on CRLF sees one request.
		"GET /s/10/x HTTP/1.1\nHost: x\n\nGET /s/11/y HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		br, _ := send(req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("%q: no answer: %v", req, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !resp.Close {
			t.Errorf("%q: %d %q (close %v), want 400 and close", req, resp.StatusCode, body, resp.Close)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%q: connection left open after the 400: %v", req, err)
		}
	}
	for _, req := range []string{"\n\n", "\r\n\r\n", "\n\r\n", "\n\n\n\n"} {
		br, _ := send(req)
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%q: %v, want the connection closed at once", req, err)
		}
	}
	// Served as before: pipelined, after one empty line, with a bare LF on
	// the request line (fasthttp accepts a block ended by CRLF CRLF), and
	// a POST whose body holds bare LFs (405).
	br, _ := send("GET /s/10/a HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /s/20/b HTTP/1.1\r\nHost: x\r\n\r\nGET /s/30/c HTTP/1.1\nHost: x\r\n\r\n" +
		"POST /s/10/a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n\n\nx\n\n\n" +
		"GET /s/40/d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	for _, want := range []struct {
		code int
		path string
		n    int64
	}{{200, "/s/10/a", 10}, {200, "/s/20/b", 20}, {200, "/s/30/c", 30}, {405, "", 0}, {200, "/s/40/d", 40}} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", want.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want.code || want.code == 200 && !bytes.Equal(body, originBytes(want.path, 0, want.n)) {
			t.Fatalf("%s: %d, %d bytes", want.path, resp.StatusCode, len(body))
		}
	}
}

func TestHeadScan(t *testing.T) {
	for _, tc := range []struct {
		in   []string // the reads
		mode uint8
	}{
		{[]string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, scanHead},
		{[]string{"GET / HTTP/1.1\r", "\nHost: x\r\n\r", "\n"}, scanHead},
		{[]string{"\r\nGET / HTTP/1.1\r\n\r\n"}, scanHead},
		{[]string{"GET / HTTP/1.1\nHost: x\r\n\r\n"}, scanHead},
		{[]string{"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n"}, scanHead},
		{[]string{"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n\n\n"}, scanBody},
		{[]string{"GET / HTTP/1.1\r\ntransfer-ENCODING: chunked\r\n\r\n"}, scanBody},
		{[]string{"GET / HTTP/1.1\nHost: x\n\n"}, scanBad},
		{[]string{"GET / HTTP/1.1\nHost: x\n", "\n"}, scanBad},
		{[]string{"GET / HTTP/1.1\r\nHost: x\r\n\n"}, scanBad},
		{[]string{"GET / HTTP/1.1\nHost: x\n\r\n"}, scanBad},
		{[]string{"\n\n"}, scanBad},
		{[]string{"\r\n", "\r\n"}, scanBad},
		{[]string{"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\n\n"}, scanBad},
	} {
		var s headScan
		for _, b := range tc.in {
			if s.mode == scanHead {
				s.feed([]byte(b))
			}
		}
		if s.mode != tc.mode {
			t.Errorf("%q: mode %d, want %d", tc.in, s.mode, tc.mode)
		}
	}
}

// With MaxConnections 2, a third connection is answered 503 and closed while
// two are open, and served once one has closed; the connections served are
// the TCP connections themselves, embedded, so sendfile is kept.
func TestMaxConnections(t *testing.T) {
	conns := make(chan net.Conn, 10)
	h := newHarness(t, harnessOptions{server: Options{MaxConnections: 2}, setup: func(s *Server) {
		s.fs.Handler = func(ctx *fasthttp.RequestCtx) {
			conns <- ctx.Conn()
			s.Handle(ctx)
		}
	}})
	addr := strings.TrimPrefix(h.base, "http://")
	get := func(c net.Conn, br *bufio.Reader, path string) (*http.Response, error) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
		}
		return resp, err
	}
	var open []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if resp, err := get(c, bufio.NewReader(c), "/s/100/a"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v", i, err)
		}
		open = append(open, c)
	}
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := get(c3, bufio.NewReader(c3), "/s/100/a")
	c3.Close()
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("third connection: %v, %v; want 503", err, resp)
	}
	if n := h.srv.RejectedConnections(); n != 1 {
		t.Errorf("RejectedConnections %d, want 1", n)
	}
	open[0].Close()
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := get(c, bufio.NewReader(c), "/s/3000000/big")
		c.Close()
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if i > 100 {
			t.Fatalf("never served after a connection closed: %v %v", err, resp)
		}
		time.Sleep(20 * time.Millisecond) // the worker is released just after the close
	}
	for len(conns) > 0 {
		c := <-conns
		cc, ok := c.(*clientConn)
		if !ok || cc.TCPConn == nil {
			t.Fatalf("the handler got a %T, want a *clientConn embedding the *net.TCPConn", c)
		}
		// Its ReadFrom, which the response writer hands disk files to, is
		// the TCPConn's (promoted): sendfile.
		var _ io.ReaderFrom = cc
	}
}

// Handle itself recovers: a Server whose store is missing answers 500
// instead of taking the process down.
func TestHandleRecovers(t *testing.T) {
	logs := &capture{}
	s := New(nil, Options{Logger: slog.New(logs)})
	var ctx fasthttp.RequestCtx
	ctx.Init2(benchConn{}, benchLogger{}, false)
	ctx.Request.SetRequestURI("/s/10/x")
	s.Handle(&ctx)
	if c := ctx.Response.StatusCode(); c != 500 || !ctx.Response.ConnectionClose() {
		t.Fatalf("status %d, close %v; want 500 and close", c, ctx.Response.ConnectionClose())
	}
	if s.RecoveredPanics() != 1 || len(logs.find(slog.LevelError, PanicLogMessage)) != 1 {
		t.Fatalf("RecoveredPanics %d, %d lines", s.RecoveredPanics(), len(logs.find(slog.LevelError, PanicLogMessage)))
	}
	if st := attr(logs.find(slog.LevelError, PanicLogMessage)[0], "stack"); !strings.Contains(st, "(*Server).Handle") {
		t.Fatalf("stack %.300q does not show Handle", st)
	}
}

// A direct part the origin fails cuts the answer short (the client sees a
// broken body, never a wrong one) and is logged.
func TestDirectPartFails(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	failSmall := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a, b int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &a, &b); err == nil && b-a < 1000 {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		syn.ServeHTTP(w, r)
	})
	logs := &capture{}
	h := newHarness(t, harnessOptions{originHandle: failSmall, server: Options{Logger: slog.New(logs)}})
	var specs []string
	for i := int64(0); i < 8; i++ {
		specs = append(specs, fmt.Sprintf("%d-%d", i<<20+5, i<<20+5))
	}
	resp, err := h.client.Do(mustReq(t, h.base+"/s/16M/fail.m4s", "Range", "bytes="+strings.Join(specs, ",")))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("an answer whose parts the origin failed was read whole")
	}
	w := logs.find(slog.LevelWarn, "origin fetch failed")
	if len(w) == 0 || attr(w[0], "range") == "" {
		t.Fatalf("no warning naming the range: %d lines", len(w))
	}
}

// With MaxConnectionsPerIP 2, a third connection from 127.0.0.1 is answered
// 429 before its request is read and closed (the client reads the answer,
// not a reset), while a connection from another address (127.0.0.2) is
// served; once one of the first two closes, 127.0.0.1 is served again. A
// reload to no cap lets a third in.
func TestMaxConnectionsPerIP(t *testing.T) {
	h := newHarness(t, harnessOptions{server: Options{MaxConnectionsPerIP: 2}})
	addr := strings.TrimPrefix(h.base, "http://")
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	const path = "/s/300000/perip"
	get := func(c net.Conn) (int, error) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode == 200 && !bytes.Equal(body, originBytes(path, 0, 300000)) {
			return 0, fmt.Errorf("the body is not the origin's bytes")
		}
		return resp.StatusCode, nil
	}
	var open []net.Conn
	for i := 0; i < 2; i++ {
		c := dial("127.0.0.1")
		if code, err := get(c); err != nil || code != 200 {
			t.Fatalf("connection %d: %d, %v", i, code, err)
		}
		open = append(open, c)
	}
	if code, err := get(dial("127.0.0.1")); err != nil || code != 429 {
		t.Fatalf("third connection from 127.0.0.1: %d, %v; want 429", code, err)
	}
	if n := h.srv.RejectedPerIP(); n != 1 {
		t.Errorf("RejectedPerIP %d, want 1", n)
	}
	if code, err := get(dial("127.0.0.2")); err != nil || code != 200 {
		t.Fatalf("connection from 127.0.0.2: %d, %v; want 200", code, err)
	}
	open[0].Close()
	for i := 0; ; i++ {
		code, err := get(dial("127.0.0.1"))
		if err == nil && code == 200 {
			break
		}
		if i > 100 || (err == nil && code != 429) {
			t.Fatalf("never served after a connection closed: %d, %v", code, err)
		}
		time.Sleep(20 * time.Millisecond) // the count is given back as fasthttp closes the connection
	}
	h.srv.SetLimits(Limits{MaxConnectionsPerIP: -1})
	for i := 0; i < 3; i++ {
		if code, err := get(dial("127.0.0.1")); err != nil || code != 200 {
			t.Fatalf("no cap, connection %d: %d, %v", i, code, err)
		}
	}
}

// A client address counts as itself (IPv4, an IPv4-mapped IPv6 address
// alike) or as its /64 (IPv6).
func TestClientPrefix(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
	} {
		p, ok := clientPrefix(&net.TCPAddr{IP: net.ParseIP(tc.in), Port: 1})
		if !ok || p.String() != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.in, p, ok, tc.want)
		}
	}
	if _, ok := clientPrefix(&net.UnixAddr{Name: "x"}); ok {
		t.Error("a unix address counted")
	}
}

// A request fasthttp cannot read (duplicate Content-Length, a header past
// the read buffer, bare LF line ends) is answered, counted among the
// answers (method OTHER) and access-logged, as any other: an abuse review
// found them in neither.
func TestMalformedRequestsCounted(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	alog, err := OpenAccessLog(logPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{server: Options{AccessLog: alog}})
	addr := strings.TrimPrefix(h.base, "http://")
	reqs := []struct {
		raw  string
		code int
	}{
		{"GET /s/10/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
		{"GET /s/10/x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 64<<10) + "\r\n\r\n", 431},
		{"GET /s/10/x HTTP/1.1\nHost: x\n\n", 400},
		{"GET /s/10/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + strings.Repeat("b", 100<<10), 413},
	}
	for _, r := range reqs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, r.raw)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != r.code {
			t.Fatalf("%.40q: %v, %v; want %d", r.raw, resp, err, r.code)
		}
	}
	// A body past the limit announced with Expect: 100-continue: 417 at
	// once, not 100 Continue and then 413.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /s/10/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	c.Close()
	if err != nil || resp.StatusCode != http.StatusExpectationFailed {
		t.Fatalf("Expect: 100-continue with a large body: %v, %v; want 417", resp, err)
	}
	var n int64
	for i := 0; i < 100 && n < int64(len(reqs)); i++ {
		n = 0
		for _, rc := range h.srv.Metrics().Requests {
			if rc.Method == "OTHER" && rc.Class == "4xx" {
				n += rc.Count
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n != int64(len(reqs)) {
		t.Errorf("%d malformed requests counted, want %d", n, len(reqs))
	}
	alog.Close()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{`"status":400`, `"status":431`, `"status":413`, `"method":"-"`} {
		if !strings.Contains(string(b), code) {
			t.Errorf("access log has no %s line: %s", code, b)
		}
	}
}
