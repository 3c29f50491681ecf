package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"edgecache/config"
	"edgecache/fill"
	"edgecache/popularity"
)

const manifestUsage = `usage:
  edgecache manifest build --logs FILE [--logs FILE ...] --budget SIZE --origin URL -o FILE [flags] [FILE ...]

Reads access logs (JSON lines; plain, gzip or zstd), ranks titles by bytes
streamed over the last --days days with exponential decay (--half-life days),
divided by each title's size, fits the most popular into --budget, and writes
tomorrow's fill manifest. Sizes (HEAD) and SHA-256s (GET) come from --origin.
Log files may also be given as arguments after the flags.

--releases FILE names content known to be coming (tomorrow's new releases),
which no log holds yet, with the views assumed for it, one a line: a path or
a title id, the views, and for a title id the paths of its files if the logs
do not name them ("new-show 80 /v/new-show/0.m4s /v/new-show/1.m4s"; # starts
a comment). Views count like a day of logs at the reference day: a file
scores its views on top of its logs' (views per byte, like every file), and
competes for the budget with the rest.

flags:
`

// cmdManifest runs "edgecache manifest".
func cmdManifest(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "build" {
		fmt.Fprint(stderr, manifestUsage)
		return 2
	}
	return cmdManifestBuild(args[1:], stdout, stderr)
}

// headerFlag collects "Name: value" header flags.
type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%q: want \"Name: value\"", s)
	}
	http.Header(h).Add(strings.TrimSpace(k), strings.TrimSpace(v))
	return nil
}

func cmdManifestBuild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("manifest build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, manifestUsage)
		fs.PrintDefaults()
	}
	var logs, releaseFiles []string
	fs.Func("logs", "access log `file` (repeatable)", func(s string) error { logs = append(logs, s); return nil })
	fs.Func("releases", "`file` of releases with assumed views (repeatable; see above)", func(s string) error {
		releaseFiles = append(releaseFiles, s)
		return nil
	})
	days := fs.Int("days", popularity.DefaultDays, "days of logs that count, ending at the newest day seen (or --today)")
	halfLife := fs.Float64("half-life", popularity.DefaultHalfLife, "decay half-life in `days` (negative: no decay)")
	today := fs.String("today", "", "reference day `YYYY-MM-DD` of the decay (default: the newest day in the logs)")
	var budget int64
	fs.Var(sizeFlag{&budget}, "budget", "disk budget of the manifest's files, e.g. 1.8TiB (required)")
	pattern := fs.String("title-pattern", popularity.DefaultTitlePattern, "regular `expression` giving a path's title: its first submatch, else the match")
	originURL := fs.String("origin", "", "origin `URL` the sizes and SHA-256s are fetched from (required)")
	headers := headerFlag{}
	fs.Var(headers, "header", "`Name: value` header sent to the origin (repeatable)")
	concurrency := fs.Int("concurrency", popularity.DefaultConcurrency, "origin requests at once")
	signKey := fs.String("sign-key", "", "ed25519 private key `file` (seed or key, base64 or hex): writes OUT.sig")
	out := fs.String("o", "", "manifest `file` to write (required; - for standard output)")
	asJSON := fs.Bool("json", false, "print the summary as JSON on standard output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	logs = append(logs, fs.Args()...)
	var problems []string
	if len(logs) == 0 {
		problems = append(problems, "--logs is required")
	}
	if budget <= 0 {
		problems = append(problems, "--budget is required")
	}
	if *originURL == "" {
		problems = append(problems, "--origin is required (the SHA-256 of every file comes from the origin)")
	}
	if *out == "" {
		problems = append(problems, "-o is required")
	}
	if *out == "-" && (*signKey != "" || *asJSON) {
		problems = append(problems, "-o - does not go with --sign-key or --json")
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "manifest build: %s\n", strings.Join(problems, "; "))
		return 2
	}
	titleOf, err := popularity.NewTitleOf(*pattern)
	if err != nil {
		fmt.Fprintf(stderr, "manifest build: %v\n", err)
		return 2
	}
	w := popularity.Weighting{Days: *days, HalfLife: *halfLife}
	if *halfLife == 0 {
		w.HalfLife = -1
	}
	if *today != "" {
		d, err := time.Parse("2006-01-02", *today)
		if err != nil {
			fmt.Fprintf(stderr, "manifest build: --today %q: want YYYY-MM-DD\n", *today)
			return 2
		}
		w.Today, w.HasToday = d.Unix()/86400, true
	}
	var releases []popularity.Release
	for _, name := range releaseFiles {
		rels, err := popularity.ReadReleases(name)
		if err != nil {
			fmt.Fprintf(stderr, "manifest build: %v\n", err)
			return 1
		}
		releases = append(releases, rels...)
	}
	var priv ed25519.PrivateKey
	if *signKey != "" {
		if priv, err = readPrivateKey(*signKey); err != nil {
			fmt.Fprintf(stderr, "manifest build: --sign-key: %v\n", err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	agg := popularity.NewAggregate()
	if err := agg.ReadFiles(ctx, logs, runtime.GOMAXPROCS(0)); err != nil {
		fmt.Fprintf(stderr, "manifest build: %v\n", err)
		return 1
	}
	readTime := time.Since(start)
	st := agg.Stats()
	for _, e := range st.ReadErrors {
		fmt.Fprintf(stderr, "manifest build: warning: %s (what was read before counts)\n", e)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency, DisableCompression: true}}
	defer hc.CloseIdleConnections()
	res, err := popularity.Build(ctx, agg, popularity.BuildOptions{Weighting: w, Budget: budget, TitleOf: titleOf,
		Objects:     &popularity.HTTPObjects{Base: *originURL, Client: hc, Header: http.Header(headers)},
		Concurrency: *concurrency, Releases: releases})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *out == "-" {
		if _, err := stdout.Write(res.Manifest); err != nil {
			fmt.Fprintf(stderr, "manifest build: %v\n", err)
			return 1
		}
	} else {
		if err := writeFileAtomic(*out, res.Manifest); err != nil {
			fmt.Fprintf(stderr, "manifest build: %v\n", err)
			return 1
		}
		if priv != nil {
			if err := writeFileAtomic(*out+fill.SignatureSuffix, fill.Sign(priv, res.Manifest)); err != nil {
				fmt.Fprintf(stderr, "manifest build: signature: %v\n", err)
				return 1
			}
			pub := priv.Public().(ed25519.PublicKey)
			fmt.Fprintf(stderr, "signed: %s%s (public key %s)\n", *out, fill.SignatureSuffix, base64.StdEncoding.EncodeToString(pub))
		}
	}
	summary := struct {
		Read     popularity.Stats   `json:"read"`
		ReadS    float64            `json:"read_s"`
		Manifest *popularity.Result `json:"manifest"`
		TotalS   float64            `json:"total_s"`
	}{st, readTime.Seconds(), res, time.Since(start).Seconds()}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(summary); err != nil {
			fmt.Fprintf(stderr, "manifest build: %v\n", err)
			return 1
		}
	} else {
		rate := float64(st.Lines) / max(readTime.Seconds(), 1e-9)
		fmt.Fprintf(stderr, "read %d lines (%d bad, %d counted) from %d files in %.2fs (%.0f lines/s)\n",
			st.Lines, st.Bad, st.Counted, st.Files, readTime.Seconds(), rate)
		for _, e := range st.BadExamples {
			fmt.Fprintf(stderr, "  bad line: %s\n", e)
		}
		fmt.Fprintf(stderr, "reference day %s; seen %d titles, %d files (%d not manifest paths)\n",
			time.Unix(res.Today*86400, 0).UTC().Format("2006-01-02"), res.SeenTitles, res.SeenFiles, res.Unfillable)
		fmt.Fprintf(stderr, "manifest: %d titles, %d files, %s of a %s budget", res.Titles, res.Files,
			config.Size(res.Bytes), config.Size(budget))
		if *out != "-" {
			fmt.Fprintf(stderr, " -> %s", *out)
		}
		fmt.Fprintln(stderr)
		if len(releases) > 0 {
			fmt.Fprintf(stderr, "releases: %d given, %d of their files in the manifest, %d naming no file\n",
				len(releases), res.ReleaseFiles, res.ReleaseErrors)
		}
		if res.SizeErrors+res.HashErrors+res.ReleaseErrors > 0 {
			fmt.Fprintf(stderr, "left out: %d files without a size, %d without their bytes from the origin\n", res.SizeErrors, res.HashErrors)
			for _, e := range res.Errors {
				fmt.Fprintf(stderr, "  %s\n", e)
			}
		}
	}
	return 0
}

// readPrivateKey reads an ed25519 private key file: the 32-byte seed or
// the 64-byte key, in standard base64 or hex.
func readPrivateKey(name string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	raw, err := hex.DecodeString(s)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%s: want a 32-byte seed or a 64-byte key in base64 or hex", name)
		}
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(raw), nil
	}
	return nil, fmt.Errorf("%s: %d bytes: want a 32-byte seed or a 64-byte key", name, len(raw))
}

// writeFileAtomic writes data to name through a temporary file renamed
// into place.
func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
