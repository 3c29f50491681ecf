package cache

import (
	"context"
	"io"
	"strconv"
	"testing"
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
			warm, _, err := s.Lookup(ctx, "/hot", 0)
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
				meta, _, err := s.Lookup(ctx, "/hot", 0)
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
