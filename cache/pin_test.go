package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"edgecache/cache/disk"
)

// Issue #8 §8: a Reader's Pin counts only chunks it holds, so the answer's
// Cache-Status is exact: a chunk counted as on disk is sent from its file
// even if the file is deleted before the Reader reaches it, and nothing is
// fetched for it.
func TestPinHoldsWhatItCounts(t *testing.T) {
	dir := t.TempDir()
	ds := openDisk(t, dir, 256*testChunk)
	defer ds.Close()
	size := int64(6*testChunk + 100)
	sizes := map[string]int64{"/other": 32 * testChunk}
	for i := range 3 {
		sizes[fmt.Sprint("/pinned", i)] = size
	}
	src := newFake(sizes)
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 8 * testChunk, Disk: ds})
	defer s.Close()

	table := []struct {
		name          string
		off, n        int64
		pinMax        int
		held, total   int
		wantNoFetches bool
	}{
		{"whole object, all pinned", 0, size, PinChunks, 7, 7, true},
		{"a range inside one chunk", testChunk + 5, 10, PinChunks, 1, 1, true},
		{"two pinned, the rest counted", 0, size, 2, 7, 7, false},
	}
	for i, tc := range table {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("/pinned", i)
			if got := readRange(t, s, key, 0, -1); !bytes.Equal(got, content(key, 0, size)) {
				t.Fatal("first read differs")
			}
			meta, _, err := s.Lookup(context.Background(), NewKey(key), 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			for j := 0; !allOnDisk(s, meta); j++ {
				if j > 1000 {
					t.Fatal("the object never reached the disk")
				}
				time.Sleep(5 * time.Millisecond)
			}
			readRange(t, s, "/other", 0, -1) // out of memory: on disk only
			before := src.calls.Load()

			r := s.NewReader(meta, tc.off, tc.n)
			defer r.Close()
			m, d, total := r.Pin(tc.pinMax)
			if m+d != tc.held || total != tc.total {
				t.Fatalf("Pin: mem %d disk %d of %d, want %d of %d held", m, d, total, tc.held, tc.total)
			}
			if !tc.wantNoFetches {
				return
			}
			for j := int64(0); j < 7; j++ { // every chunk file goes away before the Reader reads
				ds.Remove(disk.ID{Key: key, Index: j})
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content(key, tc.off, tc.n)) {
				t.Fatal("bytes differ from the origin's")
			}
			if n := src.calls.Load() - before; n != 0 {
				t.Fatalf("%d origin fetches for chunks Pin held", n)
			}
		})
	}
}

func allOnDisk(s *Store, meta *Meta) bool {
	for idx := int64(0); idx*s.chunk < meta.Size; idx++ {
		if !s.onDisk(meta, idx) {
			return false
		}
	}
	return true
}

// Pins come from a budget of the Store's (a quarter of the memory tier, at
// least PinChunks chunks): responses that would pin more get fewer (their
// Cache-Status counts the rest where they were), are counted, and give their
// pins back as they reach the chunks and when they are closed.
func TestPinBudget(t *testing.T) {
	size := int64(16 * testChunk)
	src := newFake(map[string]int64{"/p": size})
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 64 * testChunk}) // budget: 16 chunks
	defer s.Close()
	if got := readRange(t, s, "/p", 0, -1); !bytes.Equal(got, content("/p", 0, size)) {
		t.Fatal("bytes differ")
	}
	meta, _, err := s.Lookup(context.Background(), NewKey("/p"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1 := s.NewReader(meta, 0, size)
	if m, _, total := r1.Pin(PinChunks); m != 16 || total != 16 || s.Stats().PinnedChunks != 16 {
		t.Fatalf("first reader: %d of %d counted, %d pinned", m, total, s.Stats().PinnedChunks)
	}
	r2 := s.NewReader(meta, 0, size)
	if m, _, total := r2.Pin(PinChunks); m != 16 || total != 16 || s.Stats().PinsDenied != 16 || s.Stats().PinnedChunks != 16 {
		t.Fatalf("second reader: %d of %d counted (from the tier), %+v", m, total, s.Stats())
	}
	// Reading gives pins back chunk by chunk; closing gives back the rest.
	if _, err := io.CopyN(io.Discard, r1, 3*testChunk+1); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().PinnedChunks; n != 12 {
		t.Errorf("%d pinned after reading into the fourth chunk, want 12", n)
	}
	for _, r := range []*Reader{r1, r2} {
		r.Close()
	}
	if n := s.Stats().PinnedChunks; n != 0 {
		t.Fatalf("%d pinned after every reader closed", n)
	}
	r3 := s.NewReader(meta, 0, size)
	defer r3.Close()
	if r3.Pin(PinChunks); s.Stats().PinnedChunks != 16 {
		t.Fatalf("the budget was not given back: %d pinned", s.Stats().PinnedChunks)
	}
	got, err := io.ReadAll(r3)
	if err != nil || !bytes.Equal(got, content("/p", 0, size)) {
		t.Fatalf("read after pinning: %v", err)
	}
}
