package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgecache/origin"
)

// runBench runs "edgecache bench ARGS..." through the command dispatcher.
func runBench(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(append([]string{"bench"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// benchOrigin serves a synthetic origin on 127.0.0.1 for the test.
func benchOrigin(t *testing.T, h http.Handler) string {
	t.Helper()
	if h == nil {
		h = origin.NewSynthetic(origin.SyntheticOptions{})
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// small keeps a workload run short and light.
var small = []string{"--duration", "400ms", "--players", "2", "--titles", "5", "--title-size", "4MiB", "--segment-size", "256K"}

func TestBenchFlagErrors(t *testing.T) {
	u := "http://127.0.0.1:1"
	for _, args := range [][]string{
		{"--no-such-flag"},
		{},                   // no target
		{"--duration", "30"}, // bad duration, no target
		{"--target", u, "--paths", "x"},
		{"--target", u, "--compare", "nourl"},
		{"--target", u, "--compare", "=http://x"},
		{"--target", u, "--compare", "edgecache=" + u}, // same name as the primary
		{"--target", u, "--title-size", "lots"},
		{"--target", u, "--players", "0"},
		{"--target", u, "--zipf", "-1"},
		{"--target", u, "--verify-sample", "1.5"},
		{"--target", u, "--origin-bytes", "fetch"}, // needs --origin
		{"--target", u, "--origin-bytes", "maybe"},
		{"--target", "ftp://x"},
		{"--target", u, "extra"},
		{"replay", "--target", u},  // no trace
		{"replay", "--trace", "x"}, // no target
		{"replay", "--trace", "x", "--target", u, "--concurrency", "0"},
		{"replay", "--trace", "x", "--target", u, "--default-size", "0"},
		{"replay", "--bogus"},
	} {
		code, stdout, stderr := runBench(args...)
		if code != 2 || stderr == "" || stdout != "" {
			t.Errorf("bench %q: exit %d, stdout %q, stderr %q; want exit 2 and a message", args, code, stdout, stderr)
		}
	}
	if code, _, stderr := runBench("--help"); code != 0 || !strings.Contains(stderr, "--compare") {
		t.Errorf("--help: exit %d, %q", code, stderr)
	}
}

func TestBenchJSON(t *testing.T) {
	o := benchOrigin(t, nil)
	code, stdout, stderr := runBench(append([]string{"--target", o, "--origin", o, "--json", "--verify"}, small...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var res struct {
		Target         string             `json:"target"`
		DurationS      float64            `json:"duration_s"`
		Requests       int64              `json:"requests"`
		RequestsPerS   float64            `json:"requests_per_s"`
		GbitPerS       float64            `json:"gbit_per_s"`
		TTFB           map[string]float64 `json:"ttfb_ms"`
		Latency        map[string]float64 `json:"latency_ms"`
		HitRatio       *float64           `json:"hit_ratio"`
		OriginRequests *int64             `json:"origin_requests"`
		OriginBytes    *int64             `json:"origin_bytes"`
		Errors         int64              `json:"errors"`
		Abandoned      *int64             `json:"abandoned"`
		Verified       int64              `json:"verified"`
		FirstErrors    []string           `json:"first_errors"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	if res.Target != o || res.Requests == 0 || res.DurationS <= 0 || res.RequestsPerS <= 0 || res.GbitPerS <= 0 ||
		res.Errors != 0 || res.Verified != res.Requests || res.FirstErrors == nil || res.Abandoned == nil {
		t.Errorf("result %+v", res)
	}
	for _, k := range []string{"p50", "p99", "p999", "max"} {
		if _, ok := res.TTFB[k]; !ok {
			t.Errorf("ttfb_ms lacks %s", k)
		}
		if _, ok := res.Latency[k]; !ok {
			t.Errorf("latency_ms lacks %s", k)
		}
	}
	if res.HitRatio != nil {
		t.Errorf("hit_ratio %v from an origin without Cache-Status, want null", *res.HitRatio)
	}
	if res.OriginRequests == nil || *res.OriginRequests == 0 || res.OriginBytes == nil {
		t.Errorf("origin counters %v %v", res.OriginRequests, res.OriginBytes)
	}
	if !strings.Contains(stderr, "measuring edgecache") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
}

func TestBenchCompareTableAndJSON(t *testing.T) {
	o := benchOrigin(t, nil)
	args := append([]string{"--target", o, "--name", "one", "--compare", "two=" + o, "--rounds", "2"}, small...)
	code, stdout, stderr := runBench(args...)
	if code != 0 || !strings.Contains(stdout, "two/one") || !strings.Contains(stdout, "requests/s") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runBench(append(args, "--json")...)
	var rep struct {
		Primary string                         `json:"primary"`
		Results []struct{ Name string }        `json:"results"`
		Ratios  map[string]map[string]*float64 `json:"ratios"`
	}
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	if rep.Primary != "one" || len(rep.Results) != 2 || rep.Results[1].Name != "two" || rep.Ratios["two"]["requests_per_s"] == nil {
		t.Errorf("report %+v", rep)
	}
}

func TestBenchErrorsExit1(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	// Flips one body byte of every answer.
	bad := benchOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		syn.ServeHTTP(flipWriter{w}, r)
	}))
	code, stdout, _ := runBench(append([]string{"--target", bad, "--verify"}, small...)...)
	if code != 1 || !strings.Contains(stdout, "wrong bytes") {
		t.Errorf("exit %d, stdout %q; want 1 and the first errors", code, stdout)
	}
}

type flipWriter struct{ http.ResponseWriter }

func (f flipWriter) Write(p []byte) (int, error) {
	q := append([]byte(nil), p...)
	if len(q) > 0 {
		q[0] ^= 1
	}
	return f.ResponseWriter.Write(q)
}

func TestBenchReplayJSON(t *testing.T) {
	o := benchOrigin(t, nil)
	tr := filepath.Join(t.TempDir(), "t.csv")
	if err := os.WriteFile(tr, []byte("time,key,size\n1,a,1000\n2,b,1\n3,a,1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runBench("replay", "--trace", tr, "--target", o, "--origin", o, "--default-size", "64K", "--verify", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var res struct {
		Requests     int64    `json:"requests"`
		Bytes        int64    `json:"bytes"`
		Errors       int64    `json:"errors"`
		Verified     int64    `json:"verified"`
		HitRatio     *float64 `json:"hit_ratio"`
		ByteHitRatio *float64 `json:"byte_hit_ratio"`
		OriginReqs   *int64   `json:"origin_requests"`
		Trace        string   `json:"trace"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	if res.Requests != 3 || res.Bytes != 2000+64<<10 || res.Errors != 0 || res.Verified != 3 || res.Trace != tr ||
		res.OriginReqs == nil || *res.OriginReqs != 3 {
		if res.OriginReqs != nil {
			t.Logf("origin requests %d", *res.OriginReqs)
		}
		t.Errorf("result %+v", res)
	}
	// A bad line: the partial result is printed, exit 1.
	if err := os.WriteFile(tr, []byte("1 a 10\n2 b x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runBench("replay", "--trace", tr, "--target", o)
	if code != 1 || !strings.Contains(stdout, "requests") || !strings.Contains(stderr, ":2:") {
		t.Errorf("bad trace: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
