package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgecache/origin"
)

// content returns the deterministic bytes of key at [off, off+n).
func content(key string, off, n int64) []byte {
	p := make([]byte, n)
	origin.FillContent(key, off, p)
	return p
}

// fakeSource serves objects of the given sizes from content(), and counts
// what it was asked. Hooks let tests slow down, break or change answers.
type fakeSource struct {
	mu      sync.Mutex
	sizes   map[string]int64
	etags   map[string]string
	calls   atomic.Int64
	bytes   atomic.Int64
	whole   bool                                      // ignore ranges: answer 200 with the whole object
	gate    chan struct{}                             // if set, every Read waits for a token
	breakAt int64                                     // if > 0, the first fetch's body fails after this many bytes
	fail    func(key string, off int64) error         // if set and non-nil, Fetch fails with it
	delay   time.Duration                             // before the answer headers
	log     []string                                  // "key off n" of every fetch
	broken  atomic.Bool                               // breakAt used up
	onFetch func(key string, off, n int64)            // observer
	header  func(key string, r *origin.Response)      // final tweaks to the answer
	sent    []http.Header                             // the request fields of every fetch
	cond    bool                                      // answer 304 to a conditional fetch whose If-None-Match is the ETag
	_       func(ctx context.Context) context.Context // unused
}

func newFake(sizes map[string]int64) *fakeSource {
	return &fakeSource{sizes: sizes, etags: map[string]string{}}
}

func (f *fakeSource) Fetch(ctx context.Context, key string, off, n int64, h http.Header) (*origin.Response, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.log = append(f.log, fmt.Sprintf("%s %d %d", key, off, n))
	f.sent = append(f.sent, h.Clone())
	size, ok := f.sizes[key]
	etag := f.etags[key]
	f.mu.Unlock()
	if f.onFetch != nil {
		f.onFetch(key, off, n)
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.fail != nil {
		if err := f.fail(key, off); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, &origin.StatusError{Code: http.StatusNotFound, Path: key, Size: -1}
	}
	if etag == "" {
		etag = `"v1"`
	}
	if f.cond && h.Get("If-None-Match") == etag {
		rh := http.Header{}
		rh.Set("ETag", etag)
		rh.Set("Cache-Control", "max-age=3600")
		rh.Set("X-Refreshed", "yes")
		return nil, &origin.StatusError{Code: http.StatusNotModified, Path: key, Size: -1, Header: rh}
	}
	r := &origin.Response{Status: 206, Offset: off, Size: size, ETag: etag, CacheControl: "max-age=3600", ContentType: "video/mp4"}
	if f.whole || n < 0 {
		r.Status, r.Offset, r.Length = 200, 0, size
	} else {
		if off >= size {
			h := http.Header{}
			h.Set("ETag", etag)
			return nil, &origin.StatusError{Code: 416, Path: key, Size: size, Header: h}
		}
		r.Length = min(n, size-off)
	}
	body := &fakeBody{f: f, data: content(key, r.Offset, r.Length)}
	if f.breakAt > 0 && !f.broken.Swap(true) {
		body.data = body.data[:min(int64(len(body.data)), f.breakAt)]
		body.err = errors.New("connection reset")
	}
	r.Body = body
	if f.header != nil {
		f.header(key, r)
	}
	return r, nil
}

type fakeBody struct {
	f    *fakeSource
	data []byte
	err  error
}

func (b *fakeBody) Read(p []byte) (int, error) {
	if b.f.gate != nil {
		<-b.f.gate
	}
	if len(b.data) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 64<<10)], b.data)
	b.data = b.data[n:]
	b.f.bytes.Add(int64(n))
	return n, nil
}

func (b *fakeBody) Close() error { return nil }

const testChunk = 64 << 10

func newTestStore(t *testing.T, src Source) *Store {
	t.Helper()
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 64 * testChunk * 16, NegativeTTL: time.Minute})
	t.Cleanup(s.Close)
	return s
}

func readRange(t *testing.T, s *Store, key string, off, n int64) []byte {
	t.Helper()
	meta, _, err := s.Lookup(context.Background(), NewKey(key), off, nil)
	if err != nil {
		t.Fatalf("Lookup(%s, %d): %v", key, off, err)
	}
	if n < 0 {
		n = meta.Size - off
	}
	r := s.NewReader(meta, off, n)
	defer r.Close()
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatalf("read %s [%d,+%d): %v", key, off, n, err)
	}
	return buf.Bytes()
}

func TestReadRanges(t *testing.T) {
	size := int64(5*testChunk + 1234) // short last chunk
	src := newFake(map[string]int64{"/a": size, "/tiny": 10})
	s := newTestStore(t, src)
	cases := []struct {
		name   string
		key    string
		off, n int64
	}{
		{"whole", "/a", 0, -1},
		{"first byte", "/a", 0, 1},
		{"inside one chunk", "/a", 100, 1000},
		{"cross one boundary", "/a", testChunk - 10, 20},
		{"cross several", "/a", testChunk/2 + 3, 3*testChunk + 7},
		{"short last chunk", "/a", 5 * testChunk, 1234},
		{"last byte", "/a", size - 1, 1},
		{"exactly a chunk", "/a", 2 * testChunk, testChunk},
		{"tiny whole", "/tiny", 0, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for pass := 0; pass < 2; pass++ { // cold, then warm
				got := readRange(t, s, tc.key, tc.off, tc.n)
				n := tc.n
				if n < 0 {
					n = src.sizes[tc.key] - tc.off
				}
				if want := content(tc.key, tc.off, n); !bytes.Equal(got, want) {
					t.Fatalf("pass %d: bytes differ from the origin's (got %d bytes, want %d)", pass, len(got), len(want))
				}
			}
		})
	}
	// Everything was read twice; the origin must have sent each chunk once.
	if got, want := src.bytes.Load(), size+10; got != want {
		t.Errorf("origin sent %d bytes, want %d (each byte once)", got, want)
	}
}

func TestReadWithRead(t *testing.T) {
	src := newFake(map[string]int64{"/a": 3*testChunk + 5})
	s := newTestStore(t, src)
	meta, _, err := s.Lookup(context.Background(), NewKey("/a"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(meta, 7, meta.Size-7)
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content("/a", 7, meta.Size-7)) {
		t.Fatal("bytes differ")
	}
}

func TestCollapse(t *testing.T) {
	const chunks = 8
	src := newFake(map[string]int64{"/c": chunks * testChunk})
	src.delay = 20 * time.Millisecond
	s := newTestStore(t, src)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			meta, _, err := s.Lookup(context.Background(), NewKey("/c"), 0, nil)
			if err != nil {
				errs <- err
				return
			}
			r := s.NewReader(meta, 0, meta.Size)
			defer r.Close()
			var b bytes.Buffer
			if _, err := r.WriteTo(&b); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(b.Bytes(), content("/c", 0, meta.Size)) {
				errs <- errors.New("bytes differ")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Lookup asks for the first chunk; the readers' span fetch for the
	// other seven.
	if got := src.calls.Load(); got != 2 {
		t.Errorf("origin saw %d fetches, want 2: %v", got, src.log)
	}
	if got := src.bytes.Load(); got != chunks*testChunk {
		t.Errorf("origin sent %d bytes, want %d", got, chunks*testChunk)
	}
}

// A waiter must see the first bytes of a chunk before the chunk is complete.
func TestReadWhileWrite(t *testing.T) {
	src := newFake(map[string]int64{"/s": testChunk})
	src.gate = make(chan struct{})
	s := newTestStore(t, src)
	done := make(chan struct{})
	var meta *Meta
	go func() {
		defer close(done)
		var err error
		meta, _, err = s.Lookup(context.Background(), NewKey("/s"), 0, nil)
		if err != nil {
			t.Error(err)
		}
	}()
	<-done
	if meta == nil {
		t.FailNow()
	}
	r := s.NewReader(meta, 0, meta.Size)
	defer r.Close()
	src.gate <- struct{}{} // let exactly one body read through (64 KiB max, but the fake caps reads)
	p := make([]byte, 10)
	n, err := r.Read(p)
	if err != nil || n == 0 {
		t.Fatalf("first read: %d, %v", n, err)
	}
	if !bytes.Equal(p[:n], content("/s", 0, int64(n))) {
		t.Fatal("first bytes differ")
	}
	close(src.gate)
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(p[:n], rest...), content("/s", 0, testChunk)) {
		t.Fatal("bytes differ")
	}
}

// The first reader goes away mid-chunk; the flight completes for the cache
// and another reader gets every byte, with one origin fetch.
func TestAbandonedReader(t *testing.T) {
	src := newFake(map[string]int64{"/ab": 2 * testChunk})
	src.gate = make(chan struct{})
	s := newTestStore(t, src)
	// Let bytes through one Read at a time until the player has read a
	// little (the read-ahead flight may take some of them too).
	stop, fed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(fed)
		for {
			select {
			case src.gate <- struct{}{}:
			case <-stop:
				return
			}
		}
	}()
	meta, _, err := s.Lookup(context.Background(), NewKey("/ab"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1 := s.NewReader(meta, 0, meta.Size)
	p := make([]byte, 100)
	if _, err := r1.Read(p); err != nil {
		t.Fatal(err)
	}
	r1.Close() // the player seeks away
	close(stop)
	<-fed
	close(src.gate)
	got := readRange(t, s, "/ab", 0, -1)
	if !bytes.Equal(got, content("/ab", 0, 2*testChunk)) {
		t.Fatal("bytes differ")
	}
	if c := src.calls.Load(); c != 2 {
		t.Fatalf("origin fetches: %d, want 2 (%v)", c, src.log)
	}
}

func TestResumeAfterBrokenBody(t *testing.T) {
	src := newFake(map[string]int64{"/r": testChunk})
	src.breakAt = 1000
	s := newTestStore(t, src)
	got := readRange(t, s, "/r", 0, -1)
	if !bytes.Equal(got, content("/r", 0, testChunk)) {
		t.Fatal("bytes differ")
	}
	if src.log[1] != fmt.Sprintf("/r 1000 %d", testChunk-1000) {
		t.Fatalf("resume fetch was %q", src.log[1])
	}
}

func TestBrokenBodyNoRetries(t *testing.T) {
	src := newFake(map[string]int64{"/r": testChunk})
	src.breakAt = 1000
	src.gate = make(chan struct{})
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Retries: -1})
	defer s.Close()
	meta, _, err := s.Lookup(context.Background(), NewKey("/r"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(meta, 0, meta.Size)
	defer r.Close()
	go func() { src.gate <- struct{}{} }() // one body read: the 1000 bytes before the break
	p := make([]byte, testChunk)
	n, err := r.Read(p)
	if err != nil || n == 0 || n > 1000 {
		t.Fatalf("first read: %d, %v", n, err)
	}
	close(src.gate)
	rest, err := io.ReadAll(r)
	if err == nil {
		t.Fatal("a broken body must surface as an error")
	}
	got := append(p[:n], rest...)
	if !bytes.Equal(got, content("/r", 0, int64(len(got)))) {
		t.Fatal("bytes before the break differ")
	}
	// The broken chunk was not stored: the next read refetches it.
	if held, _, _ := s.Residency(meta, 0, meta.Size); held != 0 {
		t.Fatal("a broken chunk was stored")
	}
	got = readRange(t, s, "/r", 0, -1)
	if !bytes.Equal(got, content("/r", 0, testChunk)) {
		t.Fatal("bytes differ")
	}
}

func TestOriginIgnoresRange(t *testing.T) {
	size := int64(6*testChunk + 99)
	src := newFake(map[string]int64{"/w": size})
	src.whole = true
	s := newTestStore(t, src)
	got := readRange(t, s, "/w", 3*testChunk+5, 100)
	if !bytes.Equal(got, content("/w", 3*testChunk+5, 100)) {
		t.Fatal("bytes differ")
	}
	// Chunks 0..2 were stored while streaming past.
	meta, _, _ := s.Lookup(context.Background(), NewKey("/w"), 0, nil)
	if held, _, _ := s.Residency(meta, 0, 3*testChunk); held != 3 {
		t.Fatalf("held %d of the 3 chunks before the wanted one", held)
	}
	// The chunks after the wanted one are stored in the background, once
	// the wanted one is complete.
	for i := 0; i < 100; i++ {
		if held, _, total := s.Residency(meta, 0, size); held == total {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	calls := src.calls.Load()
	got = readRange(t, s, "/w", 0, -1)
	if !bytes.Equal(got, content("/w", 0, size)) {
		t.Fatal("bytes differ")
	}
	if src.calls.Load() != calls {
		t.Fatalf("the whole object should have been stored from the first answer; %d more fetches", src.calls.Load()-calls)
	}
}

func TestNegativeCaching(t *testing.T) {
	src := newFake(map[string]int64{})
	s := newTestStore(t, src)
	for i := 0; i < 3; i++ {
		_, st, err := s.Lookup(context.Background(), NewKey("/missing"), 0, nil)
		var se *origin.StatusError
		if !errors.As(err, &se) || se.Code != 404 {
			t.Fatalf("lookup %d: %v", i, err)
		}
		if i > 0 && st != Hit {
			t.Fatalf("lookup %d: status %v, want Hit", i, st)
		}
	}
	if c := src.calls.Load(); c != 1 {
		t.Fatalf("origin asked %d times, want 1", c)
	}
}

func TestEmptyObject(t *testing.T) {
	src := newFake(map[string]int64{"/e": 0})
	s := newTestStore(t, src)
	meta, _, err := s.Lookup(context.Background(), NewKey("/e"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Size != 0 || meta.ETag != `"v1"` {
		t.Fatalf("meta %+v", meta)
	}
}

func TestLookupPastEnd(t *testing.T) {
	src := newFake(map[string]int64{"/p": 2 * testChunk})
	s := newTestStore(t, src)
	meta, _, err := s.Lookup(context.Background(), NewKey("/p"), 10*testChunk, nil)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Size != 2*testChunk {
		t.Fatalf("size %d", meta.Size)
	}
}

// A lookup past the end of an unknown object learns its size from the
// origin's 416, then asks for chunk 0; when another request's fetch of
// chunk 0 completes in between (the object became known), the lookup
// looks again and finds it. It was an error (a 502 to the client), found
// by server.TestRandomRequestsMatchOrigin with purges.
func TestLookupPastEndKnownMeanwhile(t *testing.T) {
	src := newFake(map[string]int64{"/p": 2 * testChunk})
	var s *Store
	src.onFetch = func(key string, off, n int64) {
		if off >= 2*testChunk { // the lookup past the end: chunk 0 completes first
			if got := readRange(t, s, "/p", 0, 1); !bytes.Equal(got, content("/p", 0, 1)) {
				t.Error("chunk 0 differs from the origin's bytes")
			}
		}
	}
	s = newTestStore(t, src)
	meta, _, err := s.Lookup(context.Background(), NewKey("/p"), 10*testChunk, nil)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Size != 2*testChunk {
		t.Fatalf("size %d", meta.Size)
	}
}

func TestVersionChange(t *testing.T) {
	src := newFake(map[string]int64{"/v": 4 * testChunk})
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 64 * testChunk, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	defer s.Close()
	old, _, err := s.Lookup(context.Background(), NewKey("/v"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The origin changes the object; a reader of the old version that needs a
	// chunk not in memory must fail, never mix versions.
	src.mu.Lock()
	src.etags["/v"] = `"v2"`
	src.mu.Unlock()
	r := s.NewReader(old, 0, old.Size)
	var b bytes.Buffer
	_, err = r.WriteTo(&b)
	if !errors.Is(err, ErrVersionChanged) {
		t.Fatalf("err = %v, want ErrVersionChanged", err)
	}
	if b.Len() != testChunk {
		t.Fatalf("served %d bytes of the old version before failing, want one chunk", b.Len())
	}
	// Once stale, the lookup finds the new version. (Wait for the flights
	// of the old version to end first: a lookup joins a flight in progress,
	// and the first chunk's may still be storing.)
	for i := 0; inFlight(s) > 0 && i < 1000; i++ {
		time.Sleep(time.Millisecond)
	}
	now.Add(int64(2 * time.Hour))
	meta, st, err := s.Lookup(context.Background(), NewKey("/v"), 0, nil)
	if err != nil || st != Revalidated || meta.ETag != `"v2"` {
		t.Fatalf("after expiry: %v %v %+v", err, st, meta)
	}
	if s.Stats().VersionChanges == 0 {
		t.Fatal("version change not counted")
	}
}

func TestMemoryBudget(t *testing.T) {
	sizes := map[string]int64{}
	for i := 0; i < 50; i++ {
		sizes["/m"+strconv.Itoa(i)] = 4 * testChunk
	}
	src := newFake(sizes)
	budget := int64(32 * testChunk)
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: budget})
	defer s.Close()
	for k := range sizes {
		got := readRange(t, s, k, 0, -1)
		if !bytes.Equal(got, content(k, 0, 4*testChunk)) {
			t.Fatal("bytes differ")
		}
		if b := s.mem.Bytes(); b > budget {
			t.Fatalf("memory tier holds %d bytes, budget %d", b, budget)
		}
	}
}

func TestFreshness(t *testing.T) {
	cases := []struct {
		cc, expires string
		ttl         time.Duration
		noStore     bool
	}{
		{"", "", time.Hour, false}, // nothing said, no Last-Modified: the operator's default
		{"max-age=60", "", time.Minute, false},
		{"public, max-age=60, s-maxage=10", "", 10 * time.Second, false},
		{"no-cache", "", 0, false},
		{"private, max-age=60", "", 0, true},
		{"no-store", "", 0, true},
		{"", "Thu, 01 Jan 2026 00:01:00 GMT", time.Minute, false},
		{"", "garbage", 0, false},
		{`max-age="30"`, "", 30 * time.Second, false},
		{"max-age=abc", "", 0, false}, // invalid: stale, not the default
	}
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range cases {
		h := http.Header{"Date": {date.Format(http.TimeFormat)}}
		if tc.cc != "" {
			h.Set("Cache-Control", tc.cc)
		}
		if tc.expires != "" {
			h.Set("Expires", tc.expires)
		}
		ttl, ns := freshness(h, 200, date, time.Hour, nil)
		if ttl != tc.ttl || ns != tc.noStore {
			t.Errorf("freshness(%q, %q) = %v, %v; want %v, %v", tc.cc, tc.expires, ttl, ns, tc.ttl, tc.noStore)
		}
	}
}

// mustNew is New for tests.
func mustNew(tb testing.TB, src Source, opt Options) *Store {
	tb.Helper()
	s, err := New(src, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// inFlight counts the flights in s's group.
func inFlight(s *Store) int {
	n := 0
	for i := range s.flights.shards {
		g := &s.flights.shards[i]
		g.mu.Lock()
		n += len(g.m)
		g.mu.Unlock()
	}
	return n
}

// Issue #9 §4: CDN-Cache-Control comes first, Age is subtracted, and a
// Last-Modified gives a heuristic lifetime rather than the default TTL.
func TestFreshnessTargetedAndHeuristic(t *testing.T) {
	date := time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		h    http.Header
		ttl  time.Duration
	}{
		{"cdn-cache-control first", http.Header{"Cache-Control": {"max-age=60"}, "Cdn-Cache-Control": {"max-age=120"}}, 2 * time.Minute},
		{"two cache-control lines are one list", http.Header{"Cache-Control": {"public", "s-maxage=30"}}, 30 * time.Second},
		{"heuristic: a tenth since Last-Modified", http.Header{"Last-Modified": {date.Add(-10 * time.Hour).Format(http.TimeFormat)}}, time.Hour},
	} {
		tc.h.Set("Date", date.Format(http.TimeFormat))
		if ttl, ns := freshness(tc.h, 200, date, 7*time.Hour, nil); ttl != tc.ttl || ns {
			t.Errorf("%s: %v, no-store %v; want %v", tc.name, ttl, ns, tc.ttl)
		}
	}
	r := &origin.Response{Status: 200, Size: 10, Header: http.Header{"Cache-Control": {"max-age=100"}, "Age": {"40"}}}
	now := time.Now()
	if m := metaFrom("/a", r, now, now, time.Hour, nil, testChunk); m.Expires.Sub(now) != 60*time.Second {
		t.Errorf("max-age=100 with Age 40: fresh for %v, want 60s", m.Expires.Sub(now))
	}
}

// An origin that ignores Range sends the whole object for every chunk
// asked: everything in its answer is stored (chunks held already read
// past), so an object read through costs one origin request, wherever the
// first read started. Taking the wanted chunk and four more of each answer
// cost an abuse review 219 requests and 9.4 GB for a 64 MiB object.
func TestOriginIgnoresRangeFetchedOnce(t *testing.T) {
	size := int64(40*testChunk + 99)
	for _, start := range []int64{0, 20*testChunk + 5} {
		t.Run(fmt.Sprint(start), func(t *testing.T) {
			src := newFake(map[string]int64{"/w": size})
			src.whole = true
			s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 256 * testChunk}) // the memory tier's shards hold the object
			defer s.Close()
			if got := readRange(t, s, "/w", start, 100); !bytes.Equal(got, content("/w", start, 100)) {
				t.Fatal("bytes differ")
			}
			meta, _, _ := s.Lookup(context.Background(), NewKey("/w"), 0, nil)
			for i := 0; i < 200; i++ {
				if held, _, total := s.Residency(meta, 0, size); held == total {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := readRange(t, s, "/w", 0, -1); !bytes.Equal(got, content("/w", 0, size)) {
				t.Fatal("bytes differ")
			}
			if n := src.calls.Load(); n != 1 {
				t.Fatalf("%d origin requests, want 1: %v", n, src.log)
			}
			if st := s.Stats(); st.FlightErrors != 0 {
				t.Fatalf("%d flight errors", st.FlightErrors)
			}
		})
	}
}

// A span fetch stops before its next chunk once every reader of the span
// has gone (a client that asks for an object and leaves at once costs the
// origin a chunk or two, not the span); while one of its readers is still
// there, it goes on, for every reader. An abuse review: 20 requests reset
// at once took 168 MB from the origin.
func TestSpanStopsWhenItsReadersLeave(t *testing.T) {
	const chunks = 32
	size := int64(chunks * testChunk)
	for _, stay := range []bool{false, true} {
		t.Run(fmt.Sprint("a reader stays: ", stay), func(t *testing.T) {
			src := newFake(map[string]int64{"/sp": size})
			src.gate = make(chan struct{})
			s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 256 * testChunk})
			defer s.Close()
			meta, _, err := s.LookupRange(context.Background(), NewKey("/sp"), 0, -1, nil)
			if err != nil {
				t.Fatal(err)
			}
			leaver, stayer := s.NewReader(meta, 0, size), s.NewReader(meta, 0, size)
			src.gate <- struct{}{} // the first chunk's bytes (the fake reads 64 KiB at most)
			p := make([]byte, 100)
			for _, r := range []*Reader{leaver, stayer} {
				if _, err := io.ReadFull(r, p); err != nil || !bytes.Equal(p, content("/sp", 0, 100)) {
					t.Fatalf("first bytes: %v", err)
				}
			}
			leaver.Close()
			if !stay {
				stayer.Close()
			}
			close(src.gate)
			if stay {
				rest, err := io.ReadAll(stayer)
				stayer.Close()
				if err != nil || !bytes.Equal(rest, content("/sp", 100, size-100)) {
					t.Fatalf("the reader who stayed: %d bytes, %v", len(rest), err)
				}
			}
			for i := 0; inFlight(s) > 0 || s.Stats().FetchBytes > 0; i++ {
				if i == 500 {
					t.Fatal("flights still in progress after 5 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			st := s.Stats()
			switch got := src.bytes.Load(); {
			case stay && (got != size || st.SpansAbandoned != 0):
				t.Fatalf("origin sent %d bytes, %d chunks abandoned; want the object once, none", got, st.SpansAbandoned)
			case !stay && (got > 3*testChunk || st.SpansAbandoned == 0):
				t.Fatalf("origin sent %d bytes (%d chunks abandoned) after every reader left; want at most 3 chunks", got, st.SpansAbandoned)
			}
			// Whatever was abandoned is fetched again when asked for.
			if got := readRange(t, s, "/sp", 0, -1); !bytes.Equal(got, content("/sp", 0, size)) {
				t.Fatal("bytes differ after the span stopped")
			}
			if st := s.Stats(); st.FlightErrors != 0 {
				t.Fatalf("%d flight errors", st.FlightErrors)
			}
		})
	}
}

// A fetch no Reader follows (a HEAD's: one chunk) of an origin that ignores
// Range stores at most MaxSpan bytes of the answer past its chunk, not the
// whole object for nobody.
func TestOriginIgnoresRangeUnreadBounded(t *testing.T) {
	size := int64(MaxSpan + 40*testChunk)
	src := newFake(map[string]int64{"/h": size})
	src.whole = true
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 1 << 30})
	defer s.Close()
	if _, _, err := s.Lookup(context.Background(), NewKey("/h"), 0, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; inFlight(s) > 0 || s.Stats().FetchBytes > 0; i++ {
		if i == 500 {
			t.Fatal("flights still in progress after 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, most := src.bytes.Load(), int64(testChunk+MaxSpan); got > most {
		t.Fatalf("read %d bytes of the answer, want at most %d", got, most)
	}
}

// A Reader counts in the span its read-ahead started (the next span of a
// long range) as well as in the one it reads: when it leaves, both stop.
func TestSpanOfReadAheadStopsWhenItsReaderLeaves(t *testing.T) {
	const chunks = 200
	size := int64(chunks * testChunk)
	src := newFake(map[string]int64{"/ra": size})
	src.gate = make(chan struct{})
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 512 * testChunk})
	defer s.Close()
	first := s.spanChunks(openSpan)      // the first span's chunks
	at := first - int64(s.opt.ReadAhead) // the chunk whose read-ahead reaches past the first span
	stop, fed, reached := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // one body read (one chunk) per token
		defer close(fed)
		for range at { // the first span up to chunk at, at once
			src.gate <- struct{}{}
		}
		<-reached                         // the reader has read the chunks before at:
		time.Sleep(20 * time.Millisecond) // it enters chunk at, a flight still, and its read-ahead starts the next span
		for {                             // then slowly, while the reader gets its bytes of chunk at and leaves
			select {
			case src.gate <- struct{}{}:
				time.Sleep(5 * time.Millisecond)
			case <-stop:
				return
			}
		}
	}()
	meta, _, err := s.LookupRange(context.Background(), NewKey("/ra"), 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(meta, 0, size)
	pos := at*testChunk + 100
	got := make([]byte, pos)
	if _, err := io.ReadFull(r, got[:at*testChunk]); err != nil {
		t.Fatalf("reading to chunk %d: %v", at, err)
	}
	close(reached)
	if _, err := io.ReadFull(r, got[at*testChunk:]); err != nil || !bytes.Equal(got, content("/ra", 0, pos)) {
		t.Fatalf("reading to %d: %v", pos, err)
	}
	if !s.fetching("/ra", first) && !s.mem.contains(chunkID{"/ra", first}, meta.version) {
		t.Fatal("the read-ahead did not start the next span")
	}
	r.Close()
	close(stop)
	<-fed
	left := src.bytes.Load() // what both spans had read when the reader left
	close(src.gate)          // every read goes through from now on
	for i := 0; inFlight(s) > 0 || s.Stats().FetchBytes > 0; i++ {
		if i == 500 {
			t.Fatal("flights still in progress after 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Each span finishes at most the chunk it was reading, then stops.
	// (Under heavy load both spans may have read everything by then.)
	if got, most := src.bytes.Load()-left, int64(4*testChunk); got > most || left < size && s.Stats().SpansAbandoned == 0 {
		t.Fatalf("origin sent %d bytes (%d chunks abandoned) after the reader left; want at most %d", got, s.Stats().SpansAbandoned, most)
	}
	if got := readRange(t, s, "/ra", 0, -1); !bytes.Equal(got, content("/ra", 0, size)) {
		t.Fatal("bytes differ after the spans stopped")
	}
}
