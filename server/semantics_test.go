package server

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"edgecache/cache"
	"edgecache/cache/disk"
)

// poisoning are request fields the cache never forwards: an origin that
// reflects or obeys them would answer for another host, path, method or
// client, and the answer would be stored under the shared key.
var poisoning = []string{"Cookie", "Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Scheme",
	"X-Forwarded-Server", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Host", "X-Original-Host", "X-Original-URL",
	"X-Rewrite-URL", "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
	"X-Forwarded-Ssl", "Front-End-Https", "X-Url-Scheme", "X-Forwarded-Protocol", "X-Forwarded-Path",
	"X-Forwarded-Uri", "X-Original-Uri", "X-Override-Url", "X-Original-Method", "X-Proxy-Url",
	// CGI, PHP, WSGI and Rack read these as the dashed names.
	"X_Forwarded_Host", "X_Original_URL", "X_Forwarded_Proto"}

// clock is a settable time shared by a test's cache and its scripted origin
// (which stamps Date with it), so that freshness can be stepped through.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// scripted is an origin whose answers a test sets per path: status,
// header fields and a body, or a body chosen by the request. It answers
// ranges and conditionals with http.ServeContent, stamps Date with its
// clock, and records every request it gets.
type scripted struct {
	clock *clock
	mu    sync.Mutex
	objs  map[string]*scriptedObj
	reqs  []http.Header // request fields, in order
	paths []string
}

type scriptedObj struct {
	status int         // 0: 200 (ranges and conditionals answered)
	header http.Header // sent with every answer, 304s included
	body   []byte
	bodyOf func(h http.Header, r *http.Request) []byte // if set, the body for this request (it may set answer fields in h)
}

func (o *scripted) set(path string, obj *scriptedObj) {
	o.mu.Lock()
	o.objs[path] = obj
	o.mu.Unlock()
}

// requests returns the request fields of the requests for path so far.
func (o *scripted) requests(path string) []http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []http.Header
	for i, p := range o.paths {
		if p == path {
			out = append(out, o.reqs[i])
		}
	}
	return out
}

func (o *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.reqs = append(o.reqs, r.Header.Clone())
	o.paths = append(o.paths, r.URL.RequestURI())
	obj := o.objs[r.URL.RequestURI()]
	o.mu.Unlock()
	if obj == nil {
		http.NotFound(w, r)
		return
	}
	for k, v := range obj.header {
		w.Header()[k] = v
	}
	w.Header().Set("Date", o.clock.Now().UTC().Format(http.TimeFormat))
	if obj.status != 0 {
		w.WriteHeader(obj.status)
		w.Write(obj.body)
		return
	}
	body := obj.body
	if obj.bodyOf != nil {
		body = obj.bodyOf(w.Header(), r)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// newScripted starts a cache in front of a scripted origin sharing a clock.
func newScripted(t *testing.T, ho harnessOptions) (*harness, *scripted) {
	o := &scripted{clock: newClock(), objs: map[string]*scriptedObj{}}
	ho.originHandle = o
	ho.now = o.clock.Now
	if ho.chunk == 0 {
		ho.chunk = 64 << 10
	}
	return newHarness(t, ho), o
}

// doSettled is do, then a wait until no chunk fetch is in progress: a
// chunk is stored just after its last bytes went out, so the next request
// finds it in memory.
func (h *harness) doSettled(method, path string, hdr ...string) (*http.Response, []byte) {
	h.t.Helper()
	resp, body := h.do(method, path, hdr...)
	h.settle()
	return resp, body
}

// settle waits until no chunk fetch holds fetch memory.
func (h *harness) settle() {
	h.t.Helper()
	for i := 0; h.store.Stats().FetchBytes != 0; i++ {
		if i == 500 {
			h.t.Fatal("chunk fetches still in progress after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// body returns n deterministic bytes named by tag.
func body(tag string, n int) []byte {
	return bytes.Repeat([]byte(tag+"."), n/(len(tag)+1)+1)[:n]
}

// expect checks one answer: status, body and Cache-Status.
func expect(t *testing.T, what string, resp *http.Response, got []byte, status int, want []byte, cacheStatus string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d", what, resp.StatusCode, status)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the origin's %d", what, len(got), len(want))
	}
	if cs := resp.Header.Get("Cache-Status"); cacheStatus != "" && cs != cacheStatus {
		t.Errorf("%s: Cache-Status %q, want %q", what, cs, cacheStatus)
	}
}

// Issue #9 §5: a stale object is revalidated with its validators; a 304
// refreshes the stored header fields and freshness without fetching a
// chunk, and the answer is the stored bytes.
func TestRevalidation(t *testing.T) {
	for _, tc := range []struct {
		name, validator, value, condField string
	}{
		{"etag", "ETag", `"v1"`, "If-None-Match"},
		{"last-modified", "Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT", "If-Modified-Since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, o := newScripted(t, harnessOptions{})
			data := body("r", 200<<10) // four chunks
			o.set("/r", &scriptedObj{body: data, header: http.Header{
				tc.validator: {tc.value}, "Cache-Control": {"max-age=10"}, "X-Gen": {"1"}}})
			resp, got := h.doSettled("GET", "/r")
			expect(t, "first", resp, got, 200, data, "edgecache; fwd=miss; stored")
			o.clock.advance(5 * time.Second)
			resp, got = h.doSettled("GET", "/r")
			expect(t, "fresh", resp, got, 200, data, "edgecache; hit; detail=mem")

			o.clock.advance(10 * time.Second)
			o.set("/r", &scriptedObj{body: data, header: http.Header{
				tc.validator: {tc.value}, "Cache-Control": {"max-age=10"}, "X-Gen": {"2"}}})
			before := len(o.requests("/r"))
			resp, got = h.doSettled("GET", "/r", "Range", "bytes=70000-70099", "X-Client", "abc", "Cookie", "session=alice")
			expect(t, "stale", resp, got, 206, data[70000:70100], "edgecache; fwd=stale; stored")
			reqs := o.requests("/r")[before:]
			if len(reqs) != 1 || reqs[0].Get(tc.condField) != tc.value {
				t.Fatalf("revalidation: %d origin requests (%v), want one with %s: %s", len(reqs), reqs, tc.condField, tc.value)
			}
			// The revalidation carries the fields of the request that
			// started it, as a first fetch does (nginx, Varnish and ATS
			// do; the cache-tests suite tracks requests by such a field),
			// less those that would poison the shared key.
			if reqs[0].Get("X-Client") != "abc" || reqs[0].Get("Cookie") != "" {
				t.Errorf("revalidation fields %v: want the client's X-Client, not its Cookie", reqs[0])
			}
			if g := resp.Header.Get("X-Gen"); g != "2" {
				t.Errorf("after the 304: X-Gen %q, want the 304's 2", g)
			}
			resp, got = h.doSettled("GET", "/r")
			expect(t, "refreshed", resp, got, 200, data, "edgecache; hit; detail=mem")
			if n := len(o.requests("/r")) - before; n != 1 {
				t.Errorf("%d origin requests since expiry, want only the revalidation", n)
			}
		})
	}
}

// Issue #9 §5: a revalidation answered with a new version replaces the
// stored one; the answer is all new bytes.
func TestRevalidationNewVersion(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	old, cur := body("old", 150<<10), body("new", 170<<10)
	o.set("/n", &scriptedObj{body: old, header: http.Header{"ETag": {`"a"`}, "Cache-Control": {"max-age=10"}}})
	resp, got := h.doSettled("GET", "/n")
	expect(t, "first", resp, got, 200, old, "")
	o.clock.advance(11 * time.Second)
	o.set("/n", &scriptedObj{body: cur, header: http.Header{"ETag": {`"b"`}, "Cache-Control": {"max-age=10"}}})
	resp, got = h.doSettled("GET", "/n", "X-Client", "abc")
	expect(t, "changed", resp, got, 200, cur, "edgecache; fwd=stale; stored")
	if reqs := o.requests("/n"); len(reqs) < 2 || reqs[1].Get("X-Client") != "abc" {
		t.Errorf("origin requests %v: want the revalidation to carry the client's X-Client", reqs)
	}
	if e := resp.Header.Get("ETag"); e != `"b"` {
		t.Errorf("ETag %q, want the new version's", e)
	}
	resp, got = h.doSettled("GET", "/n", "Range", "bytes=100000-")
	expect(t, "range of the new", resp, got, 206, cur[100000:], "edgecache; hit; detail=mem")
}

// Issue #9 §5: no-cache (and max-age=0) responses are stored but revalidated on
// every request; must-revalidate forbids serving stale when the origin
// fails.
func TestNoCacheAndMustRevalidate(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	data := body("nc", 1000)
	o.set("/nc", &scriptedObj{body: data, header: http.Header{"ETag": {`"x"`}, "Cache-Control": {"no-cache"}}})
	for i := range 3 {
		resp, got := h.doSettled("GET", "/nc")
		expect(t, fmt.Sprint("no-cache ", i), resp, got, 200, data, "")
	}
	reqs := o.requests("/nc")
	if len(reqs) != 3 || reqs[1].Get("If-None-Match") != `"x"` || reqs[2].Get("If-None-Match") != `"x"` {
		t.Fatalf("no-cache: origin requests %v; want a fetch, then a revalidation per request", reqs)
	}

	o.set("/mr", &scriptedObj{body: data, header: http.Header{"ETag": {`"y"`}, "Cache-Control": {"max-age=1, must-revalidate, stale-if-error=600"}}})
	resp, got := h.doSettled("GET", "/mr")
	expect(t, "must-revalidate", resp, got, 200, data, "")
	o.clock.advance(5 * time.Second)
	o.set("/mr", &scriptedObj{status: 503, body: []byte("down"), header: http.Header{}})
	resp, got = h.doSettled("GET", "/mr")
	if resp.StatusCode != 503 || string(got) != "down" {
		t.Errorf("must-revalidate, origin 503: status %d %q, want the origin's 503, not stale", resp.StatusCode, got)
	}
}

// Issue #9 §6: stale-while-revalidate answers at once from the stale
// object and revalidates once in the background.
func TestStaleWhileRevalidate(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	data := body("swr", 5000)
	o.set("/s", &scriptedObj{body: data, header: http.Header{"ETag": {`"s"`}, "Cache-Control": {"max-age=1, stale-while-revalidate=60"}, "X-Gen": {"1"}}})
	resp, got := h.doSettled("GET", "/s")
	expect(t, "first", resp, got, 200, data, "")
	o.clock.advance(10 * time.Second)
	o.set("/s", &scriptedObj{body: data, header: http.Header{"ETag": {`"s"`}, "Cache-Control": {"max-age=100, stale-while-revalidate=60"}, "X-Gen": {"2"}}})
	resp, got = h.doSettled("GET", "/s")
	expect(t, "stale", resp, got, 200, data, "edgecache; hit; detail=stale-while-revalidate")
	if g := resp.Header.Get("X-Gen"); g != "1" {
		t.Errorf("served stale: X-Gen %q, want the stored 1", g)
	}
	// The background revalidation lands; then the object is fresh again.
	for i := 0; ; i++ {
		resp, got = h.doSettled("GET", "/s")
		if resp.Header.Get("X-Gen") == "2" {
			expect(t, "refreshed", resp, got, 200, data, "edgecache; hit; detail=mem")
			break
		}
		if i == 200 {
			t.Fatal("the background revalidation never refreshed the object")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(o.requests("/s")); n != 2 {
		t.Errorf("%d origin requests, want 2 (the fetch and one revalidation)", n)
	}
	// Past the window: revalidated in the foreground.
	o.clock.advance(100*time.Second + 61*time.Second)
	resp, got = h.doSettled("GET", "/s")
	expect(t, "past the window", resp, got, 200, data, "edgecache; fwd=stale; stored")
}

// Issue #9 §6: stale-if-error answers from the stale object when the
// origin fails, within the response's window and the configured maximum.
func TestStaleIfError(t *testing.T) {
	for _, tc := range []struct {
		name, cc     string
		opts         cache.Options
		after        time.Duration
		fail         int // the origin's status once the object is stale
		wantStale    bool
		wantOriginSt int
	}{
		{"within", "max-age=1, stale-if-error=60", cache.Options{}, 30 * time.Second, 503, true, 0},
		{"past it", "max-age=1, stale-if-error=60", cache.Options{}, 90 * time.Second, 503, false, 503},
		{"capped", "max-age=1, stale-if-error=600", cache.Options{MaxStaleIfError: 10 * time.Second}, 30 * time.Second, 500, false, 500},
		{"not an error", "max-age=1, stale-if-error=60", cache.Options{}, 30 * time.Second, 404, false, 404},
		{"operator default", "max-age=1", cache.Options{StaleIfError: time.Minute}, 30 * time.Second, 502, true, 0},
		{"none", "max-age=1", cache.Options{}, 30 * time.Second, 502, false, 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, o := newScripted(t, harnessOptions{cache: tc.opts})
			data := body("sie", 3000)
			o.set("/e", &scriptedObj{body: data, header: http.Header{"ETag": {`"e"`}, "Cache-Control": {tc.cc}}})
			resp, got := h.doSettled("GET", "/e")
			expect(t, "first", resp, got, 200, data, "")
			o.clock.advance(tc.after)
			o.set("/e", &scriptedObj{status: tc.fail, body: []byte("failed"), header: http.Header{}})
			resp, got = h.doSettled("GET", "/e")
			if tc.wantStale {
				expect(t, "stale", resp, got, 200, data, "edgecache; fwd=stale; detail=stale-if-error")
				return
			}
			if resp.StatusCode != tc.wantOriginSt || string(got) != "failed" {
				t.Errorf("status %d %q, want the origin's %d", resp.StatusCode, got, tc.wantOriginSt)
			}
		})
	}
}

// Issue #9 §7: variants are stored separately and selected by the request
// fields the response names; only those are sent upstream once known.
// The fields that would make the origin answer about another host, path or
// method, or for one client, are never forwarded (web cache poisoning).
func TestVary(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	bodyFor := func(foo string) []byte { return body("foo="+foo, 90<<10) }
	o.set("/v", &scriptedObj{header: http.Header{"Cache-Control": {"max-age=600"}, "Vary": {"Foo"}},
		bodyOf: func(_ http.Header, r *http.Request) []byte { return bodyFor(strings.Join(r.Header.Values("Foo"), ",")) }})
	steps := []struct {
		foo    []string
		want   string
		status string
	}{
		{[]string{"1"}, "1", "edgecache; fwd=miss; stored"},
		{[]string{"1"}, "1", "edgecache; hit; detail=mem"},
		{[]string{"2"}, "2", "edgecache; fwd=miss; stored"},
		{[]string{"1"}, "1", "edgecache; hit; detail=mem"},
		{nil, "", "edgecache; fwd=miss; stored"},
		{[]string{"2"}, "2", "edgecache; hit; detail=mem"},
		{nil, "", "edgecache; hit; detail=mem"},
	}
	for i, st := range steps {
		req := h.request("GET", "/v")
		for _, v := range st.foo {
			req.Header.Add("Foo", v)
		}
		req.Header.Set("Other", strconv.Itoa(i))
		for _, f := range poisoning {
			req.Header.Set(f, "evil.example")
		}
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, resp)
		h.settle()
		expect(t, fmt.Sprintf("step %d Foo %v", i, st.foo), resp, got, 200, bodyFor(st.want), st.status)
		if v := resp.Header.Get("Vary"); v != "Foo" {
			t.Errorf("step %d: Vary %q", i, v)
		}
	}
	// Two chunks per variant, each fetched once: each variant's first
	// fetch with the client's fields, every later one with the variant's
	// Foo only. The object's first fetch (it did not know it varied) asks
	// for its chunk alone; every later variant's first fetch asks for both
	// of its chunks at once (a span fetch).
	reqs := o.requests("/v")
	if len(reqs) != 4 {
		t.Fatalf("%d origin requests, want 4 (two chunks of the first variant, one span of two chunks of each other): %v", len(reqs), reqs)
	}
	for _, i := range []int{0, 2, 3} {
		if reqs[i].Get("Other") == "" {
			t.Errorf("a variant's first fetch %d: the client's fields were not forwarded: %v", i, reqs[i])
		}
		for _, f := range poisoning {
			if v := reqs[i].Get(f); v != "" {
				t.Errorf("a variant's first fetch %d: %s: %q forwarded", i, f, v)
			}
		}
	}
	for i, want := range []string{"1", "1", "2", ""} {
		r := reqs[i]
		if i == 1 && r.Get("Other") != "" {
			t.Errorf("fetch %d sent Other: %v; only the Vary fields go upstream for a later chunk", i, r)
		}
		if r.Get("Foo") != want {
			t.Errorf("fetch %d sent Foo %q, want %q", i, r["Foo"], want)
		}
	}
}

// Issue #9 §7: a Content-Encoding answer is stored and served as it is,
// ranges are ranges of the encoded bytes, per Accept-Encoding variant.
func TestContentEncodingVariants(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	gz, plain := body("gzipped-bytes", 40<<10), body("plain", 50<<10)
	o.set("/t.m3u8", &scriptedObj{header: http.Header{"Cache-Control": {"max-age=600"}, "Vary": {"Accept-Encoding"}},
		bodyOf: func(h http.Header, r *http.Request) []byte {
			if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				h.Set("Content-Encoding", "gzip")
				return gz
			}
			return plain
		}})
	for round := range 2 {
		resp, got := h.doSettled("GET", "/t.m3u8", "Accept-Encoding", "gzip, br")
		expect(t, fmt.Sprint("gzip ", round), resp, got, 200, gz, "")
		if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
			t.Errorf("gzip variant: Content-Encoding %q", ce)
		}
		resp, got = h.doSettled("GET", "/t.m3u8", "Accept-Encoding", "br, gzip", "Range", "bytes=5000-5999")
		expect(t, fmt.Sprint("gzip range ", round), resp, got, 206, gz[5000:6000], "")
		resp, got = h.doSettled("GET", "/t.m3u8", "Accept-Encoding", "identity")
		expect(t, fmt.Sprint("identity ", round), resp, got, 200, plain, "")
	}
	if n := len(o.requests("/t.m3u8")); n != 2 {
		t.Errorf("%d origin requests, want 2 (one per variant)", n)
	}
}

// Issue #9 §3: a response to a request with Authorization is stored only
// with public, s-maxage or must-revalidate; the origin sees Authorization.
func TestAuthorization(t *testing.T) {
	for _, tc := range []struct {
		cc     string
		stored bool
	}{
		{"max-age=3600", false},
		{"max-age=3600, public", true},
		{"s-maxage=3600", true},
		{"max-age=3600, must-revalidate", true},
	} {
		t.Run(tc.cc, func(t *testing.T) {
			h, o := newScripted(t, harnessOptions{})
			data := body("auth", 70<<10)
			o.set("/a", &scriptedObj{body: data, header: http.Header{"Cache-Control": {tc.cc}}})
			resp, got := h.doSettled("GET", "/a", "Authorization", "Bearer FOO")
			want := "edgecache; fwd=miss"
			if tc.stored {
				want += "; stored"
			}
			expect(t, "authorized", resp, got, 200, data, want)
			if a := o.requests("/a")[0].Get("Authorization"); a != "Bearer FOO" {
				t.Errorf("origin saw Authorization %q", a)
			}
			want = "edgecache; fwd=miss; stored"
			if tc.stored {
				want = "edgecache; hit; detail=mem"
			}
			resp, got = h.doSettled("GET", "/a")
			expect(t, "anonymous", resp, got, 200, data, want)
		})
	}
}

// A request with Authorization whose answer may be stored (public) fetches
// each chunk once, with its own credentials; the stored version carries
// none of them: another client's fetches of the chunks not yet held go
// without them (RFC 9111 §3.5 lets the answer be shared, not the
// credentials).
func TestAuthorizationChunks(t *testing.T) {
	const chunk = 16 << 10
	dir := t.TempDir()
	ds, err := disk.Open(disk.Options{Dirs: []disk.Dir{{Path: dir, Size: 64 << 20}},
		StateFile: filepath.Join(t.TempDir(), "disks.state"), ScrubRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	<-ds.Ready()
	h, o := newScripted(t, harnessOptions{chunk: chunk, cache: cache.Options{Disk: ds}})
	data := body("authc", 5*chunk+100)
	hdr := http.Header{"Cache-Control": {"max-age=3600, public"}}
	o.set("/b", &scriptedObj{body: data, header: hdr})
	fetches := func(path string, from int) (perChunk map[int64]int, auth []string) {
		perChunk = map[int64]int{}
		for _, r := range o.requests(path)[from:] {
			var a, b int64
			if _, err := fmt.Sscanf(r.Get("Range"), "bytes=%d-%d", &a, &b); err != nil {
				t.Fatalf("origin request without a range: %q", r.Get("Range"))
			}
			for c := a / chunk; c <= b/chunk; c++ {
				perChunk[c]++
			}
			auth = append(auth, r.Get("Authorization"))
		}
		return perChunk, auth
	}
	for i := range 3 { // the duplicate fetch was a race: give it a few chances
		path := "/a" + strconv.Itoa(i)
		o.set(path, &scriptedObj{body: data, header: hdr})
		resp, got := h.doSettled("GET", path, "Authorization", "Bearer FOO")
		expect(t, "authorized", resp, got, 200, data, "edgecache; fwd=miss; stored")
		per, auth := fetches(path, 0)
		for c := range int64(6) {
			if per[c] != 1 {
				t.Errorf("%s: chunk %d fetched %d times, want once (%v)", path, c, per[c], per)
			}
		}
		for _, a := range auth {
			if a != "Bearer FOO" {
				t.Errorf("%s: a fetch for the authorized request went with Authorization %q", path, a)
			}
		}
	}

	resp, got := h.doSettled("GET", "/b", "Authorization", "Bearer FOO", "Range", "bytes=0-99")
	expect(t, "authorized range", resp, got, 206, data[:100], "")
	from := len(o.requests("/b"))
	resp, got = h.doSettled("GET", "/b")
	expect(t, "anonymous", resp, got, 200, data, "")
	per, auth := fetches("/b", 0)
	for c := range int64(6) {
		if per[c] != 1 {
			t.Errorf("/b chunk %d fetched %d times, want once (%v)", c, per[c], per)
		}
	}
	if len(auth) == from {
		t.Fatal("the anonymous request fetched nothing: the test needs chunks not yet held")
	}
	for _, a := range auth[from:] {
		if a != "" {
			t.Errorf("a fetch for the anonymous request went with Authorization %q", a)
		}
	}

	// Nothing of the credentials reaches the disk tier's files.
	for i := 0; ds.Stats().Puts < 4*6; i++ { // /a0, /a1, /a2, /b
		if i == 500 {
			t.Fatalf("%d chunks written to disk after 5s, want 24", ds.Stats().Puts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if bytes.Contains(b, []byte("Bearer FOO")) {
			t.Errorf("%s holds the credentials", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A client's Connection naming a field an answer varies on (the field is
// then not sent upstream) gets the variant its forwarded fields select, in
// one origin fetch, whether the answer is stored or not. It was a recovered
// nil dereference (500) after three fetches for an answer not stored.
func TestConnectionNamesVaryField(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	data := body("cv", 1000)
	for _, cc := range []string{"private, max-age=60", "no-store", "max-age=60"} {
		path := "/cv/" + strings.ReplaceAll(strings.ReplaceAll(cc, " ", ""), ",", "")
		o.set(path, &scriptedObj{body: data, header: http.Header{"Cache-Control": {cc}, "Vary": {"Accept-Encoding"}}})
		resp, got := h.doSettled("GET", path, "Accept-Encoding", "gzip", "Connection", "Accept-Encoding")
		expect(t, cc, resp, got, 200, data, "")
		if n := len(o.requests(path)); n != 1 {
			t.Errorf("%s: %d origin requests, want 1", cc, n)
		}
		if a := o.requests(path)[0].Get("Accept-Encoding"); a == "gzip" {
			t.Errorf("%s: the field the client's Connection named went upstream", cc)
		}
	}
	if n := h.srv.RecoveredPanics(); n != 0 {
		t.Errorf("%d recovered panics", n)
	}
}

// An answer that sets a cookie is not stored (as by default in nginx,
// Varnish and Fastly): each request gets its own fetch and its own cookie,
// never another client's. A status answer that sets one is not remembered.
func TestSetCookieNotStored(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	data := body("sc", 1000)
	n := 0
	o.set("/sc", &scriptedObj{header: http.Header{"Cache-Control": {"public, max-age=600"}}, bodyOf: func(hh http.Header, r *http.Request) []byte {
		n++
		hh.Set("Set-Cookie", "session="+r.Header.Get("X-Who"))
		return data
	}})
	o.set("/sc404", &scriptedObj{status: 404, body: []byte("no"), header: http.Header{"Cache-Control": {"max-age=600"}, "Set-Cookie": {"s=1"}}})
	for _, who := range []string{"alice", "bob"} {
		resp, got := h.doSettled("GET", "/sc", "X-Who", who)
		expect(t, who, resp, got, 200, data, "edgecache; fwd=miss")
		if c := resp.Header.Get("Set-Cookie"); c != "session="+who {
			t.Errorf("%s got Set-Cookie %q", who, c)
		}
		resp, _ = h.doSettled("GET", "/sc404")
		if resp.StatusCode != 404 || resp.Header.Get("Cache-Status") != "edgecache; fwd=miss" {
			t.Errorf("404 with Set-Cookie: %d %q", resp.StatusCode, resp.Header.Get("Cache-Status"))
		}
	}
	if len(o.requests("/sc")) != 2 || len(o.requests("/sc404")) != 2 {
		t.Errorf("origin requests %d and %d, want 2 each", len(o.requests("/sc")), len(o.requests("/sc404")))
	}
}

// A request's Cache-Control: no-store (RFC 9111 §5.2.1.5): nothing of the
// answer to it is stored, its later chunks included; an object already
// held is served as usual.
func TestRequestNoStore(t *testing.T) {
	h, o := newScripted(t, harnessOptions{chunk: 16 << 10})
	data := body("rns", 100<<10)
	for _, p := range []string{"/rns", "/held"} {
		o.set(p, &scriptedObj{body: data, header: http.Header{"Cache-Control": {"max-age=600"}}})
	}
	resp, got := h.doSettled("GET", "/rns", "Cache-Control", "no-store")
	expect(t, "no-store", resp, got, 200, data, "edgecache; fwd=miss")
	resp, got = h.doSettled("GET", "/rns")
	expect(t, "after", resp, got, 200, data, "edgecache; fwd=miss; stored")
	if n := len(o.requests("/rns")); n < 2 {
		t.Errorf("%d origin requests: the no-store answer was stored", n)
	}
	h.doSettled("GET", "/held")
	resp, got = h.doSettled("GET", "/held", "Cache-Control", "no-store")
	expect(t, "held", resp, got, 200, data, "edgecache; hit; detail=mem")
}

// The variants of one object the index holds are bounded (cache.MaxVariants):
// a client chooses the values of the fields an answer varies on, and each
// variant is an index entry. Past the bound a new variant is fetched for
// its request alone and not stored; those held are still hits.
func TestVariantsBounded(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	o.set("/mv", &scriptedObj{header: http.Header{"Cache-Control": {"max-age=600"}, "Vary": {"Foo"}},
		bodyOf: func(_ http.Header, r *http.Request) []byte { return body("foo="+r.Header.Get("Foo"), 100) }})
	for i := range cache.MaxVariants + 6 {
		foo := strconv.Itoa(i)
		want := "edgecache; fwd=miss; stored"
		if i >= cache.MaxVariants {
			want = "edgecache; fwd=miss"
		}
		resp, got := h.doSettled("GET", "/mv", "Foo", foo)
		expect(t, "Foo "+foo, resp, got, 200, body("foo="+foo, 100), want)
	}
	resp, got := h.doSettled("GET", "/mv", "Foo", "3")
	expect(t, "a variant held", resp, got, 200, body("foo=3", 100), "edgecache; hit; detail=mem")
}

// Issue #9 §4: Age is the origin's Age plus the time the cache held it.
func TestAgeFromOrigin(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	o.clock = &clock{now: time.Now()} // the server's Age uses the real clock
	data := body("age", 100)
	o.set("/g", &scriptedObj{body: data, header: http.Header{"Cache-Control": {"max-age=3600"}, "Age": {"100"}}})
	for range 2 {
		resp, got := h.doSettled("GET", "/g")
		expect(t, "aged", resp, got, 200, data, "")
		if a, _ := strconv.Atoi(resp.Header.Get("Age")); a < 100 || a > 110 {
			t.Errorf("Age %q, want the origin's 100 plus resident time", resp.Header.Get("Age"))
		}
	}
}

// readAll reads and closes resp's body.
func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Issue #9 §4: an operator's TTL override for a prefix replaces the
// origin's freshness lifetime (the longest prefix wins) and never makes a
// no-store response storable.
func TestTTLOverride(t *testing.T) {
	h, o := newScripted(t, harnessOptions{cache: cache.Options{TTLOverrides: []cache.TTLOverride{
		{Prefix: "/live/", TTL: 2 * time.Second}, {Prefix: "/live/long/", TTL: time.Hour}}}})
	data := body("ttl", 2000)
	for _, p := range []string{"/live/a.m3u8", "/live/long/b.m3u8", "/vod/c.m3u8", "/live/nostore"} {
		cc := "max-age=86400"
		if p == "/live/nostore" {
			cc = "no-store"
		}
		o.set(p, &scriptedObj{body: data, header: http.Header{"ETag": {`"t"`}, "Cache-Control": {cc}}})
		resp, got := h.doSettled("GET", p)
		expect(t, p+" first", resp, got, 200, data, "")
	}
	o.clock.advance(3 * time.Second)
	for _, tc := range []struct{ path, status string }{
		{"/live/a.m3u8", "edgecache; fwd=stale; stored"},
		{"/live/long/b.m3u8", "edgecache; hit; detail=mem"},
		{"/vod/c.m3u8", "edgecache; hit; detail=mem"},
		{"/live/nostore", "edgecache; fwd=miss"},
	} {
		resp, got := h.doSettled("GET", tc.path)
		expect(t, tc.path+" after 3s", resp, got, 200, data, tc.status)
	}
}

// Issue #9 §4: Date is the origin's, on the miss and on every hit after
// (the cache says how long it held the answer in Age), and on a 304.
func TestDateIsTheOrigins(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	date := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	o.clock = &clock{now: date} // the origin stamps this Date
	data := body("date", 5000)
	o.set("/d", &scriptedObj{body: data, header: http.Header{"Cache-Control": {"max-age=86400"}, "ETag": {`"d"`}}})
	for i := range 3 {
		resp, got := h.doSettled("GET", "/d")
		expect(t, fmt.Sprint("answer ", i), resp, got, 200, data, "")
		if d := resp.Header.Get("Date"); d != date.Format(http.TimeFormat) {
			t.Errorf("answer %d: Date %q, want the origin's %q", i, d, date.Format(http.TimeFormat))
		}
	}
	resp, _ := h.doSettled("GET", "/d", "If-None-Match", `"d"`)
	if resp.StatusCode != 304 || resp.Header.Get("Date") != date.Format(http.TimeFormat) || resp.Header.Get("Cache-Control") != "max-age=86400" {
		t.Errorf("304: status %d, Date %q, Cache-Control %q", resp.StatusCode, resp.Header.Get("Date"), resp.Header.Get("Cache-Control"))
	}
	// An answer the server makes itself carries the server's clock.
	resp, _ = h.doSettled("GET", "/nothing-here")
	if d, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(d) > time.Minute {
		t.Errorf("404: Date %q, want now", resp.Header.Get("Date"))
	}
}

// RFC 9111 §4.2.3: an answer's age counts the time its request took to be
// answered (response_delay), even when its Date is that of the answer: an
// origin that took 5 s to answer makes it 5 s old, and its max-age=60
// ends 55 s after it arrived.
func TestAgeCountsResponseDelay(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	data := body("aged", 1000)
	o.set("/aged", &scriptedObj{header: http.Header{"Cache-Control": {"max-age=60"}},
		bodyOf: func(hdr http.Header, _ *http.Request) []byte {
			o.clock.advance(5 * time.Second) // the origin takes 5 s, then dates its answer
			hdr.Set("Date", o.clock.Now().UTC().Format(http.TimeFormat))
			return data
		}})
	resp, got := h.doSettled("GET", "/aged")
	expect(t, "miss", resp, got, 200, data, "edgecache; fwd=miss; stored")
	if a := resp.Header.Get("Age"); a != "5" {
		t.Errorf("miss: Age %q, want 5 (the response delay)", a)
	}
	// (The server's Age counts residence by the real clock; freshness is
	// judged by the cache's, this test's.)
	o.clock.advance(54 * time.Second) // 59 s old
	resp, got = h.doSettled("GET", "/aged")
	expect(t, "hit", resp, got, 200, data, "edgecache; hit; detail=mem")
	o.clock.advance(2 * time.Second) // 61 s old
	before := len(o.requests("/aged"))
	resp, got = h.doSettled("GET", "/aged")
	if resp.StatusCode != 200 || !bytes.Equal(got, data) || len(o.requests("/aged")) == before {
		t.Errorf("61 s old: status %d, %d origin requests since: want it stale and fetched again", resp.StatusCode, len(o.requests("/aged"))-before)
	}
}

// Surrogate-Control's max-age and no-store replace Cache-Control and
// Expires for the cache (W3C Edge Architecture; cache-tests' surrogate
// tests): a no-store there is not stored whatever Cache-Control says, and
// a short max-age there ends freshness before Cache-Control's.
func TestSurrogateControl(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	data := body("sc", 1000)
	o.set("/ns", &scriptedObj{body: data, header: http.Header{"Cache-Control": {"max-age=10000"}, "Surrogate-Control": {"no-store"}}})
	o.set("/short", &scriptedObj{body: data, header: http.Header{"Cache-Control": {"max-age=3600"}, "Surrogate-Control": {"max-age=1"}}})
	for _, path := range []string{"/ns", "/short"} {
		resp, got := h.doSettled("GET", path)
		expect(t, path, resp, got, 200, data, "")
	}
	o.clock.advance(2 * time.Second)
	for path, want := range map[string]int{"/ns": 2, "/short": 2} {
		resp, got := h.doSettled("GET", path)
		expect(t, path+" again", resp, got, 200, data, "")
		if n := len(o.requests(path)); n != want {
			t.Errorf("%s: %d origin requests, want %d (not stored, or stale after Surrogate-Control's max-age)", path, n, want)
		}
	}
}

// An object the origin sent without Content-Type is answered without one,
// whole, in a range, on a miss and on a hit: the cache does not invent one
// (fasthttp's default, text/plain, was added to every such answer).
func TestNoContentTypeInvented(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	want := body("untyped", 300<<10)
	o.set("/u", &scriptedObj{header: http.Header{"Cache-Control": {"max-age=600"}, "Content-Type": nil}, body: want})
	for i, st := range []string{"edgecache; fwd=miss; stored", "edgecache; hit; detail=mem"} {
		resp, err := h.client.Do(h.request("GET", "/u"))
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, resp)
		h.settle()
		expect(t, fmt.Sprintf("GET %d", i), resp, got, 200, want, st)
		if v, ok := resp.Header["Content-Type"]; ok {
			t.Errorf("GET %d: Content-Type %q, want none", i, v)
		}
		req := h.request("GET", "/u")
		req.Header.Set("Range", "bytes=100-199")
		resp, err = h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got = readAll(t, resp)
		if resp.StatusCode != 206 || !bytes.Equal(got, want[100:200]) {
			t.Fatalf("range %d: %d, %d bytes", i, resp.StatusCode, len(got))
		}
		if v, ok := resp.Header["Content-Type"]; ok {
			t.Errorf("range %d: Content-Type %q, want none", i, v)
		}
	}
}

// An answer that is not stored (the origin's no-store, or the request's)
// is fetched chunk by chunk after its first fetch: each later chunk's fetch
// asks for that chunk alone. It asked for a span, of which only the chunk
// was read (nobody else may join a span of an answer not stored): an abuse
// review measured 592 MB from the origin for a 64 MiB object.
func TestNotStoredAsksForChunks(t *testing.T) {
	const chunk = 16 << 10
	h, o := newScripted(t, harnessOptions{chunk: chunk})
	data := body("ns", 10*chunk+100)
	o.set("/ons", &scriptedObj{body: data, header: http.Header{"Cache-Control": {"no-store"}}})
	o.set("/rns", &scriptedObj{body: data, header: http.Header{"Cache-Control": {"max-age=600"}}})
	for _, tc := range []struct {
		path string
		hdr  []string
	}{{"/ons", nil}, {"/rns", []string{"Cache-Control", "no-store"}}} {
		resp, got := h.doSettled("GET", tc.path, tc.hdr...)
		expect(t, tc.path, resp, got, 200, data, "edgecache; fwd=miss")
		reqs := o.requests(tc.path)
		if len(reqs) != 11 {
			t.Errorf("%s: %d origin requests, want 11 (one per chunk)", tc.path, len(reqs))
		}
		for i, r := range reqs[1:] {
			var a, b int64
			if _, err := fmt.Sscanf(r.Get("Range"), "bytes=%d-%d", &a, &b); err != nil || b-a+1 > chunk {
				t.Errorf("%s: fetch %d asked for %q, want one chunk", tc.path, i+1, r.Get("Range"))
			}
		}
	}
}

// A Content-Range an origin sends on a 200 frames nothing there: it is
// stored and sent with the version's 200s like any other field (RFC 9111
// §3.1; the cache-tests suite's headers-store-Content-Range), while a 206
// carries its own, and a multipart answer none.
func TestContentRangeOn200Stored(t *testing.T) {
	h, o := newScripted(t, harnessOptions{})
	data := body("cr", 1000)
	o.set("/cr", &scriptedObj{status: 200, body: data, header: http.Header{"Cache-Control": {"max-age=600"}, "Content-Range": {"bytes 1-2/3"}}})
	for i, st := range []string{"edgecache; fwd=miss; stored", "edgecache; hit; detail=mem"} {
		resp, got := h.doSettled("GET", "/cr")
		expect(t, fmt.Sprint("GET ", i), resp, got, 200, data, st)
		if v := resp.Header.Values("Content-Range"); len(v) != 1 || v[0] != "bytes 1-2/3" {
			t.Errorf("GET %d: Content-Range %q, want the origin's", i, v)
		}
	}
	resp, got := h.doSettled("GET", "/cr", "Range", "bytes=10-19")
	if v := resp.Header.Values("Content-Range"); resp.StatusCode != 206 || !bytes.Equal(got, data[10:20]) || len(v) != 1 || v[0] != "bytes 10-19/1000" {
		t.Errorf("a range: %d, Content-Range %q", resp.StatusCode, v)
	}
	resp, _ = h.doSettled("GET", "/cr", "Range", "bytes=0-1,500-501")
	if v := resp.Header.Values("Content-Range"); resp.StatusCode != 206 || len(v) != 0 {
		t.Errorf("two ranges: %d, Content-Range %q, want none", resp.StatusCode, v)
	}
}
