package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"edgecache/bench/simulate"
	"edgecache/bench/trace"
	"edgecache/config"
)

const simulateUsage = `usage: edgecache bench simulate --trace FILE [--size LIST] [--policy LIST] [--json] [--parallel N]

Replays a request trace (lines "time key size", or CSV with a header naming
time, key and size; optionally gzip-compressed) against cache policies at
several cache sizes and prints object and byte hit ratios. "belady" is the
offline optimum (furthest next use). Sizes are absolute (10GiB, 512MiB,
1000000) or percentages of the trace's unique bytes (5%).

flags:
`

// simResult is one line of the --json output: a simulate.Result with the
// trace and the size as written on the command line.
type simResult struct {
	Trace    string `json:"trace"`
	SizeSpec string `json:"size_spec"`
	simulate.Result
}

// cmdBenchSimulate runs `edgecache bench simulate`.
func cmdBenchSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, simulateUsage)
		fs.PrintDefaults()
	}
	traceFile := fs.String("trace", "", "request trace `file` (required)")
	sizeList := fs.String("size", "1%,5%,10%", "comma-separated cache `sizes`: 10GiB, 512MiB, 1000000 (bytes) or a percentage of the trace's unique bytes")
	policyList := fs.String("policy", strings.Join(simulate.Policies(), ","), "comma-separated `policies`")
	asJSON := fs.Bool("json", false, "print the results as a JSON array")
	parallel := fs.Int("parallel", runtime.GOMAXPROCS(0), "simulations to run at once")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bench simulate: "+format+"\n", a...)
		fmt.Fprintln(stderr, `run "edgecache bench simulate --help" for usage`)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *traceFile == "" {
		return usageErr("--trace FILE is required")
	}
	if *parallel < 1 {
		return usageErr("--parallel must be at least 1, got %d", *parallel)
	}
	policies, err := splitList(*policyList)
	if err != nil {
		return usageErr("--policy: %v", err)
	}
	for _, p := range policies {
		if !slices.Contains(simulate.Policies(), p) {
			return usageErr("--policy: unknown policy %q (known: %s)", p, strings.Join(simulate.Policies(), ", "))
		}
	}
	specs, err := splitList(*sizeList)
	if err != nil {
		return usageErr("--size: %v", err)
	}
	for _, s := range specs {
		if err := checkSizeSpec(s); err != nil {
			return usageErr("--size: %v", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	start := time.Now()
	t, err := loadTrace(*traceFile)
	if err != nil {
		fmt.Fprintf(stderr, "bench simulate: %v\n", err)
		return 1
	}
	loadTime := time.Since(start)
	sizes := make([]int64, len(specs))
	for i, s := range specs {
		if sizes[i], err = t.CacheSize(s); err != nil {
			fmt.Fprintf(stderr, "bench simulate: %s: %v\n", *traceFile, err)
			return 1
		}
	}
	start = time.Now()
	results, err := simulate.Run(ctx, t, policies, sizes, *parallel)
	if err != nil {
		fmt.Fprintf(stderr, "bench simulate: %s: %v\n", *traceFile, err)
		return 1
	}
	simTime := time.Since(start)

	if *asJSON {
		out := make([]simResult, len(results))
		for i, r := range results {
			out[i] = simResult{Trace: *traceFile, SizeSpec: specs[i/len(policies)], Result: r}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "bench simulate: writing results: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "trace %s: %d requests, %d distinct keys, %s unique bytes (%d requested); loaded in %s\n",
		*traceFile, t.Requests(), t.Distinct(), humanBytes(t.UniqueBytes()), t.TotalBytes(), loadTime.Round(time.Millisecond))
	fmt.Fprintf(stdout, "simulated %d runs in %s (parallel %d)\n\n", len(results), simTime.Round(time.Millisecond), *parallel)
	fmt.Fprintln(stdout, "object hit ratio / byte hit ratio:")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "size")
	for _, p := range policies {
		fmt.Fprintf(tw, "\t%s", p)
	}
	fmt.Fprintln(tw)
	for i, s := range specs {
		label := humanBytes(sizes[i])
		if strings.HasSuffix(s, "%") {
			label = s + " (" + label + ")"
		}
		fmt.Fprint(tw, label)
		for _, r := range results[i*len(policies) : (i+1)*len(policies)] {
			fmt.Fprintf(tw, "\t%.3f / %.3f", r.ObjectHitRatio, r.ByteHitRatio)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "bench simulate: writing results: %v\n", err)
		return 1
	}
	return 0
}

// loadTrace reads the trace at path into memory.
func loadTrace(path string) (*simulate.Trace, error) {
	r, err := trace.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return simulate.Load(r)
}

// splitList splits a comma-separated flag value; empty and repeated items
// are errors.
func splitList(s string) ([]string, error) {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("empty item in %q", s)
		}
		if slices.Contains(items, item) {
			return nil, fmt.Errorf("%q is listed twice", item)
		}
		items = append(items, item)
	}
	return items, nil
}

// checkSizeSpec checks the syntax of a cache size: an absolute size or a
// positive percentage. (Percentages are resolved against the trace later.)
func checkSizeSpec(s string) error {
	if num, ok := strings.CutSuffix(s, "%"); ok {
		if p, err := strconv.ParseFloat(num, 64); err != nil || !(p > 0) || p > 1e6 {
			return fmt.Errorf("%q is not a positive percentage", s)
		}
		return nil
	}
	n, err := config.ParseSize(s)
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("%q: a cache size must be at least 1 byte", s)
	}
	return nil
}

// humanBytes formats n with a binary unit and three significant digits:
// "2.90MiB", "135B".
func humanBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	f, u := float64(n)/1024, 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	prec := 2
	if f >= 100 {
		prec = 0
	} else if f >= 10 {
		prec = 1
	}
	return strconv.FormatFloat(f, 'f', prec, 64) + units[u:u+1] + "iB"
}
