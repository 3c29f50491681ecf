package cache

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgecache/cache/disk"
)

// gateFS is the OS file system whose chunk writes under d1 wait until the
// gate opens: a disk that has fallen behind.
type gateFS struct {
	disk.OSFS
	gate chan struct{}
}

type gateFile struct {
	disk.File
	gate chan struct{}
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (disk.File, error) {
	f, err := g.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.Contains(name, string(filepath.Separator)+"d1"+string(filepath.Separator)) {
		return f, err
	}
	return gateFile{f, g.gate}, nil
}

func (f gateFile) Write(p []byte) (int, error) {
	<-f.gate
	return f.File.Write(p)
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Issue #8 §5: the disk write queue is bounded in bytes. With the disk
// stalled, chunks past the budget are not written, and that is counted and
// logged (once, not once per chunk); every byte is still served right;
// once the disk catches up the queued chunks reach it and the queue drains.
func TestDiskWriteQueueFull(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "d1"), 0o755)
	fsys := &gateFS{gate: make(chan struct{})}
	var opened atomic.Bool
	ds, err := disk.Open(disk.Options{
		Dirs:      []disk.Dir{{Path: filepath.Join(dir, "d1"), Size: 256 * testChunk}},
		StateFile: filepath.Join(dir, "disks.state"),
		FS:        &probeFS{gateFS: fsys, opened: &opened},
	})
	if err != nil {
		t.Fatal(err)
	}
	opened.Store(true)
	defer ds.Close()
	<-ds.Ready()
	var logs syncBuffer
	const chunks = 24
	sizes := map[string]int64{"/q": chunks * testChunk}
	s := mustNew(t, newFake(sizes), Options{ChunkSize: testChunk, Memory: 64 * testChunk, Disk: ds,
		DiskWriters: 1, DiskQueue: 8 * testChunk, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if got := readRange(t, s, "/q", 0, -1); !bytes.Equal(got, content("/q", 0, sizes["/q"])) {
		t.Fatal("/q differs from the origin's bytes")
	}
	st := s.Stats()
	// Eight chunks fit the budget: one with the stalled writer, seven
	// waiting behind it.
	if st.DiskWriteSkips != chunks-8 {
		t.Errorf("skipped %d disk writes, want %d", st.DiskWriteSkips, chunks-8)
	}
	if st.DiskQueueBytes != 8*testChunk {
		t.Errorf("%d bytes queued, want %d", st.DiskQueueBytes, 8*testChunk)
	}
	if n := strings.Count(logs.String(), "disk write queue full"); n != 1 {
		t.Errorf("%d log lines about the full queue, want 1 (rate-limited):\n%s", n, logs.String())
	}
	close(fsys.gate)
	for i := 0; s.Stats().DiskWrites < 8; i++ {
		if i > 500 {
			t.Fatalf("%d chunks reached the disk, want 8", s.Stats().DiskWrites)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if q := s.Stats().DiskQueueBytes; q != 0 {
		t.Errorf("%d bytes still queued after the disk caught up", q)
	}
	s.Close()
}

// probeFS lets Open's probe write through before the gate is armed.
type probeFS struct {
	*gateFS
	opened *atomic.Bool
}

func (p *probeFS) OpenFile(name string, flag int, perm os.FileMode) (disk.File, error) {
	if !p.opened.Load() {
		return p.gateFS.OSFS.OpenFile(name, flag, perm)
	}
	return p.gateFS.OpenFile(name, flag, perm)
}
