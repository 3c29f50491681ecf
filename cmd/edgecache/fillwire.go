package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"edgecache/admin"
	"edgecache/cache"
	"edgecache/config"
	"edgecache/fill"
	"edgecache/server"
)

// fillWire is the daemon's fill runner and what drives it: the job left
// unfinished by the last run of the daemon (continued at start), the daily
// window (fill.window), and jobs started through the admin listener. It
// implements admin.FillControl.
type fillWire struct {
	cfg    config.Fill
	runner *fill.Runner
	load   fill.LoadOptions
	window *fill.Window // nil: no built-in window
	dir    string       // fill.state_dir, or its default
	log    *slog.Logger

	ctx    context.Context // of every job; cancelled by stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // the goroutines running or awaiting jobs

	mu       sync.Mutex
	starting bool        // a StartFill is loading its manifest
	stopped  bool        // stop was called: no more jobs
	last     fill.Status // the newest report found at start, shown while idle
}

// newFillWire returns the daemon's fill wiring over store, or nil if cfg
// does not fill (neither fill.manifest nor fill.state_dir is set). Manifest
// paths must be cache keys as the content listener normalizes them (topt).
// Jobs run until stop.
func newFillWire(ctx context.Context, cfg *config.Config, store *cache.Store, topt server.TargetOptions, log *slog.Logger) (*fillWire, error) {
	if !cfg.FillEnabled() {
		return nil, nil
	}
	fc := cfg.Fill
	w := &fillWire{cfg: fc, log: log}
	if fc.PublicKey != "" {
		key, err := fill.ParsePublicKey(fc.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("fill.public_key: %w", err)
		}
		w.load.PublicKey = key
	}
	w.load.Parse.Normalize = func(p string) (string, error) { return server.NormalizeTarget(p, topt) }
	if fc.Window != "" {
		win, err := fill.ParseWindow(fc.Window, fc.Timezone)
		if err != nil {
			return nil, fmt.Errorf("fill.window: %w", err)
		}
		w.window = &win
	}
	dir := cfg.FillStateDir()
	w.dir = dir
	var err error
	w.runner, err = fill.NewRunner(fill.Options{
		// Each file fetches one chunk at a time: as many slots as files.
		Cache:       store.NewFiller(cache.FillerOptions{Slots: fc.Concurrency}),
		Dir:         dir,
		Rate:        int64(fc.Rate),
		Concurrency: fc.Concurrency,
		Reports:     fc.Reports,
		Logger:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("fill.state_dir %s: %w", dir, err)
	}
	// The reports carry what the last run of the daemon did: the last job
	// shown while idle, and the last completion time for its metric.
	reports, err := w.runner.Reports()
	if err != nil {
		log.Warn("fill: cannot read the job reports", "dir", dir, "err", err)
	}
	if len(reports) > 0 {
		w.last = reports[0]
	}
	for _, r := range reports {
		if r.State == fill.StateCompleted {
			w.runner.Counters().LastCompletion.Store(r.EndedAt.Unix())
			break
		}
	}
	w.ctx, w.cancel = context.WithCancel(ctx)
	return w, nil
}

// control returns w as the admin listener's FillControl; nil (an interface
// holding nothing) if w is nil.
func (w *fillWire) control() admin.FillControl {
	if w == nil {
		return nil
	}
	return w
}

// start continues the job the last run of the daemon left unfinished and
// runs the daily window: with a window, the window's run continues it (at
// once if the daemon starts inside a window, with the configured manifest,
// or with the unfinished job's own if the manifest cannot be loaded);
// without one, it is continued now, without a deadline.
func (w *fillWire) start() {
	if w == nil {
		return
	}
	w.log.Info("fill ready", "manifest", w.cfg.Manifest, "window", w.cfg.String(), "state_dir", w.dir,
		"rate", w.cfg.Rate.String(), "concurrency", w.cfg.Concurrency)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if w.window != nil {
		w.wg.Go(func() {
			err := w.runner.Schedule(w.ctx, *w.window, func(ctx context.Context) (*fill.Manifest, string, error) {
				m, err := fill.Load(ctx, w.cfg.Manifest, w.load)
				return m, w.cfg.Manifest, err
			})
			// Schedule returns only when it stops: ctx's end, or a window
			// it cannot compute.
			if !errors.Is(err, context.Canceled) {
				w.log.Error("fill: the window schedule stopped", "err", err)
			}
		})
		return
	}
	w.wg.Go(func() {
		st, ok, err := w.runner.ResumePending(w.ctx, time.Time{})
		switch {
		case errors.Is(err, fill.ErrBusy):
			w.log.Info("fill: the unfinished job was not continued: another job started first")
		case err != nil:
			w.log.Error("fill: cannot continue the unfinished job", "err", err)
		case ok:
			w.log.Info("fill: unfinished job continued", "id", st.ID, "state", st.State)
		}
	})
}

// stop cancels the job running (it ends cancelled, its state kept to be
// continued) and waits for it to end. Call it before the store is closed,
// so that files in progress are not reported as failed.
func (w *fillWire) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
}

// StartFill implements admin.FillControl.
func (w *fillWire) StartFill(ctx context.Context, src string, limit time.Duration) (fill.Status, error) {
	w.mu.Lock()
	busy := w.starting || w.runner.Status().State == fill.StateRunning
	if !busy {
		w.starting = true
	}
	w.mu.Unlock()
	if busy {
		return fill.Status{}, fill.ErrBusy
	}
	defer func() {
		w.mu.Lock()
		w.starting = false
		w.mu.Unlock()
	}()
	if src == "" {
		src = w.cfg.Manifest
	}
	if src == "" {
		return fill.Status{}, admin.ErrNoManifest
	}
	m, err := fill.Load(ctx, src, w.load)
	if err != nil {
		return fill.Status{}, err
	}
	var until time.Time
	if limit > 0 {
		until = time.Now().Add(limit)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return fill.Status{}, errors.New("the daemon is stopping")
	}
	first, done, err := w.runner.Start(w.ctx, m, src, until)
	if err != nil {
		return fill.Status{}, err
	}
	w.wg.Go(func() {
		for range done {
		}
	})
	return first, nil
}

// FillStatus implements admin.FillControl.
func (w *fillWire) FillStatus() fill.Status {
	st := w.runner.Status()
	if st.State == fill.StateIdle {
		w.mu.Lock()
		if w.last.ID != "" {
			st = w.last
		}
		w.mu.Unlock()
	}
	return st
}

// FillCounters implements admin.FillControl.
func (w *fillWire) FillCounters() *fill.Counters { return w.runner.Counters() }
