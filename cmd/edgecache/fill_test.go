package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edgecache/config"
	"edgecache/fill"
	"edgecache/origin"
)

// fillFile is one file of a test manifest: a synthetic origin object.
type fillFile struct {
	path string
	size int64
}

// writeManifest writes a manifest of titles (rank order as listed) to
// name, with the SHA-256 of the synthetic origin's bytes, or of wrong bytes
// for the paths in corrupt.
func writeManifest(t *testing.T, name string, titles [][]fillFile, corrupt ...string) {
	t.Helper()
	m := fill.Manifest{Version: 1}
	for i, files := range titles {
		ti := fill.Title{ID: fmt.Sprintf("t%d", i+1), Rank: i + 1}
		for _, f := range files {
			b := make([]byte, f.size)
			origin.FillContent(f.path, 0, b)
			for _, c := range corrupt {
				if c == f.path {
					b[0] ^= 1
				}
			}
			sum := sha256.Sum256(b)
			ti.Files = append(ti.Files, fill.File{Path: f.path, Size: f.size, SHA256: hex.EncodeToString(sum[:])})
		}
		m.Titles = append(m.Titles, ti)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// originRequests returns the synthetic origin's counted object requests.
func originRequests(t *testing.T, base string) int64 {
	t.Helper()
	resp, err := http.Get(base + "/_stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st origin.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Requests
}

// The daemon fills a manifest through "edgecache fill --wait": exit 0,
// then every file is served as a hit, byte-exact, with no origin request;
// the same manifest again fetches nothing. A malformed manifest and one
// whose bytes do not match exit non-zero with the reason.
func TestFillThroughDaemon(t *testing.T) {
	ts, _ := syntheticOrigin(t)
	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache1")
	if err := os.Mkdir(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	titles := [][]fillFile{
		{{"/s/3M/t1/0001.m4s", 3 << 20}, {"/s/1500000/t1/0002.m4s", 1500000}},
		{{"/s/5000/t2/0001.m4s", 5000}, {"/s/2M/t2/0002.m4s", 2 << 20}, {"/s/1048577/t2/0003.m4s", 1<<20 + 1}},
		{{"/s/300K/t3/0001.m4s", 300 << 10}},
	}
	manifest := filepath.Join(dir, "manifest.json")
	writeManifest(t, manifest, titles)
	stateDir := filepath.Join(dir, "fill")
	cfgFile := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("origin: {url: %s}\ncache:\n  memory: 16MiB\n  disks: [{path: %s, size: 256MiB}]\nfill: {manifest: %s, state_dir: %s, concurrency: 2}\n",
		ts.URL, cacheDir, manifest, stateDir)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--config", cfgFile)
	d.waitReady(t)
	admin := d.adminURL(t)

	var out, errb bytes.Buffer
	if code := run([]string{"fill", "--admin", admin, "--wait", "--interval", "20ms"}, &out, &errb); code != 0 {
		t.Fatalf("edgecache fill --wait: exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "completed: 6 of 6 files held (6 filled") {
		t.Errorf("fill output: %s", out.String())
	}
	before := originRequests(t, ts.URL)
	for _, files := range titles {
		for _, f := range files {
			if cs := d.get(t, f.path, 0, 0); !strings.Contains(cs, "; hit") {
				t.Errorf("%s after the fill: Cache-Status %q, want a hit", f.path, cs)
			}
		}
	}
	if n := originRequests(t, ts.URL) - before; n != 0 {
		t.Errorf("playing the filled files made %d origin requests, want 0", n)
	}

	// The same manifest again: nothing fetched; --json prints the status.
	out.Reset()
	errb.Reset()
	if code := run([]string{"fill", "--admin", admin, "--wait", "--interval", "20ms", "--json", "--manifest", manifest}, &out, &errb); code != 0 {
		t.Fatalf("second fill: exit %d: %s", code, errb.String())
	}
	var st fill.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.State != fill.StateCompleted || st.FilesResident != 6 || st.FilesFilled != 0 {
		t.Errorf("second fill: %v %+v", err, st)
	}
	if n := originRequests(t, ts.URL) - before; n != 0 {
		t.Errorf("the second fill made %d origin requests, want 0", n)
	}

	// Metrics.
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"edgecache_fill_files_total 6", "edgecache_fill_files_resident_total 6",
		`edgecache_fill_state{state="completed"} 1`, "edgecache_fill_jobs_completed_total 2"} {
		if !bytes.Contains(metrics, []byte(want+"\n")) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// A malformed manifest is refused whole, with its reason.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"version": 1, "titles": [{"id": "x", "rank": 1, "files": [{"path": "/s/1K/x", "size": 1024, "sha256": "abc"}]}]}`), 0o644)
	out.Reset()
	errb.Reset()
	if code := run([]string{"fill", "--admin", admin, "--wait", "--manifest", bad}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "422") || !strings.Contains(errb.String(), "manifest refused") || !strings.Contains(errb.String(), "sha256") {
		t.Errorf("bad manifest: exit %d, stderr %q", code, errb.String())
	}
	// Bytes that do not match: the job fails, the file is reported.
	wrong := filepath.Join(dir, "wrong.json")
	writeManifest(t, wrong, [][]fillFile{{{"/s/200K/w/1.m4s", 200 << 10}, {"/s/100K/w/2.m4s", 100 << 10}}}, "/s/100K/w/2.m4s")
	out.Reset()
	errb.Reset()
	if code := run([]string{"fill", "--admin", admin, "--wait", "--interval", "20ms", "--manifest", wrong}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "did not complete: failed: 1 files failed") || !strings.Contains(out.String(), "/s/100K/w/2.m4s: fill /s/100K/w/2.m4s: sha256") {
		t.Errorf("wrong bytes: exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	// A manifest that does not exist.
	errb.Reset()
	if code := run([]string{"fill", "--admin", admin, "--manifest", filepath.Join(dir, "nope.json")}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no such file") {
		t.Errorf("missing manifest: exit %d, stderr %q", code, errb.String())
	}
	// Reports are kept on disk: a job shows it ended once its report is
	// written.
	if ents, err := os.ReadDir(filepath.Join(stateDir, "reports")); err != nil || len(ents) != 3 {
		t.Errorf("reports: %d, %v", len(ents), err)
	}
	d.stop(t, syscall.SIGTERM)
}

// The memory plan counts the fill's own fetch slots when filling.
func TestMemoryPlanFill(t *testing.T) {
	cfg := config.Default()
	base := memoryPlanFor(cfg).limit()
	cfg.Fill.StateDir = "/var/lib/edgecache/fill"
	cfg.Fill.Concurrency = 8
	p := memoryPlanFor(cfg)
	if want := 8 * int64(cfg.Cache.ChunkSize); p.Fill != want || p.limit() != base+want {
		t.Errorf("fill term %d, limit %d (without fill %d)", p.Fill, p.limit(), base)
	}
}

// Usage errors exit 2; an unreachable daemon or one that does not fill
// exits 1 with the reason.
func TestFillCommandErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"fill", "extra"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: edgecache fill") {
		t.Errorf("fill extra: %d %q", code, errb.String())
	}
	d := startDaemon(t, "--origin", originURL(t), "--mem", "16MiB")
	errb.Reset()
	if code := run([]string{"fill", "--admin", d.adminURL(t)}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not configured") {
		t.Errorf("fill on a daemon without fill: %d %q", code, errb.String())
	}
}

// A job cut off by --limit exits non-zero with the reason; a restarted
// daemon continues it (no window: at once) without fetching again what it
// completed.
func TestFillCutOffAndResume(t *testing.T) {
	ts, _ := syntheticOrigin(t)
	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache1")
	if err := os.Mkdir(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var files []fillFile
	for i := range 8 {
		files = append(files, fillFile{fmt.Sprintf("/s/1M/r/%d.m4s", i), 1 << 20})
	}
	manifest := filepath.Join(dir, "manifest.json")
	writeManifest(t, manifest, [][]fillFile{files})
	cfgFile := filepath.Join(dir, "config.yaml")
	// 2 MiB/s: 8 files take about 4 s; the limit cuts the job off first.
	cfg := fmt.Sprintf("origin: {url: %s}\ncache:\n  chunk_size: 1MiB\n  memory: 16MiB\n  disks: [{path: %s, size: 256MiB}]\nfill: {manifest: %s, rate: 2MiB, concurrency: 1}\n",
		ts.URL, cacheDir, manifest)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--config", cfgFile)
	d.waitReady(t)
	var out, errb bytes.Buffer
	if code := run([]string{"fill", "--admin", d.adminURL(t), "--wait", "--interval", "20ms", "--limit", "1s"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "did not complete: cut_off") {
		t.Fatalf("fill --limit 1s: exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	var cut fill.Status
	if err := json.Unmarshal(adminBody(t, d.adminURL(t)+"/fill"), &cut); err != nil || cut.State != fill.StateCutOff || cut.FilesDone == 8 {
		t.Fatalf("after the cut: %v %+v", err, cut)
	}
	// The same manifest again continues the job; SIGTERM stops it in the
	// middle (cancelled, its state kept).
	out.Reset()
	if code := run([]string{"fill", "--admin", d.adminURL(t), "--json"}, &out, &errb); code != 0 {
		t.Fatalf("fill again: %d %s", code, errb.String())
	}
	var st fill.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.ID != cut.ID || st.ResumedAt.IsZero() {
		t.Fatalf("fill again: not the same job continued: %v %+v", err, st)
	}
	d.stop(t, syscall.SIGTERM)
	if !d.logged("state=cancelled") {
		t.Error("the job was not cancelled by SIGTERM")
	}
	before := originRequests(t, ts.URL)

	// Restarted without the rate cap's worth of waiting: the job goes on.
	d = startDaemon(t, "--config", cfgFile)
	d.waitReady(t)
	admin := d.adminURL(t)
	for i := 0; ; i++ {
		resp, err := http.Get(admin + "/fill")
		if err != nil {
			t.Fatal(err)
		}
		st = fill.Status{}
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.State == fill.StateCompleted {
			break
		}
		if i == 3000 {
			t.Fatalf("the continued job did not complete: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.ResumedAt.IsZero() || st.FilesTotal != 8 || st.FilesDone != 8 {
		t.Errorf("continued job: %+v", st)
	}
	// Only the files left were fetched (1-chunk files: one request each);
	// those done before were not looked at, the one in progress at the
	// stop was stored and is found held.
	if n := originRequests(t, ts.URL) - before; n != int64(st.FilesFilled) || st.FilesFilled > 8-cut.FilesDone {
		t.Errorf("the continued job made %d origin requests, filled %d, found %d held; %d were done before the cut", n, st.FilesFilled, st.FilesResident, cut.FilesDone)
	}
	for _, f := range files {
		d.get(t, f.path, 0, 0)
	}
}

// adminBody returns the body of GET url.
func adminBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
