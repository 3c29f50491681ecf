package cache

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
)

// Issue #8 §8: Close may run while readers are still starting fetches; a
// fetch asked for after Close fails with ErrClosed instead of racing the
// flights' WaitGroup (go test -race checks the race).
func TestCloseWhileReadersStartFetches(t *testing.T) {
	sizes := map[string]int64{}
	keys := []string{"/c0", "/c1", "/c2", "/c3", "/c4", "/c5", "/c6", "/c7"}
	for _, k := range keys {
		sizes[k] = 6 * testChunk
	}
	sizes["/late"] = testChunk
	s := mustNew(t, newFake(sizes), Options{ChunkSize: testChunk, Memory: 16 * testChunk})
	metas := make([]*Meta, len(keys))
	for i, k := range keys {
		m, _, err := s.Lookup(context.Background(), NewKey(k), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		metas[i] = m
	}
	var wg sync.WaitGroup
	for _, m := range metas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.NewReader(m, 0, m.Size)
			defer r.Close()
			_, err := io.Copy(io.Discard, r)
			if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", m.Key, err)
			}
		}()
	}
	s.Close()
	wg.Wait()
	s.Close() // idempotent
	if _, _, err := s.Lookup(context.Background(), NewKey("/late"), 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("lookup after Close: %v, want ErrClosed", err)
	}
}
