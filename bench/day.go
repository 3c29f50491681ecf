package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"edgecache/popularity"
)

// Fill variants of a simulated day.
const (
	VariantOff     = "off"     // no fill: the cache fills on misses only
	VariantNightly = "nightly" // the manifest built from the previous day's access log
	VariantOracle  = "oracle"  // the manifest built from the same day's views: the upper bound
)

// DayCurve returns the share of the peak's players active in each hour of
// the day (0 to 23): quiet at night, rising through the day, a peak in the
// evening at 21:00.
func DayCurve() [24]float64 {
	return [24]float64{0.45, 0.3, 0.2, 0.15, 0.12, 0.12, 0.15, 0.2, 0.25, 0.3, 0.33, 0.36,
		0.4, 0.42, 0.42, 0.45, 0.5, 0.6, 0.7, 0.85, 0.95, 1.0, 0.85, 0.65}
}

// DayConfig describes a simulated day. Start from DefaultDayConfig.
type DayConfig struct {
	Titles      int     // the catalogue, the releases of both days included
	Releases    int     // titles released each day (day 0 and day 1)
	TitleSize   int64   // bytes per title
	ObjectSize  int64   // bytes per /v/<title>/<seg>.m4s object
	SegmentSize int64   // mean range length of a request (±50%)
	Zipf        float64 // exponent of the popularity law, over titles in heat order
	// Churn is the share of each day's views that go to the titles released
	// that day: titles nobody watched the day before.
	Churn float64
	// Decay multiplies a title's heat from one day to the next (with a
	// random factor around 1): old titles fade, new releases enter high.
	Decay float64
	// Players is the number of players at the peak hour; each hour has
	// Players × the hour's curve value (at least 1).
	Players int
	// Requests is the number of requests each active player makes in a
	// simulated hour. Time is compressed: an hour lasts as long as its
	// requests take, so the day's traffic and the cache's view of it do not
	// depend on the machine's speed.
	Requests  int
	SeekStart float64 // see Config
	Jump      float64
	Abandon   float64
	OpenEnded float64
	Seed      uint64
	Timeout   time.Duration // per request
	// FillBudget is the budget of the manifests (bytes); required for the
	// fill variants.
	FillBudget int64
	// KnownReleases gives the nightly manifest's build the next day's
	// releases (a CDN knows tomorrow's new titles): each with its files and
	// the views the simulation expects of it (see catalogue.releases).
	KnownReleases bool
	// Variants to run, in order; the oracle needs "off" first (its manifest
	// comes from that run's day). Default all three.
	Variants []string
	// Progress receives a line per phase; nil is silent.
	Progress io.Writer
}

// DefaultDayConfig returns a small default day; the command sets the
// catalogue and the cache to scale.
func DefaultDayConfig() DayConfig {
	return DayConfig{Titles: 400, Releases: 8, TitleSize: 64 << 20, ObjectSize: 2 << 20, SegmentSize: 1 << 20,
		Zipf: 1.0, Churn: 0.1, Decay: 0.8, Players: 32, Requests: 8,
		SeekStart: 0.1, Jump: 0.05, Abandon: 0.03, OpenEnded: 0.02, Seed: 1, Timeout: 60 * time.Second,
		KnownReleases: true, Variants: []string{VariantOff, VariantNightly, VariantOracle}}
}

// DayDaemon is the cache under test for one variant: it starts with an
// empty cache.
type DayDaemon interface {
	// URL is the content listener's base URL.
	URL() string
	// OriginURL is the synthetic origin's base URL (its /_stats counters
	// measure what the cache asked of it).
	OriginURL() string
	// RotateLog closes the current access log file, starts a new one and
	// returns the closed file's name.
	RotateLog() (string, error)
	// Fill fills the cache from manifest (fill format) and reports.
	Fill(ctx context.Context, manifest []byte) (FillOutcome, error)
	// Close stops the daemon and removes what it kept.
	Close() error
}

// FillOutcome is what a night's fill did.
type FillOutcome struct {
	State       string  `json:"state"`
	Files       int     `json:"files"`        // files in the manifest
	FilesFilled int     `json:"files_filled"` // fetched
	Bytes       int64   `json:"bytes"`        // bytes the fill fetched (its own count)
	OriginBytes int64   `json:"origin_bytes"` // what the origin served meanwhile
	DurationS   float64 `json:"duration_s"`   // wall time
	Errors      int     `json:"errors"`
}

// DayHour is one simulated hour (or the whole day) of a run.
type DayHour struct {
	Hour        int     `json:"hour"` // 0..23; -1 for the day
	Players     int     `json:"players"`
	Requests    int64   `json:"requests"`
	Bytes       int64   `json:"bytes"`        // body bytes served to players
	OriginBytes int64   `json:"origin_bytes"` // body bytes the origin served the cache meanwhile
	Offload     float64 `json:"offload"`      // 1 - OriginBytes/Bytes: the byte hit ratio
	TTFBP50     float64 `json:"ttfb_ms_p50"`
	TTFBP99     float64 `json:"ttfb_ms_p99"`
	Errors      int64   `json:"errors"`
	Verified    int64   `json:"verified"` // answers whose every byte was compared with the origin's
	WallS       float64 `json:"wall_s"`
}

// DayRun is one variant's measured day.
type DayRun struct {
	Variant string    `json:"variant"`
	Hours   []DayHour `json:"hours"`
	Day     DayHour   `json:"day"`
	// Peak is the hour with the most bytes served.
	Peak     DayHour            `json:"peak"`
	Fill     *FillOutcome       `json:"fill,omitempty"`
	Manifest *popularity.Result `json:"manifest,omitempty"`
	// Warmup is the previous day (unmeasured for the comparison; its log
	// makes the nightly manifest).
	Warmup      DayHour  `json:"warmup"`
	FirstErrors []string `json:"first_errors"`
}

// DayReport is the outcome of RunDay.
type DayReport struct {
	Titles         int      `json:"titles"`
	CatalogueBytes int64    `json:"catalogue_bytes"`
	FillBudget     int64    `json:"fill_budget"`
	CacheBytes     int64    `json:"cache_bytes,omitempty"` // set by the caller
	Churn          float64  `json:"churn"`
	Zipf           float64  `json:"zipf"`
	Runs           []DayRun `json:"runs"`
	// Bound is the offline bound of a cache that fills on misses
	// (ComputeDayBound), set by the caller.
	Bound       *DayBound `json:"bound,omitempty"`
	Interrupted bool      `json:"interrupted,omitempty"`
}

// Errors returns the errors of every run.
func (r *DayReport) Errors() int64 {
	var n int64
	for _, run := range r.Runs {
		n += run.Day.Errors + run.Warmup.Errors
	}
	return n
}

// Check validates cfg.
func (cfg *DayConfig) Check() error {
	switch {
	case cfg.Titles < 2 || cfg.Releases < 0 || 2*cfg.Releases >= cfg.Titles:
		return fmt.Errorf("bench day: %d titles, %d releases a day: need titles > 2 × releases", cfg.Titles, cfg.Releases)
	case !(cfg.Churn >= 0 && cfg.Churn < 1) || (cfg.Churn > 0 && cfg.Releases == 0):
		return fmt.Errorf("bench day: churn %v: need 0 <= churn < 1, and releases for a churn > 0", cfg.Churn)
	case !(cfg.Decay > 0 && cfg.Decay <= 1):
		return fmt.Errorf("bench day: decay %v: need 0 < decay <= 1", cfg.Decay)
	case cfg.Players < 1 || cfg.Requests < 1:
		return errors.New("bench day: players and requests must be at least 1")
	case cfg.Timeout <= 0:
		return errors.New("bench day: the timeout must be > 0")
	}
	for _, v := range cfg.Variants {
		switch v {
		case VariantOff:
		case VariantNightly, VariantOracle:
			if cfg.FillBudget <= 0 {
				return fmt.Errorf("bench day: variant %s needs a fill budget", v)
			}
			if v == VariantOracle && !slices.Contains(cfg.Variants, VariantOff) {
				return errors.New("bench day: the oracle variant needs the off variant (its manifest comes from that day's log)")
			}
		default:
			return fmt.Errorf("bench day: variant %q: want %s, %s or %s", v, VariantOff, VariantNightly, VariantOracle)
		}
	}
	_, err := NewWorkload(cfg.workloadConfig())
	return err
}

func (cfg *DayConfig) workloadConfig() Config {
	c := DefaultConfig()
	c.Titles, c.TitleSize, c.SegmentSize, c.ObjectSize, c.Paths = cfg.Titles, cfg.TitleSize, cfg.SegmentSize, cfg.ObjectSize, PathsV
	c.Zipf, c.SeekStart, c.Jump, c.Abandon, c.OpenEnded, c.Seed = cfg.Zipf, cfg.SeekStart, cfg.Jump, cfg.Abandon, cfg.OpenEnded, cfg.Seed
	return c
}

// catalogue is the titles' popularity, day by day.
type catalogue struct {
	cfg   *DayConfig
	heat  []float64 // by title (index title-1); 0: not released yet
	order []int     // released titles before today, hottest first
	fresh []int     // today's releases
	zOld  *Zipf
	zNew  *Zipf
}

// newCatalogue returns day 0's catalogue: the titles but the last two
// days' releases are out, with heats from a Zipf law in random order.
func newCatalogue(cfg *DayConfig) *catalogue {
	c := &catalogue{cfg: cfg, heat: make([]float64, cfg.Titles)}
	r := rand.New(rand.NewPCG(cfg.Seed, 0xca7))
	old := cfg.Titles - 2*cfg.Releases
	for i, k := range r.Perm(old) {
		c.heat[i] = math.Pow(float64(k+1), -cfg.Zipf)
	}
	c.plan(0)
	return c
}

// plan sets up day d's draws: the titles released before it by heat, and
// its releases.
func (c *catalogue) plan(d int) {
	old := c.cfg.Titles - 2*c.cfg.Releases + d*c.cfg.Releases
	c.order = c.order[:0]
	for t := 1; t <= old; t++ {
		c.order = append(c.order, t)
	}
	slices.SortStableFunc(c.order, func(a, b int) int { return cmp.Compare(c.heat[b-1], c.heat[a-1]) })
	c.fresh = c.fresh[:0]
	for t := old + 1; t <= old+c.cfg.Releases; t++ {
		c.fresh = append(c.fresh, t)
	}
	c.zOld, _ = NewZipf(len(c.order), c.cfg.Zipf)
	if len(c.fresh) > 0 {
		c.zNew, _ = NewZipf(len(c.fresh), c.cfg.Zipf)
	}
}

// next moves to the following day: heats decay with noise, and yesterday's
// releases get the heat of the top ranks (the first release the hottest).
func (c *catalogue) next(d int) {
	r := rand.New(rand.NewPCG(c.cfg.Seed, uint64(0xda7+d)))
	top := 0.0
	for _, t := range c.order {
		c.heat[t-1] *= c.cfg.Decay * math.Exp(0.5*r.NormFloat64())
		top = max(top, c.heat[t-1])
	}
	for i, t := range c.fresh {
		c.heat[t-1] = 2 * top * math.Pow(float64(i+1), -c.cfg.Zipf)
	}
	c.plan(d + 1)
}

// releases returns the current day's releases, as a CDN knows them the
// night before: every file of each, and the views expected of it, the
// day's views (dayBytes, yesterday's, in whole titles of wl) times the
// share going to releases (Churn) times the release's share of those
// (its Zipf probability among the day's releases).
func (c *catalogue) releases(wl *Workload, dayBytes int64) []popularity.Release {
	if len(c.fresh) == 0 || wl.objectSize <= 0 {
		return nil
	}
	views := float64(dayBytes) / float64(wl.titleLen) * c.cfg.Churn
	segs := wl.titleLen / wl.objectSize
	out := make([]popularity.Release, 0, len(c.fresh))
	for i, t := range c.fresh {
		id := "bench-t" + strconv.Itoa(t)
		rel := popularity.Release{Key: id, Views: views * c.zNew.Prob(i+1)}
		for seg := range segs {
			rel.Paths = append(rel.Paths, "/v/"+id+"/"+strconv.FormatInt(seg, 10)+".m4s")
		}
		if rel.Views > 0 {
			out = append(out, rel)
		}
	}
	return out
}

// pick draws a title of the current day.
func (c *catalogue) pick(r *rand.Rand) int {
	if len(c.fresh) > 0 && r.Float64() < c.cfg.Churn {
		return c.fresh[c.zNew.Sample(r)-1]
	}
	return c.order[c.zOld.Sample(r)-1]
}

// dayRunner runs simulated days against one daemon.
type dayRunner struct {
	cfg   *DayConfig
	wl    *Workload
	d     DayDaemon
	c     *client
	hc    *http.Client
	stats *statsReader
	errs  []string
}

// hourRec accumulates one hour.
type hourRec struct {
	mu      sync.Mutex
	ttfb    *hdrhistogram.Histogram
	h       DayHour
	errSeen []string
}

func (h *hourRec) add(o outcome) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.h.Requests++
	h.h.Bytes += o.bytes
	if o.verified {
		h.h.Verified++
	}
	if o.err != nil {
		h.h.Errors++
		if len(h.errSeen) < maxFirstErr {
			h.errSeen = append(h.errSeen, o.err.Error())
		}
		return
	}
	record(h.ttfb, o.ttfb)
}

func (h *hourRec) result() DayHour {
	out := h.h
	q := quantiles(h.ttfb)
	out.TTFBP50, out.TTFBP99 = q.P50, q.P99
	if out.Bytes > 0 {
		out.Offload = 1 - float64(out.OriginBytes)/float64(out.Bytes)
	}
	return out
}

// runDay runs simulated day d (its catalogue set) and returns its hours and
// the day's totals.
func (dr *dayRunner) runDay(ctx context.Context, day int, cat *catalogue) ([]DayHour, DayHour, error) {
	cfg := dr.cfg
	players := make([]*slot, cfg.Players)
	for i := range players {
		players[i] = &slot{gen: dr.wl.PlayerPicking(day*cfg.Players+i, cat.pick), w: newWorker(dr.c, computed{})}
	}
	defer func() {
		for _, p := range players {
			p.w.release()
		}
	}()
	dayRec := &hourRec{ttfb: newHist(), h: DayHour{Hour: -1}}
	curve := DayCurve()
	var hours []DayHour
	for hour := range 24 {
		if err := ctx.Err(); err != nil {
			return hours, dayRec.result(), err
		}
		n := max(1, int(math.Round(float64(cfg.Players)*curve[hour])))
		rec := &hourRec{ttfb: newHist(), h: DayHour{Hour: hour, Players: n}}
		before, ok1, err1 := dr.stats.read(ctx)
		start := time.Now()
		var wg sync.WaitGroup
		for _, p := range players[:n] {
			wg.Go(func() {
				for range cfg.Requests {
					o := p.w.do(ctx, p.gen.Next(), true)
					if o.cancelled {
						return
					}
					rec.add(o)
					dayRec.add(o)
				}
			})
		}
		wg.Wait()
		rec.h.WallS = time.Since(start).Seconds()
		after, ok2, err2 := dr.stats.read(context.WithoutCancel(ctx))
		if !ok1 || !ok2 {
			return hours, dayRec.result(), fmt.Errorf("bench day: origin counters: %w", errors.Join(err1, err2))
		}
		rec.h.OriginBytes = after.Bytes - before.Bytes
		dayRec.h.OriginBytes += rec.h.OriginBytes
		dayRec.h.WallS += rec.h.WallS
		dayRec.h.Players = max(dayRec.h.Players, n)
		for _, e := range rec.errSeen {
			if len(dr.errs) < maxFirstErr {
				dr.errs = append(dr.errs, e)
			}
		}
		hours = append(hours, rec.result())
	}
	return hours, dayRec.result(), nil
}

// RunDay runs the simulated day once per variant of cfg, each against a
// fresh daemon from start: day 0 (yesterday, its access log kept), the
// night (the variant's fill), then day 1, measured hour by hour. Every
// byte served is compared with the synthetic origin's. The request
// sequence of each day is the same in every variant (players and titles
// come from cfg.Seed), so the variants differ only by what the cache held.
func RunDay(ctx context.Context, cfg DayConfig, start func(ctx context.Context, variant string) (DayDaemon, error)) (*DayReport, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	wl, progress, rep, err := prepareDay(&cfg)
	if err != nil {
		return nil, err
	}
	var yesterdayLog, todayLog string // from the first run: the same views in every run
	manifests := map[string]*popularity.Result{}
	for _, variant := range cfg.Variants {
		run, logs, err := runVariant(ctx, &cfg, wl, variant, start, yesterdayLog, todayLog, manifests, progress)
		if logs[0] != "" && yesterdayLog == "" {
			yesterdayLog, todayLog = logs[0], logs[1]
		}
		if run != nil {
			rep.Runs = append(rep.Runs, *run)
		}
		if err != nil {
			rep.Interrupted = ctx.Err() != nil
			return rep, err
		}
	}
	return rep, nil
}

// runVariant runs one variant; logs are its two days' access logs.
func runVariant(ctx context.Context, cfg *DayConfig, wl *Workload, variant string,
	start func(context.Context, string) (DayDaemon, error), yesterdayLog, todayLog string,
	manifests map[string]*popularity.Result, progress func(string, ...any)) (run *DayRun, logs [2]string, err error) {
	d, err := start(ctx, variant)
	if err != nil {
		return nil, logs, fmt.Errorf("bench day: starting the %s daemon: %w", variant, err)
	}
	defer func() {
		if cerr := d.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("bench day: closing the %s daemon: %w", variant, cerr)
		}
	}()
	c, err := newClient(ctx, d.URL(), 2*cfg.Players+4, cfg.Timeout)
	if err != nil {
		return nil, logs, err
	}
	defer c.close()
	stop := context.AfterFunc(ctx, c.interrupt)
	defer stop()
	hc := newHTTPClient(16)
	defer hc.CloseIdleConnections()
	dr := &dayRunner{cfg: cfg, wl: wl, d: d, c: c, hc: hc, stats: newStatsReader(hc, d.OriginURL())}
	run = &DayRun{Variant: variant, FirstErrors: []string{}}

	cat := newCatalogue(cfg)
	progress("%s: day 0 (yesterday)", variant)
	_, run.Warmup, err = dr.runDay(ctx, 0, cat)
	if err != nil {
		return run, logs, err
	}
	if logs[0], err = d.RotateLog(); err != nil {
		return run, logs, fmt.Errorf("bench day: rotating the access log: %w", err)
	}
	cat.next(0)

	// The night.
	var src string
	var rels []popularity.Release
	switch variant {
	case VariantNightly:
		src = cmp.Or(yesterdayLog, logs[0])
		if cfg.KnownReleases {
			rels = cat.releases(wl, run.Warmup.Bytes)
		}
	case VariantOracle:
		src = todayLog
	}
	if src != "" {
		m := manifests[variant]
		if m == nil {
			progress("%s: building the manifest from %s", variant, src)
			if m, err = buildManifest(ctx, cfg, hc, d.OriginURL(), src, rels); err != nil {
				return run, logs, err
			}
			manifests[variant] = m
		}
		run.Manifest = m
		progress("%s: night: filling %d titles, %d files, %d bytes", variant, m.Titles, m.Files, m.Bytes)
		before, ok1, err1 := dr.stats.read(ctx)
		fo, err := d.Fill(ctx, m.Manifest)
		if err != nil {
			return run, logs, fmt.Errorf("bench day: fill: %w", err)
		}
		after, ok2, err2 := dr.stats.read(context.WithoutCancel(ctx))
		if !ok1 || !ok2 {
			return run, logs, fmt.Errorf("bench day: origin counters: %w", errors.Join(err1, err2))
		}
		fo.OriginBytes = after.Bytes - before.Bytes
		run.Fill = &fo
	}

	progress("%s: day 1 (measured)", variant)
	run.Hours, run.Day, err = dr.runDay(ctx, 1, cat)
	run.FirstErrors = append(run.FirstErrors, dr.errs...)
	if err != nil {
		return run, logs, err
	}
	if logs[1], err = d.RotateLog(); err != nil {
		return run, logs, fmt.Errorf("bench day: rotating the access log: %w", err)
	}
	for _, h := range run.Hours {
		if h.Bytes > run.Peak.Bytes {
			run.Peak = h
		}
	}
	progress("%s: day offload %.1f%%, peak hour %02d offload %.1f%%", variant, 100*run.Day.Offload, run.Peak.Hour, 100*run.Peak.Offload)
	return run, logs, nil
}

// buildManifest builds a manifest from one day's access log and the
// releases known in advance.
func buildManifest(ctx context.Context, cfg *DayConfig, hc *http.Client, originURL, logFile string, rels []popularity.Release) (*popularity.Result, error) {
	a := popularity.NewAggregate()
	if err := a.ReadFile(ctx, logFile); err != nil {
		return nil, fmt.Errorf("bench day: %w", err)
	}
	res, err := popularity.Build(ctx, a, popularity.BuildOptions{
		Weighting: popularity.Weighting{Days: 2, HalfLife: -1}, // one simulated day, whatever the wall clock says
		Budget:    cfg.FillBudget,
		Objects:   &popularity.HTTPObjects{Base: originURL, Client: hc, Header: http.Header{noCountHeader: {"1"}}},
		Releases:  rels,
	})
	if err != nil {
		return nil, fmt.Errorf("bench day: %w", err)
	}
	return res, nil
}

// prepareDay returns what every run of cfg's day shares: the workload, the
// progress printer and the report with the day's settings filled in.
func prepareDay(cfg *DayConfig) (*Workload, func(format string, args ...any), *DayReport, error) {
	wl, err := NewWorkload(cfg.workloadConfig())
	if err != nil {
		return nil, nil, nil, err
	}
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "bench day: "+format+"\n", args...)
		}
	}
	rep := &DayReport{Titles: cfg.Titles, CatalogueBytes: int64(cfg.Titles) * wl.titleLen, FillBudget: cfg.FillBudget,
		Churn: cfg.Churn, Zipf: cfg.Zipf}
	return wl, progress, rep, nil
}
