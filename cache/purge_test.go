package cache

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"
)

// waitDiskWrites waits until the Store has written n chunks to disk.
func waitDiskWrites(t *testing.T, s *Store, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().DiskWrites < n {
		if time.Now().After(deadline) {
			t.Fatalf("disk writes %d, want %d", s.Stats().DiskWrites, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lookupStatus returns how Lookup finds key now.
func lookupStatus(t *testing.T, s *Store, key string) Status {
	t.Helper()
	_, st, err := s.Lookup(context.Background(), NewKey(key), 0, nil)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", key, err)
	}
	return st
}

// A path purge removes the object and its query variants from memory, disk
// and the index; a prefix purge every key under it; others stay; the next
// request is a miss served byte-exact.
func TestPurge(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int64{"/a/movie": 3*testChunk + 5, "/a/movie?v=2": 2 * testChunk, "/a/movie2": 100,
		"/a/other": testChunk, "/b/x": 10}
	src := newFake(sizes)
	ds := openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 32 * testChunk, Disk: ds})
	defer s.Close()
	for key := range sizes {
		readRange(t, s, key, 0, -1)
	}
	waitDiskWrites(t, s, 4+2+1+1+1)

	p := s.PurgePath("/a/movie")
	if want := []string{"/a/movie", "/a/movie?v=2"}; !slices.Equal(p.Keys, want) || p.Objects != 2 {
		t.Errorf("PurgePath keys %q (%d), want %q", p.Keys, p.Objects, want)
	}
	if p.MemoryChunks != 6 || p.DiskChunks != 6 || p.MemoryBytes != 5*testChunk+5 || p.DiskBytes != 5*testChunk+5 {
		t.Errorf("PurgePath removed %+v, want 6 chunks, %d bytes from each tier", p, 5*testChunk+5)
	}
	for _, key := range []string{"/a/movie", "/a/movie?v=2"} {
		if st := lookupStatus(t, s, key); st != Miss {
			t.Errorf("%s after purge: status %v, want Miss", key, st)
		}
		if got := readRange(t, s, key, 0, -1); !bytes.Equal(got, content(key, 0, sizes[key])) {
			t.Errorf("%s after purge: bytes differ from the origin's", key)
		}
	}
	for _, key := range []string{"/a/movie2", "/a/other", "/b/x"} {
		if st := lookupStatus(t, s, key); st != Hit {
			t.Errorf("%s after purging /a/movie: status %v, want Hit", key, st)
		}
	}

	p = s.PurgePrefix("/a/")
	if p.Objects != 4 {
		t.Errorf("PurgePrefix(/a/) removed %d objects (%q), want 4", p.Objects, p.Keys)
	}
	if st := lookupStatus(t, s, "/a/other"); st != Miss {
		t.Errorf("/a/other after prefix purge: %v, want Miss", st)
	}
	if st := lookupStatus(t, s, "/b/x"); st != Hit {
		t.Errorf("/b/x after prefix purge of /a/: %v, want Hit", st)
	}
	if p := s.PurgeKey("/nothing"); p.Objects != 0 || len(p.Keys) != 0 {
		t.Errorf("PurgeKey(/nothing) = %+v", p)
	}
}

// An object only the disk tier holds (a restarted daemon) is purged from
// disk: the next Lookup asks the origin.
func TestPurgeDiskOnly(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int64{"/m": 2*testChunk + 1}
	src := newFake(sizes)
	ds := openDisk(t, dir, 64*testChunk)
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	readRange(t, s, "/m", 0, -1)
	s.Close()
	ds.Close()

	ds = openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	s = mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	defer s.Close()
	p := s.PurgeKey("/m")
	if p.DiskChunks != 3 || p.MemoryChunks != 0 || p.Objects != 1 {
		t.Fatalf("PurgeKey(/m) = %+v, want 3 disk chunks", p)
	}
	calls := src.calls.Load()
	if st := lookupStatus(t, s, "/m"); st != Miss {
		t.Fatalf("after purge: %v, want Miss", st)
	}
	if src.calls.Load() == calls {
		t.Fatal("origin not asked after purge")
	}
	if got := readRange(t, s, "/m", 0, -1); !bytes.Equal(got, content("/m", 0, sizes["/m"])) {
		t.Fatal("bytes differ from the origin's")
	}
}
