package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"edgecache/fill"
)

// fakeFill is a FillControl that records what it was asked.
type fakeFill struct {
	mu       sync.Mutex
	st       fill.Status
	counters fill.Counters
	gotSrc   string
	gotLimit time.Duration
	err      error // StartFill's answer, if set
}

func (f *fakeFill) StartFill(_ context.Context, manifest string, limit time.Duration) (fill.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return fill.Status{}, f.err
	}
	if f.st.State == fill.StateRunning {
		return fill.Status{}, fill.ErrBusy
	}
	f.gotSrc, f.gotLimit = manifest, limit
	f.st = fill.Status{ID: "job1", State: fill.StateRunning, Manifest: manifest, FilesTotal: 3, BytesTotal: 300, FilesDone: 1, BytesDone: 100}
	f.counters.Running.Store(1)
	f.counters.Jobs.Add(1)
	return f.st, nil
}

func (f *fakeFill) FillStatus() fill.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeFill) FillCounters() *fill.Counters { return &f.counters }

// withFill returns the harness's admin listener with ff behind /fill.
func withFill(t *testing.T, h *harness, ff FillControl) {
	t.Helper()
	opt := h.adm.opt
	opt.Fill = ff
	h.adm = New(opt)
	h.admin = httptest.NewServer(h.adm)
	t.Cleanup(h.admin.Close)
}

func TestFillEndpoints(t *testing.T) {
	h := newHarness(t)
	// Without a runner: 404 saying so.
	if code, body := h.call(t, "GET", "/fill", "", nil); code != 404 || !strings.Contains(string(body), "not configured") {
		t.Fatalf("GET /fill without fill: %d %s", code, body)
	}
	ff := &fakeFill{st: fill.Status{State: fill.StateIdle}}
	withFill(t, h, ff)
	h.adm.SetToken("s3cret")

	// Token auth as for every endpoint.
	for _, m := range []string{"GET", "POST"} {
		if code, _ := h.call(t, m, "/fill", "", nil); code != 401 {
			t.Errorf("%s /fill without a token: %d", m, code)
		}
		if code, _ := h.call(t, m, "/fill", "wrong", nil); code != 401 {
			t.Errorf("%s /fill with a wrong token: %d", m, code)
		}
	}
	if ff.counters.Jobs.Load() != 0 {
		t.Fatal("an unauthorized POST started a job")
	}
	code, body := h.call(t, "GET", "/fill", "s3cret", nil)
	if code != 200 || !strings.Contains(string(body), `"state": "idle"`) {
		t.Fatalf("GET /fill idle: %d %s", code, body)
	}

	// Bad limit: 400, nothing started.
	if code, body := h.call(t, "POST", "/fill?limit=soon", "s3cret", nil); code != 400 || !strings.Contains(string(body), "limit") {
		t.Fatalf("POST /fill?limit=soon: %d %s", code, body)
	}
	// Start with a JSON body: 202 and the job's status.
	code, body = h.call(t, "POST", "/fill", "s3cret", strings.NewReader(`{"manifest": "/m.json", "limit": "4h"}`))
	if code != 202 {
		t.Fatalf("POST /fill: %d %s", code, body)
	}
	var st fill.Status
	if err := json.Unmarshal(body, &st); err != nil || st.ID != "job1" || st.State != fill.StateRunning {
		t.Fatalf("POST /fill answer: %v %s", err, body)
	}
	if ff.gotSrc != "/m.json" || ff.gotLimit != 4*time.Hour {
		t.Fatalf("StartFill(%q, %v)", ff.gotSrc, ff.gotLimit)
	}
	// A second one while it runs: 409, with the running job's id.
	if code, body := h.call(t, "POST", "/fill?manifest=/other.json", "s3cret", nil); code != 409 || !strings.Contains(string(body), "job1") {
		t.Fatalf("second POST /fill: %d %s", code, body)
	}
	code, body = h.call(t, "GET", "/fill", "s3cret", nil)
	for _, want := range []string{`"state": "running"`, `"files_total": 3`, `"bytes_done": 100`, `"left"`, `"rate_bytes_per_second"`} {
		if code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET /fill running: %d, lacks %s: %s", code, want, body)
		}
	}

	// Errors of the runner map to statuses.
	ff.mu.Lock()
	ff.st.State = fill.StateCompleted
	ff.err = fmt.Errorf("manifest /bad.json: %w", fill.ErrManifest)
	ff.mu.Unlock()
	if code, body := h.call(t, "POST", "/fill?manifest=/bad.json", "s3cret", nil); code != 422 || !strings.Contains(string(body), "manifest refused") {
		t.Fatalf("POST /fill, refused manifest: %d %s", code, body)
	}
	ff.mu.Lock()
	ff.err = ErrNoManifest
	ff.mu.Unlock()
	if code, body := h.call(t, "POST", "/fill", "s3cret", nil); code != 400 || !strings.Contains(string(body), "fill.manifest is not set") {
		t.Fatalf("POST /fill, no manifest: %d %s", code, body)
	}
}

func TestFillMetrics(t *testing.T) {
	h := newHarness(t)
	if fams := h.scrape(t); fams["edgecache_fill_running"] != nil {
		t.Fatal("fill metrics without a runner")
	}
	ff := &fakeFill{st: fill.Status{State: fill.StateCutOff, FilesTotal: 10, FilesDone: 4, BytesTotal: 1000, BytesDone: 400}}
	ff.counters.BytesFetched.Store(12345)
	ff.counters.FilesFilled.Store(4)
	ff.counters.Errors.Store(2)
	ff.counters.LastCompletion.Store(1767225600)
	withFill(t, h, ff)
	fams := h.scrape(t)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"edgecache_fill_bytes_total", nil, 12345},
		{"edgecache_fill_files_total", nil, 4},
		{"edgecache_fill_errors_total", nil, 2},
		{"edgecache_fill_running", nil, 0},
		{"edgecache_fill_state", []string{"state", "cut_off"}, 1},
		{"edgecache_fill_state", []string{"state", "completed"}, 0},
		{"edgecache_fill_last_completion_timestamp_seconds", nil, 1767225600},
		{"edgecache_fill_job_files_left", nil, 6},
		{"edgecache_fill_job_size_bytes", nil, 1000},
		{"edgecache_fill_job_done_bytes", nil, 400},
	} {
		if fams[c.name] == nil {
			t.Errorf("no %s", c.name)
			continue
		}
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(fams["edgecache_fill_state"].Metric); n != 6 {
		t.Errorf("edgecache_fill_state has %d series, want 6", n)
	}
}
