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
	"strings"
	"syscall"
	"time"

	"edgecache/admin"
	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/config"
	"edgecache/origin"
	"edgecache/ratelog"
	"edgecache/server"
)

// serveFlags are the flags of serve; set ones override the config file.
type serveFlags struct {
	configFile, listen, mem, chunk, logLevel, sendBuffer, sendLowat, admin string
	disks                                                                  []string // PATH:SIZE, repeatable
	origins                                                                []string // --origin URL, repeatable
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.configFile, "config", "", "YAML config `file` (flags override it)")
	fs.Func("origin", "origin base `URL`, e.g. http://127.0.0.1:8081 (repeatable: upstreams in order, the last is the origin; replaces upstreams)",
		func(v string) error { f.origins = append(f.origins, v); return nil })
	fs.StringVar(&f.listen, "listen", "", "content listener `address` (default :8080)")
	fs.StringVar(&f.admin, "admin", "", "admin listener `address` (default 127.0.0.1:9090; not loopback: needs admin.token_file)")
	fs.StringVar(&f.mem, "mem", "", "memory tier `size`, e.g. 512MiB")
	fs.StringVar(&f.chunk, "chunk-size", "", "chunk `size` (cache.chunk_size, default 256KiB), e.g. 1MiB")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&f.sendBuffer, "send-buffer", "", "SO_SNDBUF `size` of client connections, e.g. 256KiB (0: the kernel's autotuning)")
	fs.StringVar(&f.sendLowat, "send-lowat", "", "TCP_NOTSENT_LOWAT `size` of client connections, e.g. 128KiB (0: the kernel's default)")
	fs.Func("disk", "disk tier directory and budget `PATH:SIZE`, e.g. /srv/cache1:2TiB (repeatable; replaces cache.disks)",
		func(v string) error { f.disks = append(f.disks, v); return nil })
}

// parseDisk parses a --disk value, PATH:SIZE.
func parseDisk(v string) (config.Disk, error) {
	i := strings.LastIndexByte(v, ':')
	if i <= 0 {
		return config.Disk{}, fmt.Errorf("%q: want PATH:SIZE, e.g. /srv/cache1:2TiB", v)
	}
	size, err := config.ParseSize(v[i+1:])
	if err != nil {
		return config.Disk{}, fmt.Errorf("%q: %w", v, err)
	}
	return config.Disk{Path: v[:i], Size: size}, nil
}

// load builds the configuration: defaults, then the file, then set flags.
func (f *serveFlags) load(fs *flag.FlagSet) (*config.Config, error) {
	cfg := config.Default()
	if f.configFile != "" {
		var err error
		if cfg, err = config.Load(f.configFile); err != nil {
			var errs config.Errors
			// A file that misses only what a flag supplies is fine: validate again below.
			if !errors.As(err, &errs) || cfg == nil {
				return nil, err
			}
		}
	}
	var errs config.Errors
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "origin":
			originFlags(cfg, f.origins)
		case "listen":
			cfg.Listen = f.listen
		case "admin":
			cfg.Admin.Listen = f.admin
		case "mem":
			n, err := config.ParseSize(f.mem)
			if err != nil {
				errs = append(errs, &config.Error{Field: "--mem", Msg: err.Error()})
			}
			cfg.Cache.Memory = n
		case "chunk-size":
			n, err := config.ParseSize(f.chunk)
			if err != nil {
				errs = append(errs, &config.Error{Field: "--chunk-size", Msg: err.Error()})
			}
			cfg.Cache.ChunkSize = n
		case "log-level":
			cfg.Log.Level = f.logLevel
		case "send-buffer":
			n, err := config.ParseSize(f.sendBuffer)
			if err != nil {
				errs = append(errs, &config.Error{Field: "--send-buffer", Msg: err.Error()})
			}
			cfg.Server.SendBuffer = n
		case "send-lowat":
			n, err := config.ParseSize(f.sendLowat)
			if err != nil {
				errs = append(errs, &config.Error{Field: "--send-lowat", Msg: err.Error()})
			}
			cfg.Server.SendLowat = n
		case "disk":
			cfg.Cache.Disks = nil
			for _, v := range f.disks {
				d, err := parseDisk(v)
				if err != nil {
					errs = append(errs, &config.Error{Field: "--disk", Msg: err.Error()})
					continue
				}
				cfg.Cache.Disks = append(cfg.Cache.Disks, d)
			}
		}
	})
	if len(errs) > 0 {
		return nil, errs
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func cmdServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := f.load(fs)
	if err != nil {
		fmt.Fprintf(stderr, "edgecache: %v\n", err)
		return 1
	}
	env := &serveEnv{level: new(slog.LevelVar), notify: newNotifier(os.Getenv, os.Getpid())}
	log := newLogger(cfg, stderr, env.level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	env.hup = hup
	env.reload = func() (*config.Config, error) { return f.load(fs) }
	tuneMemory(memoryPlanFor(cfg), log)
	env.prefault = true
	if err := env.run(ctx, cfg, log, nil); err != nil {
		log.Error("edgecache stopped", "err", err)
		return 1
	}
	return 0
}

// newLogger returns the daemon's logger, in cfg's format, at cfg's level;
// if level is not nil it holds the level, so that a reload can change it.
func newLogger(cfg *config.Config, w io.Writer, level *slog.LevelVar) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	var leveler slog.Leveler = lvl
	if level != nil {
		level.Set(lvl)
		leveler = level
	}
	opts := &slog.HandlerOptions{Level: leveler}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the cache until ctx ends, then drains in-flight responses.
// If ready is not nil it receives the listener's address once serving.
// diskCloseWait bounds each step of the shutdown that waits for the disk
// tier (draining its write queue, writing its index snapshot) once the
// responses in progress are done.
const diskCloseWait = 15 * time.Second

// errShutdownHung is serve's error when the disk tier did not close within
// diskCloseWait: the process exits (1) without it.
var errShutdownHung = errors.New("shutdown: the disk tier did not close in time")

// within runs f and waits at most d for it to return; it reports whether
// it did. A call that does not return is left running: the process is
// about to exit.
func within(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, ready chan<- string) error {
	return (&serveEnv{}).run(ctx, cfg, log, ready)
}

// serveEnv is what the serve command adds to serve: a log level a reload
// can change, SIGHUP, and systemd notification. The zero value reloads
// nothing and notifies nobody.
type serveEnv struct {
	level  *slog.LevelVar                 // nil: the level is fixed
	hup    <-chan os.Signal               // reload requests; nil: none
	reload func() (*config.Config, error) // reads the configuration again
	notify *notifier                      // nil: no systemd
	// prefault backs the memory tier's arena with memory before serving
	// (serve sets it; tests running the daemon in-process do not).
	prefault bool
}

// running is what a reload can change in a running daemon.
type running struct {
	cfg       *config.Config
	adm       *admin.Admin
	alog      *server.AccessLog // nil without an access log
	log       *slog.Logger
	level     *slog.LevelVar
	store     *cache.Store
	srv       *server.Server
	upstreams *origin.Switch
}

// run serves until ctx ends.
func (e *serveEnv) run(ctx context.Context, cfg *config.Config, log *slog.Logger, ready chan<- string) error {
	client, via, err := newUpstreams(cfg, log)
	if err != nil {
		return err
	}
	sw := origin.NewSwitch(client) // a reload may replace the upstreams
	defer func() { sw.Current().(*origin.Upstreams).Close() }()
	metered := origin.NewMetered(sw)
	var token string
	if cfg.Admin.TokenFile != "" {
		if token, err = admin.ReadToken(cfg.Admin.TokenFile); err != nil {
			return fmt.Errorf("admin.token_file: %w", err)
		}
	} else if !config.LoopbackAddr(cfg.Admin.Listen) {
		return fmt.Errorf("admin.listen: %s is not a loopback address and admin.token_file is not set: refusing to serve the admin endpoints without a token", cfg.Admin.Listen)
	}
	var ds *disk.Store
	if len(cfg.Cache.Disks) > 0 {
		dirs := make([]disk.Dir, len(cfg.Cache.Disks))
		for i, d := range cfg.Cache.Disks {
			dirs[i] = disk.Dir{Path: d.Path, Size: int64(d.Size), Optional: d.Optional, RequireMount: d.RequireMount}
		}
		scrub := int64(cfg.Cache.ScrubRate)
		if scrub == 0 {
			scrub = -1 // config's 0 turns the scrubber off; disk's 0 is its default
		}
		openFiles := cfg.Cache.OpenFiles
		if openFiles == 0 {
			openFiles = -1 // config's 0 turns the fd cache off; disk's 0 is its default
		}
		if ds, err = disk.Open(disk.Options{Dirs: dirs, StateFile: cfg.Cache.DiskStateFile, OpenFiles: openFiles,
			Fsync: cfg.Cache.Fsync, Policy: cfg.Cache.Policy, ScrubRate: scrub, SecondMiss: cfg.Cache.DiskSecondMiss,
			CheckInterval: cfg.Cache.DiskCheckInterval.D(), MinCharge: int64(cfg.Cache.ChunkSize) / 4, Logger: log}); err != nil {
			return fmt.Errorf("cache.disks: %w", err)
		}
		defer func() {
			var err error
			if !within(diskCloseWait, func() { err = ds.Close() }) {
				log.Error("shutdown: the disk tier did not close in time (a disk hangs?): exiting without its index snapshot; the next start scans its files",
					"wait", diskCloseWait)
				return
			}
			if err != nil {
				log.Error("closing the disk tier", "err", err)
			}
		}()
	}
	store, err := cache.New(metered, cache.Options{
		ChunkSize:   int64(cfg.Cache.ChunkSize),
		Memory:      int64(cfg.Cache.Memory),
		NegativeTTL: cfg.Cache.NegativeTTL.D(),
		DefaultTTL:  cfg.Cache.DefaultTTL.D(),
		Disk:        ds,

		DiskQueue:   int64(cfg.Cache.DiskQueue),
		FetchMemory: int64(cfg.Cache.FetchMemory),
		Policy:      cfg.Cache.Policy,
		Logger:      log,
	})
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer store.Close()
	store.SetFreshness(freshnessOf(cfg))
	if e.prefault {
		n, took, _ := store.Prefault()
		log.Info("memory tier prefaulted", "bytes", config.Size(n).String(), "took", took.Round(time.Millisecond))
	}
	var alog *server.AccessLog
	if cfg.Log.Access != "" {
		if alog, err = server.OpenAccessLog(cfg.Log.Access, 0); err != nil {
			return fmt.Errorf("log.access: %w", err)
		}
		defer alog.Close()
	}
	topt := server.TargetOptions{MaxPathLength: cfg.Server.MaxPathLength, KeyQueryParams: cfg.Cache.KeyQueryParams,
		KeyIgnoreQueryParams: cfg.Cache.KeyIgnoreQueryParams}
	fw, err := newFillWire(ctx, cfg, store, topt, log)
	if err != nil {
		return err
	}
	defer fw.stop() // before store.Close: a job in progress ends cancelled (continued at the next start), not failed
	srv := server.New(store, server.Options{
		MaxPathLength:  cfg.Server.MaxPathLength,
		KeyQueryParams: cfg.Cache.KeyQueryParams,

		KeyIgnoreQueryParams: cfg.Cache.KeyIgnoreQueryParams,

		MaxRanges:      cfg.Server.MaxRanges,
		MinSendRate:    int64(cfg.Server.MinSendRate),
		ReadTimeout:    cfg.Server.ReadTimeout.D(),
		IdleTimeout:    cfg.Server.IdleTimeout.D(),
		SendBuffer:     int(cfg.Server.SendBuffer),
		SendLowat:      int(cfg.Server.SendLowat),
		MaxConnections: cfg.Server.MaxConnections,
		AccessLog:      alog,

		MaxConnectionsPerIP: perIPOf(cfg),

		MaxRangeFetchChunks: cfg.Server.MaxRangeFetchChunks,
		Via:                 via,
		Logger:              log,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	aln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("admin.listen: %w", err)
	}
	contentAddr := ln.Addr().String()
	check := func(ctx context.Context) error { return server.Probe(ctx, contentAddr) }
	adm := admin.New(admin.Options{Store: store, Disk: ds, Server: srv, Origin: metered, AccessLog: alog,
		Upstreams: func() []origin.UpstreamStats { return sw.Current().(*origin.Upstreams).Stats() },
		Target:    topt, Check: check, Version: versionString(), Logger: log, Fill: fw.control()})
	adm.SetToken(token)

	log.Info("edgecache serving", "listen", contentAddr, "admin", aln.Addr().String(), "origin", cfg.Origin.URL,
		"memory", cfg.Cache.Memory.String(), "chunk_size", cfg.Cache.ChunkSize.String(), "version", versionString())
	if ready != nil {
		ready <- contentAddr
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	aerrc := make(chan error, 1)
	go func() { aerrc <- adm.Serve(aln) }()
	if err := e.notify.send("READY=1", "STATUS=serving on "+contentAddr); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	if every := e.notify.watchdogEvery(); every > 0 {
		go e.watchdog(wctx, every, check, log)
	}
	fw.start()

	rt := &running{cfg: cfg, adm: adm, alog: alog, log: log, level: e.level, store: store, srv: srv, upstreams: sw}
	for done := false; !done; {
		select {
		case err := <-errc:
			return fmt.Errorf("content listener: %w", err)
		case err := <-aerrc:
			return fmt.Errorf("admin listener: %w", err)
		case <-e.hup:
			e.reloadConfig(rt)
		case <-ctx.Done():
			done = true
		}
	}
	wcancel()
	if err := e.notify.send("STOPPING=1", "STATUS=draining responses in progress"); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	}
	timeout := rt.cfg.Server.ShutdownTimeout.D()
	log.Info("shutting down: draining responses in progress", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown: responses still in progress after server.shutdown_timeout were cut", "timeout", timeout, "err", err)
	}
	actx, acancel := context.WithTimeout(context.Background(), time.Second)
	defer acancel()
	_ = adm.Shutdown(actx) // a scrape in progress may be cut
	fw.stop()              // the fill job ends cancelled before its store closes
	// Ends the flights and drains the disk write queue: bounded, as a disk
	// that hangs holds its writers in the kernel for ever (a
	// fault-injection review froze one: SIGTERM never exited).
	if !within(diskCloseWait, store.Close) {
		log.Error("shutdown: disk writes still in progress (a disk hangs?): exiting without them; the chunks still queued are not written",
			"wait", diskCloseWait, "queued_bytes", store.Stats().DiskQueueBytes)
		return errShutdownHung
	}
	st := store.Stats()
	var recycled int64
	if ds != nil {
		recycled = ds.Stats().Recycled
	}
	log.Info("cache totals", "flights", st.Flights, "flight_errors", st.FlightErrors,
		"origin_bytes", st.OriginBytes, "chunk_hits", st.ChunkHits, "disk_hits", st.DiskHits,
		"disk_writes", st.DiskWrites, "disk_write_skips", st.DiskWriteSkips,
		"disk_write_errors", st.DiskWriteErrors, "disk_queue_waits", st.DiskQueueWaits, "disk_bad_reads", st.DiskBadReads,
		"disk_files_recycled", recycled)
	return nil
}

// disabledIfZero maps a configured duration whose 0 means "off" to the
// cache.Options convention, where 0 takes the default and a negative
// value means off.
func disabledIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// ttlOverrides converts the configured TTL overrides to the cache's.
func ttlOverrides(in []config.TTLOverride) []cache.TTLOverride {
	out := make([]cache.TTLOverride, len(in))
	for i, o := range in {
		out[i] = cache.TTLOverride{Prefix: o.Prefix, TTL: o.TTL.D()}
	}
	return out
}

// watchdog sends WATCHDOG=1 every interval while the content listener
// answers its self-check (server.Probe); a failing check sends nothing, so
// systemd restarts a daemon whose serving loop is stuck.
func (e *serveEnv) watchdog(ctx context.Context, every time.Duration, check func(context.Context) error, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	warn := ratelog.New(log, time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, every/2)
		err := check(cctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				warn.Log(slog.LevelError, "watchdog", "self-check failed: watchdog not pinged", "err", err)
			}
			continue
		}
		if err := e.notify.send("WATCHDOG=1"); err != nil {
			warn.Log(slog.LevelWarn, "notify", "cannot notify systemd", "err", err)
		}
	}
}

// reloadConfig reads the configuration again (SIGHUP) and applies what
// can change while running: the log level, the admin token (the token
// file is reread even if its name is unchanged), the access log (reopened,
// for logrotate, under its new name if it changed) and the shutdown
// timeout. Other changes are logged as needing a restart. A file that does
// not load is logged with its errors and changes nothing.
func (e *serveEnv) reloadConfig(rt *running) {
	log := rt.log
	if err := e.notify.reloading(); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	}
	defer func() {
		if err := e.notify.send("READY=1", "STATUS=serving"); err != nil {
			log.Warn("cannot notify systemd", "err", err)
		}
	}()
	if e.reload == nil {
		return
	}
	next, err := e.reload()
	if err != nil {
		log.Error("reload: configuration rejected; the running one stays", "err", err)
		return
	}
	// Live settings are checked before any is applied: all or nothing.
	var token string
	if next.Admin.TokenFile != "" {
		if token, err = admin.ReadToken(next.Admin.TokenFile); err != nil {
			log.Error("reload: admin.token_file: configuration rejected; the running one stays", "err", err)
			return
		}
	} else if !config.LoopbackAddr(rt.cfg.Admin.Listen) {
		log.Error("reload: admin.token_file: the admin listener is not on loopback and needs a token; configuration rejected")
		return
	}
	ups, err := rt.prepareUpstreams(next)
	if err != nil {
		log.Error("reload: origin or upstreams: configuration rejected; the running one stays", "err", err)
		return
	}
	changes := config.Diff(rt.cfg, next)
	cur := *rt.cfg
	var applied, restart []string
	for _, c := range changes {
		switch {
		case c.Field == "log.access" && (rt.alog == nil || next.Log.Access == ""):
			restart = append(restart, c.Field) // turning the access log on or off
		case c.Live:
			applied = append(applied, c.Field)
		default:
			restart = append(restart, c.Field)
		}
	}
	if rt.level != nil {
		var lvl slog.Level
		_ = lvl.UnmarshalText([]byte(next.Log.Level))
		rt.level.Set(lvl)
		cur.Log.Level = next.Log.Level
	}
	rt.adm.SetToken(token)
	cur.Admin.TokenFile = next.Admin.TokenFile
	if rt.alog != nil {
		path := cur.Log.Access
		if next.Log.Access != "" {
			path = next.Log.Access
		}
		if err := rt.alog.Reopen(path); err != nil {
			log.Error("reload: cannot reopen the access log; still writing the old file", "err", err)
		} else {
			cur.Log.Access = path
		}
	}
	cur.Server.ShutdownTimeout = next.Server.ShutdownTimeout
	rt.applyLive(&cur, next, ups)
	rt.cfg = &cur
	log.Info("configuration reloaded", "applied", strings.Join(applied, ", "))
	if len(restart) > 0 {
		log.Warn("reload: these settings changed but apply only after a restart", "fields", strings.Join(restart, ", "))
	}
}
