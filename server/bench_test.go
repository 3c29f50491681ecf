package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgecache/cache"
	"edgecache/origin"
)

// staticSource serves objects from the synthetic content, in memory, so
// the benchmark measures the server, not an origin.
type staticSource struct{}

func (staticSource) Fetch(_ context.Context, key string, off, n int64, _ http.Header) (*origin.Response, error) {
	size, ok := origin.NewSynthetic(origin.SyntheticOptions{}).SizeOf(key)
	if !ok {
		return nil, &origin.StatusError{Code: 404, Path: key, Size: -1}
	}
	n = min(n, size-off)
	r := origin.NewContentReader(key, size)
	r.Seek(off, io.SeekStart)
	return &origin.Response{Status: 206, Offset: off, Length: n, Size: size, ETag: origin.SyntheticETag(key, size),
		CacheControl: "max-age=86400", ContentType: "video/iso.segment",
		Body: io.NopCloser(io.LimitReader(r, n))}, nil
}

// benchConn stands in for a client connection: deadlines are accepted and
// nothing else is used.
type benchConn struct{ net.Conn }

func (benchConn) SetWriteDeadline(time.Time) error { return nil }
func (benchConn) SetReadDeadline(time.Time) error  { return nil }
func (benchConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (benchConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

type benchLogger struct{}

func (benchLogger) Printf(string, ...any) {}

// BenchmarkHitPath measures one memory-hit request through the handler and
// the response writer, without the network: parsing the target and Range,
// lookup, headers, and writing the body.
func BenchmarkHitPath(b *testing.B) {
	cases := []struct {
		name, path, rng string
		size            int64
	}{
		{"SMALL-4K", "/s/4K/small.m4s", "", 4 << 10},
		{"HIT-1M", "/s/1M/hot.m4s", "", 1 << 20},
		{"RANGE-256K", "/s/8M/range.m4s", "bytes=1000000-1262143", 256 << 10},
		// Chunk assembly: one range stitched from five 1 MiB chunks.
		{"SPAN-4M", "/s/8M/span.m4s", "bytes=500000-4694303", 4 << 20},
		{"MULTIPART-2", "/s/8M/multi.m4s", "bytes=0-99,2000000-2000099", 200},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			benchServe(b, Options{}, tc.path, tc.rng, tc.size, 200, 206)
		})
	}
}

// benchServe measures one memory-hit request for path (with Range rng, if
// set) through a Server with options opt, the handler and the response
// writer, without the network; every answer's status must be one of ok.
func benchServe(b *testing.B, opt Options, path, rng string, size int64, ok ...int) {
	store, err := cache.New(staticSource{}, cache.Options{ChunkSize: 1 << 20, Memory: 64 << 20, DefaultTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	s := New(store, opt)
	var req fasthttp.Request
	req.SetRequestURI(path)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	var ctx fasthttp.RequestCtx
	bw := bufio.NewWriterSize(io.Discard, 4096)
	serve := func() {
		ctx.Init2(benchConn{}, benchLogger{}, false)
		req.CopyTo(&ctx.Request)
		s.Handle(&ctx)
		if err := ctx.Response.Write(bw); err != nil {
			b.Fatal(err)
		}
		bw.Flush()
		if c := ctx.Response.StatusCode(); !slices.Contains(ok, c) {
			b.Fatalf("status %d, want one of %v", c, ok)
		}
	}
	for range 3 {
		serve() // warm the cache
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		serve()
	}
}
