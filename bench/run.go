package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Target is a server under test.
type Target struct {
	Name string // label in reports, unique within a run
	URL  string // scheme://host[:port]
}

// Config describes a workload run. Start from DefaultConfig.
type Config struct {
	// Targets are the servers under test; the first is the primary one,
	// the others are compared with it.
	Targets []Target
	// Origin is the origin's URL (scheme://host[:port]), optional. Its
	// /_stats counters are read around every measured phase, and with
	// OriginBytes == "fetch" the expected bytes come from it.
	Origin string

	Duration time.Duration // measured time, split into Rounds slices per target; > 0
	Requests int64         // cap on measured requests per target; 0 = none
	Warmup   time.Duration // unmeasured run per target before measuring
	Rounds   int           // interleaved rounds when comparing targets
	Players  int           // concurrent virtual players per target
	Timeout  time.Duration // per request, from sending to the last byte

	Titles      int     // catalog size
	TitleSize   int64   // bytes per title
	SegmentSize int64   // mean range length (each request varies it by ±50%)
	ObjectSize  int64   // PathsV: size of the origin's /v/ segment objects
	Paths       string  // PathsS or PathsV
	Zipf        float64 // popularity exponent
	SeekStart   float64 // probability of starting a title at a random offset
	Jump        float64 // per further request: probability of jumping to a random offset
	Abandon     float64 // per further request: probability of abandoning the title
	OpenEnded   float64 // per request: probability of a partially read "bytes=a-"
	Seed        uint64  // seed of every random choice

	VerifySample float64 // fraction of answers whose bytes are compared
	VerifyAll    bool    // compare every answer's bytes
	OriginBytes  string  // OriginBytesCompute or OriginBytesFetch

	// Progress receives one line per phase (warmup, rounds); nil is
	// silent.
	Progress io.Writer
}

// DefaultConfig returns the default workload (targets not set).
func DefaultConfig() Config {
	return Config{
		Duration:     30 * time.Second,
		Rounds:       3,
		Players:      16,
		Timeout:      60 * time.Second,
		Titles:       200,
		TitleSize:    64 << 20,
		SegmentSize:  2 << 20,
		ObjectSize:   1 << 20,
		Paths:        PathsS,
		Zipf:         0.9,
		SeekStart:    0.1,
		Jump:         0.05,
		Abandon:      0.02,
		OpenEnded:    0.02,
		Seed:         1,
		VerifySample: 0.05,
		OriginBytes:  OriginBytesCompute,
	}
}

// Report is the outcome of a run: one Result per target, in the order of
// Config.Targets, and each other target's ratios to the primary one.
type Report struct {
	Primary string    `json:"primary"`
	Rounds  int       `json:"rounds"`
	Results []*Result `json:"results"`
	// Ratios maps a compared target's name to metric → its value divided
	// by the primary's (null when either is unknown or the primary's is 0).
	Ratios      map[string]map[string]*float64 `json:"ratios"`
	Interrupted bool                           `json:"interrupted,omitempty"`
}

// Errors returns the number of errors over all targets.
func (r *Report) Errors() int64 {
	var n int64
	for _, res := range r.Results {
		n += res.Errors
	}
	return n
}

// checkCommon validates the fields Run and Replay share.
func checkCommon(verifySample float64, originBytes, originURL string, timeout time.Duration) error {
	if !(verifySample >= 0 && verifySample <= 1) {
		return fmt.Errorf("bench: verify sample %v: need 0..1", verifySample)
	}
	switch originBytes {
	case OriginBytesCompute:
	case OriginBytesFetch:
		if originURL == "" {
			return errors.New("bench: fetching the origin's bytes needs the origin URL")
		}
	default:
		return fmt.Errorf("bench: origin bytes %q: want %q or %q", originBytes, OriginBytesCompute, OriginBytesFetch)
	}
	if originURL != "" {
		if _, err := parseBase(originURL); err != nil {
			return err
		}
	}
	if timeout <= 0 {
		return fmt.Errorf("bench: timeout %v: need > 0", timeout)
	}
	return nil
}

// Check validates cfg; Run does it too.
func (cfg *Config) Check() error {
	if len(cfg.Targets) == 0 {
		return errors.New("bench: no target")
	}
	seen := map[string]bool{}
	for _, t := range cfg.Targets {
		if t.Name == "" {
			return fmt.Errorf("bench: target %s has no name", t.URL)
		}
		if seen[t.Name] {
			return fmt.Errorf("bench: two targets named %q", t.Name)
		}
		seen[t.Name] = true
		if _, err := parseBase(t.URL); err != nil {
			return err
		}
	}
	if cfg.Duration <= 0 {
		return fmt.Errorf("bench: duration %v: need > 0", cfg.Duration)
	}
	if cfg.Requests < 0 || cfg.Warmup < 0 {
		return errors.New("bench: requests and warmup cannot be negative")
	}
	if cfg.Rounds < 1 {
		return fmt.Errorf("bench: rounds %d: need at least 1", cfg.Rounds)
	}
	if cfg.Players < 1 {
		return fmt.Errorf("bench: players %d: need at least 1", cfg.Players)
	}
	if _, err := NewWorkload(*cfg); err != nil {
		return err
	}
	return checkCommon(cfg.VerifySample, cfg.OriginBytes, cfg.Origin, cfg.Timeout)
}

// newHTTPClient returns the net/http client used for the origin's /_stats
// and reference bytes.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableCompression:  true,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// newStatsReader returns a statsReader for originURL ("" gives nil).
func newStatsReader(hc *http.Client, originURL string) *statsReader {
	if originURL == "" {
		return nil
	}
	u, _ := parseBase(originURL) // checked
	return &statsReader{hc: hc, base: u.String()}
}

// newReference returns the source of expected bytes for one worker.
func newReference(mode string, hc *http.Client, originURL string) reference {
	if mode == OriginBytesFetch {
		u, _ := parseBase(originURL) // checked
		return newFetched(hc, u.String())
	}
	return computed{}
}

// slot is one virtual player bound to a target.
type slot struct {
	gen *Player
	smp *sampler
	w   *worker
}

// runTarget is the state of one target during a run.
type runTarget struct {
	Target
	c     *client
	slots []*slot
	rec   *recorder
}

// Run runs the workload against every target of cfg and reports. It stops
// after Duration (and Requests per target, if set), or early when ctx is
// cancelled: requests in flight are then cut off and the report, marked
// interrupted, covers what finished. An error means nothing could be
// measured (bad configuration).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	wl, err := NewWorkload(cfg)
	if err != nil {
		return nil, err
	}
	hc := newHTTPClient(cfg.Players + 4)
	defer hc.CloseIdleConnections()
	stats := newStatsReader(hc, cfg.Origin)

	targets := make([]*runTarget, len(cfg.Targets))
	for i, t := range cfg.Targets {
		c, err := newClient(ctx, t.URL, 2*cfg.Players+4, cfg.Timeout)
		if err != nil {
			return nil, err
		}
		defer c.close()
		stop := context.AfterFunc(ctx, c.interrupt)
		defer stop()
		rt := &runTarget{Target: t, c: c, rec: newRecorder()}
		for p := range cfg.Players {
			w := newWorker(c, newReference(cfg.OriginBytes, hc, cfg.Origin))
			defer w.release()
			rt.slots = append(rt.slots, &slot{
				gen: wl.Player(p),
				smp: newSampler(cfg.VerifyAll, cfg.VerifySample, cfg.Seed, uint64(p)),
				w:   w,
			})
		}
		targets[i] = rt
	}

	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "bench: "+format+"\n", args...)
		}
	}
	if cfg.Warmup > 0 {
		for _, t := range targets {
			progress("warming up %s (%s) for %v", t.Name, t.URL, cfg.Warmup)
			runPhase(ctx, t, cfg.Warmup, -1, nil)
		}
	}

	rounds := cfg.Rounds
	if len(targets) == 1 {
		rounds = 1
	}
	slice := cfg.Duration / time.Duration(rounds)
	shown := slice.Round(time.Millisecond)
rounds:
	for r := range rounds {
		limit := int64(-1) // no cap
		if cfg.Requests > 0 {
			limit = cfg.Requests / int64(rounds)
			if int64(r) < cfg.Requests%int64(rounds) {
				limit++
			}
			if limit == 0 {
				continue
			}
		}
		for j := range targets {
			if ctx.Err() != nil {
				break rounds
			}
			t := targets[(j+r)%len(targets)]
			if rounds > 1 {
				progress("round %d/%d: %s (%s) for %v", r+1, rounds, t.Name, t.URL, shown)
			} else {
				progress("measuring %s (%s) for %v", t.Name, t.URL, shown)
			}
			before, ok1, err1 := stats.read(ctx)
			elapsed := runPhase(ctx, t, slice, limit, t.rec)
			after, ok2, err2 := stats.read(context.WithoutCancel(ctx))
			t.rec.phase(elapsed, before, after, ok1 && ok2, errors.Join(err1, err2))
		}
	}

	rep := &Report{Primary: targets[0].Name, Rounds: rounds, Ratios: map[string]map[string]*float64{},
		Interrupted: ctx.Err() != nil}
	for _, t := range targets {
		res := t.rec.result(t.Name, t.URL)
		res.Interrupted = rep.Interrupted
		rep.Results = append(rep.Results, res)
	}
	for _, res := range rep.Results[1:] {
		rep.Ratios[res.Name] = ratios(res, rep.Results[0])
	}
	return rep, nil
}

// runPhase runs t's players until dur has passed, limit requests have been
// started (limit < 0: no cap) or ctx ends, recording into rec (nil: not
// measured). Requests in flight at the deadline finish and count; the
// returned time runs until the last one finished.
func runPhase(ctx context.Context, t *runTarget, dur time.Duration, limit int64, rec *recorder) time.Duration {
	start := time.Now()
	deadline := start.Add(dur)
	var left atomic.Int64
	left.Store(limit)
	var wg sync.WaitGroup
	for _, s := range t.slots {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if limit >= 0 && left.Add(-1) < 0 {
					return
				}
				rq := s.gen.Next()
				o := s.w.do(ctx, rq, s.smp.next())
				if o.cancelled {
					return
				}
				if rec != nil {
					rec.add(o)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// ratioMetrics are the metrics compared between targets.
var ratioMetrics = []struct {
	key string
	get func(*Result) *float64
}{
	{"requests_per_s", func(r *Result) *float64 { return &r.RequestsPerS }},
	{"gbit_per_s", func(r *Result) *float64 { return &r.GbitPerS }},
	{"ttfb_ms.p50", func(r *Result) *float64 { return &r.TTFB.P50 }},
	{"ttfb_ms.p99", func(r *Result) *float64 { return &r.TTFB.P99 }},
	{"ttfb_ms.p999", func(r *Result) *float64 { return &r.TTFB.P999 }},
	{"ttfb_ms.max", func(r *Result) *float64 { return &r.TTFB.Max }},
	{"latency_ms.p50", func(r *Result) *float64 { return &r.Latency.P50 }},
	{"latency_ms.p99", func(r *Result) *float64 { return &r.Latency.P99 }},
	{"latency_ms.p999", func(r *Result) *float64 { return &r.Latency.P999 }},
	{"latency_ms.max", func(r *Result) *float64 { return &r.Latency.Max }},
	{"hit_ratio", func(r *Result) *float64 { return r.HitRatio }},
	{"origin_requests", func(r *Result) *float64 { return intPtrFloat(r.OriginRequests) }},
	{"origin_bytes", func(r *Result) *float64 { return intPtrFloat(r.OriginBytes) }},
}

func intPtrFloat(p *int64) *float64 {
	if p == nil {
		return nil
	}
	return ptr(float64(*p))
}

// ratios returns res's metrics divided by base's.
func ratios(res, base *Result) map[string]*float64 {
	m := make(map[string]*float64, len(ratioMetrics))
	for _, rm := range ratioMetrics {
		m[rm.key] = ratio(rm.get(res), rm.get(base))
	}
	return m
}

func ratio(a, b *float64) *float64 {
	if a == nil || b == nil || *b == 0 {
		return nil
	}
	return ptr(*a / *b)
}
