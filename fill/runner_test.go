package fill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memCache is a fill.Cache in a map: the bytes of a path are the path
// repeated up to its size.
type memCache struct {
	mu       sync.Mutex
	held     map[string]bool
	order    []string
	capacity int64
	block    chan struct{} // if set, Fill waits for it
	afterN   int           // if > 0, after that many fills...
	shrinkTo int64         // ...the capacity becomes this (a disk went out of service)
}

func bytesOf(path string, size int64) []byte {
	return []byte(strings.Repeat(path, int(size)/len(path)+1)[:size])
}

func (c *memCache) Has(_ context.Context, req Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held[req.Path]
}

func (c *memCache) Fill(ctx context.Context, req Request, w io.Writer) (int64, error) {
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err := req.Pace(ctx, req.Size); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.order = append(c.order, req.Path)
	c.held[req.Path] = true
	if c.afterN > 0 && len(c.order) == c.afterN {
		c.capacity = c.shrinkTo
	}
	c.mu.Unlock()
	n, err := w.Write(bytesOf(req.Path, req.Size))
	return int64(n), err
}

func (c *memCache) Discard(path string) {
	c.mu.Lock()
	delete(c.held, path)
	c.mu.Unlock()
}

func (c *memCache) Capacity() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.capacity
}
func (c *memCache) Footprint(_ string, n int64) int64 { return n }

// testManifest builds a manifest of titles (id, rank, file sizes) whose
// files are /<id>/<n>, with sums of bytesOf.
func testManifest(t *testing.T, titles ...Title) *Manifest {
	t.Helper()
	for i := range titles {
		for j := range titles[i].Files {
			f := &titles[i].Files[j]
			f.Path = fmt.Sprintf("/%s/%d", titles[i].ID, j)
			s := sha256.Sum256(bytesOf(f.Path, f.Size))
			f.SHA256 = hex.EncodeToString(s[:])
		}
	}
	b, _ := json.Marshal(Manifest{Version: 1, Titles: titles})
	m, err := Parse(b, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRunnerOrderAndBudget(t *testing.T) {
	files := func(sizes ...int64) []File {
		var fs []File
		for _, s := range sizes {
			fs = append(fs, File{Size: s})
		}
		return fs
	}
	m := testManifest(t,
		Title{ID: "c", Rank: 3, Files: files(10, 10)},
		Title{ID: "a", Rank: 1, Files: files(30, 20, 10)},
		Title{ID: "b", Rank: 2, Files: files(5)},
		Title{ID: "d", Rank: 3, Files: files(1)},
	)
	for _, tc := range []struct {
		name     string
		capacity int64
		held     []string
		want     string
		over     int
	}{
		{"all", 1000, nil, "/a/0 /a/1 /a/2 /b/0 /c/0 /c/1 /d/0", 0},
		{"some held", 1000, []string{"/a/1", "/c/0"}, "/a/0 /a/2 /b/0 /c/1 /d/0", 0},
		// 60 of a, 5 of b fit 70 (of which 95% count): c and d do not.
		{"over budget", 74, nil, "/a/0 /a/1 /a/2 /b/0", 3},
		// Held files count against the capacity too; one held past it is
		// done, not left.
		{"over budget, held", 74, []string{"/d/0"}, "/a/0 /a/1 /a/2 /b/0", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &memCache{held: map[string]bool{}, capacity: tc.capacity}
			for _, p := range tc.held {
				c.held[p] = true
			}
			r, err := NewRunner(Options{Cache: c, Dir: t.TempDir(), Concurrency: 1, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			st, err := r.Run(context.Background(), m, "m", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(c.order, " "); got != tc.want {
				t.Errorf("fill order %s, want %s", got, tc.want)
			}
			if st.State != StateCompleted || st.Left.OverBudgetFiles != tc.over || st.FilesTotal != 7 || st.FilesResident > len(tc.held) {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// Run refuses a second job while one runs; Status shows the running job
// with JSON field names an admin endpoint serves.
func TestRunnerBusyAndStatus(t *testing.T) {
	c := &memCache{held: map[string]bool{}, capacity: 1 << 30, block: make(chan struct{})}
	r, err := NewRunner(Options{Cache: c, Dir: t.TempDir(), Logger: quiet(), Reports: 2})
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); st.State != StateIdle {
		t.Errorf("initial state %s", st.State)
	}
	m := testManifest(t, Title{ID: "a", Rank: 1, Files: []File{{Size: 100}, {Size: 200}}})
	done := make(chan Status)
	go func() {
		st, _ := r.Run(context.Background(), m, "m.json", time.Time{})
		done <- st
	}()
	for r.Counters().Running.Load() == 0 || r.Status().State != StateRunning {
		time.Sleep(time.Millisecond)
	}
	if _, err := r.Run(context.Background(), m, "m.json", time.Time{}); !errors.Is(err, ErrBusy) {
		t.Errorf("second Run: %v", err)
	}
	b, _ := json.Marshal(r.Status())
	for _, field := range []string{`"state":"running"`, `"files_total":2`, `"bytes_total":300`, `"manifest":"m.json"`, `"left":`, `"rate_bytes_per_second"`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("status JSON %s lacks %s", b, field)
		}
	}
	close(c.block)
	if st := <-done; st.State != StateCompleted || st.BytesDone != 300 || st.FilesFilled != 2 {
		t.Errorf("final %+v", st)
	}
	// Reports: the newest two are kept.
	for range 3 {
		c.held = map[string]bool{}
		if _, err := r.Run(context.Background(), m, "m.json", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	reps, err := r.Reports()
	if err != nil || len(reps) != 2 || !reps[0].EndedAt.After(reps[1].EndedAt) && !reps[0].EndedAt.Equal(reps[1].EndedAt) {
		t.Errorf("reports: %v, %d", err, len(reps))
	}
	ents, _ := os.ReadDir(filepath.Join(r.opt.Dir, reportsDir))
	if len(ents) != 2 {
		t.Errorf("%d report files, want 2", len(ents))
	}
}

// A damaged state file does not stop a job: a new one starts.
func TestRunnerDamagedState(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, stateFile), []byte("{not json"), 0o644)
	c := &memCache{held: map[string]bool{}, capacity: 1 << 30}
	r, err := NewRunner(Options{Cache: c, Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Pending(); err == nil {
		t.Error("Pending of a damaged state: no error")
	}
	m := testManifest(t, Title{ID: "a", Rank: 1, Files: []File{{Size: 1}}})
	if st, err := r.Run(context.Background(), m, "m", time.Time{}); err != nil || st.State != StateCompleted {
		t.Fatalf("%v %+v", err, st)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !os.IsNotExist(err) {
		t.Error("a completed job left its state file")
	}
}

// Schedule runs a job at each window's start, once per window, and stops
// with its context.
func TestRunnerSchedule(t *testing.T) {
	c := &memCache{held: map[string]bool{}, capacity: 1 << 30}
	clock := NewFakeClock(time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC))
	r, err := NewRunner(Options{Cache: c, Dir: t.TempDir(), Logger: quiet(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := ParseWindow("02:00-03:00", "UTC")
	m := testManifest(t, Title{ID: "a", Rank: 1, Files: []File{{Size: 10}}})
	var loads atomic.Int64
	load := func(context.Context) (*Manifest, string, error) {
		if loads.Add(1) == 2 {
			return nil, "", errors.New("manifest server down")
		}
		c.mu.Lock()
		c.held = map[string]bool{} // evicted since: there is work every night
		c.mu.Unlock()
		return m, "m", nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Schedule(ctx, w, load) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("the wait for the window", func() bool { return clock.Timers() == 1 })
	if r.Counters().Jobs.Load() != 0 {
		t.Fatal("a job ran before the window")
	}
	clock.Advance(time.Hour) // 02:00: the window opens
	waitFor("the first job", func() bool { return r.Counters().JobsCompleted.Load() == 1 })
	waitFor("the wait for the window's end", func() bool { return clock.Timers() == 1 })
	clock.Advance(30 * time.Minute) // 02:30: same window, no second job
	clock.Advance(30 * time.Minute) // 03:00: the end; waits for tomorrow
	waitFor("the wait for the next window", func() bool { return clock.Timers() == 1 && loads.Load() == 1 })
	clock.Advance(23 * time.Hour) // the next night: the load fails, nothing pending
	waitFor("the second load", func() bool { return loads.Load() == 2 && r.Status().State == StateFailed })
	if !strings.Contains(r.Status().Reason, "manifest server down") || r.Counters().Jobs.Load() != 1 {
		t.Errorf("status after a failed load: %+v", r.Status())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Schedule returned %v", err)
	}
}

// A capacity that shrinks during a job (a disk out of service) leaves what
// no longer fits, as over budget.
func TestRunnerCapacityShrinks(t *testing.T) {
	m := testManifest(t, Title{ID: "a", Rank: 1, Files: []File{{Size: 10}, {Size: 10}, {Size: 10}, {Size: 10}}})
	c := &memCache{held: map[string]bool{}, capacity: 1000, afterN: 2, shrinkTo: 25}
	r, err := NewRunner(Options{Cache: c, Dir: t.TempDir(), Concurrency: 1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Run(context.Background(), m, "m", time.Time{})
	if err != nil || st.State != StateCompleted || st.FilesFilled != 2 || st.Left.OverBudgetFiles != 2 || st.Left.Files != 2 {
		t.Fatalf("%v %+v", err, st)
	}
}
