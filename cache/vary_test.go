package cache

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"edgecache/origin"
)

// fieldsReq is a Request with the given fields, arriving now.
type fieldsReq http.Header

func (r fieldsReq) Values(name string) []string { return http.Header(r).Values(name) }
func (r fieldsReq) Clone() http.Header          { return http.Header(r).Clone() }
func (r fieldsReq) Time() time.Time             { return time.Now() }

// A lookup for one variant of an object that purges keep wiping, whose
// every attempt joins a first fetch led by a request for another variant
// (answered for that variant), still gets its own: its last attempt fetches
// for it alone. It was a 502 ("answered for another variant 3 times") in
// the randomized test's variant setting, under purges every 20 ms.
func TestLookupVariantAmidOtherFirstFetches(t *testing.T) {
	const key = "/v"
	src := newFake(map[string]int64{key: 2 * testChunk})
	src.header = func(_ string, r *origin.Response) {
		r.Header = http.Header{"Cache-Control": {"max-age=3600"}, "Etag": {r.ETag}, "Vary": {"X-V"}}
	}
	a, b := fieldsReq{"X-V": {"a"}}, fieldsReq{"X-V": {"b"}}

	// A fetch for variant b waits at the origin until a lookup has joined
	// its flight (or the test is done): a first fetch in progress.
	var s *Store
	done := make(chan struct{})
	entered := make(chan struct{}, 8)
	var mu sync.Mutex
	var fields []string // X-V of every fetch, in order
	src.onFetch = func(_ string, _, _ int64) {
		src.mu.Lock()
		last := src.sent[len(src.sent)-1].Get("X-V")
		src.mu.Unlock()
		mu.Lock()
		fields = append(fields, last)
		mu.Unlock()
		if last != "b" {
			return
		}
		joins := s.Stats().FlightJoins
		entered <- struct{}{}
		for s.Stats().FlightJoins == joins {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}
	var wg sync.WaitGroup
	leadB := func() { // a first fetch for variant b, in progress when this returns
		for i := 0; s.fetching(key, 0); i++ { // the one before, ended
			if i > 10000 {
				t.Error("a first fetch for b never ended")
				return
			}
			time.Sleep(time.Millisecond)
		}
		s.PurgePath(key)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.Lookup(context.Background(), NewKey(key), 0, b); err != nil {
				t.Errorf("lookup of variant b: %v", err)
			}
		}()
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Error("no first fetch for b started")
		}
	}
	s = mustNew(t, src, Options{ChunkSize: testChunk, Memory: 64 * testChunk, lookupAgain: func(int) { leadB() }})
	defer s.Close()
	defer wg.Wait()
	defer close(done)

	leadB()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	meta, _, err := s.Lookup(ctx, NewKey(key), 0, a)
	if errors.Is(err, ErrVariantMismatch) {
		t.Fatalf("lookup of variant a: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := variantKey(key, []string{"x-v"}, http.Header{"X-V": {"a"}}); meta.Key != want {
		t.Fatalf("variant a's lookup answered with %q, want %q", meta.Key, want)
	}
	r := s.NewReader(meta, 0, meta.Size)
	var buf bytes.Buffer
	_, err = r.WriteTo(&buf)
	r.Close()
	if err != nil || !bytes.Equal(buf.Bytes(), content(key, 0, meta.Size)) {
		t.Fatalf("variant a's bytes differ from the origin's (%v)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Each attempt but the last joined a first fetch for b; b's third was
	// in progress when the last attempt fetched for a alone.
	if len(fields) < 4 || fields[0] != "b" || fields[1] != "b" || fields[2] != "b" || fields[3] != "a" {
		t.Errorf("fetches by variant: %v, want b b b a ...", fields)
	}
}
