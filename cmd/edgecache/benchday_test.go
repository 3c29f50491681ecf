package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgecache/bench"
)

// smallDay is a short simulated day: 40 titles of 4 MiB, a cache of 64
// MiB, a few players (a day is about 60 MiB of requests).
func smallDay(t *testing.T) dayFlags {
	cfg := bench.DefaultDayConfig()
	cfg.Titles, cfg.Releases, cfg.TitleSize, cfg.ObjectSize, cfg.SegmentSize = 40, 2, 4<<20, 1<<20, 1<<20
	cfg.Players, cfg.Requests = 2, 3
	cfg.SeekStart, cfg.Jump, cfg.OpenEnded, cfg.Abandon = 0, 0, 0, 0.1
	cfg.Timeout = 30 * time.Second
	f := dayFlags{cfg: cfg, cacheBytes: 64 << 20, memBytes: 2 << 20, fillShare: 0.9, policy: "lru", dir: t.TempDir()}
	f.cfg.FillBudget = int64(float64(f.cacheBytes) * f.fillShare)
	f.cfg.Variants = []string{bench.VariantOff, bench.VariantNightly, bench.VariantOracle}
	return f
}

// TestBenchDayEndToEnd runs a short simulated day in its three variants
// against in-process daemons: the fills happen, every byte served is
// verified, and the day's offload with the oracle fill is well above the
// one without fill (on this day the whole day's views fit the cache, so the
// oracle holds them all; the nightly manifest, from yesterday's views,
// holds what the cache kept from yesterday anyway and must not do worse
// than the noise of the players' interleaving).
func TestBenchDayEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := smallDay(t)
	rep, err := runBenchDay(ctx, f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 3 {
		t.Fatalf("%d runs", len(rep.Runs))
	}
	runs := map[string]bench.DayRun{}
	for _, run := range rep.Runs {
		runs[run.Variant] = run
		if run.Day.Errors+run.Warmup.Errors > 0 {
			t.Errorf("%s: errors: %v", run.Variant, run.FirstErrors)
		}
		if run.Day.Requests == 0 || run.Day.Verified != run.Day.Requests || run.Warmup.Verified != run.Warmup.Requests {
			t.Errorf("%s: %d of %d answers verified (yesterday %d of %d)", run.Variant, run.Day.Verified, run.Day.Requests, run.Warmup.Verified, run.Warmup.Requests)
		}
		if len(run.Hours) != 24 {
			t.Errorf("%s: %d hours", run.Variant, len(run.Hours))
		}
	}
	off, nightly, oracle := runs[bench.VariantOff], runs[bench.VariantNightly], runs[bench.VariantOracle]
	if off.Day.Requests != oracle.Day.Requests || off.Day.Bytes != oracle.Day.Bytes {
		t.Errorf("the variants did not see the same day: %d/%d requests, %d/%d bytes", off.Day.Requests, oracle.Day.Requests, off.Day.Bytes, oracle.Day.Bytes)
	}
	if off.Fill != nil {
		t.Error("the off variant filled")
	}
	for _, run := range []bench.DayRun{nightly, oracle} {
		if run.Fill == nil || run.Manifest == nil || run.Manifest.Files == 0 || run.Fill.State != "completed" || run.Fill.Errors > 0 {
			t.Fatalf("%s: fill %+v, manifest %+v", run.Variant, run.Fill, run.Manifest)
		}
	}
	if oracle.Fill.FilesFilled == 0 || oracle.Fill.OriginBytes == 0 {
		t.Errorf("the oracle fill fetched nothing: %+v", oracle.Fill)
	}
	t.Logf("offload: off %.3f, nightly %.3f, oracle %.3f", off.Day.Offload, nightly.Day.Offload, oracle.Day.Offload)
	if oracle.Day.Offload < off.Day.Offload+0.2 {
		t.Errorf("offload with the oracle fill %.3f, without fill %.3f", oracle.Day.Offload, off.Day.Offload)
	}
	if nightly.Day.Offload < off.Day.Offload-0.1 { // same content as off, up to the players' interleaving
		t.Errorf("offload with the nightly fill %.3f, without fill %.3f", nightly.Day.Offload, off.Day.Offload)
	}
	if b := rep.Bound; b == nil || b.CacheBytes != f.cacheBytes || b.ChunkSize != dayChunkSize || b.BeladyDay < b.LRUDay {
		t.Errorf("bound %+v: want one for the day's cache and chunks, Belady at least LRU", b)
	}
	// The reports render.
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil || !strings.Contains(buf.String(), "oracle") || !strings.Contains(buf.String(), "Belady's MIN") ||
		!strings.Contains(buf.String(), "256.00 KiB chunks") {
		t.Errorf("table: %v\n%s", err, buf.String())
	}
	buf.Reset()
	if err := rep.WriteSVG(&buf); err != nil || !strings.HasPrefix(buf.String(), "<svg") || strings.Count(buf.String(), "<polyline") != 3 {
		t.Errorf("svg: %v", err)
	}
	buf.Reset()
	var back bench.DayReport
	if err := rep.WriteJSON(&buf); err != nil || json.Unmarshal(buf.Bytes(), &back) != nil || len(back.Runs) != 3 || back.Bound == nil || *back.Bound != *rep.Bound {
		t.Errorf("json: %v", err)
	}
	// Nothing is left behind.
	if left, _ := filepath.Glob(filepath.Join(f.dir, "*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestBenchDayFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--fill-share", "0"},
		{"--variants", "oracle"},
		{"--variants", "off,sometimes"},
		{"--titles", "4", "--releases", "2"},
		{"--churn", "1"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"bench", "day"}, args...), &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}

func TestManifestBuildCommand(t *testing.T) {
	dir := t.TempDir()
	originURL := benchOrigin(t, nil)
	var lines strings.Builder
	for i, p := range []string{"/v/a/1.m4s", "/v/a/2.m4s", "/v/b/1.m4s", "/v/a/1.m4s"} {
		lines.WriteString(`{"time":"2026-01-05T20:15:0` + string(rune('0'+i)) + `Z","client":"192.0.2.7","method":"GET","path":"` + p + `","range":"","status":200,"bytes":1048576,"cache":"miss","ttfb":0.001,"duration":0.01,"upstream_bytes":1048576}` + "\n")
	}
	lines.WriteString("not a line\n")
	logFile := filepath.Join(dir, "access.log")
	keyFile := filepath.Join(dir, "key")
	out := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(logFile, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"manifest", "build", "--logs", logFile, "--budget", "2MiB", "--origin", originURL,
		"--header", "X-Origin-No-Count: 1", "--sign-key", keyFile, "-o", out, "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var sum struct {
		Read struct {
			Lines, Bad int64
		}
		Manifest struct {
			Titles, Files int
			Bytes         int64
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Read.Lines != 5 || sum.Read.Bad != 1 || sum.Manifest.Files != 2 || sum.Manifest.Bytes != 2<<20 {
		t.Errorf("summary %+v", sum)
	}
	m, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(m), `"/v/a/1.m4s"`) {
		t.Fatalf("manifest: %v %s", err, m)
	}
	if _, err := os.Stat(out + ".sig"); err != nil {
		t.Error("no signature")
	}
	// Releases: a new title (its paths listed) with more views than the
	// logs give any title comes first and takes its share of the budget.
	rel := filepath.Join(dir, "releases")
	if err := os.WriteFile(rel, []byte("# tomorrow\nnew 9 /v/new/0.m4s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"manifest", "build", "--logs", logFile, "--budget", "2MiB", "--origin", originURL,
		"--header", "X-Origin-No-Count: 1", "--releases", rel, "-o", out}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stderr.String(), "releases: 1 given, 1 of their files in the manifest") {
		t.Fatalf("with releases: exit %d: %s", code, stderr.String())
	}
	if m, err := os.ReadFile(out); err != nil || !strings.Contains(string(m), `"/v/new/0.m4s"`) || !strings.Contains(string(m), `"/v/a/1.m4s"`) {
		t.Fatalf("manifest with releases: %v %s", err, m)
	}
	if err := os.WriteFile(rel, []byte("new many\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"manifest", "build", "--logs", logFile, "--budget", "2MiB", "--origin", originURL, "--releases", rel, "-o", out}, io.Discard, io.Discard); code != 1 {
		t.Errorf("bad releases file: exit %d, want 1", code)
	}
	for _, args := range [][]string{{}, {"--logs", logFile}, {"--logs", logFile, "--budget", "1MiB", "--origin", originURL}} {
		if code := run(append([]string{"manifest", "build"}, args...), io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
