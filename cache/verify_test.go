package cache

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"edgecache/cache/disk"
	"edgecache/cache/disk/disktest"
)

// Issue #8 §3: bytes damaged on disk while the daemon runs, after the chunk
// was verified (or written by this process), are never copied out: the copy
// path and the promotion to memory verify the checksum and refetch.
func TestDiskCorruptedWhileRunning(t *testing.T) {
	for _, path := range []string{"copy", "promotion"} {
		t.Run(path, func(t *testing.T) {
			s, src, ds, dir, meta := onDiskOnly(t)
			if path == "promotion" {
				// A first disk hit that reads nothing (a HEAD, say): the
				// next hit promotes the chunk into memory.
				r := s.NewReader(meta, 0, meta.Size)
				if _, d, _ := r.Pin(PinChunks); d != 3 {
					t.Fatalf("%d chunks on disk, want 3", d)
				}
				r.Close()
			}
			for _, f := range disktest.ChunkFiles(filepath.Join(dir, "d1")) {
				if !bytes.Contains([]byte(f), []byte("-")) {
					continue
				}
				disktest.RotByte(t, f, 100) // below the file system: the copy path must find it
			}
			before, beforeBytes := src.calls.Load(), src.bytes.Load()
			r := s.NewReader(meta, 0, meta.Size)
			got, err := io.ReadAll(r) // Read copies: never sendfile
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content("/c", 0, meta.Size)) {
				t.Fatal("served bytes differ from the origin's")
			}
			// Every damaged chunk refetched, each once: one at a time as the
			// reader finds them, or consecutive ones in one span fetch when
			// the disk store's own verification dropped them first.
			if n, b := src.calls.Load()-before, src.bytes.Load()-beforeBytes; n < 1 || n > 3 || b != meta.Size {
				t.Errorf("%d origin fetches of %d bytes, want 1-3 of %d (every damaged chunk refetched once): %v", n, b, meta.Size, src.log)
			}
			if n := s.Stats().DiskBadReads; n < 1 || n > 3 {
				t.Errorf("DiskBadReads %d, want 1-3", n)
			}
			if n := ds.Stats().ChecksumFailures; n < 3 {
				t.Errorf("disk ChecksumFailures %d, want at least 3", n)
			}
			// What memory holds now is the origin's bytes.
			got = readRange(t, s, "/c", 0, -1)
			if !bytes.Equal(got, content("/c", 0, meta.Size)) {
				t.Fatal("bytes differ from the origin's on the next read")
			}
		})
	}
}

// onDiskOnly returns a Store over a one-directory disk store (in dir) whose
// memory tier holds 4 chunks, with the 3 chunks of "/c" written to disk and
// then pushed out of memory by reading "/other", and the Meta of "/c".
func onDiskOnly(t *testing.T) (*Store, *fakeSource, *disk.Store, string, *Meta) {
	t.Helper()
	dir := t.TempDir()
	src := newFake(map[string]int64{"/c": 3 * testChunk, "/other": 8 * testChunk})
	ds := openDisk(t, dir, 64*testChunk)
	t.Cleanup(func() { ds.Close() })
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 4 * testChunk, Disk: ds})
	t.Cleanup(s.Close) // runs before the disk store's Close
	readRange(t, s, "/c", 0, -1)
	for i := 0; len(disktest.ChunkFiles(filepath.Join(dir, "d1"))) < 3; i++ {
		if i > 1000 {
			t.Fatal("chunks never reached the disk")
		}
		time.Sleep(5 * time.Millisecond)
	}
	readRange(t, s, "/other", 0, -1) // /c is on disk only now
	meta, _, err := s.Lookup(context.Background(), NewKey("/c"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, src, ds, dir, meta
}
