package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"edgecache/origin"
)

// Direct fetches exactly the bytes asked for, stores nothing, counts them as
// origin bytes, and refuses a new version or a range outside the object.
func TestDirect(t *testing.T) {
	size := int64(8*testChunk + 123)
	src := newFake(map[string]int64{"/d": size})
	s := newTestStore(t, src)
	meta, _, err := s.Lookup(context.Background(), NewKey("/d"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	readAll := func(off, n int64) []byte {
		t.Helper()
		r, err := s.Direct(context.Background(), meta, off, n)
		if err != nil {
			t.Fatalf("Direct(%d, %d): %v", off, n, err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("Direct(%d, %d): reading: %v", off, n, err)
		}
		return b
	}
	waitIdle(t, s)
	calls, before, origin0 := src.calls.Load(), src.bytes.Load(), s.Stats().OriginBytes
	for _, r := range [][2]int64{{5*testChunk + 7, 1}, {0, 10}, {size - 3, 3}, {testChunk - 5, 10}, {0, size}} {
		if got := readAll(r[0], r[1]); !bytes.Equal(got, content("/d", r[0], r[1])) {
			t.Fatalf("Direct(%d, %d): bytes differ from the origin's", r[0], r[1])
		}
	}
	want := int64(1 + 10 + 3 + 10 + size)
	if got := src.bytes.Load() - before; got != want {
		t.Fatalf("source sent %d bytes, want exactly the %d asked for", got, want)
	}
	if got := s.Stats().OriginBytes - origin0; got != want {
		t.Fatalf("Stats.OriginBytes grew by %d, want %d", got, want)
	}
	if got := src.calls.Load() - calls; got != 5 {
		t.Fatalf("%d fetches, want 5 (one per call)", got)
	}
	// Nothing was stored: chunk 5 (only Direct touched it) is not held.
	if m, d, _ := s.Residency(meta, 5*testChunk, 1); m+d != 0 {
		t.Fatal("Direct stored a chunk")
	}

	for _, r := range [][2]int64{{-1, 1}, {0, 0}, {size, 1}, {size - 1, 2}} {
		if _, err := s.Direct(context.Background(), meta, r[0], r[1]); err == nil {
			t.Errorf("Direct(%d, %d) outside the object: no error", r[0], r[1])
		}
	}

	src.mu.Lock()
	src.etags["/d"] = `"v2"`
	src.mu.Unlock()
	if _, err := s.Direct(context.Background(), meta, 10, 10); !errors.Is(err, ErrVersionChanged) {
		t.Fatalf("after a version change: %v, want ErrVersionChanged", err)
	}

	src.fail = func(string, int64) error { return &origin.StatusError{Code: 503, Path: "/d", Size: -1} }
	var se *origin.StatusError
	if _, err := s.Direct(context.Background(), meta, 10, 10); !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("origin failure: %v, want its *origin.StatusError", err)
	}
}

// A short body is an error, never a short answer taken for a whole one.
func TestDirectShortBody(t *testing.T) {
	src := newFake(map[string]int64{"/s": 4 * testChunk})
	s := newTestStore(t, src)
	meta, _, err := s.Lookup(context.Background(), NewKey("/s"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
	src.broken.Store(false)
	src.breakAt = 100
	r, err := s.Direct(context.Background(), meta, testChunk, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err == nil || len(b) != 100 {
		t.Fatalf("read %d bytes, err %v; want 100 and an error", len(b), err)
	}
}

// An origin that ignores ranges costs chunks through the cache, not the
// whole object per call, and the bytes are still exact.
func TestDirectOriginIgnoresRange(t *testing.T) {
	size := int64(6*testChunk + 99)
	src := newFake(map[string]int64{"/w": size})
	src.whole = true
	s := newTestStore(t, src)
	meta, _, err := s.Lookup(context.Background(), NewKey("/w"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Direct(context.Background(), meta, 2*testChunk+5, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(b, content("/w", 2*testChunk+5, 100)) {
		t.Fatalf("%d bytes, %v: differ from the origin's", len(b), err)
	}
}

// waitIdle waits until no flight of s is running, so byte counts that
// follow are Direct's alone.
func waitIdle(t *testing.T, s *Store) {
	t.Helper()
	s.wg.Wait()
}
