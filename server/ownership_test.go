package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// TestMain runs this package's tests with poisoned request views (unless
// benchmarking): every string b2s makes views a private copy of the bytes,
// and once the request's answer is finished the copy is overwritten with
// '#', as fasthttp reuses its request buffer for the connection's next
// request. Anything kept past the handler that should have been copied
// (a key in an index, a field sent upstream later, an access log line)
// then holds "###..." instead of failing by chance.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		testView, testAnswered = poisonedView, poisonViews
	}
	os.Exit(m.Run())
}

// views holds, by goroutine, the copies handed out for the request it is
// serving (fasthttp serves a connection's requests, and writes their
// bodies, in one goroutine).
var views struct {
	mu sync.Mutex
	m  map[uint64][][]byte
}

// goroutineID returns the calling goroutine's id, from its stack header
// ("goroutine 42 [running]:").
func goroutineID() uint64 {
	var buf [64]byte
	f := bytes.Fields(buf[:runtime.Stack(buf[:], false)])
	id, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return id
}

// poisonedView is testView: a copy of b, to be overwritten when the answer
// is finished.
func poisonedView(b []byte) string {
	if b == nil {
		return ""
	}
	c := bytes.Clone(b)
	id := goroutineID()
	views.mu.Lock()
	if views.m == nil {
		views.m = map[uint64][][]byte{}
	}
	views.m[id] = append(views.m[id], c)
	views.mu.Unlock()
	return unsafe.String(unsafe.SliceData(c), len(c))
}

// poisonViews is testAnswered: it overwrites the copies handed out to the
// calling goroutine.
func poisonViews() {
	id := goroutineID()
	views.mu.Lock()
	bs := views.m[id]
	delete(views.m, id)
	views.mu.Unlock()
	for _, b := range bs {
		for i := range b {
			b[i] = '#'
		}
	}
}

// pipeline writes reqs at once on one connection and returns the answers,
// their bodies read.
func pipeline(t *testing.T, h *harness, reqs []string) (resps []*http.Response, bodies [][]byte) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, strings.Join(reqs, "")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range reqs {
		resp, err := http.ReadResponse(br, &http.Request{Method: strings.Fields(reqs[i])[0]})
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		resps, bodies = append(resps, resp), append(bodies, b)
	}
	return resps, bodies
}

// multipartBodies returns the parts of a multipart/byteranges body.
func multipartBodies(t *testing.T, resp *http.Response, body []byte) [][]byte {
	t.Helper()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	var parts [][]byte
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
}

// What outlives an answer (span followers, read-ahead, the later chunks of
// a private or varying version, a background revalidation, the access log)
// uses owned copies of the request's fields: requests of many kinds are
// pipelined on one connection, so that each one's views are poisoned before
// the next is read, and nothing the origin or the access log got may hold
// poisoned bytes. It fails if any of the copies the server and the cache
// make of request fields is dropped (the key, the fields a version varies
// on, the fields a first fetch forwards, the access log's method, path and
// range).
func TestOwnershipAfterAnswer(t *testing.T) {
	if testView == nil {
		t.Skip("request views are not poisoned (benchmark run)")
	}
	logPath := filepath.Join(t.TempDir(), "access.log")
	alog, err := OpenAccessLog(logPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, o := newScripted(t, harnessOptions{chunk: 16 << 10, server: Options{AccessLog: alog, MaxRangeFetchChunks: 1}})
	vary, priv, privpub := body("vary", 200<<10), body("priv", 200<<10), body("privpub", 200<<10)
	big, first := body("big", 300<<10), body("first", 100<<10)
	o.set("/vary?x=1", &scriptedObj{body: vary, header: http.Header{"ETag": {`"v"`},
		"Cache-Control": {"max-age=1, stale-while-revalidate=600"}, "Vary": {"Foo, Accept-Language"}}})
	o.set("/priv", &scriptedObj{body: priv, header: http.Header{"Cache-Control": {"max-age=600"}}})
	o.set("/privpub", &scriptedObj{body: privpub, header: http.Header{"Cache-Control": {"max-age=600, public"}}})
	o.set("/big", &scriptedObj{body: big, header: http.Header{"ETag": {`"b"`}, "Cache-Control": {"max-age=600"}}})
	o.set("/gone", &scriptedObj{status: 404, body: []byte("nope"), header: http.Header{"Cache-Control": {"max-age=600"}}})
	o.set("/first", &scriptedObj{body: first, header: http.Header{"Cache-Control": {"max-age=600"}}})

	reqs := []string{
		"GET /vary?x=1 HTTP/1.1\r\nHost: a\r\nFoo: foo-value-1\r\nAccept-Language: en-GB\r\nRange: bytes=0-10\r\nOther: o1\r\n\r\n",
		"GET /priv HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer SECRET-TOKEN\r\nRange: bytes=0-10\r\n\r\n",
		"GET /privpub HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer PUBLIC-TOKEN\r\nX-Forwarded-Thing: fwd-value\r\nRange: bytes=0-10\r\n\r\n",
		"GET /big HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0,100000-100010,250000-250010\r\nIf-Range: \"b\"\r\n\r\n",
		"GET /gone HTTP/1.1\r\nHost: a\r\n\r\n",
		"DELETE /zzz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /first HTTP/1.1\r\nHost: a\r\nX-Client: client-value\r\n\r\n",
		"GET /vary?x=1 HTTP/1.1\r\nHost: a\r\nFoo: foo-value-2\r\nAccept-Language: en-GB\r\nRange: bytes=0-10\r\n\r\n",
		"GET http://example/vary?x=1 HTTP/1.1\r\nHost: a\r\nFoo: foo-value-1\r\nAccept-Language: en-GB\r\nRange: bytes=20000-20010\r\n\r\n",
	}
	// What each answer must be: its status and the origin's bytes (each
	// part's, for the multi-range one; nil: not compared, an error page).
	wants := []struct {
		status int
		parts  [][]byte
	}{
		{206, [][]byte{vary[:11]}}, {206, [][]byte{priv[:11]}}, {206, [][]byte{privpub[:11]}},
		{206, [][]byte{big[:1], big[100000:100011], big[250000:250011]}},
		{404, [][]byte{[]byte("nope")}}, {405, nil}, {200, [][]byte{first}},
		{206, [][]byte{vary[:11]}}, {206, [][]byte{vary[20000:20011]}},
	}
	for round := range 3 {
		resps, bodies := pipeline(t, h, reqs)
		for i, w := range wants {
			if resps[i].StatusCode != w.status {
				t.Fatalf("round %d, answer %d: status %d, want %d", round, i, resps[i].StatusCode, w.status)
			}
			got := [][]byte{bodies[i]}
			if len(w.parts) > 1 {
				got = multipartBodies(t, resps[i], bodies[i])
			}
			if w.parts != nil && !slices.EqualFunc(got, w.parts, bytes.Equal) {
				t.Fatalf("round %d, answer %d: bytes are not the origin's", round, i)
			}
		}
		h.settle()
		if round == 1 {
			o.clock.advance(10 * time.Second) // /vary is stale: the next round revalidates it in the background
		}
	}
	// The rest of the private and varying objects, on new connections:
	// their later chunks are fetched with the fields their versions kept.
	for _, c := range []struct {
		path string
		hdr  []string
		want []byte
	}{
		{"/priv", []string{"Authorization", "Bearer SECRET-TOKEN"}, priv},
		{"/privpub", nil, privpub},
		{"/vary?x=1", []string{"Foo", "foo-value-1", "Accept-Language", "en-GB"}, vary},
		{"/vary?x=1", []string{"Foo", "foo-value-2", "Accept-Language", "en-GB"}, vary},
	} {
		if resp, got := h.do("GET", c.path, c.hdr...); resp.StatusCode != 200 || !bytes.Equal(got, c.want) {
			t.Fatalf("%s %v: status %d, bytes are not the origin's", c.path, c.hdr, resp.StatusCode)
		}
	}
	h.settle()

	o.mu.Lock()
	hs, paths := append([]http.Header(nil), o.reqs...), append([]string(nil), o.paths...)
	o.mu.Unlock()
	for i, hh := range hs {
		if strings.Contains(paths[i], "##") {
			t.Errorf("origin request %d asked for a poisoned path %q", i, paths[i])
		}
		for k, vs := range hh {
			for _, v := range vs {
				if strings.Contains(k, "##") || strings.Contains(v, "##") {
					t.Errorf("origin request %d (%s) carried a poisoned field %s: %q", i, paths[i], k, v)
				}
			}
		}
		switch {
		case strings.HasPrefix(paths[i], "/vary"):
			if !strings.HasPrefix(hh.Get("Foo"), "foo-value-") || hh.Get("Accept-Language") != "en-GB" {
				t.Errorf("vary fetch %d: Foo %q, Accept-Language %q", i, hh.Get("Foo"), hh.Get("Accept-Language"))
			}
		case paths[i] == "/priv":
			if hh.Get("Authorization") != "Bearer SECRET-TOKEN" {
				t.Errorf("private fetch %d: Authorization %q", i, hh.Get("Authorization"))
			}
		case paths[i] == "/first" && hh.Get("Range") == "bytes=0-16383":
			if hh.Get("X-Client") != "client-value" {
				t.Errorf("first fetch of /first: X-Client %q", hh.Get("X-Client"))
			}
		}
	}

	alog.Close()
	f, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(f)), "\n")
	for _, line := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"method", "path", "range"} {
			if s := fmt.Sprint(e[k]); strings.Contains(s, "##") {
				t.Errorf("access log %s poisoned: %v", k, e)
			}
		}
	}
	if len(lines) < 3*len(reqs) {
		t.Errorf("%d access log lines, want at least %d", len(lines), 3*len(reqs))
	}
}

// A private request's fetch resumed after its answer was finished (the
// client asked for a few bytes; the origin's body broke later) asks again
// with the request's own fields, owned: it fails if the fields a fetch
// forwards are views of the request (request.Clone without copies).
func TestOwnershipResumeAfterAnswer(t *testing.T) {
	if testView == nil {
		t.Skip("request views are not poisoned (benchmark run)")
	}
	const chunk = 16 << 10
	data := body("resume", chunk)
	release := make(chan struct{})
	var mu sync.Mutex
	var auths []string
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		first := len(auths) == 1
		mu.Unlock()
		var a, b int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &a, &b); err != nil {
			a, b = 0, int64(len(data))-1
		}
		b = min(b, int64(len(data))-1)
		w.Header().Set("ETag", `"r"`)
		w.Header().Set("Cache-Control", "max-age=600, public")
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, len(data)))
		w.Header().Set("Content-Length", strconv.FormatInt(b-a+1, 10))
		w.WriteHeader(http.StatusPartialContent)
		if first { // 100 bytes, then a break once the client has its answer
			w.Write(data[a : a+100])
			w.(http.Flusher).Flush()
			<-release
			panic(http.ErrAbortHandler)
		}
		w.Write(data[a : b+1])
	})
	h := newHarness(t, harnessOptions{chunk: chunk, originHandle: origin})
	resp, got := h.do("GET", "/r", "Authorization", "Bearer SECRET", "Range", "bytes=0-10")
	if resp.StatusCode != 206 || !bytes.Equal(got, data[:11]) {
		t.Fatalf("status %d, %q", resp.StatusCode, got)
	}
	time.Sleep(100 * time.Millisecond) // the answer's body is closed (its views poisoned) just after its last byte
	close(release)
	h.settle()
	mu.Lock()
	defer mu.Unlock()
	if len(auths) != 2 {
		t.Fatalf("%d origin requests, want 2 (the fetch and its resume)", len(auths))
	}
	for i, a := range auths {
		if a != "Bearer SECRET" {
			t.Errorf("origin request %d: Authorization %q", i, a)
		}
	}
}
