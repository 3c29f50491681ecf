package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/origin"
	"edgecache/server"
)

// harness is a content listener over a memory and disk cache in front of
// the synthetic origin, with its admin listener.
type harness struct {
	content string // content listener address
	admin   *httptest.Server
	adm     *Admin
	store   *cache.Store
	alog    *server.AccessLog
	logPath string
	ready   error // what Check answers
}

// settle waits until no chunk fetch holds fetch memory: every chunk fetched
// so far is stored.
func (h *harness) settle(t *testing.T) {
	t.Helper()
	for i := 0; h.store.Stats().FetchBytes != 0; i++ {
		if i == 500 {
			t.Fatal("chunk fetches still in progress after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{}
	ts := httptest.NewServer(origin.NewSynthetic(origin.SyntheticOptions{}))
	t.Cleanup(ts.Close)
	client, err := origin.NewUpstreams([]origin.UpstreamOptions{{Name: "origin", URL: ts.URL}}, origin.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	metered := origin.NewMetered(client)
	dir := t.TempDir()
	d1 := filepath.Join(dir, "d1")
	if err := os.Mkdir(d1, 0o755); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ds, err := disk.Open(disk.Options{Dirs: []disk.Dir{{Path: d1, Size: 64 << 20}}, StateFile: filepath.Join(dir, "state"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	<-ds.Ready()
	h.store, err = cache.New(metered, cache.Options{ChunkSize: 256 << 10, Memory: 16 << 20, Disk: ds, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.store.Close)
	h.logPath = filepath.Join(dir, "access.log")
	if h.alog, err = server.OpenAccessLog(h.logPath, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.alog.Close() })
	srv := server.New(h.store, server.Options{AccessLog: h.alog, Logger: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	h.content = ln.Addr().String()
	h.adm = New(Options{Store: h.store, Disk: ds, Server: srv, Origin: metered, AccessLog: h.alog, Upstreams: client.Stats,
		Target: server.TargetOptions{MaxPathLength: 4096}, Version: "test", Logger: log,
		Check: func(ctx context.Context) error {
			if h.ready != nil {
				return h.ready
			}
			return server.Probe(ctx, h.content)
		}})
	h.admin = httptest.NewServer(h.adm)
	t.Cleanup(h.admin.Close)
	return h
}

// get fetches path from the content listener, checks the bytes against the
// origin's and returns the Cache-Status.
func (h *harness) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + h.content + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, len(body))
	origin.FillContent(strings.SplitN(path, "?", 2)[0], 0, want)
	if resp.StatusCode != 200 || !bytes.Equal(body, want) || int64(len(body)) != resp.ContentLength {
		t.Fatalf("GET %s: %d, %d bytes, differ from the origin's", path, resp.StatusCode, len(body))
	}
	return resp.Header.Get("Cache-Status")
}

// call sends method to the admin path with the token (none if "") and
// returns status and body.
func (h *harness) call(t *testing.T, method, path, token string, body io.Reader) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, h.admin.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// scrape returns /metrics parsed by the Prometheus text parser.
func (h *harness) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := h.call(t, "GET", "/metrics", "", nil)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include labels (name=value pairs); a histogram's count.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0 // the test checks the families it needs are there
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

func TestHealthReadyStats(t *testing.T) {
	h := newHarness(t)
	if code, body := h.call(t, "GET", "/healthz", "", nil); code != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := h.call(t, "GET", "/readyz", "", nil); code != 200 || string(body) != "ready\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	h.ready = errors.New("connection refused")
	if code, body := h.call(t, "GET", "/readyz", "", nil); code != 503 || !strings.Contains(string(body), "content listener: connection refused") {
		t.Errorf("/readyz with the listener down: %d %q", code, body)
	}
	h.ready = nil

	h.get(t, "/s/1M/stats.m4s")
	h.settle(t) // its last chunk is stored just after its bytes went out
	h.get(t, "/s/1M/stats.m4s")
	code, body := h.call(t, "GET", "/stats", "", nil)
	if code != 200 {
		t.Fatalf("/stats: %d %s", code, body)
	}
	var st Stats
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Version != "test" || st.RequestsByCache["miss"] != 1 || st.RequestsByCache["hit"] != 1 ||
		st.BytesByTier["memory"] != 1<<20 || st.BytesByTier["origin"] != 1<<20 || st.Memory.Chunks != 4 ||
		st.Memory.Budget != 16<<20 || len(st.Disks) != 1 || !st.Disks[0].InService || st.Origin.Bytes != 1<<20 ||
		st.Origin.Fetches["ok"] == 0 || st.Objects != 1 || st.AccessLog == nil {
		t.Errorf("/stats = %s", body)
	}
	for _, m := range []string{"POST /healthz", "GET /purge", "DELETE /stats"} {
		method, path, _ := strings.Cut(m, " ")
		if code, _ := h.call(t, method, path, "", nil); code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, code)
		}
	}
}

// The families the issue asks for are there, and their values move with
// requests.
func TestMetrics(t *testing.T) {
	h := newHarness(t)
	before := h.scrape(t)
	for _, name := range []string{
		"edgecache_build_info", "edgecache_http_time_to_first_byte_seconds", "edgecache_http_request_duration_seconds",
		"edgecache_origin_fetches_total", "edgecache_origin_fetch_duration_seconds", "edgecache_origin_bytes_total",
		"edgecache_collapsed_waiters_total", "edgecache_origin_span_chunks_abandoned_total", "edgecache_arena_heap_chunks_total", "edgecache_arena_dropped_chunks_total", "edgecache_arena_sent_bytes_total", "edgecache_arena_lost_bytes", "edgecache_tier_bytes", "edgecache_tier_chunks", "edgecache_tier_budget_bytes",
		"edgecache_evictions_total", "edgecache_checksum_failures_total", "edgecache_disk_in_service",
		"edgecache_disk_write_queue_dropped_total", "edgecache_disk_write_queue_hits_total", "edgecache_disk_stuck_writers", "edgecache_recovered_panics_total", "edgecache_http_response_bytes_total",
		"edgecache_access_log_dropped_total", "go_goroutines", "process_open_fds",
		"edgecache_upstream_breaker_state", "edgecache_upstream_requests_total", "edgecache_upstream_breaker_transitions_total",
		"edgecache_revalidations_total", "edgecache_stale_served_total",
		"edgecache_disk_open_files", "edgecache_disk_open_file_hits_total", "edgecache_disk_writes_declined_total", "edgecache_disk_files_recycled_total",
	} {
		if before[name] == nil {
			t.Errorf("no metric family %s", name)
		}
	}
	if v := value(t, before, "edgecache_disk_in_service"); v != 1 {
		t.Errorf("edgecache_disk_in_service = %g", v)
	}
	h.get(t, "/s/600K/m.m4s")
	h.settle(t)
	h.get(t, "/s/600K/m.m4s")
	h.get(t, "/s/600K/m.m4s")
	resp, err := http.Post("http://"+h.content+"/x", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(50 * time.Millisecond) // the last body's close is counted just after the client has it
	after := h.scrape(t)
	if after["edgecache_http_requests_total"] == nil {
		t.Fatal("no metric family edgecache_http_requests_total")
	}
	for _, c := range []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"edgecache_http_requests_total", []string{"method", "GET", "status_class", "2xx", "cache", "miss"}, 1},
		{"edgecache_http_requests_total", []string{"method", "GET", "status_class", "2xx", "cache", "hit"}, 2},
		{"edgecache_http_requests_total", []string{"method", "OTHER", "status_class", "4xx", "cache", "none"}, 1},
		{"edgecache_http_response_bytes_total", []string{"tier", "memory"}, 2 * 600 << 10},
		{"edgecache_http_response_bytes_total", []string{"tier", "origin"}, 600 << 10},
		{"edgecache_http_time_to_first_byte_seconds", nil, 4},
		{"edgecache_http_request_duration_seconds", nil, 4},
		{"edgecache_origin_bytes_total", nil, 600 << 10},
		{"edgecache_origin_fetches_total", []string{"result", "ok"}, 1}, // the object's 3 chunks in one span fetch
		{"edgecache_upstream_requests_total", []string{"upstream", "origin"}, 1},
		{"edgecache_tier_chunks", []string{"tier", "memory"}, 3},
		{"edgecache_tier_bytes", []string{"tier", "memory"}, 600 << 10},
	} {
		got := value(t, after, c.name, c.labels...)
		got -= value(t, before, c.name, c.labels...)
		if got != c.delta {
			t.Errorf("%s%v moved by %g, want %g", c.name, c.labels, got, c.delta)
		}
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t)
	h.adm.SetToken("s3cret-token")
	for _, ep := range []string{"GET /metrics", "GET /healthz", "GET /readyz", "GET /stats", "POST /purge?path=/a", "GET /nope"} {
		method, path, _ := strings.Cut(ep, " ")
		for _, tok := range []string{"", "wrong", "s3cret-token2", "s3cret-toke"} {
			code, body := h.call(t, method, path, tok, nil)
			if code != http.StatusUnauthorized || len(body) != 0 {
				t.Errorf("%s with token %q: %d %q, want 401 and nothing else", ep, tok, code, body)
			}
		}
		want := 200
		if path == "/nope" {
			want = 404
		}
		if code, body := h.call(t, method, path, "s3cret-token", nil); code != want {
			t.Errorf("%s with the token: %d %s", ep, code, body)
		}
	}
	// Another scheme with the right token is still refused.
	req, _ := http.NewRequest("GET", h.admin.URL+"/stats", nil)
	req.Header.Set("Authorization", "Basic s3cret-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("Basic auth: %d", resp.StatusCode)
	}
	h.adm.SetToken("")
	if code, _ := h.call(t, "GET", "/healthz", "", nil); code != 200 {
		t.Errorf("token cleared: %d", code)
	}
}

// waitDisk waits until the disk tier holds n chunks.
func waitDisk(t *testing.T, h *harness, n int64) {
	t.Helper()
	for i := 0; h.store.Stats().DiskWrites < n; i++ {
		if i > 1000 {
			t.Fatalf("disk writes %d, want %d", h.store.Stats().DiskWrites, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPurge(t *testing.T) {
	h := newHarness(t)
	paths := []string{"/v/t1/a.m4s", "/v/t1/a.m4s?q=1", "/v/t1/b.m4s", "/v/t2/c.m4s"}
	for _, p := range paths {
		h.get(t, p)
	}
	waitDisk(t, h, 4*4)

	code, body := h.call(t, "POST", "/purge?path=/v/t1/./a.m4s", "", nil)
	var res PurgeResponse
	if err := json.Unmarshal(body, &res); code != 200 || err != nil {
		t.Fatalf("purge path: %d %s %v", code, body, err)
	}
	if res.Objects != 2 || res.MemoryChunks != 8 || res.DiskChunks != 8 || res.DiskBytes != 2<<20 || res.Path != "/v/t1/./a.m4s" {
		t.Errorf("purge path answered %s", body)
	}
	for _, p := range paths[:2] {
		if cs := h.get(t, p); !strings.Contains(cs, "fwd=miss") {
			t.Errorf("%s after purge: Cache-Status %q, want a miss", p, cs)
		}
	}
	if cs := h.get(t, paths[2]); !strings.Contains(cs, "hit") {
		t.Errorf("%s after purging another path: %q, want a hit", paths[2], cs)
	}

	code, body = h.call(t, "POST", "/purge", "", strings.NewReader(`{"prefix": "/v/t1/"}`))
	res = PurgeResponse{}
	if err := json.Unmarshal(body, &res); code != 200 || err != nil || res.Objects != 3 || res.Prefix != "/v/t1/" {
		t.Errorf("purge prefix: %d %s", code, body)
	}
	if cs := h.get(t, paths[2]); !strings.Contains(cs, "fwd=miss") {
		t.Errorf("%s after its prefix purge: %q, want a miss", paths[2], cs)
	}
	if cs := h.get(t, paths[3]); !strings.Contains(cs, "hit") {
		t.Errorf("%s outside the prefix: %q, want a hit", paths[3], cs)
	}
	for _, q := range []string{"", "?path=/a&prefix=/b", "?prefix=v/", "?path=/a/../../x", "?path=a"} {
		if code, body := h.call(t, "POST", "/purge"+q, "", nil); code != 400 {
			t.Errorf("purge%s: %d %s, want 400", q, code, body)
		}
	}
}

// Access log lines parse back with every documented field.
func TestAccessLog(t *testing.T) {
	h := newHarness(t)
	h.get(t, "/s/300K/log.m4s?b=2&a=1")
	req, _ := http.NewRequest("GET", "http://"+h.content+"/s/300K/log.m4s?b=2&a=1", nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := make([]byte, 10)
	origin.FillContent("/s/300K/log.m4s", 10, want)
	if !bytes.Equal(b, want) {
		t.Fatal("range bytes differ from the origin's")
	}
	time.Sleep(50 * time.Millisecond)
	h.alog.Close()
	f, err := os.Open(h.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	for _, k := range []string{"time", "client", "method", "path", "range", "status", "bytes", "cache", "ttfb", "duration", "upstream_bytes"} {
		if _, ok := lines[0][k]; !ok {
			t.Errorf("no field %s in %v", k, lines[0])
		}
	}
	first, second := lines[0], lines[1]
	if first["method"] != "GET" || first["path"] != "/s/300K/log.m4s?b=2&a=1" || first["status"] != 200.0 ||
		first["bytes"] != float64(300<<10) || first["cache"] != "miss" || first["upstream_bytes"] != float64(300<<10) ||
		first["client"] != "127.0.0.1" || first["range"] != "" {
		t.Errorf("first line %v", first)
	}
	if second["status"] != 206.0 || second["bytes"] != 10.0 || second["range"] != "bytes=10-19" || second["cache"] != "hit" || second["upstream_bytes"] != 0.0 {
		t.Errorf("second line %v", second)
	}
	if tm, err := time.Parse(time.RFC3339Nano, fmt.Sprint(first["time"])); err != nil || time.Since(tm) > time.Minute {
		t.Errorf("time %v: %v", first["time"], err)
	}
	if d, ttfb := first["duration"].(float64), first["ttfb"].(float64); d <= 0 || ttfb <= 0 || ttfb > d {
		t.Errorf("ttfb %g, duration %g", ttfb, d)
	}
}
