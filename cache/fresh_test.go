package cache

import (
	"context"
	"testing"
	"time"
	"unsafe"
)

// Fresh finds a fresh object with a view of a buffer the caller reuses,
// and nothing the Store keeps (the index, the Meta it returns) changes
// when the buffer does: the view is never stored. Anything but a fresh
// hit is left to Lookup with an owned Key.
func TestFreshKeepsNoView(t *testing.T) {
	src := newFake(map[string]int64{"/a/x": 10, "/a/y": 10})
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, DefaultTTL: time.Hour})
	defer s.Close()
	buf := []byte("/a/z")
	view := unsafe.String(unsafe.SliceData(buf), len(buf))
	if _, ok := s.Fresh(view, nil); ok {
		t.Fatal("an unknown object was fresh")
	}
	if src.calls.Load() != 0 {
		t.Fatal("Fresh asked the origin")
	}
	if _, _, err := s.Lookup(context.Background(), NewKey("/a/x"), 0, nil); err != nil {
		t.Fatal(err)
	}
	buf[3] = 'x' // the request buffer now holds the next request's target
	meta, ok := s.Fresh(view, nil)
	if !ok || meta.Key != "/a/x" {
		t.Fatalf("fresh hit through a view: %v %v", meta, ok)
	}
	buf[3] = 'y' // reused again: what Fresh returned and what the index holds must not change
	if meta.Key != "/a/x" {
		t.Fatalf("the Meta's key changed with the request buffer: %q", meta.Key)
	}
	if _, ok := s.objs.get("/a/x"); !ok {
		t.Fatal("the index lost /a/x when the buffer changed")
	}
	if _, ok := s.Fresh(view, nil); ok {
		t.Fatal("/a/y is unknown, yet fresh")
	}
	if n := testing.AllocsPerRun(100, func() { s.Fresh("/a/x", nil) }); n != 0 {
		t.Errorf("Fresh allocates %v times per hit", n)
	}
}
