package fill_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/fill"
	"edgecache/origin"
)

const chunk = 64 << 10

// rig is a synthetic origin on 127.0.0.1, an origin client, a disk tier in
// a temp dir and a Store over them, and a Runner filling it.
type rig struct {
	t       *testing.T
	syn     *origin.Synthetic
	srv     *httptest.Server
	client  *origin.Client
	diskDir string
	jobDir  string
	ds      *disk.Store
	store   *cache.Store
	filler  *cache.Filler
	corrupt sync.Map // path → true: the origin flips a byte of its answers
}

func newRig(t *testing.T, delay time.Duration) *rig {
	t.Helper()
	r := &rig{t: t, syn: origin.NewSynthetic(origin.SyntheticOptions{Delay: delay})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, bad := r.corrupt.Load(req.URL.Path); bad {
			w = &flipWriter{ResponseWriter: w}
		}
		r.syn.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	var err error
	if r.client, err = origin.NewClient(r.srv.URL, origin.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.client.Close)
	r.diskDir, r.jobDir = t.TempDir(), t.TempDir()
	r.open()
	t.Cleanup(r.close)
	return r
}

// open opens the disk tier and a Store over it.
func (r *rig) open() {
	t := r.t
	t.Helper()
	d := filepath.Join(r.diskDir, "d1")
	os.MkdirAll(d, 0o755)
	var err error
	r.ds, err = disk.Open(disk.Options{Dirs: []disk.Dir{{Path: d, Size: 4096 * chunk}},
		StateFile: filepath.Join(r.diskDir, "disks.state"), ScrubRate: -1, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.ds.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("disk index never loaded")
	}
	r.store, err = cache.New(r.client, cache.Options{ChunkSize: chunk, Memory: 64 * chunk, Disk: r.ds})
	if err != nil {
		t.Fatal(err)
	}
	r.filler = r.store.NewFiller(cache.FillerOptions{Slots: 4})
}

// close closes the Store and the disk tier (as a daemon stopping does).
func (r *rig) close() {
	if r.store != nil {
		r.store.Close()
		if err := r.ds.Close(); err != nil {
			r.t.Error(err)
		}
		r.store = nil
	}
}

func (r *rig) runner(opt fill.Options) *fill.Runner {
	r.t.Helper()
	if opt.Cache == nil {
		opt.Cache = r.filler
	}
	opt.Dir = r.jobDir
	if opt.Concurrency == 0 {
		opt.Concurrency = 4
	}
	fr, err := fill.NewRunner(opt)
	if err != nil {
		r.t.Fatal(err)
	}
	return fr
}

// flipWriter flips the first byte of every body write.
type flipWriter struct{ http.ResponseWriter }

func (w *flipWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		q := bytes.Clone(p)
		q[0] ^= 0xff
		p = q
	}
	return w.ResponseWriter.Write(p)
}

// manifestJSON returns a manifest of n files of the synthetic origin in
// titles of 10 files, ranks descending (so fill order is not listed
// order), sizes from 1 byte to about 2.5 chunks.
func manifestJSON(n int, prefix string) ([]byte, []fill.File) {
	type title struct {
		ID    string      `json:"id"`
		Rank  int         `json:"rank"`
		Files []fill.File `json:"files"`
	}
	var titles []title
	var all []fill.File
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			titles = append(titles, title{ID: fmt.Sprintf("t%d", i/10), Rank: n - i})
		}
		size := int64(1 + (i*7919)%(5*chunk/2))
		path := fmt.Sprintf("/s/%d/%s%03d.m4s", size, prefix, i)
		f := fill.File{Path: path, Size: size, SHA256: sumOf(path, size)}
		titles[len(titles)-1].Files = append(titles[len(titles)-1].Files, f)
		all = append(all, f)
	}
	b, _ := json.Marshal(map[string]any{"version": 1, "generated_at": "2026-11-25T00:00:00Z", "titles": titles})
	return b, all
}

func content(path string, size int64) []byte {
	b := make([]byte, size)
	origin.FillContent(path, 0, b)
	return b
}

func sumOf(path string, size int64) string {
	s := sha256.Sum256(content(path, size))
	return hex.EncodeToString(s[:])
}

func parse(t *testing.T, b []byte) *fill.Manifest {
	t.Helper()
	m, err := fill.Parse(b, fill.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readAll reads every file through the Store as a player would and checks
// its bytes against the origin's.
func (r *rig) readAll(files []fill.File) {
	t := r.t
	t.Helper()
	for _, f := range files {
		meta, _, err := r.store.Lookup(context.Background(), cache.NewKey(f.Path), 0, nil)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", f.Path, err)
		}
		rd := r.store.NewReader(meta, 0, meta.Size)
		got, err := io.ReadAll(rd)
		rd.Close()
		if err != nil || !bytes.Equal(got, content(f.Path, f.Size)) {
			t.Fatalf("%s: read %d bytes, %v; not the origin's", f.Path, len(got), err)
		}
	}
}

// A manifest of a few hundred files fills correctly; then players read
// every byte without one origin request, before and after a restart; the
// same manifest again fetches nothing.
func TestFillManifest(t *testing.T) {
	r := newRig(t, 0)
	b, files := manifestJSON(300, "a")
	m := parse(t, b)
	fr := r.runner(fill.Options{})
	st, err := fr.Run(context.Background(), m, "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, total := m.Files()
	if st.State != fill.StateCompleted || st.FilesFilled != 300 || st.FilesDone != 300 || st.BytesDone != total || st.ErrorCount != 0 || st.Left.Files != 0 {
		t.Fatalf("status %+v", st)
	}
	if st.BytesFetched < total {
		t.Errorf("BytesFetched %d < %d", st.BytesFetched, total)
	}
	c := fr.Counters()
	if c.FilesFilled.Load() != 300 || c.JobsCompleted.Load() != 1 || c.LastCompletion.Load() == 0 || c.Running.Load() != 0 {
		t.Errorf("counters: filled %d, completed %d", c.FilesFilled.Load(), c.JobsCompleted.Load())
	}
	if ms := r.store.Stats(); ms.MemoryBytes != 0 {
		t.Errorf("a fill put %d bytes in the memory tier", ms.MemoryBytes)
	}
	r.syn.ResetStats()
	r.readAll(files)
	if n := r.syn.Stats().Requests; n != 0 {
		t.Fatalf("reading filled files made %d origin requests", n)
	}
	r.close()
	r.open()
	r.readAll(files)
	if n := r.syn.Stats().Requests; n != 0 {
		t.Fatalf("reading filled files after a restart made %d origin requests", n)
	}
	fr = r.runner(fill.Options{})
	st, err = fr.Run(context.Background(), m, "test", time.Time{})
	if err != nil || st.State != fill.StateCompleted || st.FilesResident != 300 || st.FilesFilled != 0 || st.BytesFetched != 0 {
		t.Fatalf("second run: %v, %+v", err, st)
	}
	if n := r.syn.Stats().Requests; n != 0 {
		t.Fatalf("the same manifest twice: %d origin requests the second time", n)
	}
	reports, err := fr.Reports()
	if err != nil || len(reports) != 2 || reports[0].FilesResident != 300 || reports[1].FilesFilled != 300 {
		t.Fatalf("reports: %v, %d", err, len(reports))
	}
}

// The rate cap holds: filling N bytes at R bytes/s takes at least
// (N - burst)/R. Only a lower bound is checked: a slow machine makes it
// longer, never shorter.
func TestFillRateCap(t *testing.T) {
	r := newRig(t, 0)
	const rate = 512 << 10
	b, _ := manifestJSON(20, "r") // about 1.4 MiB
	m := parse(t, b)
	_, total := m.Files()
	fr := r.runner(fill.Options{Rate: rate})
	start := time.Now()
	st, err := fr.Run(context.Background(), m, "test", time.Time{})
	elapsed := time.Since(start)
	if err != nil || st.State != fill.StateCompleted {
		t.Fatalf("%v %+v", err, st)
	}
	burst := int64(min(rate, 1<<20))
	minimum := time.Duration(float64(total-burst) / rate * float64(time.Second) * 0.9)
	t.Logf("%d bytes at a cap of %d B/s in %v (at least %v); reported rate %.0f B/s", total, rate, elapsed, minimum, st.Rate)
	if elapsed < minimum {
		t.Errorf("filled %d bytes in %v: faster than the cap allows (%v)", total, elapsed, minimum)
	}
	// The average over the run exceeds the cap by the burst at most.
	if maxAvg := rate * float64(total) / float64(total-burst) * 1.1; st.Rate > maxAvg {
		t.Errorf("reported rate %.0f B/s, more than the cap allows on average (%.0f)", st.Rate, maxAvg)
	}
}

// maxFetchOf wraps a fill.Cache and records the MaxFetch of its requests.
type maxFetchOf struct {
	fill.Cache
	mu  sync.Mutex
	got map[int64]int
}

func (c *maxFetchOf) Fill(ctx context.Context, req fill.Request, w io.Writer) (int64, error) {
	c.mu.Lock()
	c.got[req.MaxFetch]++
	c.mu.Unlock()
	return c.Cache.Fill(ctx, req, w)
}

// With a rate cap a fill asks the cache for fetches of at most a second's
// worth of it; without, it leaves the bound to the cache.
func TestFillMaxFetch(t *testing.T) {
	for _, rate := range []int64{0, 64 << 20} {
		r := newRig(t, 0)
		b, _ := manifestJSON(5, "mf")
		c := &maxFetchOf{Cache: r.filler, got: map[int64]int{}}
		fr := r.runner(fill.Options{Rate: rate, Cache: c})
		if st, err := fr.Run(context.Background(), parse(t, b), "test", time.Time{}); err != nil || st.State != fill.StateCompleted {
			t.Fatalf("rate %d: %v %+v", rate, err, st)
		}
		if len(c.got) != 1 || c.got[rate] == 0 {
			t.Errorf("rate %d: requests' MaxFetch %v, want %d", rate, c.got, rate)
		}
	}
}

// cancelAfter wraps a fill.Cache: it cancels the job after n files filled,
// and records which files completed.
type cancelAfter struct {
	fill.Cache
	n      int64
	filled atomic.Int64
	cancel context.CancelFunc
	mu     sync.Mutex
	done   map[string]bool
}

func (c *cancelAfter) Fill(ctx context.Context, req fill.Request, w io.Writer) (int64, error) {
	n, err := c.Cache.Fill(ctx, req, w)
	if err == nil && ctx.Err() == nil {
		c.mu.Lock()
		c.done[req.Path] = true
		c.mu.Unlock()
		if c.filled.Add(1) == c.n {
			c.cancel()
		}
	}
	return n, err
}

// A daemon stopped in the middle of a fill continues the same job after a
// restart, without fetching again the files it completed.
func TestFillResumesAfterRestart(t *testing.T) {
	r := newRig(t, 0)
	b, files := manifestJSON(200, "c")
	m := parse(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	wrap := &cancelAfter{Cache: r.filler, n: 60, cancel: cancel, done: map[string]bool{}}
	fr := r.runner(fill.Options{Cache: wrap})
	st1, err := fr.Run(ctx, m, "test", time.Time{})
	if err != nil || st1.State != fill.StateCancelled || st1.Left.Files == 0 {
		t.Fatalf("first run: %v %+v", err, st1)
	}
	first := r.syn.PathCounts()
	r.close() // the daemon stops
	r.syn.ResetStats()
	r.open()
	fr = r.runner(fill.Options{})
	pm, src, err := fr.Pending()
	if err != nil || pm == nil || pm.Digest != m.Digest || src != "test" {
		t.Fatalf("Pending: %v, %v", pm, err)
	}
	st2, ok, err := fr.ResumePending(context.Background(), time.Time{})
	if err != nil || !ok || st2.State != fill.StateCompleted || st2.ID != st1.ID || st2.ResumedAt.IsZero() {
		t.Fatalf("resumed run: %v %+v", err, st2)
	}
	if st2.FilesDone != 200 || st2.FilesFilled+st2.FilesResident+len(wrap.done) < 200 {
		t.Errorf("resumed run: %d done, %d filled, %d resident", st2.FilesDone, st2.FilesFilled, st2.FilesResident)
	}
	again := r.syn.PathCounts()
	for p := range wrap.done {
		if again[p] != 0 {
			t.Errorf("%s completed before the restart was fetched again (%d requests)", p, again[p])
		}
	}
	for p, n := range again {
		if first[p] > 0 && !strings.HasPrefix(p, "/s/") {
			t.Errorf("%s: %d", p, n)
		}
	}
	r.syn.ResetStats()
	r.readAll(files)
	if n := r.syn.Stats().Requests; n != 0 {
		t.Fatalf("reading the resumed fill made %d origin requests", n)
	}
	if pm, _, _ := fr.Pending(); pm != nil {
		t.Error("a completed job is still pending")
	}
}

// Bad, unsigned and tampered manifests are refused, and nothing is fetched.
func TestFillRefusesManifests(t *testing.T) {
	r := newRig(t, 0)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	good, _ := manifestJSON(5, "s")
	tampered := bytes.Replace(good, []byte(`"rank":5`), []byte(`"rank":0`), 1)
	if bytes.Equal(tampered, good) {
		t.Fatal("tampering failed")
	}
	files := map[string][]byte{
		"/good.json": good, "/good.json.sig": fill.Sign(priv, good),
		"/unsigned.json": good,
		"/tampered.json": tampered, "/tampered.json.sig": fill.Sign(priv, good),
		"/bad.json": []byte(`{"version":1,"titles":[{"id":"x","rank":1,"files":[{"path":"/a/../etc","size":1,"sha256":"00"}]}]}`),
	}
	ms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, ok := files[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(b)
	}))
	defer ms.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		path string
		key  ed25519.PublicKey
		want error
	}{
		{"/unsigned.json", pub, fill.ErrUnsigned},
		{"/tampered.json", pub, fill.ErrBadSignature},
		{"/bad.json", nil, fill.ErrManifest},
	} {
		m, err := fill.Load(ctx, ms.URL+tc.path, fill.LoadOptions{PublicKey: tc.key})
		if m != nil || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.path, err, tc.want)
		}
	}
	if n := r.syn.Stats().Requests; n != 0 {
		t.Errorf("refused manifests made %d origin requests", n)
	}
	m, err := fill.Load(ctx, ms.URL+"/good.json", fill.LoadOptions{PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.runner(fill.Options{}).Run(ctx, m, ms.URL+"/good.json", time.Time{})
	if err != nil || st.State != fill.StateCompleted || st.FilesFilled != 5 {
		t.Fatalf("good manifest: %v %+v", err, st)
	}
}

// An origin serving wrong bytes for a file is reported by its sha256; the
// file's chunks are discarded; the other files are filled.
func TestFillWrongBytes(t *testing.T) {
	r := newRig(t, 0)
	b, files := manifestJSON(20, "w")
	bad := files[7]
	r.corrupt.Store(bad.Path, true)
	fr := r.runner(fill.Options{})
	st, err := fr.Run(context.Background(), parse(t, b), "test", time.Time{})
	if err != nil || st.State != fill.StateFailed || st.FilesFilled != 19 || st.ErrorCount != 1 || st.Left.Files != 1 || st.Left.Paths[0] != bad.Path {
		t.Fatalf("%v %+v", err, st)
	}
	if e := st.Errors[0]; e.Path != bad.Path || !strings.Contains(e.Error, "sha256") {
		t.Errorf("error %+v", e)
	}
	if fr.Counters().SHA256Mismatches.Load() != 1 || r.filler.Stats().Discarded != 1 {
		t.Error("mismatch not counted")
	}
	if r.filler.Has(context.Background(), fill.Request{Path: bad.Path, Size: bad.Size}) {
		t.Error("the wrong bytes are still held")
	}
	// The origin mends; the same manifest continues the job and completes it.
	r.corrupt.Delete(bad.Path)
	st, err = fr.Run(context.Background(), parse(t, b), "test", time.Time{})
	if err != nil || st.State != fill.StateCompleted || st.FilesFilled != 1 {
		t.Fatalf("after the origin mended: %v %+v", err, st)
	}
}

// advanceAfter wraps a fill.Cache: after n files it moves the clock past
// the window's end.
type advanceAfter struct {
	fill.Cache
	n      int64
	filled atomic.Int64
	clock  *fill.FakeClock
}

func (a *advanceAfter) Fill(ctx context.Context, req fill.Request, w io.Writer) (int64, error) {
	n, err := a.Cache.Fill(ctx, req, w)
	if a.filled.Add(1) == a.n {
		a.clock.Advance(time.Hour)
	}
	return n, err
}

// The window's end stops the job and it reports what was left; the next
// window continues it.
func TestFillWindowEnd(t *testing.T) {
	r := newRig(t, 0)
	w, err := fill.ParseWindow("02:00-03:00", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	clock := fill.NewFakeClock(time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC))
	_, end, _ := w.Next(clock.Now())
	b, _ := manifestJSON(100, "e")
	m := parse(t, b)
	fr := r.runner(fill.Options{Cache: &advanceAfter{Cache: r.filler, n: 30, clock: clock}, Clock: clock, Concurrency: 2})
	st, err := fr.Run(context.Background(), m, "test", end)
	if err != nil || st.State != fill.StateCutOff || st.Left.Files == 0 || st.FilesDone+st.Left.Files != 100 || !st.Deadline.Equal(end) {
		t.Fatalf("%v %+v", err, st)
	}
	if st.FilesFilled > 40 {
		t.Errorf("%d files filled after the window ended at 30", st.FilesFilled)
	}
	if len(st.Left.Paths) == 0 || !strings.Contains(st.Reason, "window") {
		t.Errorf("left %+v, reason %q", st.Left, st.Reason)
	}
	t.Logf("cut off: %d done, %d left", st.FilesDone, st.Left.Files)
	// The next window.
	start, end, _ := w.Next(clock.Now())
	clock.Advance(start.Sub(clock.Now()))
	fr = r.runner(fill.Options{Clock: clock})
	st2, err := fr.Run(context.Background(), m, "test", end)
	if err != nil || st2.State != fill.StateCompleted || st2.ID != st.ID || st2.FilesDone != 100 {
		t.Fatalf("next window: %v %+v", err, st2)
	}
}

// BenchmarkFill measures fill throughput against the synthetic origin on
// loopback: 4 slots, files of 2 MiB, a disk tier in a temp dir, no rate
// cap, at 1 MiB and at 256 KiB (the default) chunks; it reports the origin
// requests per file too.
func BenchmarkFill(b *testing.B) {
	for _, chunk := range []int64{1 << 20, cache.DefaultChunkSize} {
		b.Run(fmt.Sprintf("chunk=%dKiB", chunk>>10), func(b *testing.B) { benchFill(b, chunk) })
	}
}

func benchFill(b *testing.B, chunk int64) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		syn.ServeHTTP(w, r)
	}))
	defer srv.Close()
	client, err := origin.NewClient(srv.URL, origin.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	const size, perIter = 2 << 20, 16
	var total, files int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dir := b.TempDir()
		os.MkdirAll(filepath.Join(dir, "d"), 0o755)
		ds, err := disk.Open(disk.Options{Dirs: []disk.Dir{{Path: filepath.Join(dir, "d"), Size: 1 << 30}},
			StateFile: filepath.Join(dir, "state"), ScrubRate: -1, CheckInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		<-ds.Ready()
		store, err := cache.New(client, cache.Options{ChunkSize: chunk, Memory: 64 << 20, Disk: ds})
		if err != nil {
			b.Fatal(err)
		}
		var fs []string
		for j := 0; j < perIter; j++ {
			p := fmt.Sprintf("/s/%d/b%d-%d.m4s", size, i, j)
			fs = append(fs, fmt.Sprintf(`{"path":%q,"size":%d,"sha256":%q}`, p, size, sumOf(p, size)))
		}
		m, err := fill.Parse([]byte(`{"version":1,"titles":[{"id":"b","rank":1,"files":[`+strings.Join(fs, ",")+`]}]}`), fill.ParseOptions{})
		if err != nil {
			b.Fatal(err)
		}
		fr, err := fill.NewRunner(fill.Options{Cache: store.NewFiller(cache.FillerOptions{Slots: 4}), Dir: filepath.Join(dir, "job"), Concurrency: 4})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		st, err := fr.Run(context.Background(), m, "bench", time.Time{})
		if err != nil || st.State != fill.StateCompleted {
			b.Fatalf("%v %+v", err, st)
		}
		total += st.BytesDone
		files += perIter
		b.StopTimer()
		store.Close()
		ds.Close()
		b.StartTimer()
	}
	b.SetBytes(size * perIter)
	b.ReportMetric(float64(total)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
	b.ReportMetric(float64(requests.Load())/float64(files), "origin-req/file")
}

// BenchmarkHitLatencyDuringFill measures players' memory-hit latency (p50,
// p99 of Lookup and copying a whole 1 MiB object out of the Store) while
// nothing else runs, while an uncapped fill runs, and while a fill capped
// at 64 MiB/s runs, against the synthetic origin on loopback.
func BenchmarkHitLatencyDuringFill(b *testing.B) {
	// 500 files of 2 MiB: more than an uncapped fill gets through while
	// the benchmark runs (about a second).
	var fs []string
	for j := range 500 {
		p := fmt.Sprintf("/s/2M/f%d.m4s", j)
		fs = append(fs, fmt.Sprintf(`{"path":%q,"size":%d,"sha256":%q}`, p, 2<<20, sumOf(p, 2<<20)))
	}
	manifest := []byte(`{"version":1,"titles":[{"id":"b","rank":1,"files":[` + strings.Join(fs, ",") + `]}]}`)
	for _, tc := range []struct {
		name string
		fill bool
		rate int64
	}{{"idle", false, 0}, {"fill", true, 0}, {"fill-64MiBps", true, 64 << 20}} {
		b.Run(tc.name, func(b *testing.B) {
			syn := origin.NewSynthetic(origin.SyntheticOptions{})
			srv := httptest.NewServer(syn)
			defer srv.Close()
			client, _ := origin.NewClient(srv.URL, origin.Options{})
			defer client.Close()
			dir := b.TempDir()
			os.MkdirAll(filepath.Join(dir, "d"), 0o755)
			ds, err := disk.Open(disk.Options{Dirs: []disk.Dir{{Path: filepath.Join(dir, "d"), Size: 4 << 30}},
				StateFile: filepath.Join(dir, "state"), ScrubRate: -1, CheckInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer ds.Close()
			<-ds.Ready()
			store, _ := cache.New(client, cache.Options{ChunkSize: 1 << 20, Memory: 256 << 20, Disk: ds})
			defer store.Close()
			// The hot set: 32 objects of 1 MiB in memory.
			var hot []*cache.Meta
			for i := range 32 {
				meta, _, err := store.Lookup(context.Background(), cache.NewKey(fmt.Sprintf("/v/hot/%d.m4s", i)), 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				rd := store.NewReader(meta, 0, meta.Size)
				io.Copy(io.Discard, rd)
				rd.Close()
				hot = append(hot, meta)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			if tc.fill {
				m, err := fill.Parse(manifest, fill.ParseOptions{})
				if err != nil {
					b.Fatal(err)
				}
				fr, _ := fill.NewRunner(fill.Options{Cache: store.NewFiller(cache.FillerOptions{}), Dir: filepath.Join(dir, "job"), Rate: tc.rate,
					Logger: slogDiscard()})
				wg.Go(func() { fr.Run(ctx, m, "bench", time.Time{}) })
				time.Sleep(200 * time.Millisecond) // under way
			}
			lat := make([]time.Duration, 0, b.N)
			sink := &copySink{buf: make([]byte, 1<<20)}
			for i := 0; b.Loop(); i++ {
				meta := hot[i%len(hot)]
				t0 := time.Now()
				m, _, err := store.Lookup(context.Background(), cache.NewKey(meta.Key), 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				rd := store.NewReader(m, 0, m.Size)
				sink.off = 0
				io.Copy(sink, rd)
				rd.Close()
				lat = append(lat, time.Since(t0))
			}
			cancel()
			wg.Wait()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
			}
		})
	}
}

// copySink copies what is written into buf, as a response's write would
// copy it out of the cache.
type copySink struct {
	buf []byte
	off int
}

func (c *copySink) Write(p []byte) (int, error) {
	c.off += copy(c.buf[c.off%len(c.buf):], p)
	return len(p), nil
}

func slogDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
