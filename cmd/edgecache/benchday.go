package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"edgecache/bench"
	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/config"
	"edgecache/fill"
	"edgecache/origin"
	"edgecache/server"
)

const benchDayUsage = `usage: edgecache bench day [--titles N] [--cache SIZE] [--json] [--svg FILE] [flags]

A simulated day of video players against an edgecache this command starts
in-process (a disk tier in a temporary directory, the synthetic origin on
127.0.0.1), in compressed time: yesterday (day 0, its access log kept), the
night (a fill), then today (day 1), measured per simulated hour. It runs once
per variant: "off" (no fill: the cache fills on misses only), "nightly" (the
manifest built from yesterday's access log by "edgecache manifest build"'s
ranking) and "oracle" (the manifest built from today's own views: the upper
bound). The requests are the same in every variant. Every byte served is
compared with the origin's. Offload is 1 - origin bytes / bytes served.
With --target, the day runs instead against a daemon already running
("edgecache serve", its cache empty, fetching from "edgecache origin"), one
variant per run (--variant): its admin listener (--admin) is asked for its
state and runs the fill, the synthetic origin's counters (--origin) measure
the origin bytes, and the nightly manifest is built from the daemon's access
log (--access-log). The oracle variant needs day 1's log of an off run with
the same flags (--keep-logs DIR, then --oracle-log DIR/off-day1.log).
Exit status: 0 on a clean run, 1 if there were errors, 2 on bad flags.

flags:
`

// dayDaemon is an in-process edgecache with the synthetic origin, for one
// variant of bench day.
type dayDaemon struct {
	dir       string
	originURL string
	url       string
	store     *cache.Store
	ds        *disk.Store
	up        interface{ Close() }
	srv       *server.Server
	alog      *server.AccessLog
	logName   string
	logN      int
	runner    *fill.Runner
	cancel    context.CancelFunc
	originErr chan error
	srvErr    chan error
	log       *slog.Logger
}

// dayChunkSize is the chunk size of the day's daemons: cache.Options'
// default, which they keep.
const dayChunkSize = cache.DefaultChunkSize

// dayDaemonOptions size the in-process daemon.
type dayDaemonOptions struct {
	dir        string // parent of the daemon's directory, and where its access logs stay
	cacheBytes int64  // disk tier budget
	memBytes   int64  // memory tier budget
	objectSize int64  // the synthetic origin's /v/ object size
	policy     string // eviction policy of both tiers
	secondMiss bool   // disk.Options.SecondMiss (cache.disk_second_miss)
	log        *slog.Logger
}

// startDayDaemon starts a synthetic origin and an edgecache (memory and
// disk tier, access log) in front of it, on kernel-chosen loopback ports.
func startDayDaemon(ctx context.Context, opt dayDaemonOptions, variant string) (_ *dayDaemon, err error) {
	dir, err := os.MkdirTemp(opt.dir, variant+"-")
	if err != nil {
		return nil, fmt.Errorf("daemon directory: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	d := &dayDaemon{dir: dir, cancel: cancel, log: opt.log, originErr: make(chan error, 1), srvErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	syn := origin.NewSynthetic(origin.SyntheticOptions{DefaultSize: opt.objectSize})
	ready := make(chan string, 1)
	go func() { d.originErr <- runOrigin(ctx, "127.0.0.1:0", syn, opt.log, ready) }()
	select {
	case addr := <-ready:
		d.originURL = "http://" + addr
	case err := <-d.originErr:
		return nil, fmt.Errorf("synthetic origin: %w", err)
	}
	cfg := config.Default()
	cfg.Origin.URL = d.originURL
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	up, _, err := newUpstreams(cfg, opt.log)
	if err != nil {
		return nil, fmt.Errorf("upstreams: %w", err)
	}
	d.up = up
	diskDir := filepath.Join(dir, "disk")
	if err := os.Mkdir(diskDir, 0o755); err != nil {
		return nil, fmt.Errorf("disk directory: %w", err)
	}
	if d.ds, err = disk.Open(disk.Options{Dirs: []disk.Dir{{Path: diskDir, Size: opt.cacheBytes}},
		StateFile: filepath.Join(dir, "disks.state"), ScrubRate: -1, Policy: opt.policy, SecondMiss: opt.secondMiss,
		MinCharge: dayChunkSize / 4, Logger: opt.log}); err != nil {
		return nil, fmt.Errorf("disk tier: %w", err)
	}
	if d.store, err = cache.New(origin.NewMetered(up), cache.Options{Memory: opt.memBytes, Disk: d.ds, Policy: opt.policy, Logger: opt.log}); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	// The logs outlive the daemon: the next variants build their manifests
	// from this one's.
	d.logName = filepath.Join(opt.dir, variant+"-access.log")
	if d.alog, err = server.OpenAccessLog(d.logName+".0", 1<<16); err != nil {
		return nil, err
	}
	if d.runner, err = fill.NewRunner(fill.Options{Cache: d.store.NewFiller(cache.FillerOptions{}), Dir: filepath.Join(dir, "fill"), Logger: opt.log}); err != nil {
		return nil, err
	}
	d.srv = server.New(d.store, server.Options{AccessLog: d.alog, Logger: opt.log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	d.url = "http://" + ln.Addr().String()
	go func() { d.srvErr <- d.srv.Serve(ln) }()
	return d, nil
}

func (d *dayDaemon) URL() string       { return d.url }
func (d *dayDaemon) OriginURL() string { return d.originURL }

// RotateLog implements bench.DayDaemon.
func (d *dayDaemon) RotateLog() (string, error) {
	closed := fmt.Sprintf("%s.%d", d.logName, d.logN)
	d.logN++
	if err := d.alog.Reopen(fmt.Sprintf("%s.%d", d.logName, d.logN)); err != nil {
		return "", fmt.Errorf("access log: %w", err)
	}
	if n := d.alog.Dropped(); n > 0 {
		return "", fmt.Errorf("access log: %d lines dropped", n)
	}
	return closed, nil
}

// Fill implements bench.DayDaemon with a fill.Runner over the Store.
func (d *dayDaemon) Fill(ctx context.Context, manifest []byte) (bench.FillOutcome, error) {
	m, err := fill.Parse(manifest, fill.ParseOptions{Source: "bench day manifest"})
	if err != nil {
		return bench.FillOutcome{}, err
	}
	start := time.Now()
	st, err := d.runner.Run(ctx, m, "bench day manifest", time.Time{})
	if err != nil {
		return bench.FillOutcome{}, err
	}
	return bench.FillOutcome{State: string(st.State), Files: st.FilesTotal, FilesFilled: st.FilesFilled,
		Bytes: st.BytesFetched, DurationS: time.Since(start).Seconds(), Errors: st.ErrorCount}, nil
}

// Close implements bench.DayDaemon: it stops everything and removes the
// daemon's directory (not its access logs).
func (d *dayDaemon) Close() error {
	var errs []error
	if d.srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := d.srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("server shutdown: %w", err))
		}
		cancel()
	}
	if d.store != nil {
		d.store.Close()
	}
	if d.alog != nil {
		d.alog.Close()
	}
	if d.ds != nil {
		if err := d.ds.Close(); err != nil {
			errs = append(errs, fmt.Errorf("disk tier: %w", err))
		}
	}
	if d.up != nil {
		d.up.Close()
	}
	d.cancel()
	if d.originURL != "" {
		<-d.originErr
	}
	if err := os.RemoveAll(d.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// dayFlags are bench day's flags.
type dayFlags struct {
	cfg        bench.DayConfig
	cacheBytes int64
	memBytes   int64
	fillShare  float64
	variants   string
	policy     string
	secondMiss bool
	dir        string
	asJSON     bool
	svg        string
}

func cmdBenchDay(args []string, stdout, stderr io.Writer) int {
	f := dayFlags{cfg: bench.DefaultDayConfig(), memBytes: 64 << 20, fillShare: 0.9}
	fs := flag.NewFlagSet("bench day", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchDayUsage)
		fs.PrintDefaults()
	}
	c := &f.cfg
	fs.IntVar(&c.Titles, "titles", c.Titles, "titles in the catalogue (both days' releases included)")
	fs.IntVar(&c.Releases, "releases", c.Releases, "titles released each day")
	fs.Var(sizeFlag{&c.TitleSize}, "title-size", "bytes per title")
	fs.Var(sizeFlag{&c.ObjectSize}, "object-size", "bytes per /v/<title>/<seg>.m4s object")
	fs.Var(sizeFlag{&c.SegmentSize}, "segment-size", "mean range length of a request (±50%)")
	fs.Float64Var(&c.Zipf, "zipf", c.Zipf, "Zipf `exponent` of title popularity")
	fs.Float64Var(&c.Churn, "churn", c.Churn, "`share` of each day's views to titles released that day (not watched the day before)")
	fs.Float64Var(&c.Decay, "decay", c.Decay, "daily `factor` on a title's popularity (new releases enter high, old ones fade)")
	fs.BoolVar(&c.KnownReleases, "known-releases", c.KnownReleases, "give the nightly manifest build the next day's releases with their expected views")
	fs.IntVar(&c.Players, "players", c.Players, "players at the peak hour (the daily curve scales the others)")
	fs.IntVar(&c.Requests, "requests", c.Requests, "requests per active player per simulated hour")
	fs.Float64Var(&c.SeekStart, "seek", c.SeekStart, "`probability` of starting a title at a random offset")
	fs.Float64Var(&c.Jump, "jump", c.Jump, "`probability` per request of jumping to a random offset")
	fs.Float64Var(&c.Abandon, "abandon", c.Abandon, "`probability` per request of abandoning the title")
	fs.Float64Var(&c.OpenEnded, "open-ended", c.OpenEnded, "`probability` of an open-ended range read partially")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random `seed`")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "per-request limit")
	fs.Var(sizeFlag{&f.cacheBytes}, "cache", "disk tier budget (default: 10% of the catalogue)")
	fs.Var(sizeFlag{&f.memBytes}, "mem", "memory tier budget")
	fs.Float64Var(&f.fillShare, "fill-share", f.fillShare, "manifest budget as a `share` of the disk tier budget")
	fs.StringVar(&f.variants, "variants", "off,nightly,oracle", "variants to run, in order (off must come before oracle)")
	fs.StringVar(&f.policy, "policy", "lru", "eviction `policy` of the memory and disk tiers: lru, 2q, arc, s3fifo or tinylfu")
	fs.BoolVar(&f.secondMiss, "disk-second-miss", false, "write a fetched chunk to the disk tier only on its second miss (cache.disk_second_miss)")
	fs.StringVar(&f.dir, "dir", "", "`directory` for the disk tier and logs (default: the system's temporary directory)")
	fs.BoolVar(&f.asJSON, "json", false, "print a JSON report instead of tables")
	fs.StringVar(&f.svg, "svg", "", "also write an SVG chart of the hourly offload to `file`")
	var t targetFlags
	t.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if err := t.check(set); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if f.cacheBytes == 0 {
		f.cacheBytes = int64(c.Titles) * c.TitleSize / 10
	}
	if !(f.fillShare > 0 && f.fillShare <= 1) {
		fmt.Fprintln(stderr, "bench day: --fill-share: need 0 < share <= 1")
		return 2
	}
	c.FillBudget = int64(float64(f.cacheBytes) * f.fillShare)
	c.Variants = strings.Split(f.variants, ",")
	c.Progress = stderr
	if t.target != "" {
		c.Variants = []string{bench.VariantOff} // checked for itself by bench.RunDayOne
		if err := c.Check(); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		return cmdBenchDayTarget(f, t, set["cache"], stdout, stderr)
	}
	if err := c.Check(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := runBenchDay(ctx, f, log)
	if rep == nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return writeDayReport(rep, f, err, stdout, stderr)
}

// runBenchDay runs bench.RunDay against in-process daemons.
func runBenchDay(ctx context.Context, f dayFlags, log *slog.Logger) (*bench.DayReport, error) {
	dir, err := os.MkdirTemp(f.dir, "edgecache-bench-day-")
	if err != nil {
		return nil, fmt.Errorf("bench day: %w", err)
	}
	defer os.RemoveAll(dir)
	opt := dayDaemonOptions{dir: dir, cacheBytes: f.cacheBytes, memBytes: f.memBytes, objectSize: f.cfg.ObjectSize, policy: f.policy, secondMiss: f.secondMiss, log: log}
	rep, err := bench.RunDay(ctx, f.cfg, func(ctx context.Context, variant string) (bench.DayDaemon, error) {
		return startDayDaemon(ctx, opt, variant)
	})
	if rep != nil {
		rep.CacheBytes = f.cacheBytes
		if b, berr := bench.ComputeDayBound(f.cfg, f.cacheBytes, dayChunkSize); berr == nil {
			rep.Bound = &b
		} else {
			err = errors.Join(err, berr)
		}
	}
	return rep, err
}

func writeSVG(name string, rep *bench.DayReport) error {
	fh, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("svg: %w", err)
	}
	if err := rep.WriteSVG(fh); err != nil {
		fh.Close()
		return fmt.Errorf("svg: %w", err)
	}
	return fh.Close()
}
