package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"edgecache/config"
	"edgecache/origin"
)

func cmdOrigin(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "listen `address`")
	size := fs.String("size", "1MiB", "size of /v/<title>/<seg>.m4s objects")
	delay := fs.Duration("delay", 0, "extra latency before every object response")
	maxAge := fs.Duration("max-age", 24*time.Hour, "Cache-Control max-age of every object")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	n, err := config.ParseSize(*size)
	if err != nil {
		fmt.Fprintf(stderr, "origin: --size: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	syn := origin.NewSynthetic(origin.SyntheticOptions{DefaultSize: int64(n), Delay: *delay, MaxAge: *maxAge})
	if err := runOrigin(ctx, *listen, syn, log, nil); err != nil {
		fmt.Fprintf(stderr, "origin: %v\n", err)
		return 1
	}
	return 0
}

// runOrigin serves the synthetic origin on addr until ctx ends.
func runOrigin(ctx context.Context, addr string, h http.Handler, log *slog.Logger, ready chan<- string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Info("synthetic origin serving", "listen", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
