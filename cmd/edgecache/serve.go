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

	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/config"
	"edgecache/server"
)

// serveFlags are the flags of serve; set ones override the config file.
type serveFlags struct {
	configFile, listen, mem, chunk, logLevel, sendBuffer string
	disks                                                []string // PATH:SIZE, repeatable
	origins                                              []string // --origin URL, repeatable
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.configFile, "config", "", "YAML config `file` (flags override it)")
	fs.Func("origin", "origin base `URL`, e.g. http://127.0.0.1:8081 (repeatable: upstreams in order, the last is the origin; replaces upstreams)",
		func(v string) error { f.origins = append(f.origins, v); return nil })
	fs.StringVar(&f.listen, "listen", "", "content listener `address` (default :8080)")
	fs.StringVar(&f.mem, "mem", "", "memory tier `size`, e.g. 512MiB")
	fs.StringVar(&f.chunk, "chunk-size", "", "chunk `size`, e.g. 1MiB")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&f.sendBuffer, "send-buffer", "", "SO_SNDBUF `size` of client connections, e.g. 256KiB (0: the kernel's autotuning)")
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
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tuneMemory(memoryPlanFor(cfg), log)
	if err := serve(ctx, cfg, log, nil); err != nil {
		log.Error("edgecache stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the cache until ctx ends, then drains in-flight responses.
// If ready is not nil it receives the listener's address once serving.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, ready chan<- string) error {
	client, via, err := newUpstreams(cfg, log)
	if err != nil {
		return err
	}
	defer client.Close()
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
		if ds, err = disk.Open(disk.Options{Dirs: dirs, StateFile: cfg.Cache.DiskStateFile,
			Fsync: cfg.Cache.Fsync, Policy: cfg.Cache.Policy, ScrubRate: scrub,
			CheckInterval: cfg.Cache.DiskCheckInterval.D(), Logger: log}); err != nil {
			return fmt.Errorf("cache.disks: %w", err)
		}
		defer func() {
			if err := ds.Close(); err != nil {
				log.Error("closing the disk tier", "err", err)
			}
		}()
	}
	store, err := cache.New(client, cache.Options{
		ChunkSize:   int64(cfg.Cache.ChunkSize),
		Memory:      int64(cfg.Cache.Memory),
		NegativeTTL: cfg.Cache.NegativeTTL.D(),
		DefaultTTL:  cfg.Cache.DefaultTTL.D(),
		Disk:        ds,

		MaxStaleWhileRevalidate: disabledIfZero(cfg.Cache.MaxStaleWhileRevalidate.D()),
		MaxStaleIfError:         disabledIfZero(cfg.Cache.MaxStaleIfError.D()),
		StaleIfError:            cfg.Cache.ServeStaleOnError.D(),

		DiskQueue:   int64(cfg.Cache.DiskQueue),
		FetchMemory: int64(cfg.Cache.FetchMemory),
		Policy:      cfg.Cache.Policy,
		Logger:      log,
	})
	if err != nil {
		return fmt.Errorf("cache.policy: %w", err)
	}
	defer store.Close()
	srv := server.New(store, server.Options{
		MaxPathLength:  cfg.Server.MaxPathLength,
		KeyQueryParams: cfg.Cache.KeyQueryParams,

		KeyIgnoreQueryParams: cfg.Cache.KeyIgnoreQueryParams,

		MaxRanges:      cfg.Server.MaxRanges,
		MinSendRate:    int64(cfg.Server.MinSendRate),
		ReadTimeout:    cfg.Server.ReadTimeout.D(),
		IdleTimeout:    cfg.Server.IdleTimeout.D(),
		SendBuffer:     int(cfg.Server.SendBuffer),
		MaxConnections: cfg.Server.MaxConnections,

		MaxRangeFetchChunks: cfg.Server.MaxRangeFetchChunks,
		Via:                 via,
		Logger:              log,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("edgecache serving", "listen", ln.Addr().String(), "origin", cfg.Origin.URL,
		"memory", cfg.Cache.Memory.String(), "chunk_size", cfg.Cache.ChunkSize.String(), "version", versionString())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("content listener: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining responses in progress")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	store.Close() // ends the flights and drains the disk write queue
	st := store.Stats()
	log.Info("cache totals", "flights", st.Flights, "flight_errors", st.FlightErrors,
		"origin_bytes", st.OriginBytes, "chunk_hits", st.ChunkHits, "disk_hits", st.DiskHits,
		"disk_writes", st.DiskWrites, "disk_write_skips", st.DiskWriteSkips,
		"disk_write_errors", st.DiskWriteErrors, "disk_queue_waits", st.DiskQueueWaits, "disk_bad_reads", st.DiskBadReads)
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
