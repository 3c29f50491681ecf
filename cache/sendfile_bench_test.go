package cache

import (
	"context"
	"io"
	"testing"

	"edgecache/cache/disk"
)

// sendfileSink stands for a server's TCP connection: its ReadFrom takes a
// disk chunk's file section as sendfile(2) would, without moving the bytes
// (which the kernel does), so that a benchmark measures what a disk hit
// costs the process besides the copy.
type sendfileSink struct{}

func (sendfileSink) Write(p []byte) (int, error) { return len(p), nil }

func (sendfileSink) ReadFrom(r io.Reader) (int64, error) {
	switch r := r.(type) {
	case interface {
		SendfileSection() (uintptr, int64, int64)
		Sent(int64)
	}:
		_, _, n := r.SendfileSection()
		r.Sent(n)
		return n, nil
	case *io.LimitedReader: // a file at its own offset (before fileSection)
		n := r.N
		r.N = 0
		return n, nil
	}
	return io.Copy(struct{ io.Writer }{sendfileSink{}}, r)
}

// BenchmarkDiskHitSendfile measures a disk hit as a TCP connection serves
// it, minus the kernel's copy: lookup, the Reader, the disk store's Get
// (from its fd cache), and handing the chunk's file section to the
// connection. The 64 chunks are read in turn, so none is hit twice within
// the promotion window (the memory tier holds 4) but the first few of a
// sub-benchmark's runs.
func BenchmarkDiskHitSendfile(b *testing.B) {
	const chunk, n = 1 << 20, 64
	s, src := diskHitStore(b, chunk, n, disk.Options{ScrubRate: -1})
	ctx := context.Background()
	for _, size := range []int64{chunk, 256 << 10} {
		name := "1MiB"
		if size != chunk {
			name = "256KiB"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				meta, _, err := s.Lookup(ctx, NewKey("/cold"), 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				r := s.NewReader(meta, int64(i%n)*chunk+1000, min(size, chunk-1000))
				if _, err := r.WriteTo(sendfileSink{}); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
	if calls := src.calls.Load(); calls > n {
		b.Fatalf("the origin was asked %d times", calls)
	}
}
