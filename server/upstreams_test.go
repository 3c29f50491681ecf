package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"edgecache/cache"
	"edgecache/origin"
)

// upHarness is a cache in front of two Faulty upstreams of one synthetic
// origin, through origin.Upstreams, all on kernel-picked loopback ports.
type upHarness struct {
	*harness
	ups  []*origin.Faulty
	pool *origin.Upstreams
	clk  *testClock
}

// testClock is the cache's clock, moved by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type upOptions struct {
	n        int // upstreams; default 2
	upstream origin.UpstreamOptions
	cache    cache.Options
	maxAge   time.Duration
}

func newUpHarness(t *testing.T, o upOptions) *upHarness {
	t.Helper()
	if o.n == 0 {
		o.n = 2
	}
	syn := origin.NewSynthetic(origin.SyntheticOptions{MaxAge: o.maxAge})
	h := &upHarness{harness: &harness{t: t, syn: syn}, clk: &testClock{t: time.Now()}}
	var opts []origin.UpstreamOptions
	for i := range o.n {
		f := origin.NewFaulty(syn)
		f.Delay = 500 * time.Millisecond
		ts := httptest.NewServer(f)
		t.Cleanup(ts.Close)
		h.ups = append(h.ups, f)
		u := o.upstream
		u.URL, u.Name = ts.URL, fmt.Sprintf("up%d", i+1)
		if u.Client.FirstByteTimeout == 0 {
			u.Client.FirstByteTimeout = 2 * time.Second
		}
		opts = append(opts, u)
	}
	log := panicLogger(t)
	pool, err := origin.NewUpstreams(opts, origin.PoolOptions{Via: "box-test", Backoff: time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h.pool = pool
	co := o.cache
	co.ChunkSize, co.Now, co.Logger = 64<<10, h.clk.Now, log
	if co.Memory == 0 {
		co.Memory = 64 << 20
	}
	h.store, err = cache.New(pool, co)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.store.Close)
	h.srv = New(h.store, Options{Via: "box-test", Logger: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.srv.Shutdown(ctx)
	})
	h.base = "http://" + ln.Addr().String()
	h.client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 200}}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

// get asks for path (with a Range if rng is not ""), tolerating a body
// cut short, which it reports in err.
func (h *upHarness) get(path, rng string) (*http.Response, []byte, error) {
	h.t.Helper()
	req := h.request(http.MethodGet, path)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// Players keep getting the origin's bytes, byte for byte, from the next
// upstream whatever the first one does.
func TestUpstreamFailoverServesOriginBytes(t *testing.T) {
	faults := []origin.Fault{origin.FaultNone, origin.FaultStatus, origin.FaultDead, origin.FaultSlow,
		origin.FaultWrongLength, origin.FaultShortBody}
	h := newUpHarness(t, upOptions{upstream: origin.UpstreamOptions{Client: origin.Options{FirstByteTimeout: 200 * time.Millisecond},
		Breaker: origin.BreakerOptions{Failures: -1, FailureRatio: -1}}})
	for _, f := range faults {
		t.Run(fmt.Sprint(f), func(t *testing.T) {
			h.ups[0].SetFault(f)
			path := fmt.Sprintf("/s/300000/fault-%d", f)
			resp, body, err := h.get(path, "")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, originBytes(path, 0, 300000)) {
				t.Fatalf("status %d, %d bytes: want the origin's 300000 bytes", resp.StatusCode, len(body))
			}
			resp, body, err = h.get(path, "bytes=100000-200000")
			if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, originBytes(path, 100000, 100001)) {
				t.Fatalf("range: status %v, err %v", resp.StatusCode, err)
			}
		})
	}
	if h.ups[0].LastVia() != "1.1 box-test" {
		t.Errorf("upstream request Via %q, want \"1.1 box-test\"", h.ups[0].LastVia())
	}
}

func TestUpstreamLoopDetected(t *testing.T) {
	h := newUpHarness(t, upOptions{n: 1})
	tests := []struct {
		via  string
		want int
	}{
		{"", http.StatusOK},
		{"1.1 other-box", http.StatusOK},
		{"1.1 other-box, 1.1 box-test", http.StatusLoopDetected},
		{"HTTP/1.1 BOX-TEST (edgecache)", http.StatusLoopDetected},
		{"1.1 box-test2", http.StatusOK},
	}
	for _, tt := range tests {
		resp, body := h.do(http.MethodGet, "/s/1000/loop", "Via", tt.via)
		if resp.StatusCode != tt.want {
			t.Errorf("Via %q: status %d, want %d", tt.via, resp.StatusCode, tt.want)
		}
		if tt.want == http.StatusLoopDetected && !strings.Contains(string(body), "loop detected") {
			t.Errorf("Via %q: body %q does not say why", tt.via, body)
		}
	}
	if n := h.ups[0].Requests(); n != 1 {
		t.Errorf("upstream asked %d times, want 1 (looping requests must not be fetched)", n)
	}
}

func TestUpstreamBreakersOpen503(t *testing.T) {
	h := newUpHarness(t, upOptions{n: 1, upstream: origin.UpstreamOptions{Breaker: origin.BreakerOptions{Failures: 1, CoolDown: time.Hour},
		Client: origin.Options{FirstByteTimeout: 100 * time.Millisecond}}})
	h.ups[0].SetFault(origin.FaultSlow) // a timeout: the upstream's failure
	resp, _ := h.do(http.MethodGet, "/s/1000/a")
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("first: status %d, want 504", resp.StatusCode)
	}
	resp, body := h.do(http.MethodGet, "/s/1000/b")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3600" ||
		!strings.Contains(string(body), "circuit breakers open") {
		t.Fatalf("with the breaker open: status %d, Retry-After %q, body %q; want 503, 3600, the reason",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if n := h.ups[0].Requests(); n != 1 {
		t.Errorf("upstream asked %d times, want 1", n)
	}
}

func TestUpstreamOverloaded503(t *testing.T) {
	h := newUpHarness(t, upOptions{n: 1, upstream: origin.UpstreamOptions{MaxInFlight: 1, QueueLength: -1}})
	h.ups[0].SetFault(origin.FaultSlow)
	var wg sync.WaitGroup
	codes := make(chan string, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _, err := h.get(fmt.Sprintf("/s/1000/busy-%d", i), "")
			if err != nil {
				codes <- err.Error()
				return
			}
			codes <- fmt.Sprint(resp.StatusCode, " ", resp.Header.Get("Retry-After"))
		}()
	}
	wg.Wait()
	close(codes)
	got := map[string]int{}
	for c := range codes {
		got[c]++
	}
	if got["200 "] != 1 || got["503 1"] != 2 {
		t.Errorf("answers %v: want one 200 and two 503 with Retry-After: 1", got)
	}
}

// Stale content is served when every upstream fails, only within its
// limits.
func TestUpstreamStaleOnFailure(t *testing.T) {
	h := newUpHarness(t, upOptions{maxAge: 10 * time.Second,
		upstream: origin.UpstreamOptions{Breaker: origin.BreakerOptions{Failures: 2, CoolDown: time.Hour},
			Client: origin.Options{FirstByteTimeout: 100 * time.Millisecond}},
		cache: cache.Options{StaleIfError: time.Minute}})
	const path = "/s/100000/stale"
	if resp, body, err := h.get(path, ""); err != nil || resp.StatusCode != 200 || !bytes.Equal(body, originBytes(path, 0, 100000)) {
		t.Fatalf("first fetch failed: %v", err)
	}
	for _, u := range h.ups {
		u.SetFault(origin.FaultSlow) // timeouts: the upstreams' failures
	}
	h.clk.Add(30 * time.Second) // stale by 20s: within serve_stale_on_error
	for i := range 3 {          // the last ones find every breaker open
		resp, body, err := h.get(path, "")
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, originBytes(path, 0, 100000)) ||
			!strings.Contains(resp.Header.Get("Cache-Status"), "stale-if-error") {
			t.Fatalf("try %d: status %v, Cache-Status %q, err %v: want the stale copy", i, resp.StatusCode, resp.Header.Get("Cache-Status"), err)
		}
	}
	if s := h.pool.Stats(); s[0].Breaker.State != origin.BreakerOpen {
		t.Errorf("breaker %v, want open", s[0].Breaker.State)
	}
	h.clk.Add(time.Minute) // past the limit
	resp, _, err := h.get(path, "")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("past the stale limit: status %v, err %v; want 503 (breakers open)", resp.StatusCode, err)
	}
}

// A partially cached object whose first needed chunk cannot be fetched
// fails before the headers: an error status, not a 200 cut short.
func TestUpstreamMissingFirstChunkFailsBeforeHeaders(t *testing.T) {
	h := newUpHarness(t, upOptions{n: 1, cache: cache.Options{Memory: 256 << 10}}) // 4 chunks
	const path, size = "/s/524288/partial", 524288                                 // 8 chunks
	if resp, body, err := h.get(path, ""); err != nil || resp.StatusCode != 200 || !bytes.Equal(body, originBytes(path, 0, size)) {
		t.Fatalf("first fetch failed: %v", err)
	}
	meta, _, err := h.store.Lookup(context.Background(), cache.NewKey(path), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, d, _ := h.store.Residency(meta, 0, 1); m+d != 0 {
		t.Skip("chunk 0 is still in memory")
	}
	// Chunks complete in the order their fetches end, which is not always
	// the object's order: find one still held.
	const chunk = 65536
	held := int64(-1)
	for c := int64(size/chunk - 1); c > 0 && held < 0; c-- {
		if m, d, _ := h.store.Residency(meta, c*chunk, 1); m+d != 0 {
			held = c
		}
	}
	if held < 0 {
		t.Fatal("no chunk of the object is held after a whole fetch")
	}
	h.ups[0].SetFault(origin.FaultDead)
	for _, rng := range []string{"", "bytes=0-99"} {
		resp, _, err := h.get(path, rng)
		if err != nil || resp.StatusCode != http.StatusBadGateway {
			t.Errorf("range %q: status %v, err %v; want a whole 502", rng, resp.StatusCode, err)
		}
		if cs := resp.Header.Get("Cache-Status"); cs != "edgecache; fwd=miss; detail=origin-error" {
			t.Errorf("range %q: Cache-Status %q", rng, cs)
		}
	}
	// Counted as errors, not as hits (the version was held; its chunk was
	// not, and the origin failed to send it).
	for _, rc := range h.srv.Metrics().Requests {
		if rc.Class == "5xx" && rc.Result != ResultError {
			t.Errorf("a 502 counted as %v: %+v", rc.Result, rc)
		}
	}
	// A resident chunk is still served.
	from, to := held*chunk+100, held*chunk+chunk-1
	resp, body, err := h.get(path, fmt.Sprintf("bytes=%d-%d", from, to))
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, originBytes(path, from, to-from+1)) {
		t.Errorf("resident chunk %d: status %v, err %v", held, resp.StatusCode, err)
	}
}

// A validator change at the upstreams never mixes versions in a response.
func TestUpstreamVersionChangeNeverMixes(t *testing.T) {
	h := newUpHarness(t, upOptions{cache: cache.Options{Memory: 256 << 10}})
	const path, size = "/s/524288/versions", 524288
	v1 := originBytes(path, 0, size)
	v2 := make([]byte, size)
	origin.VersionTwoContent(path, 0, v2)
	if resp, body, err := h.get(path, "bytes=393216-"); err != nil || resp.StatusCode != 206 || !bytes.Equal(body, v1[393216:]) {
		t.Fatalf("tail fetch failed: %v", err)
	}
	for _, u := range h.ups {
		u.SetFault(origin.FaultNewVersion)
	}
	sawV2 := false
	for i := range 3 {
		resp, body, err := h.get(path, "")
		switch {
		case err != nil && !(bytes.HasPrefix(v1, body) || bytes.HasPrefix(v2, body)):
			t.Fatalf("try %d: a cut response mixes versions", i)
		case err != nil || resp.StatusCode != 200:
			t.Logf("try %d: status %d, err %v", i, resp.StatusCode, err)
		case bytes.Equal(body, v2):
			sawV2 = true
		case !bytes.Equal(body, v1):
			t.Fatalf("try %d: a 200 whose bytes are neither version", i)
		}
	}
	if !sawV2 {
		t.Error("the new version was never served")
	}
}
