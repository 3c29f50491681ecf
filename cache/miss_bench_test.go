package cache

import (
	"context"
	"fmt"
	"io"
	"testing"
)

// BenchmarkMiss measures the miss path of a cold object of one, or eight,
// 1 MiB chunks from an in-memory source: lookup, the flights (one span
// fetch, or one per chunk), filling the chunk buffers, storing them in the
// memory tier, and streaming them to a reader. The tier is small, so
// chunks are evicted and their memory reused as in a steady stream of
// misses; B/op shows what a miss costs the Go heap. The fake source
// allocates every answer's bytes (1 MiB per MiB, in B/op too) and makes
// them with a CPU-bound generator: with chunks off the heap, the heap is
// then small and the collector runs often, so compare with GOGC=400 to
// see the cache's own cost.
func BenchmarkMiss(b *testing.B) {
	for _, chunks := range []int64{1, 8} {
		b.Run(fmt.Sprintf("%dMiB", chunks), func(b *testing.B) {
			const chunk = 1 << 20
			size := chunks * chunk
			sizes := map[string]int64{}
			keys := make([]string, 4096)
			for i := range keys {
				keys[i] = fmt.Sprintf("/miss/%d", i)
				sizes[keys[i]] = size
			}
			src := newFake(sizes)
			s := mustNew(b, src, Options{ChunkSize: chunk, Memory: 32 * chunk})
			defer s.Close()
			ctx := context.Background()
			miss := func(i int) {
				k := keys[i%len(keys)]
				s.PurgeKey(k) // cold again
				meta, _, err := s.Lookup(ctx, NewKey(k), 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				r := s.NewReader(meta, 0, size)
				if _, err := r.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
			// Warm up: the memory chunks live in is touched once (a
			// daemon prefaults it; the Go heap keeps what it has).
			for i := range int(128 / chunks) {
				miss(i)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				miss(i)
			}
		})
	}
}
