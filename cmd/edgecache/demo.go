package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"edgecache/config"
	"edgecache/origin"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "cache listener `address`")
	originListen := fs.String("origin-listen", "127.0.0.1:8081", "synthetic origin `address`")
	adminListen := fs.String("admin", "127.0.0.1:9090", "admin listener `address` (loopback)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := config.Default()
	cfg.Listen = *listen
	cfg.Admin.Listen = *adminListen
	cfg.Cache.Memory = 256 << 20
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	originReady := make(chan string, 1)
	originErr := make(chan error, 1)
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	go func() { originErr <- runOrigin(ctx, *originListen, syn, log, originReady) }()
	var originAddr string
	select {
	case originAddr = <-originReady:
	case err := <-originErr:
		fmt.Fprintf(stderr, "demo: synthetic origin: %v (pick another with --origin-listen)\n", err)
		return 1
	}
	cfg.Origin.URL = "http://" + originAddr
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	cacheReady := make(chan string, 1)
	cacheErr := make(chan error, 1)
	go func() { cacheErr <- serve(ctx, cfg, log, cacheReady) }()
	var addr string
	select {
	case addr = <-cacheReady:
	case err := <-cacheErr:
		fmt.Fprintf(stderr, "demo: cache: %v (pick another with --listen)\n", err)
		return 1
	}
	base := "http://" + addr
	fmt.Fprintf(stdout, `
edgecache demo
  synthetic origin: %[1]s   (origin counters: %[1]s/_stats)
  cache:            %[2]s

Objects: /v/<title>/<seg>.m4s is 1 MiB; /s/<size>/<name> is <size> bytes (e.g. /s/8M/a.m4s, /s/4G/big);
every byte is a pure function of (path, offset).

Try:
  curl -s -o /dev/null -D - %[2]s/s/8M/demo.m4s
  curl -s -o /dev/null -D - -H 'Range: bytes=1000000-1999999' %[2]s/s/8M/demo.m4s
  curl -s -I %[2]s/v/title1/seg1.m4s

Run the first one twice: the second answer says "Cache-Status: edgecache; hit; detail=mem".
Ctrl-C stops the demo.
`, "http://"+originAddr, base)
	select {
	case err := <-cacheErr:
		if err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return 1
		}
	case err := <-originErr:
		if err != nil {
			fmt.Fprintf(stderr, "demo: origin: %v\n", err)
			return 1
		}
		<-cacheErr
	}
	return 0
}
