package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"testing"
)

// Pieces of every size class and whole slots never overlap while held, and
// a slab's slot is whole again once all its pieces are released.
func TestArenaSlabs(t *testing.T) {
	const slot = 16 << 10
	a, err := newArena(8*slot, slot, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.classes) != 2 { // 8K, 4K
		t.Fatalf("classes %v", a.classes)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var held []*chunk
	check := func() {
		for i, c := range held {
			if c.a == nil {
				continue
			}
			for j := range c.data {
				if c.data[j] != byte(i) {
					t.Fatalf("chunk %d (%d bytes at %d) overwritten at %d", i, len(c.data), c.off, j)
				}
			}
		}
	}
	for round := range 600 {
		if len(held) > 0 && rng.IntN(3) == 0 {
			k := rng.IntN(len(held))
			held[k].unref()
			held[k] = held[len(held)-1]
			held = held[:len(held)-1]
			for i, c := range held { // re-mark: indexes moved
				for j := range c.data {
					c.data[j] = byte(i)
				}
			}
			continue
		}
		n := int64(1 + rng.IntN(slot))
		if rng.IntN(2) == 0 {
			n = int64(1 + rng.IntN(slot/8))
		}
		c := a.alloc(n, "v")
		if int64(len(c.data)) != n {
			t.Fatalf("round %d: %d bytes, want %d", round, len(c.data), n)
		}
		for j := range c.data {
			c.data[j] = byte(len(held))
		}
		held = append(held, c)
		if round%50 == 0 {
			check()
		}
	}
	check()
	for _, c := range held {
		c.unref()
	}
	if a.used.Load() != 0 || len(a.free) != 8 {
		t.Fatalf("after releasing everything: %d bytes used, %d of 8 slots free", a.used.Load(), len(a.free))
	}
	for cl := range a.partial {
		if len(a.partial[cl]) != 0 {
			t.Fatalf("class %d still has partial slabs", cl)
		}
	}
}

// A full arena falls back to the Go heap; a chunk is released once, and a
// second release panics rather than hand its memory out twice.
func TestArenaFallbackAndDoubleRelease(t *testing.T) {
	a, err := newArena(2*testChunk, testChunk, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := a.alloc(testChunk, "v"), a.alloc(testChunk, "v")
	c3 := a.alloc(testChunk, "v")
	if c1.a == nil || c2.a == nil || c3.a != nil || a.fallbacks.Load() != 1 {
		t.Fatalf("arena of 2 slots: %v %v %v, %d fallbacks", c1.a != nil, c2.a != nil, c3.a != nil, a.fallbacks.Load())
	}
	c1.ref()
	c1.unref()
	c1.unref()
	defer func() {
		if recover() == nil {
			t.Fatal("a second release did not panic")
		}
	}()
	c1.unref()
}

// A chunk a Reader pinned, or is reading from, stays valid while the
// memory tier evicts it and other chunks reuse the arena: the arena hands
// its slot out only after the Reader lets go. With poisoning on (every
// test of the package), a read after release would return 0xDB bytes.
func TestArenaChunkOutlivesEviction(t *testing.T) {
	size := int64(4 * testChunk)
	sizes := map[string]int64{"/pinned": size}
	for i := range 8 {
		sizes["/other"+string(rune('a'+i))] = size
	}
	src := newFake(sizes)
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 4 * testChunk, FetchMemory: 2 * testChunk})
	defer s.Close()
	readRange(t, s, "/pinned", 0, size)
	for inFlight(s) > 0 {
		runtime.Gosched()
	}
	ctx := context.Background()
	meta, _, err := s.Lookup(ctx, NewKey("/pinned"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(meta, 0, size)
	if mem, _, total := r.Pin(PinChunks); mem != total {
		t.Fatalf("pinned %d of %d chunks from memory", mem, total)
	}
	first := make([]byte, 100)
	if _, err := io.ReadFull(r, first); err != nil { // the Reader is inside chunk 0
		t.Fatal(err)
	}
	for i := range 8 { // evict every pinned chunk, and reuse the arena
		k := "/other" + string(rune('a'+i))
		if got := readRange(t, s, k, 0, size); !bytes.Equal(got, content(k, 0, size)) {
			t.Fatalf("%s: other bytes", k)
		}
	}
	if s.mem.contains(chunkID{"/pinned", 0}, meta.version) {
		t.Fatal("the pinned chunks were not evicted; the test proves nothing")
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if got := append(first, rest...); !bytes.Equal(got, content("/pinned", 0, size)) {
		t.Fatal("a pinned chunk changed after it was evicted")
	}
	if src.calls.Load() > 4+8*4 {
		t.Errorf("origin asked %d times", src.calls.Load())
	}
}

// TestArenaWarm checks that warming the arena reads every page without
// changing a byte, while chunks are written into it, and that it stops when
// its context is done.
func TestArenaWarm(t *testing.T) {
	const slot = 64 << 10
	a, err := newArena(64*slot, slot, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.prefault(); err != nil {
		t.Fatal(err)
	}
	var chunks []*chunk
	for i := range 32 {
		c := a.alloc(slot, "v")
		for j := range c.data {
			c.data[j] = byte(i + j)
		}
		chunks = append(chunks, c)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.warm(context.Background())
		done <- err
	}()
	// Chunks written while it runs.
	for i := 32; i < 64; i++ {
		c := a.alloc(slot, "v")
		for j := range c.data {
			c.data[j] = byte(i + j)
		}
		chunks = append(chunks, c)
	}
	if err := <-done; err != nil {
		t.Fatalf("warm: %v", err)
	}
	for i, c := range chunks {
		for j, b := range c.data {
			if b != byte(i+j) {
				t.Fatalf("chunk %d byte %d: %#x after warming, want %#x", i, j, b, byte(i+j))
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.warm(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("warm with a done context: %v, want context.Canceled", err)
	}
}
