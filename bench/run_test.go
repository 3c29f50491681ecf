package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edgecache/origin"
)

func TestRunAgainstEdgecache(t *testing.T) {
	e := newEdge(t, origin.SyntheticOptions{})
	for _, scheme := range []string{PathsS, PathsV} {
		t.Run(scheme, func(t *testing.T) {
			cfg := smallConfig(Target{Name: "edgecache", URL: e.cache})
			cfg.Paths = scheme
			cfg.Origin = e.origin
			cfg.VerifyAll = true
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			res := rep.Results[0]
			var buf bytes.Buffer
			if err := rep.WriteTable(&buf); err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", buf.String())
			if res.Errors != 0 {
				t.Errorf("%d errors: %q", res.Errors, res.FirstErrors)
			}
			if res.Requests == 0 || res.Bytes == 0 {
				t.Fatalf("%d requests, %d bytes", res.Requests, res.Bytes)
			}
			if res.Verified != res.Requests {
				t.Errorf("verified %d of %d answers with VerifyAll", res.Verified, res.Requests)
			}
			if res.HitRatio == nil || *res.HitRatio <= 0 {
				t.Errorf("hit ratio %v, want > 0", fmtPct(res.HitRatio))
			}
			if res.OriginBytes == nil || *res.OriginBytes <= 0 || res.OriginRequests == nil || *res.OriginRequests <= 0 {
				t.Errorf("origin requests %s bytes %s, want > 0", fmtIntPtr(res.OriginRequests), fmtIntPtr(res.OriginBytes))
			}
			// TTFB and total latency are separate histograms (abandoned reads
			// have a TTFB but no total), so only each one's own order holds.
			if res.TTFB.P50 <= 0 || res.Latency.P50 <= 0 || res.TTFB.Max < res.TTFB.P99 || res.Latency.Max < res.Latency.P99 || res.Latency.P99 < res.Latency.P50 {
				t.Errorf("implausible latencies: ttfb %+v latency %+v", res.TTFB, res.Latency)
			}
			if res.DurationS < 1.9 || res.DurationS > 10 {
				t.Errorf("duration %.2f s for a 2 s run", res.DurationS)
			}
			for _, want := range []string{"requests/s", "TTFB p99.9 ms", "hit ratio", "origin bytes"} {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("table lacks %q", want)
				}
			}
		})
	}
}

func TestRunCatchesCorruption(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	bad := httptest.NewServer(corruptAt(syn, 100))
	t.Cleanup(bad.Close)
	cfg := smallConfig(Target{Name: "bad", URL: bad.URL})
	cfg.Duration = time.Second
	cfg.VerifyAll = true
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Results[0]
	if res.Requests == 0 || res.Errors == 0 {
		t.Fatalf("%d errors in %d requests from a corrupting server", res.Errors, res.Requests)
	}
	if len(res.FirstErrors) == 0 || !strings.Contains(res.FirstErrors[0], "wrong bytes") {
		t.Errorf("first errors %q, want a byte mismatch", res.FirstErrors)
	}
	if res.HitRatio != nil {
		t.Errorf("hit ratio %v from a server without Cache-Status", *res.HitRatio)
	}
	// The same server, sampled at 5%: still caught.
	cfg.VerifyAll = false
	rep, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Results[0].Errors == 0 || rep.Results[0].Verified == 0 {
		t.Errorf("sampled verification: %d errors, %d verified", rep.Results[0].Errors, rep.Results[0].Verified)
	}
}

func TestRunCatchesWrongRanges(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	// Answers every request as a whole-object 200.
	noRanges := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Range")
		syn.ServeHTTP(w, r)
	}))
	t.Cleanup(noRanges.Close)
	// Shifts every range by one byte.
	shifted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a, b int64
		if n, _ := fmtSscanRange(r.Header.Get("Range"), &a, &b); n == 2 {
			r.Header.Set("Range", "bytes="+itoa(a+1)+"-"+itoa(b+1))
		}
		syn.ServeHTTP(w, r)
	}))
	t.Cleanup(shifted.Close)
	for _, c := range []struct{ name, url, want string }{
		{"no-ranges", noRanges.URL, "status 200, want 206"},
		{"shifted", shifted.URL, "Content-Range"},
	} {
		cfg := smallConfig(Target{Name: c.name, URL: c.url})
		cfg.Duration = 500 * time.Millisecond
		cfg.VerifySample = 0
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		res := rep.Results[0]
		if res.Errors == 0 || len(res.FirstErrors) == 0 || !strings.Contains(res.FirstErrors[0], c.want) {
			t.Errorf("%s: %d errors of %d, first %q, want %q", c.name, res.Errors, res.Requests, res.FirstErrors, c.want)
		}
	}
}

func TestRunRequestCapAndDeterminism(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	ts := httptest.NewServer(syn)
	t.Cleanup(ts.Close)
	cfg := smallConfig(Target{Name: "origin", URL: ts.URL})
	cfg.Duration = 20 * time.Second
	cfg.Requests = 57
	cfg.Origin = ts.URL
	cfg.Players = 1
	paths := func() map[string]int64 {
		syn.ResetStats()
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		res := rep.Results[0]
		if res.Requests != 57 || res.Errors != 0 {
			t.Fatalf("%d requests (%d errors), want 57 and 0: %q", res.Requests, res.Errors, res.FirstErrors)
		}
		if res.DurationS > 10 {
			t.Errorf("capped run took %.1f s", res.DurationS)
		}
		// The origin counts an abandoned answer when its handler ends,
		// which may be after the client has gone.
		for i := 0; i < 200 && syn.Stats().Inflight > 0; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		return syn.PathCounts()
	}
	a := paths()
	if b := paths(); len(a) == 0 || !equalCounts(a, b) {
		t.Errorf("two runs with one seed requested different paths:\n%v\n%v", a, b)
	}
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRunCompare(t *testing.T) {
	e := newEdge(t, origin.SyntheticOptions{})
	cfg := smallConfig(Target{Name: "edgecache", URL: e.cache}, Target{Name: "origin", URL: e.origin})
	cfg.Origin = e.origin
	cfg.Rounds = 2
	cfg.Duration = 2 * time.Second
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	if len(rep.Results) != 2 || rep.Primary != "edgecache" || rep.Rounds != 2 {
		t.Fatalf("report: primary %q, rounds %d, %d results", rep.Primary, rep.Rounds, len(rep.Results))
	}
	for _, res := range rep.Results {
		if res.Requests == 0 || res.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors %q", res.Name, res.Requests, res.Errors, res.FirstErrors)
		}
		if res.DurationS < 0.9 || res.DurationS > 10 {
			t.Errorf("%s: measured %.2f s, want about 1 s per target", res.Name, res.DurationS)
		}
		if res.OriginRequests == nil || *res.OriginRequests == 0 {
			t.Errorf("%s: origin requests %s", res.Name, fmtIntPtr(res.OriginRequests))
		}
	}
	if rep.Results[0].HitRatio == nil || rep.Results[1].HitRatio != nil {
		t.Errorf("hit ratios %s and %s, want known and unknown", fmtPct(rep.Results[0].HitRatio), fmtPct(rep.Results[1].HitRatio))
	}
	r := rep.Ratios["origin"]
	if r == nil || r["requests_per_s"] == nil || r["ttfb_ms.p50"] == nil || r["origin_bytes"] == nil {
		t.Fatalf("ratios %v", r)
	}
	if r["hit_ratio"] != nil {
		t.Errorf("hit ratio ratio %v with an unknown hit ratio", *r["hit_ratio"])
	}
	if got, want := *r["requests_per_s"], rep.Results[1].RequestsPerS/rep.Results[0].RequestsPerS; got != want {
		t.Errorf("requests_per_s ratio %v, want %v", got, want)
	}
	if !strings.Contains(buf.String(), "origin/edgecache") {
		t.Error("table has no ratio column")
	}
	var doc struct {
		Primary string                         `json:"primary"`
		Results []map[string]any               `json:"results"`
		Ratios  map[string]map[string]*float64 `json:"ratios"`
	}
	buf.Reset()
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Primary != "edgecache" || len(doc.Results) != 2 || doc.Ratios["origin"]["gbit_per_s"] == nil {
		t.Errorf("JSON report: %s", buf.String())
	}
}

func TestRunFetchedReference(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	ts := httptest.NewServer(syn)
	t.Cleanup(ts.Close)
	cfg := smallConfig(Target{Name: "origin", URL: ts.URL})
	cfg.Origin = ts.URL
	cfg.OriginBytes = OriginBytesFetch
	cfg.VerifyAll = true
	cfg.Duration = time.Second
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Results[0]
	if res.Errors != 0 || res.Verified == 0 {
		t.Fatalf("%d errors %q, %d verified", res.Errors, res.FirstErrors, res.Verified)
	}
	// Reference fetches are not counted by the origin: it saw about as
	// many requests as the benchmark made (abandoned ones may lag).
	if o := res.OriginRequests; o == nil || *o > res.Requests || *o < res.Requests-res.Abandoned-int64(cfg.Players) {
		t.Errorf("origin counted %s requests for %d (%d abandoned)", fmtIntPtr(o), res.Requests, res.Abandoned)
	}

	// Against a corrupting target, the fetched reference catches it.
	bad := httptest.NewServer(corruptAt(syn, 7))
	t.Cleanup(bad.Close)
	cfg.Targets = []Target{{Name: "bad", URL: bad.URL}}
	rep, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Results[0].Errors == 0 {
		t.Error("fetched reference missed corrupted bytes")
	}
}

func TestRunCancel(t *testing.T) {
	// Every answer takes 5 s: cancelling must cut the requests in flight.
	syn := origin.NewSynthetic(origin.SyntheticOptions{Delay: 5 * time.Second})
	ts := httptest.NewServer(syn)
	t.Cleanup(ts.Close)
	cfg := smallConfig(Target{Name: "slow", URL: ts.URL})
	cfg.Duration = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancelled run took %v", d)
	}
	if !rep.Interrupted || !rep.Results[0].Interrupted || rep.Results[0].Errors != 0 {
		t.Errorf("interrupted %v, errors %d %q", rep.Interrupted, rep.Results[0].Errors, rep.Results[0].FirstErrors)
	}
}

func TestRunPerRequestTimeout(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{Delay: 5 * time.Second})
	ts := httptest.NewServer(syn)
	t.Cleanup(ts.Close)
	cfg := smallConfig(Target{Name: "slow", URL: ts.URL})
	cfg.Duration = 100 * time.Millisecond
	cfg.Timeout = 300 * time.Millisecond
	start := time.Now()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("run took %v", d)
	}
	if res := rep.Results[0]; res.Errors != int64(cfg.Players) {
		t.Errorf("%d errors in %d requests, want one timeout per player", res.Errors, res.Requests)
	}
}

func TestConfigErrors(t *testing.T) {
	good := smallConfig(Target{Name: "a", URL: "http://127.0.0.1:1"})
	for name, mod := range map[string]func(*Config){
		"no target":   func(c *Config) { c.Targets = nil },
		"same name":   func(c *Config) { c.Targets = append(c.Targets, Target{Name: "a", URL: "http://127.0.0.1:2"}) },
		"no name":     func(c *Config) { c.Targets[0].Name = "" },
		"bad url":     func(c *Config) { c.Targets[0].URL = "ftp://x" },
		"path in url": func(c *Config) { c.Targets[0].URL = "http://127.0.0.1:1/x" },
		"duration":    func(c *Config) { c.Duration = 0 },
		"players":     func(c *Config) { c.Players = 0 },
		"rounds":      func(c *Config) { c.Rounds = 0 },
		"sample":      func(c *Config) { c.VerifySample = 2 },
		"fetch":       func(c *Config) { c.OriginBytes = OriginBytesFetch },
		"bytes mode":  func(c *Config) { c.OriginBytes = "guess" },
		"paths":       func(c *Config) { c.Paths = "q" },
	} {
		cfg := good
		cfg.Targets = append([]Target(nil), good.Targets...)
		mod(&cfg)
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCacheStatusHit(t *testing.T) {
	for v, want := range map[string]bool{
		"edgecache; hit; detail=mem":                 true,
		"edgecache; hit":                             true,
		"edgecache;hit=?1":                           true,
		"edgecache; hit=?0":                          false,
		"edgecache; fwd=miss; stored":                false,
		"edgecache; fwd=partial; stored":             false,
		"edgecache; fwd=miss, upstream; hit":         false,
		"edgecache; hit, upstream; fwd=miss":         true,
		`edgecache; detail="a; hit, b"; fwd=miss`:    false,
		`"hit"; fwd=miss`:                            false,
		"hit":                                        false,
		"edgecache; hit; detail=negative":            true,
		"Edgecache; fwd=uri-miss; key=\"a,hit\"":     false,
		"edgecache ; hit ; ttl=10":                   true,
		"edgecache; fwd=stale; stored; collapsed=?1": false,
	} {
		if got := cacheStatusHit(v); got != want {
			t.Errorf("cacheStatusHit(%q) = %v, want %v", v, got, want)
		}
	}
}

// fmtSscanRange parses "bytes=a-b".
func fmtSscanRange(h string, a, b *int64) (int, error) {
	return fmt.Sscanf(h, "bytes=%d-%d", a, b)
}
