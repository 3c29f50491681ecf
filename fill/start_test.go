package fill

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Start claims the runner at once (a second Start or Run is ErrBusy), shows
// the job running, and delivers the final Status on done; a cancelled job
// ends cancelled and keeps its state for ResumePending.
func TestRunnerStart(t *testing.T) {
	c := &memCache{held: map[string]bool{}, capacity: 1 << 30, block: make(chan struct{})}
	r, err := NewRunner(Options{Cache: c, Dir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	m := testManifest(t, Title{ID: "a", Rank: 1, Files: []File{{Size: 10}, {Size: 20}}})
	first, done, err := r.Start(context.Background(), m, "m.json", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if first.State != StateRunning || first.ID == "" || first.FilesTotal != 2 || first.BytesTotal != 30 || r.Counters().Running.Load() != 1 {
		t.Fatalf("first status %+v", first)
	}
	if _, _, err := r.Start(context.Background(), m, "m.json", time.Time{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Start: %v, want ErrBusy", err)
	}
	if _, err := r.Run(context.Background(), m, "m.json", time.Time{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Run during Start: %v, want ErrBusy", err)
	}
	close(c.block)
	st := <-done
	if st.State != StateCompleted || st.ID != first.ID || st.FilesFilled != 2 {
		t.Fatalf("final status %+v", st)
	}
	if _, ok := <-done; ok {
		t.Fatal("done not closed")
	}
	if r.Counters().Running.Load() != 0 || r.Counters().Jobs.Load() != 1 {
		t.Fatalf("counters: running %d, jobs %d", r.Counters().Running.Load(), r.Counters().Jobs.Load())
	}

	// Cancelled: the job's state stays, and ResumePending continues it.
	c2 := &memCache{held: map[string]bool{}, capacity: 1 << 30, block: make(chan struct{})}
	r2, _ := NewRunner(Options{Cache: c2, Dir: t.TempDir(), Logger: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	first, done, err = r2.Start(ctx, m, "m.json", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if st := <-done; st.State != StateCancelled {
		t.Fatalf("cancelled job: %+v", st)
	}
	close(c2.block)
	st, ok, err := r2.ResumePending(context.Background(), time.Time{})
	if err != nil || !ok || st.ID != first.ID || st.State != StateCompleted {
		t.Fatalf("ResumePending: %+v %v %v", st, ok, err)
	}
}

// A job shows it ended only once its counters and report are written and
// the runner is free: a caller polling Status (as "edgecache fill --wait"
// polls GET /fill) then finds them, and may start the next job.
func TestStatusEndedAfterReport(t *testing.T) {
	for range 20 {
		c := &memCache{held: map[string]bool{}, capacity: 1 << 30}
		r, err := NewRunner(Options{Cache: c, Dir: t.TempDir(), Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		m := testManifest(t, Title{ID: "a", Rank: 1, Files: []File{{Size: 10}}})
		if _, _, err := r.Start(context.Background(), m, "m.json", time.Time{}); err != nil {
			t.Fatal(err)
		}
		for r.Status().State == StateRunning {
		}
		reports, err := r.Reports()
		if r.Counters().JobsCompleted.Load() != 1 || r.Counters().LastCompletion.Load() == 0 || err != nil || len(reports) != 1 {
			t.Fatalf("job shown ended before its counters (%d completed) and report (%d, %v)", r.Counters().JobsCompleted.Load(), len(reports), err)
		}
		// ...and the runner takes the next job.
		if _, done, err := r.Start(context.Background(), m, "m.json", time.Time{}); err != nil {
			t.Fatalf("Start right after a job was shown ended: %v", err)
		} else {
			<-done
		}
	}
}
