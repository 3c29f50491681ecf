package disk

import (
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func benchOpen(b *testing.B, dirs []Dir) *Store {
	b.Helper()
	s, err := Open(Options{Dirs: dirs, StateFile: filepath.Join(filepath.Dir(dirs[0].Path), "state"),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	<-s.Ready()
	return s
}

// inject adds n synthetic 1 MiB chunks (perKey per object, metaLen bytes of
// meta per object) to d's index without writing chunk files.
func inject(s *Store, d *disk, n, perKey, metaLen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UnixNano()
	meta := make([]byte, metaLen)
	var o *object
	for i := 0; i < n; i++ {
		if i%perKey == 0 {
			key := fmt.Sprintf("/vod/title%06d/video/1080p/seg-%05d.m4s", i/perKey/100, i/perKey%100)
			o = &object{key: key, hash: s.keyHandle(key), version: fmt.Sprintf(`"%016x"`, i), meta: meta, written: now}
			s.objects[key] = o
		}
		idx := int64(i % perKey)
		hlen := headerLen(len(o.key), len(o.version), len(meta))
		e := &entry{obj: o, index: idx, version: o.version, plen: 1 << 20, written: now, lastUse: now + int64(i),
			hlen: int32(hlen), disk: uint16(d.i), state: stateLive}
		o.refs++
		h := handle(o.hash, idx)
		s.idx[h] = e
		d.pol.Add(h, blocks(int64(hlen)+e.plen))
	}
}

// BenchmarkLoadSnapshot1M measures Open until Ready with a snapshot of one
// million chunks (250k objects of 4 chunks, 200 bytes of meta each).
func BenchmarkLoadSnapshot1M(b *testing.B) {
	const n = 1_000_000
	root := b.TempDir()
	dir := filepath.Join(root, "disk0")
	os.Mkdir(dir, 0o755)
	dirs := []Dir{{Path: dir, Size: 4 << 40}}
	s := benchOpen(b, dirs)
	inject(s, s.disks[0], n, 4, 200)
	t0 := time.Now()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	writeTook := time.Since(t0)
	snap, err := os.ReadFile(filepath.Join(dir, snapName))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := os.WriteFile(filepath.Join(dir, snapName), snap, 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s := benchOpen(b, dirs)
		b.StopTimer()
		if got := s.Stats().Disks[0].Chunks; got != n {
			b.Fatalf("loaded %d chunks, want %d", got, n)
		}
		s.shutdown(false)
		b.StartTimer()
	}
	b.ReportMetric(float64(len(snap))/n, "snapshot-B/chunk")
	b.ReportMetric(writeTook.Seconds(), "write-s")
}

// BenchmarkScan100k measures Open until Ready by scanning 100k chunk files
// (1 KiB payloads) on one disk, with a warm page cache unless
// EDGECACHE_BENCH_DROP_CACHES=1 (root: drops the page cache before each scan).
func BenchmarkScan100k(b *testing.B) {
	const n = 100_000
	root := b.TempDir()
	dir := filepath.Join(root, "disk0")
	os.Mkdir(dir, 0o755)
	dirs := []Dir{{Path: dir, Size: 4 << 30}}
	s := benchOpen(b, dirs)
	p := make([]byte, 1024)
	for i := 0; i < n; i++ {
		id := ID{Key: fmt.Sprintf("/vod/title%06d/video/1080p/seg-%05d.m4s", i/400, i/4%100), Index: int64(i % 4)}
		if err := s.Put(id, `"0123456789abcdef"`, make([]byte, 200), p); err != nil {
			b.Fatal(err)
		}
	}
	s.shutdown(false)
	drop := os.Getenv("EDGECACHE_BENCH_DROP_CACHES") == "1"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if drop {
			b.StopTimer()
			exec := func() error { return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0) }
			if err := exec(); err != nil {
				b.Fatalf("drop caches: %v", err)
			}
			b.StartTimer()
		}
		s := benchOpen(b, dirs)
		b.StopTimer()
		if got := s.Stats().Disks[0].Chunks; got != n {
			b.Fatalf("scanned %d chunks, want %d", got, n)
		}
		s.shutdown(false)
		b.StartTimer()
	}
	perFile := b.Elapsed().Seconds() / float64(b.N) / n
	b.ReportMetric(1/perFile, "files/s")
	b.ReportMetric(perFile*1e6, "s/1M-files")
}

// BenchmarkPut measures storing 1 MiB chunks, with eviction running, for
// each fsync policy, and 256 KiB chunks (the default chunk size) without
// fsync.
func BenchmarkPut(b *testing.B) {
	for _, tc := range []struct {
		fsync string
		size  int
	}{{"none", 1 << 20}, {"always", 1 << 20}, {"none", 256 << 10}} {
		b.Run(fmt.Sprintf("fsync=%s/%dKiB", tc.fsync, tc.size>>10), func(b *testing.B) {
			root := b.TempDir()
			dir := filepath.Join(root, "disk0")
			os.Mkdir(dir, 0o755)
			s, err := Open(Options{Dirs: []Dir{{Path: dir, Size: 256 << 20}}, StateFile: filepath.Join(root, "state"),
				Fsync: tc.fsync, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.shutdown(false)
			<-s.Ready()
			p := payload(ID{Key: "x"}, "v", tc.size)
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if err := s.Put(ID{Key: fmt.Sprintf("/put/%d", i/4), Index: int64(i % 4)}, "v", make([]byte, 200), p); err != nil {
					b.Fatal(err)
				}
			}
			// The process's CPU, not the kernel's writeback threads'.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkGet1MiB measures Get, reading the whole payload through ReadAt,
// and Close, for a chunk already verified and for the first read after a
// load (which verifies the payload checksum).
func BenchmarkGet1MiB(b *testing.B) {
	for _, first := range []bool{false, true} {
		name := "verified"
		if first {
			name = "first-read"
		}
		b.Run(name, func(b *testing.B) {
			root := b.TempDir()
			dir := filepath.Join(root, "disk0")
			os.Mkdir(dir, 0o755)
			s := benchOpen(b, []Dir{{Path: dir, Size: 1 << 30}})
			defer s.shutdown(false)
			const chunks = 64
			for i := 0; i < chunks; i++ {
				id := ID{Key: "/get", Index: int64(i)}
				if err := s.Put(id, "v", nil, payload(id, "v", 1<<20)); err != nil {
					b.Fatal(err)
				}
			}
			buf := make([]byte, 1<<20)
			b.SetBytes(1 << 20)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := ID{Key: "/get", Index: int64(i % chunks)}
				if first {
					s.mu.Lock()
					s.idx[s.handleOf(id.Key, id.Index)].verified = false
					s.mu.Unlock()
				}
				c, err := s.Get(id, "v")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.ReadAt(buf, 0); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// BenchmarkChecksum1MiB is the CRC-32C of 1 MiB in memory.
func BenchmarkChecksum1MiB(b *testing.B) {
	p := payload(ID{Key: "x"}, "v", 1<<20)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		crc32.Checksum(p, castagnoli)
	}
}

// BenchmarkScrub measures one unpaced scrub pass over 64 MiB of chunks
// (of 256 KiB, the default chunk size, and of 1 MiB) from the page cache,
// and reports the process CPU time it took per GiB verified and per chunk
// (user + system: the opens, the reads and the CRC-32C), which is what the
// scrubber costs at any rate.
func BenchmarkScrub(b *testing.B) {
	for _, size := range []int{256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("chunk=%dKiB", size>>10), func(b *testing.B) { benchScrub(b, size) })
	}
}

func benchScrub(b *testing.B, size int) {
	root := b.TempDir()
	dir := filepath.Join(root, "disk0")
	os.Mkdir(dir, 0o755)
	s, err := Open(Options{Dirs: []Dir{{Path: dir, Size: 1 << 30}}, StateFile: filepath.Join(root, "state"),
		Logger: slog.New(slog.DiscardHandler), ScrubRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	<-s.Ready()
	defer s.shutdown(false)
	chunks := (64 << 20) / size
	for i := 0; i < chunks; i++ {
		id := ID{Key: "/scrub", Index: int64(i)}
		if err := s.Put(id, "v", nil, payload(id, "v", size)); err != nil {
			b.Fatal(err)
		}
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.SetBytes(64 << 20)
	b.ResetTimer()
	c0 := cpu()
	for i := 0; i < b.N; i++ {
		if !s.scrubPass(&pacer{}) {
			b.Fatal("pass interrupted")
		}
	}
	used := cpu() - c0
	b.StopTimer()
	if got := s.Stats().ScrubbedChunks; got != int64(b.N*chunks) {
		b.Fatalf("scrubbed %d chunks, want %d", got, b.N*chunks)
	}
	perPass := used.Seconds() / float64(b.N)
	b.ReportMetric(perPass*float64(1<<30)/float64(64<<20)*1e3, "cpu-ms/GiB")
	b.ReportMetric(perPass/float64(chunks)*1e6, "cpu-us/chunk")
}

// BenchmarkGetSection measures the disk store's part of a sendfile hit on
// a verified 1 MiB chunk: Get, Section and Close, reading no payload.
// "cached" serves the chunks from the fd cache (one fstat per Get);
// "uncached" (OpenFiles < 0) opens the file, reads and decodes its header
// and fstats it on every Get, as the store did before the fd cache.
func BenchmarkGetSection(b *testing.B) {
	for _, tc := range []struct {
		name  string
		files int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			root := b.TempDir()
			dir := filepath.Join(root, "disk0")
			os.Mkdir(dir, 0o755)
			s, err := Open(Options{Dirs: []Dir{{Path: dir, Size: 1 << 30}}, StateFile: filepath.Join(root, "state"),
				Logger: slog.New(slog.DiscardHandler), ScrubRate: -1, OpenFiles: tc.files})
			if err != nil {
				b.Fatal(err)
			}
			defer s.shutdown(false)
			<-s.Ready()
			const chunks = 64
			for i := 0; i < chunks; i++ {
				id := ID{Key: "/get", Index: int64(i)}
				if err := s.Put(id, "v", nil, payload(id, "v", 1<<20)); err != nil {
					b.Fatal(err)
				}
			}
			ids := make([]ID, chunks)
			for i := range ids {
				ids[i] = ID{Key: "/get", Index: int64(i)}
				c, err := s.Get(ids[i], "v")
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := s.Get(ids[i%chunks], "v")
				if err != nil {
					b.Fatal(err)
				}
				if f, _ := c.Section(1000, 100_000); f == nil {
					b.Fatal("no file")
				}
				c.Close()
			}
		})
	}
}
