package cache

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"edgecache/cache/disk"
)

// BenchmarkMemoryHit measures the memory-hit path: lookup of a fresh object
// and streaming one chunk-sized range to a writer.
func BenchmarkMemoryHit(b *testing.B) {
	for _, size := range []int64{4 << 10, 256 << 10, 1 << 20} {
		b.Run(strconv.FormatInt(size>>10, 10)+"KiB", func(b *testing.B) {
			src := newFake(map[string]int64{"/hot": size})
			s := mustNew(b, src, Options{ChunkSize: 1 << 20, Memory: 64 << 20})
			defer s.Close()
			ctx := context.Background()
			warm, _, err := s.Lookup(ctx, NewKey("/hot"), 0, nil)
			if err != nil {
				b.Fatal(err)
			}
			r := s.NewReader(warm, 0, size)
			io.Copy(io.Discard, r)
			r.Close()
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				meta, _, err := s.Lookup(ctx, NewKey("/hot"), 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				r := s.NewReader(meta, 0, size)
				if _, err := r.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}

// BenchmarkDiskHit measures chunk-sized reads that the memory tier (4
// chunks) cannot hold, from a 64-chunk object on disk: lookup, opening and
// checking the chunk file, and copying its bytes out of the page cache with
// 256 KiB reads (the copy a TCP connection's sendfile avoids). Every second hit of a chunk
// within the promotion window also copies it into memory.
func BenchmarkDiskHit(b *testing.B) {
	const chunk, n = 1 << 20, 64
	s, src := diskHitStore(b, chunk, n, disk.Options{})
	ctx := context.Background()
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		meta, _, err := s.Lookup(ctx, NewKey("/cold"), 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		r := s.NewReader(meta, int64(i%n)*chunk, chunk)
		if _, err := r.WriteTo(struct{ io.Writer }{io.Discard}); err != nil { // no ReadFrom: the copy path
			b.Fatal(err)
		}
		r.Close()
	}
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(st.DiskHits)/float64(b.N), "disk-hits/op")
	if calls := src.calls.Load(); calls > n {
		b.Fatalf("the origin was asked %d times", calls)
	}
}

// diskHitStore returns a Store whose memory tier holds 4 chunks over a disk
// store (opt, given its directory) holding all n chunks of "/cold",
// written there by a Store before it (closed, so its writes are done),
// and the source that served them.
func diskHitStore(b *testing.B, chunk, n int64, opt disk.Options) (*Store, *fakeSource) {
	b.Helper()
	dir := b.TempDir()
	opt.Dirs = []disk.Dir{{Path: dir, Size: 2 * n * chunk}}
	opt.StateFile = dir + ".state"
	opt.Logger = slog.New(slog.DiscardHandler)
	ds, err := disk.Open(opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ds.Close() })
	<-ds.Ready()
	src := newFake(map[string]int64{"/cold": n * chunk})
	s := mustNew(b, src, Options{ChunkSize: chunk, Memory: 4 * chunk, Disk: ds})
	meta, _, err := s.Lookup(context.Background(), NewKey("/cold"), 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := s.NewReader(meta, 0, meta.Size)
	io.Copy(io.Discard, r)
	r.Close()
	s.Close() // flushes the disk writes
	s = mustNew(b, src, Options{ChunkSize: chunk, Memory: 4 * chunk, Disk: ds})
	b.Cleanup(s.Close) // before the disk store's Close
	return s, src
}
