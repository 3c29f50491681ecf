package fill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of Options.
const (
	DefaultConcurrency      = 4
	DefaultReports          = 10
	DefaultCapacityFraction = 0.95
)

// Options configure a Runner. Zero fields take the documented defaults.
type Options struct {
	// Cache is what is filled. Required.
	Cache Cache
	// Dir holds the job state file, the copy of the current job's manifest
	// and the reports; it is created if missing. Required.
	Dir string
	// Rate caps the bytes per second a job asks of the origin; 0 means no
	// cap.
	Rate int64
	// Concurrency is the most files filled at once; default
	// DefaultConcurrency.
	Concurrency int
	// Reports is how many job reports are kept; default DefaultReports.
	Reports int
	// CapacityFraction is the share of Cache.Capacity a job plans to fill
	// (the rest is slack for placement imbalance between disks and for
	// players' misses); default DefaultCapacityFraction.
	CapacityFraction float64
	// Clock is the time source; default the wall clock.
	Clock Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// ErrBusy is returned by Run while another job runs.
var ErrBusy = errors.New("fill: a job is already running")

// Runner runs fill jobs, one at a time. It is safe for concurrent use.
type Runner struct {
	opt      Options
	log      *slog.Logger
	clock    Clock
	limiter  *rate.Limiter // nil without a rate cap
	counters Counters

	mu      sync.Mutex
	running bool
	st      Status // of the job running, or the last one
	runFrom time.Time
	fetched int64 // BytesFetched at the start of this run
}

// NewRunner returns a Runner; it creates Options.Dir.
func NewRunner(opt Options) (*Runner, error) {
	if opt.Cache == nil || opt.Dir == "" {
		return nil, errors.New("fill: a Runner needs a Cache and a Dir")
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	if opt.Reports <= 0 {
		opt.Reports = DefaultReports
	}
	if opt.CapacityFraction <= 0 || opt.CapacityFraction > 1 {
		opt.CapacityFraction = DefaultCapacityFraction
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(opt.Dir, reportsDir), 0o755); err != nil {
		return nil, fmt.Errorf("fill directory: %w", err)
	}
	r := &Runner{opt: opt, log: opt.Logger, clock: opt.Clock, st: Status{State: StateIdle}}
	if opt.Rate > 0 {
		// The burst is at most 1 MiB (Pace splits larger asks), and one
		// fetch asks for at most a second's worth (Request.MaxFetch), so
		// the cap holds over any two seconds to within a fetch per
		// concurrent fetch.
		r.limiter = rate.NewLimiter(rate.Limit(opt.Rate), int(min(opt.Rate, 1<<20)))
	}
	return r, nil
}

// Counters returns the runner's counters (live: read them with Load).
func (r *Runner) Counters() *Counters { return &r.counters }

// Status returns the state of the job running, or else of the last one
// (StateIdle if none ran).
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshotLocked()
}

func (r *Runner) snapshotLocked() Status {
	st := r.st
	st.Errors = append([]FileError(nil), st.Errors...)
	st.Left.Paths = append([]string(nil), st.Left.Paths...)
	end := st.EndedAt
	if r.running {
		end = r.clock.Now()
	}
	if d := end.Sub(r.runFrom).Seconds(); d > 0 && !r.runFrom.IsZero() {
		st.Rate = math.Round(float64(st.BytesFetched-r.fetched) / d)
	}
	return st
}

// pace waits until n more bytes may be fetched under the rate cap.
func (r *Runner) pace(ctx context.Context, n int64) error {
	r.counters.BytesFetched.Add(n)
	r.mu.Lock()
	r.st.BytesFetched += n
	r.mu.Unlock()
	if r.limiter == nil {
		return nil
	}
	for n > 0 {
		k := min(n, int64(r.limiter.Burst()))
		if err := r.limiter.WaitN(ctx, int(k)); err != nil {
			return fmt.Errorf("fill rate cap: %w", err)
		}
		n -= k
	}
	return nil
}

// item is one file of a job's plan.
type item struct {
	Entry
	over bool // past the cache's capacity: not tried
	done bool
	upTo int64 // footprint of the plan through this file
}

// job is one run of a fill job.
type job struct {
	r     *Runner
	m     *Manifest
	state *jobState
	items []item

	final  JobState // how it ended, set by end
	reason string
	gen    int64       // Request.Gen
	full   atomic.Bool // a Fill reported ErrFull: no more files are started
}

// Run runs a fill job over m (read from src, which is only recorded) until
// it completes, until (if not zero: the fill window's end) or until ctx
// ends, and returns its final Status, which it also keeps as a report. If
// the last job of the runner's directory was over the same manifest and
// did not complete, Run continues it: the files it completed are not looked
// at again. Files the cache already holds are not fetched. The error is
// ErrBusy if a job is running, or one that kept the job from starting (its
// state could not be written); a job that ran returns nil and tells how it
// ended in Status.State.
func (r *Runner) Run(ctx context.Context, m *Manifest, src string, until time.Time) (Status, error) {
	if !r.claim() {
		return Status{}, ErrBusy
	}
	j, err := r.start(m, src, until)
	if err != nil {
		r.release()
		return Status{}, err
	}
	j.run(ctx, until)
	return j.finish(), nil
}

// Start is Run in the background: it starts the job (its state written,
// its Status running) and returns that first Status at once, or ErrBusy,
// or the error that kept the job from starting. done receives the job's
// final Status when it has ended (and is then closed).
func (r *Runner) Start(ctx context.Context, m *Manifest, src string, until time.Time) (first Status, done <-chan Status, err error) {
	if !r.claim() {
		return Status{}, nil, ErrBusy
	}
	j, err := r.start(m, src, until)
	if err != nil {
		r.release()
		return Status{}, nil, err
	}
	first = r.Status()
	ch := make(chan Status, 1)
	go func() {
		j.run(ctx, until)
		ch <- j.finish() // released: the receiver may start the next job
		close(ch)
	}()
	return first, ch, nil
}

// claim marks a job running; false if one is.
func (r *Runner) claim() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return false
	}
	r.running = true
	r.counters.Running.Store(1)
	r.counters.Jobs.Add(1)
	return true
}

// release marks the job ended.
func (r *Runner) release() {
	r.mu.Lock()
	r.running = false
	r.counters.Running.Store(0)
	r.mu.Unlock()
}

// start loads or makes the job's state and plans it.
func (r *Runner) start(m *Manifest, src string, until time.Time) (*job, error) {
	now := r.clock.Now()
	files, _ := m.Files()
	st, err := r.loadState()
	if err != nil {
		r.log.Warn("fill job state unreadable; starting a new job", "err", err)
	}
	resumed := err == nil && st != nil && st.Digest == m.Digest && st.Files == files
	if !resumed {
		st = &jobState{Version: 1, ID: now.UTC().Format("20060102T150405Z") + "-" + m.Digest[:8],
			Digest: m.Digest, Source: src, Files: files, StartedAt: now, done: make([]byte, (files+7)/8)}
		if err := writeFileAtomic(filepath.Join(r.opt.Dir, manifestFile), m.Raw); err != nil {
			return nil, fmt.Errorf("fill job: keeping the manifest: %w", err)
		}
	}
	st.State = StateRunning
	if err := r.saveState(st); err != nil {
		return nil, fmt.Errorf("fill job: %w", err)
	}
	j := &job{r: r, m: m, state: st, gen: max(st.StartedAt.UnixNano(), 1)}
	s := Status{ID: st.ID, State: StateRunning, Manifest: src, Digest: m.Digest, StartedAt: st.StartedAt,
		Deadline: until, FilesTotal: files, BytesFetched: st.BytesFetched}
	if resumed {
		s.ResumedAt = now
		r.log.Info("fill job continued", "id", st.ID, "manifest", src, "files_done_before", st.count())
	} else {
		r.log.Info("fill job started", "id", st.ID, "manifest", src, "files", files)
	}
	// Plan: rank order, and only as much as the cache can hold.
	capacity := r.capacity()
	var planned int64
	for _, e := range m.Plan() {
		it := item{Entry: e, done: st.has(e.Ordinal)}
		s.BytesTotal += e.Size
		planned += r.opt.Cache.Footprint(e.Path, e.Size)
		it.upTo = planned
		it.over = planned > capacity && !it.done
		j.items = append(j.items, it)
	}
	r.mu.Lock()
	r.st, r.runFrom, r.fetched = s, now, st.BytesFetched
	r.mu.Unlock()
	return j, nil
}

// capacity returns the bytes of the cache's capacity a job plans to fill.
func (r *Runner) capacity() int64 {
	return int64(float64(r.opt.Cache.Capacity()) * r.opt.CapacityFraction)
}

// run diffs the plan against the cache and fills what is missing.
func (j *job) run(ctx context.Context, until time.Time) {
	r := j.r
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !until.IsZero() {
		stop := r.clock.AfterFunc(until.Sub(r.clock.Now()), func() { cancel(errWindowEnd) })
		defer stop()
	}
	// The diff: files held already are done (over the capacity too: they
	// are there, and nothing is fetched for them).
	var todo []int
	for i := range j.items {
		it := &j.items[i]
		switch {
		case it.done:
			j.account(func(s *Status) { s.FilesDone++; s.BytesDone += it.Size })
		case r.opt.Cache.Has(ctx, j.request(it)):
			it.done = true
			j.markDone(it.Ordinal)
			r.counters.FilesResident.Add(1)
			j.account(func(s *Status) { s.FilesDone++; s.FilesResident++; s.BytesDone += it.Size })
		case it.over: // left: the higher-ranked files fill the capacity
		default:
			todo = append(todo, i)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range r.opt.Concurrency {
		wg.Go(func() {
			for i := range next {
				j.fill(ctx, &j.items[i])
			}
		})
	}
	var saveAt time.Time
	for _, i := range todo {
		if ctx.Err() != nil || (!until.IsZero() && !r.clock.Now().Before(until)) {
			break
		}
		if j.full.Load() {
			// Full of higher-ranked content: the rest, ranked no higher,
			// does not fit either.
			j.items[i].over = true
			continue
		}
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if now := time.Now(); now.Sub(saveAt) > time.Second {
			saveAt = now
			j.save()
		}
	}
	close(next)
	wg.Wait()
	if !until.IsZero() && !r.clock.Now().Before(until) {
		cancel(errWindowEnd)
	}
	j.end(context.Cause(ctx))
}

// errWindowEnd is the cause of a job's context ending at the window's end.
var errWindowEnd = errors.New("fill window ended")

// fill fills one file and verifies it.
func (j *job) fill(ctx context.Context, it *item) {
	r := j.r
	if ctx.Err() != nil {
		return
	}
	if it.upTo > r.capacity() {
		// A disk went out of service since the plan: what no longer fits
		// is left, as over budget.
		it.over = true
		return
	}
	h := sha256.New()
	cw := &countWriter{w: h, j: j}
	n, err := r.opt.Cache.Fill(ctx, j.request(it), cw)
	if ctx.Err() != nil {
		// Cut off (or cancelled): not a failure of the file. Its bytes so
		// far do not count as done.
		j.account(func(s *Status) { s.BytesDone -= cw.n })
		return
	}
	if err == nil && n != it.Size {
		err = fmt.Errorf("fill %s: got %d bytes, the manifest says %d", it.Path, n, it.Size)
	}
	if err == nil {
		if sum := hex.EncodeToString(h.Sum(nil)); sum != it.SHA256 {
			r.opt.Cache.Discard(it.Path)
			r.counters.SHA256Mismatches.Add(1)
			err = fmt.Errorf("fill %s: sha256 %s, the manifest says %s: %w; its chunks were discarded", it.Path, sum, it.SHA256, ErrChecksum)
		}
	}
	if errors.Is(err, ErrFull) {
		// Not the file's failure: it does not fit. Its chunks stored so far
		// stay, ranked lowest of the job: the first a player's miss evicts.
		if !j.full.Swap(true) {
			r.log.Info("fill: cache full of higher-ranked content; no more files are started", "path", it.Path, "rank", it.Rank, "err", err)
		}
		it.over = true
		j.account(func(s *Status) { s.BytesDone -= cw.n })
		return
	}
	if err != nil {
		r.counters.Errors.Add(1)
		r.log.Warn("fill: file failed", "path", it.Path, "err", err)
		fe := FileError{Path: it.Path, Error: err.Error(), At: r.clock.Now()}
		j.account(func(s *Status) {
			s.BytesDone -= cw.n
			s.FilesFailed++
			s.ErrorCount++
			if len(s.Errors) < MaxErrors {
				s.Errors = append(s.Errors, fe)
			}
		})
		return
	}
	it.done = true
	j.markDone(it.Ordinal)
	r.counters.FilesFilled.Add(1)
	j.account(func(s *Status) { s.FilesDone++; s.FilesFilled++ })
}

// request is the Request for item it.
func (j *job) request(it *item) Request {
	req := Request{Path: it.Path, Size: it.Size, Rank: it.Rank, Gen: j.gen, Pace: j.r.pace}
	if j.r.limiter != nil {
		req.MaxFetch = j.r.opt.Rate // a second's worth
	}
	return req
}

// ErrChecksum is wrapped by the error of a file whose bytes do not match
// the manifest's SHA-256.
var ErrChecksum = errors.New("sha256 mismatch")

// countWriter counts the bytes of a file as they pass into its hash.
type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	j *job
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.j.account(func(s *Status) { s.BytesDone += int64(n) })
	return n, err
}

// account updates the live status.
func (j *job) account(f func(*Status)) {
	j.r.mu.Lock()
	f(&j.r.st)
	j.r.mu.Unlock()
}

// markDone records a file as done in the job state.
func (j *job) markDone(ordinal int) {
	j.r.mu.Lock()
	j.state.set(ordinal)
	j.r.mu.Unlock()
}

// save writes the job state (a failure is logged: the job goes on, and a
// restart redoes at most the files done since the last save, which the
// cache then holds).
func (j *job) save() {
	j.r.mu.Lock()
	j.state.BytesFetched = j.r.st.BytesFetched
	st := j.state.clone()
	j.r.mu.Unlock()
	if err := j.r.saveState(st); err != nil {
		j.r.log.Warn("fill: cannot save job state", "err", err)
	}
}

// end settles the job's final state from why it stopped (cause nil: it ran
// out of work).
func (j *job) end(cause error) {
	r := j.r
	var left Left
	for _, it := range j.items {
		if it.done {
			continue
		}
		left.Files++
		left.Bytes += it.Size
		if it.over {
			left.OverBudgetFiles++
			left.OverBudgetBytes += it.Size
		}
		if len(left.Paths) < MaxLeftPaths {
			left.Paths = append(left.Paths, it.Path)
		}
	}
	left.Full = j.full.Load()
	r.mu.Lock()
	s := &r.st
	s.Left = left
	s.EndedAt = r.clock.Now()
	var state JobState
	var reason string
	switch {
	case errors.Is(cause, errWindowEnd) && left.Files > left.OverBudgetFiles:
		state, reason = StateCutOff, "the fill window ended"
	case cause != nil && left.Files > left.OverBudgetFiles:
		state, reason = StateCancelled, "cancelled: "+cause.Error()
	case s.FilesFailed > 0:
		state, reason = StateFailed, fmt.Sprintf("%d files failed", s.FilesFailed)
	default:
		state, reason = StateCompleted, "every file is held"
		switch {
		case left.Full:
			reason = fmt.Sprintf("every file that fits is held; the disks are full of content ranked as high or higher, so %d files (%d bytes) were left", left.OverBudgetFiles, left.OverBudgetBytes)
		case left.OverBudgetFiles > 0:
			reason = fmt.Sprintf("every file that fits is held; %d files (%d bytes) ranked lower do not fit the cache's capacity", left.OverBudgetFiles, left.OverBudgetBytes)
		}
	}
	// Published by finish, once the counters and the report are written.
	j.final, j.reason = state, reason
	j.state.State = state
	r.mu.Unlock()
}

// finish writes the job's state and report, releases the runner and
// returns the job's final Status.
func (j *job) finish() Status {
	r := j.r
	j.save()
	r.mu.Lock()
	st := r.snapshotLocked()
	r.mu.Unlock()
	st.State, st.Reason = j.final, j.reason
	if st.State == StateCompleted {
		r.counters.JobsCompleted.Add(1)
		r.counters.LastCompletion.Store(st.EndedAt.Unix())
		// Nothing to continue: the next job over this manifest is a new
		// one (and finds everything held).
		r.clearState()
	}
	if err := r.writeReport(st); err != nil {
		r.log.Warn("fill: cannot write job report", "err", err)
	}
	// Now Status shows the job ended, and the runner takes the next one:
	// its counters and report are there for whoever reads them on seeing
	// that.
	r.mu.Lock()
	r.st.State, r.st.Reason = st.State, st.Reason
	r.running = false
	r.counters.Running.Store(0)
	r.mu.Unlock()
	r.log.Info("fill job ended", "id", st.ID, "state", st.State, "reason", st.Reason,
		"files_done", st.FilesDone, "files_total", st.FilesTotal, "files_filled", st.FilesFilled,
		"bytes_fetched", st.BytesFetched, "errors", st.ErrorCount, "left_files", st.Left.Files)
	return st
}

// Schedule runs a fill job in every fill window until ctx ends, and then
// returns ctx's error. At each window's start (at once if it is inside one)
// it loads the manifest with load and runs it until the window's end; a
// job cut off by the end is continued by the next window's run if load
// returns the same manifest then. If load fails, the job the runner's
// directory holds unfinished (if any) is continued instead, else the window
// is skipped; the failure is logged and kept as the Status. If a job
// started from outside (Run) is still running at a window's start, that
// window's run is skipped (ErrBusy, logged).
func (r *Runner) Schedule(ctx context.Context, w Window, load func(context.Context) (*Manifest, string, error)) error {
	for {
		start, end, err := w.Next(r.clock.Now())
		if err != nil {
			return fmt.Errorf("fill schedule: %w", err)
		}
		if err := r.sleepUntil(ctx, start); err != nil {
			return err
		}
		m, src, err := load(ctx)
		if err != nil {
			r.log.Error("fill: cannot load the manifest", "err", err)
			pm, psrc, perr := r.Pending()
			if perr != nil || pm == nil {
				r.mu.Lock()
				if !r.running {
					r.st = Status{State: StateFailed, Reason: "loading the manifest: " + err.Error(), EndedAt: r.clock.Now()}
				}
				r.mu.Unlock()
			}
			m, src = pm, psrc
		}
		if m != nil {
			if _, err := r.Run(ctx, m, src, end); err != nil {
				r.log.Error("fill: window's job did not run", "err", err)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Never twice in one window.
		if err := r.sleepUntil(ctx, end); err != nil {
			return err
		}
	}
}

// sleepUntil waits on the runner's clock until t or until ctx ends.
func (r *Runner) sleepUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(r.clock.Now())
	if d <= 0 {
		return nil
	}
	ch := make(chan struct{})
	stop := r.clock.AfterFunc(d, func() { close(ch) })
	defer stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
