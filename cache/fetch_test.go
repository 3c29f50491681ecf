package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Misses beyond the fetch memory wait for it and all complete, byte-exact,
// without the flights' buffers ever exceeding it; collapsed readers still
// share one flight per chunk.
func TestFetchMemoryBudget(t *testing.T) {
	tests := []struct {
		name     string
		budget   int64 // Options.FetchMemory
		objects  int   // distinct objects, each read by readers goroutines
		readers  int
		chunks   int64 // per object
		whole    bool  // the origin ignores Range
		wantHeld int64 // the most fetch memory flights may hold
	}{
		{"distinct over 3 chunks", 3 * testChunk, 32, 1, 4, false, 3 * testChunk},
		{"distinct over 1 chunk", testChunk, 16, 1, 3, false, testChunk},
		{"below a chunk is a chunk", 1, 8, 1, 2, false, testChunk},
		{"collapsed over 2 chunks", 2 * testChunk, 1, 50, 8, false, 2 * testChunk},
		{"collapsed and distinct", 2 * testChunk, 8, 6, 3, false, 2 * testChunk},
		{"origin ignores Range", 2 * testChunk, 6, 2, 5, true, 2 * testChunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sizes := map[string]int64{}
			for i := range tt.objects {
				sizes[fmt.Sprintf("/o%d", i)] = tt.chunks*testChunk - 7 // a short last chunk
			}
			src := newFake(sizes)
			src.whole = tt.whole
			var s *Store
			var peak atomic.Int64
			src.onFetch = func(string, int64, int64) {
				// A flight takes its fetch memory before it asks.
				if held := s.Stats().FetchBytes; held > peak.Load() {
					peak.Store(held)
				}
				time.Sleep(time.Millisecond) // let the others pile up
			}
			s = mustNew(t, src, Options{ChunkSize: testChunk, Memory: 1 << 30, FetchMemory: tt.budget})
			var wg sync.WaitGroup
			errs := make(chan error, tt.objects*tt.readers)
			for key, size := range sizes {
				for r := range tt.readers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						off := int64(r) * 1000 % size // collapsed readers start at different bytes
						meta, _, err := s.Lookup(context.Background(), NewKey(key), off, nil)
						if err != nil {
							errs <- err
							return
						}
						rd := s.NewReader(meta, off, size-off)
						defer rd.Close()
						var b bytes.Buffer
						if _, err := rd.WriteTo(&b); err != nil {
							errs <- fmt.Errorf("%s: %w", key, err)
							return
						}
						if !bytes.Equal(b.Bytes(), content(key, off, size-off)) {
							errs <- fmt.Errorf("%s [%d,%d): bytes differ from the origin's", key, off, size)
						}
					}()
				}
			}
			wg.Wait()
			s.Close() // every flight has ended and given its memory back
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			st := s.Stats()
			if st.FetchBytes != 0 {
				t.Errorf("FetchBytes = %d after every flight ended, want 0", st.FetchBytes)
			}
			if p := peak.Load(); p > tt.wantHeld {
				t.Errorf("flights held %d bytes of fetch memory, want at most %d", p, tt.wantHeld)
			}
			if int64(tt.objects) > tt.wantHeld/testChunk && st.FetchWaits == 0 {
				t.Errorf("no flight waited for fetch memory (stats %+v)", st)
			}
			if !tt.whole {
				// Each chunk fetched once: alone, or in a span fetch with the next ones.
				if most := int64(tt.objects) * tt.chunks; src.calls.Load() > most || src.calls.Load() < int64(tt.objects) {
					t.Errorf("origin saw %d fetches, want %d to %d", src.calls.Load(), tt.objects, most)
				}
				var total int64
				for _, size := range sizes {
					total += size
				}
				if b := src.bytes.Load(); b != total {
					t.Errorf("origin sent %d bytes, want %d (each chunk once): %v", b, total, src.log)
				}
			}
			if st.FlightErrors != 0 {
				t.Errorf("%d flights failed", st.FlightErrors)
			}
		})
	}
}

// Read-ahead starts only when fetch memory is free: with room for one
// flight, a sequential reader never reads ahead. (Chunks 1, 3 and 5 are
// held first, so that each miss of the sequential read is a fetch of one
// chunk, not a span: see span.go.)
func TestReadAheadOnlyWhenFetchMemoryFree(t *testing.T) {
	const chunks = 6
	src := newFake(map[string]int64{"/r": chunks * testChunk})
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 1 << 30, FetchMemory: testChunk, ReadAhead: 2})
	t.Cleanup(s.Close)
	for _, i := range []int64{1, 3, 5} {
		if got := readRange(t, s, "/r", i*testChunk, testChunk); !bytes.Equal(got, content("/r", i*testChunk, testChunk)) {
			t.Fatalf("chunk %d: bytes differ", i)
		}
	}
	// A read returns with its bytes, before its flight gives the fetch
	// memory back: wait for that, or the sequential read's first flight
	// may find it taken and its read-ahead find it free (a flake in CI).
	for i := 0; s.Stats().FetchBytes != 0; i++ {
		if i == 500 {
			t.Fatal("fetch memory still held after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The sequential read's first flight holds the fetch memory until the
	// reader has looked ahead (or 2 s), not only as long as its fetch
	// happens to take.
	src.onFetch = func(string, int64, int64) {
		for deadline := time.Now().Add(2 * time.Second); s.Stats().ReadAheadSkips == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	if got := readRange(t, s, "/r", 0, -1); !bytes.Equal(got, content("/r", 0, chunks*testChunk)) {
		t.Fatal("bytes differ")
	}
	if st := s.Stats(); st.ReadAheadSkips == 0 {
		t.Fatalf("ReadAheadSkips = 0: read-ahead started while the reader's own flight held the fetch memory (stats %+v)", st)
	}
	if src.calls.Load() != chunks {
		t.Fatalf("origin saw %d fetches, want %d", src.calls.Load(), chunks)
	}
}

// Close ends a flight waiting for fetch memory: its readers get the error
// and Close does not hang.
func TestFetchMemoryWaitEndsOnClose(t *testing.T) {
	src := newFake(map[string]int64{"/a": testChunk, "/b": testChunk})
	src.gate = make(chan struct{}) // /a's body never moves until the end
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 1 << 30, FetchMemory: testChunk})
	if _, _, err := s.Lookup(context.Background(), NewKey("/a"), 0, nil); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.Lookup(context.Background(), NewKey("/b"), 0, nil)
		errc <- err
	}()
	for s.Stats().FetchWaits == 0 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup waiting for fetch memory: %v, want context.Canceled", err)
	}
	close(src.gate) // the fake's body does not watch the context
	<-closed
	if st := s.Stats(); st.FetchBytes != 0 {
		t.Fatalf("FetchBytes = %d after Close", st.FetchBytes)
	}
}

// A span is as long as its reader's range, however many misses share the
// fetch memory: it fills its chunks one after the other in the leader's
// chunk of it. Eight players starting cold 4-chunk objects at once, with
// fetch memory for two chunks, cost the origin one request per object.
// When a span's body breaks in a follower, one request resumes the rest of
// the span and the followers after it are fed from that body: every byte
// still arrives, once, and every flight gives its memory back.
func TestSpansNotCutByConcurrentMisses(t *testing.T) {
	const objects, chunks = 8, 4
	tests := []struct {
		name     string
		breakAt  int64 // the first answer's body fails after this many bytes
		minCalls int64
		maxCalls int64
	}{
		{"whole spans", 0, objects, objects},
		{"a span broken in its second chunk", testChunk + testChunk/2, objects + 1, objects + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sizes := map[string]int64{}
			for i := range objects {
				sizes[fmt.Sprintf("/o%d", i)] = chunks * testChunk
			}
			src := newFake(sizes)
			src.delay = time.Millisecond // let the misses pile up
			src.breakAt = tt.breakAt
			s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 1 << 30, FetchMemory: 2 * testChunk})
			var wg sync.WaitGroup
			errs := make(chan error, objects)
			for key, size := range sizes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					meta, _, err := s.LookupRange(context.Background(), NewKey(key), 0, -1, nil)
					if err != nil {
						errs <- err
						return
					}
					rd := s.NewReader(meta, 0, size)
					defer rd.Close()
					var b bytes.Buffer
					if _, err := rd.WriteTo(&b); err != nil {
						errs <- fmt.Errorf("%s: %w", key, err)
					} else if !bytes.Equal(b.Bytes(), content(key, 0, size)) {
						errs <- fmt.Errorf("%s: bytes differ from the origin's", key)
					}
				}()
			}
			wg.Wait()
			s.Close()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n := src.calls.Load(); n < tt.minCalls || n > tt.maxCalls {
				t.Errorf("origin asked %d times for %d objects, want %d to %d: %v", n, objects, tt.minCalls, tt.maxCalls, src.log)
			}
			if b := src.bytes.Load(); b != objects*chunks*testChunk {
				t.Errorf("origin sent %d bytes, want %d", b, objects*chunks*testChunk)
			}
			if st := s.Stats(); st.FetchBytes != 0 || st.FlightErrors != 0 {
				t.Errorf("after every flight ended: FetchBytes %d, FlightErrors %d, want 0", st.FetchBytes, st.FlightErrors)
			}
		})
	}
}
