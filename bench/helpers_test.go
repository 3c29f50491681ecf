package bench

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"edgecache/cache"
	"edgecache/origin"
	"edgecache/server"
)

// edge is an in-process synthetic origin with an edgecache in front of it,
// on 127.0.0.1 ports picked by the kernel.
type edge struct {
	syn    *origin.Synthetic
	origin string // the origin's URL
	cache  string // the cache's URL
}

func newEdge(t *testing.T, opt origin.SyntheticOptions) *edge {
	t.Helper()
	e := &edge{syn: origin.NewSynthetic(opt)}
	ots := httptest.NewServer(e.syn)
	t.Cleanup(ots.Close)
	e.origin = ots.URL
	client, err := origin.NewClient(ots.URL, origin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	quiet := slog.New(slog.DiscardHandler)
	store, err := cache.New(client, cache.Options{ChunkSize: 1 << 20, Memory: 256 << 20, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	srv := server.New(store, server.Options{Logger: quiet})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	e.cache = "http://" + ln.Addr().String()
	return e
}

// corruptAt wraps h so that the body byte at offset off of every answer is
// flipped.
func corruptAt(h http.Handler, off int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&corruptWriter{ResponseWriter: w, at: off}, r)
	})
}

type corruptWriter struct {
	http.ResponseWriter
	at, n int64
}

func (c *corruptWriter) Write(p []byte) (int, error) {
	if c.n <= c.at && c.at < c.n+int64(len(p)) {
		q := append([]byte(nil), p...)
		q[c.at-c.n] ^= 0x5a
		p = q
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// smallConfig is a workload that gets hits within seconds.
func smallConfig(targets ...Target) Config {
	cfg := DefaultConfig()
	cfg.Targets = targets
	cfg.Titles = 20
	cfg.TitleSize = 8 << 20
	cfg.SegmentSize = 512 << 10
	cfg.Players = 4
	cfg.Duration = 2 * time.Second
	cfg.Timeout = 10 * time.Second
	return cfg
}

// httptestServer serves h on 127.0.0.1 until the test ends.
func httptestServer(t *testing.T, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
