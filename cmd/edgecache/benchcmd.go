package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"edgecache/bench"
	"edgecache/config"
	"edgecache/origin"
)

const benchUsage = `usage:
  edgecache bench --target URL [--duration 30s] [--requests N] [--json] [flags]
  edgecache bench --target URL --compare NAME=URL [--compare ...] [--rounds 3] [flags]
  edgecache bench replay --trace FILE --target URL [--concurrency 16] [--json] [flags]
  edgecache bench simulate --trace FILE [--size 1%,5%,10%] [--policy ...]

The player workload: virtual video players fetch byte ranges of a Zipf-popular
catalog of titles from the target, which must serve the synthetic origin's
objects (an edgecache in front of "edgecache origin", that origin itself, or
the peer benchmark's caches). Every answer's status, Content-Range and length
are checked, and a sample of the bodies is compared with the origin's bytes.
Exit status: 0 on a clean run, 1 if there were errors, 2 on bad flags.

flags:
`

const replayUsage = `usage: edgecache bench replay --trace FILE --target URL [flags]

Replays a request trace (lines "time key size", or CSV with a header; gzip is
detected) in trace order with bounded concurrency: one whole-object GET of
/s/<size>/<name> per entry, where name is derived from the key and size is the
trace's (or --default-size for traces without sizes). Reports object and byte
hit ratios from Cache-Status, latencies, errors and the origin's counters.

flags:
`

// cmdBench runs "edgecache bench" and its subcommands.
func cmdBench(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "replay":
			return cmdBenchReplay(args[1:], stdout, stderr)
		case "simulate":
			return cmdBenchSimulate(args[1:], stdout, stderr)
		case "day":
			return cmdBenchDay(args[1:], stdout, stderr)
		}
	}
	return cmdBenchWorkload(args, stdout, stderr)
}

// sizeFlag is a byte size flag: "64MiB", "10MB", "1048576", or the origin
// path forms "64M", "4G".
type sizeFlag struct{ n *int64 }

func (f sizeFlag) String() string {
	if f.n == nil {
		return ""
	}
	return config.Size(*f.n).String()
}

func (f sizeFlag) Set(s string) error {
	if n, err := config.ParseSize(s); err == nil {
		*f.n = int64(n)
		return nil
	}
	n, err := origin.ParseSize(s)
	if err != nil {
		return fmt.Errorf("%q is not a size (e.g. 64MiB, 2M, 1048576)", s)
	}
	*f.n = n
	return nil
}

// commonFlags are the verification flags of the workload and of replay.
func commonFlags(fs *flag.FlagSet, sample *float64, all *bool, originBytes *string, origin *string) {
	fs.StringVar(origin, "origin", "", "origin `URL`: its /_stats counters are reported; needed by --origin-bytes fetch")
	fs.Float64Var(sample, "verify-sample", *sample, "`fraction` of answers whose bytes are compared with the origin's")
	fs.BoolVar(all, "verify", false, "compare every answer's bytes")
	fs.StringVar(originBytes, "origin-bytes", *originBytes, "expected bytes: compute (the synthetic origin's byte function) or fetch (from --origin, uncounted)")
}

func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}

func cmdBenchWorkload(args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	target := fs.String("target", "", "`URL` of the server under test (required)")
	name := fs.String("name", "edgecache", "`name` of the target in the report")
	var compares []bench.Target
	fs.Func("compare", "another target `NAME=URL` to run side by side (repeatable)", func(s string) error {
		n, u, ok := strings.Cut(s, "=")
		if !ok || n == "" || u == "" {
			return fmt.Errorf("%q: want NAME=URL", s)
		}
		compares = append(compares, bench.Target{Name: n, URL: u})
		return nil
	})
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "interleaved rounds when comparing targets")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time (per target)")
	fs.Int64Var(&cfg.Requests, "requests", 0, "stop after `N` requests per target (0: no cap)")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "run the workload unmeasured for this long first")
	fs.IntVar(&cfg.Players, "players", cfg.Players, "concurrent virtual players")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "per-request limit, to the last byte")
	fs.IntVar(&cfg.Titles, "titles", cfg.Titles, "titles in the catalog")
	fs.Var(sizeFlag{&cfg.TitleSize}, "title-size", "bytes per title")
	fs.Var(sizeFlag{&cfg.SegmentSize}, "segment-size", "mean range length; each request varies it by ±50%")
	fs.Var(sizeFlag{&cfg.ObjectSize}, "object-size", "--paths v: size of the origin's /v/ segment objects (its --size)")
	fs.StringVar(&cfg.Paths, "paths", cfg.Paths, "path `scheme`: s (/s/<size>/bench-t<i>.mp4) or v (/v/bench-t<i>/<seg>.m4s)")
	fs.Float64Var(&cfg.Zipf, "zipf", cfg.Zipf, "Zipf `exponent` of title popularity")
	fs.Float64Var(&cfg.SeekStart, "seek", cfg.SeekStart, "`probability` of starting a title at a random offset")
	fs.Float64Var(&cfg.Jump, "jump", cfg.Jump, "`probability` per segment of jumping to a random offset")
	fs.Float64Var(&cfg.Abandon, "abandon", cfg.Abandon, "`probability` per segment of abandoning the title")
	fs.Float64Var(&cfg.OpenEnded, "open-ended", cfg.OpenEnded, "`probability` of an open-ended range read partially, then closed")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random `seed`: equal seeds give equal request sequences")
	commonFlags(fs, &cfg.VerifySample, &cfg.VerifyAll, &cfg.OriginBytes, &cfg.Origin)
	asJSON := fs.Bool("json", false, "print a JSON report instead of a table")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *target == "" {
		fmt.Fprintln(stderr, "bench: --target is required")
		return 2
	}
	cfg.Targets = append([]bench.Target{{Name: *name, URL: *target}}, compares...)
	cfg.Progress = stderr
	if err := cfg.Check(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if rep.Errors() > 0 {
		return 1
	}
	return 0
}

func cmdBenchReplay(args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultReplayConfig()
	fs := flag.NewFlagSet("bench replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, replayUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Trace, "trace", "", "trace `file` (required)")
	fs.StringVar(&cfg.Target, "target", "", "`URL` of the server under test (required)")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "requests in flight at most")
	fs.Int64Var(&cfg.Requests, "requests", 0, "replay at most `N` requests (0: the whole trace)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop issuing requests after this long (0: no limit)")
	fs.Var(sizeFlag{&cfg.DefaultSize}, "default-size", "object size for trace entries without a size")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "per-request limit, to the last byte")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "`seed` of the verification sample")
	commonFlags(fs, &cfg.VerifySample, &cfg.VerifyAll, &cfg.OriginBytes, &cfg.Origin)
	asJSON := fs.Bool("json", false, "print a JSON result instead of a table")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := cfg.Check(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, runErr := bench.Replay(ctx, cfg)
	if res == nil {
		fmt.Fprintln(stderr, runErr)
		return 1
	}
	rep := &bench.Report{Primary: res.Name, Rounds: 1, Results: []*bench.Result{res}, Interrupted: res.Interrupted}
	var err error
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench replay: %v\n", err)
		return 1
	}
	if runErr != nil {
		fmt.Fprintln(stderr, runErr)
		return 1
	}
	if res.Errors > 0 {
		return 1
	}
	return 0
}
