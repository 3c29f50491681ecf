package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"edgecache/fill"
)

// fillInto fills key through fl and returns the bytes Fill wrote.
func fillInto(t *testing.T, fl *Filler, key string, size int64, rank int) []byte {
	t.Helper()
	var b bytes.Buffer
	n, err := fl.Fill(context.Background(), fill.Request{Path: key, Size: size, Rank: rank}, &b)
	if err != nil || n != size {
		t.Fatalf("Fill(%s) = %d, %v; want %d bytes", key, n, err, size)
	}
	return b.Bytes()
}

// A fill stores an object's chunks on disk, not in memory, with its rank;
// it hands over every byte; the object then reads from disk without the
// origin, and a second fill fetches nothing.
func TestFillerFillsDisk(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
	}{{"one byte", 1}, {"one chunk", testChunk}, {"several chunks", 3*testChunk + 123}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := newFake(map[string]int64{"/v": tc.size})
			ds := openDisk(t, dir, 64*testChunk)
			defer ds.Close()
			s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
			defer s.Close()
			fl := s.NewFiller(FillerOptions{})
			if fl.Has(context.Background(), fill.Request{Path: "/v", Size: tc.size}) {
				t.Fatal("Has before the fill")
			}
			if got := fillInto(t, fl, "/v", tc.size, 7); !bytes.Equal(got, content("/v", 0, tc.size)) {
				t.Fatal("Fill wrote other bytes than the origin's")
			}
			chunks := (tc.size + testChunk - 1) / testChunk
			st := s.Stats()
			if st.MemoryBytes != 0 || st.DiskWrites != chunks || st.FetchBytes != 0 {
				t.Errorf("memory %d bytes, disk writes %d (want 0, %d), fetch memory held %d", st.MemoryBytes, st.DiskWrites, chunks, st.FetchBytes)
			}
			if !fl.Has(context.Background(), fill.Request{Path: "/v", Size: tc.size}) || fl.Has(context.Background(), fill.Request{Path: "/v", Size: tc.size + 1}) {
				t.Error("Has after the fill is wrong")
			}
			if r, ok := s.FillRank("/v"); !ok || r != 7 {
				t.Errorf("FillRank = %d, %v; want 7", r, ok)
			}
			calls := src.calls.Load()
			if got := fillInto(t, fl, "/v", tc.size, 7); !bytes.Equal(got, content("/v", 0, tc.size)) {
				t.Fatal("second Fill wrote other bytes")
			}
			if got := readRange(t, s, "/v", 0, -1); !bytes.Equal(got, content("/v", 0, tc.size)) {
				t.Fatal("a player read other bytes")
			}
			if src.calls.Load() != calls {
				t.Errorf("origin asked %d more times after the fill", src.calls.Load()-calls)
			}
			if fs := fl.Stats(); fs.Flights != chunks || fs.Stored != chunks || fs.Fetched != tc.size {
				t.Errorf("filler stats %+v", fs)
			}
		})
	}
}

// Without a disk tier a fill stores in memory.
func TestFillerMemoryOnly(t *testing.T) {
	size := int64(2*testChunk + 5)
	src := newFake(map[string]int64{"/m": size})
	s := newTestStore(t, src)
	fl := s.NewFiller(FillerOptions{Slots: 1})
	fillInto(t, fl, "/m", size, 1)
	if !fl.Has(context.Background(), fill.Request{Path: "/m", Size: size}) || s.Stats().MemoryBytes != size {
		t.Fatalf("not held in memory: %+v", s.Stats())
	}
	if fl.Capacity() != s.opt.Memory || fl.Footprint("/m", size) != size {
		t.Error("memory-only Capacity or Footprint")
	}
}

// A player's miss does not wait for fetch memory while fills hold all of
// theirs, fills never take the players' fetch memory, and a player asking
// for a chunk a fill is fetching joins that fetch.
func TestFillerSlotsAndCollapsing(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int64{"/fill": 2 * testChunk, "/player": testChunk}
	src := newFake(sizes)
	release := make(chan struct{})
	var blocked sync.WaitGroup
	blocked.Add(1)
	var once sync.Once
	src.onFetch = func(key string, off, n int64) {
		if key == "/fill" && off == 0 {
			once.Do(blocked.Done)
			<-release
		}
	}
	ds := openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	// One chunk of players' fetch memory, one fill slot.
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds, FetchMemory: testChunk})
	defer s.Close()
	fl := s.NewFiller(FillerOptions{Slots: 1})
	done := make(chan []byte)
	go func() {
		var b bytes.Buffer
		fl.Fill(context.Background(), fill.Request{Path: "/fill", Size: sizes["/fill"]}, &b)
		done <- b.Bytes()
	}()
	blocked.Wait() // the fill's flight holds its slot, waiting for the origin
	if st := s.Stats(); st.FetchBytes != 0 {
		t.Fatalf("a fill holds %d bytes of players' fetch memory", st.FetchBytes)
	}
	if got := readRange(t, s, "/player", 0, -1); !bytes.Equal(got, content("/player", 0, testChunk)) {
		t.Fatal("player read other bytes")
	}
	if st := s.Stats(); st.FetchWaits != 0 {
		t.Errorf("player's miss waited for fetch memory %d times", st.FetchWaits)
	}
	// A player's miss on the chunk being filled joins the fill's flight.
	got := make(chan []byte)
	go func() { got <- readRange(t, s, "/fill", 0, testChunk) }()
	time.Sleep(20 * time.Millisecond) // let the player reach the flight (the test holds either way)
	close(release)
	if b := <-got; !bytes.Equal(b, content("/fill", 0, testChunk)) {
		t.Fatal("player read other bytes from the fill's flight")
	}
	if b := <-done; !bytes.Equal(b, content("/fill", 0, sizes["/fill"])) {
		t.Fatal("fill wrote other bytes")
	}
	if n := src.calls.Load(); n != 2 {
		t.Errorf("origin asked %d times, want 2 (the player's object, and the fill's two chunks in one span)", n)
	}
}

// Discard drops an object's chunks from both tiers.
func TestFillerDiscard(t *testing.T) {
	dir := t.TempDir()
	size := int64(2*testChunk + 1)
	src := newFake(map[string]int64{"/d": size})
	ds := openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	defer s.Close()
	fl := s.NewFiller(FillerOptions{})
	fillInto(t, fl, "/d", size, 1)
	readRange(t, s, "/d", 0, -1) // and some of it in memory: a second hit promotes
	readRange(t, s, "/d", 0, -1)
	fl.Discard("/d")
	if fl.Has(context.Background(), fill.Request{Path: "/d", Size: size}) || ds.Stats().Disks[0].Chunks != 0 {
		t.Fatalf("still held after Discard: %+v", ds.Stats().Disks[0])
	}
	if s.Stats().MemoryBytes != 0 {
		t.Errorf("memory still holds %d bytes", s.Stats().MemoryBytes)
	}
	if fl.Stats().Discarded != 1 {
		t.Error("not counted")
	}
}

// A fill of an object whose size is not the manifest's fails, and so does
// one whose origin fails; a player's chunk only in memory is written to disk
// by a fill without asking the origin.
func TestFillerErrorsAndPlayerChunks(t *testing.T) {
	dir := t.TempDir()
	src := newFake(map[string]int64{"/a": 100, "/p": testChunk + 1})
	ds := openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds, DiskQueueWait: time.Millisecond})
	defer s.Close()
	fl := s.NewFiller(FillerOptions{})
	ctx := context.Background()
	var b bytes.Buffer
	if _, err := fl.Fill(ctx, fill.Request{Path: "/a", Size: 99}, &b); err == nil {
		t.Error("size mismatch: no error")
	}
	if _, err := fl.Fill(ctx, fill.Request{Path: "/missing", Size: 5}, &b); err == nil {
		t.Error("404: no error")
	}
	paced := int64(0)
	pace := func(ctx context.Context, n int64) error { paced += n; return nil }
	b.Reset()
	if _, err := fl.Fill(ctx, fill.Request{Path: "/a", Size: 100, Pace: pace}, &b); err != nil || paced != 0 {
		t.Errorf("fill of a known object: %v, paced %d (its one chunk was fetched by the size check above)", err, paced)
	}
	readRange(t, s, "/p", 0, -1) // a player's: in memory, and queued to disk
	calls := src.calls.Load()
	b.Reset()
	if _, err := fl.Fill(ctx, fill.Request{Path: "/p", Size: testChunk + 1, Pace: pace}, &b); err != nil || !bytes.Equal(b.Bytes(), content("/p", 0, testChunk+1)) {
		t.Fatalf("fill of a player's object: %v", err)
	}
	if src.calls.Load() != calls || paced != 0 {
		t.Errorf("fill of chunks players fetched asked the origin %d times, paced %d bytes", src.calls.Load()-calls, paced)
	}
	failing := errors.New("origin down")
	src.fail = func(string, int64) error { return failing }
	if _, err := fl.Fill(ctx, fill.Request{Path: "/b", Size: 5}, &b); !errors.Is(err, failing) {
		t.Errorf("origin failure: err %v", err)
	}
}

// A fill asks the origin once per run of chunks it does not hold (a span,
// at most MaxSpan bytes, or Request.MaxFetch), not once per chunk, and paces exactly the bytes
// it asks for; every chunk of the span is stored on disk with the fill's
// rank; a body that breaks inside the span loses no byte and stores every
// chunk.
func TestFillSpans(t *testing.T) {
	const chunks = 9
	size := int64(chunks*testChunk - 100)
	for _, tc := range []struct {
		name      string
		held      int64 // a chunk a player put on disk first; -1: none
		breakAt   int64 // the first fetch's body fails after this many bytes; 0: never
		maxFetch  int64 // fill.Request.MaxFetch
		wantCalls int64 // origin fetches of the fill
	}{
		{"cold", -1, 0, 0, 1},
		{"chunk 4 held", 4, 0, 0, 2},
		{"body breaks in chunk 2", -1, 2*testChunk + 10, 0, 2},
		{"at most 3 chunks a fetch", -1, 0, 3*testChunk + 100, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newFake(map[string]int64{"/f": size})
			ds := openDisk(t, t.TempDir(), 64*testChunk)
			defer ds.Close()
			s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
			defer s.Close()
			if tc.held >= 0 {
				readRange(t, s, "/f", tc.held*testChunk, testChunk)
				waitDiskWrites(t, s, 1)
			}
			src.breakAt = tc.breakAt
			calls := src.calls.Load()
			fl := s.NewFiller(FillerOptions{})
			var paced int64
			var b bytes.Buffer
			var w io.Writer = &b
			if tc.name == "cold" {
				// The fill reaches chunk 1 only once the span has stored
				// every chunk: it reads them back from the disk.
				w = &firstWriteWaits{w: &b, until: func() bool { return ds.Stats().Disks[0].RankedChunks == chunks }}
			}
			req := fill.Request{Path: "/f", Size: size, Rank: 3, MaxFetch: tc.maxFetch, Pace: func(_ context.Context, n int64) error {
				paced += n
				return nil
			}}
			if n, err := fl.Fill(context.Background(), req, w); err != nil || n != size || !bytes.Equal(b.Bytes(), content("/f", 0, size)) {
				t.Fatalf("Fill = %d, %v; bytes equal %v", n, err, bytes.Equal(b.Bytes(), content("/f", 0, size)))
			}
			if got := src.calls.Load() - calls; got != tc.wantCalls {
				t.Errorf("the fill asked the origin %d times, want %d: %v", got, tc.wantCalls, src.log)
			}
			want := size
			if tc.held >= 0 {
				want -= testChunk
			}
			if paced != want {
				t.Errorf("paced %d bytes, fetched %d", paced, want)
			}
			if !fl.Has(context.Background(), fill.Request{Path: "/f", Size: size}) {
				t.Error("not every chunk is on disk after the fill")
			}
			if st := ds.Stats().Disks[0]; st.RankedChunks != chunks {
				t.Errorf("%d ranked chunks on disk, want %d", st.RankedChunks, chunks)
			}
			// Nobody has read them: the fill's own reads (of the chunks
			// its span stored before it reached them) do not count.
			// The chunk held from before is read by the fill as it was
			// before spans: a use.
			switch st := ds.Stats().Disks[0]; {
			case tc.held < 0 && st.ColdBytes != st.RankedBytes:
				t.Errorf("%d of %d filled bytes cold before any player read them", st.ColdBytes, st.RankedBytes)
			case tc.held >= 0 && (st.ColdBytes == 0 || st.ColdBytes >= st.RankedBytes):
				t.Errorf("%d of %d filled bytes cold: want all but the chunk held before the fill", st.ColdBytes, st.RankedBytes)
			}
			if got := readRange(t, s, "/f", 0, -1); !bytes.Equal(got, content("/f", 0, size)) {
				t.Error("a player read other bytes after the fill")
			}
		})
	}
}

// firstWriteWaits is a writer whose first Write waits (up to 10 s) until
// until reports true.
type firstWriteWaits struct {
	w      io.Writer
	until  func() bool
	waited bool
}

func (f *firstWriteWaits) Write(p []byte) (int, error) {
	for deadline := time.Now().Add(10 * time.Second); !f.waited && !f.until() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	f.waited = true
	return f.w.Write(p)
}

// A fill of an object whose version went stale, with all its chunks on
// disk, fetches chunk 0 to learn the version and paces for that chunk only
// (its span stops at the stale version's chunks held, as the answer does);
// the chunks held from before are read as a use, not peeked at, so they do
// not become unread filled chunks, the first to give way. Found by a
// concurrency review: the span asked and paced for the whole object, and
// the held chunks stayed cold.
func TestFillStaleObjectSpan(t *testing.T) {
	size := int64(4 * testChunk)
	src := newFake(map[string]int64{"/s": size})
	now := time.Now()
	clock := func() time.Time { return now }
	ds := openDisk(t, t.TempDir(), 64*testChunk)
	defer ds.Close()
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds, Now: clock})
	defer s.Close()
	readRange(t, s, "/s", 0, -1)
	waitDiskWrites(t, s, 4)
	now = now.Add(2 * time.Hour) // past the fake origin's max-age
	before := len(src.log)
	var paced int64
	fl := s.NewFiller(FillerOptions{})
	var b bytes.Buffer
	req := fill.Request{Path: "/s", Size: size, Rank: 1, Pace: func(_ context.Context, n int64) error { paced += n; return nil }}
	if n, err := fl.Fill(context.Background(), req, &b); err != nil || n != size || !bytes.Equal(b.Bytes(), content("/s", 0, size)) {
		t.Fatalf("Fill = %d, %v", n, err)
	}
	if asked := src.log[before:]; len(asked) != 1 {
		t.Errorf("origin asked %v, want chunk 0 only", asked)
	}
	if paced != testChunk {
		t.Errorf("paced %d bytes, want one chunk (%d)", paced, testChunk)
	}
	if st := ds.Stats().Disks[0]; st.RankedChunks != 4 || st.ColdBytes > st.RankedBytes/4 {
		t.Errorf("%d chunks ranked, %d of %d ranked bytes unread: want 4, and only chunk 0's", st.RankedChunks, st.ColdBytes, st.RankedBytes)
	}
}

// A memory-only fill whose chunk the memory tier does not keep (larger than
// a shard's budget here) reports it not stored, as a disk tier's refusal is.
func TestFillerMemoryDeclined(t *testing.T) {
	size := int64(testChunk)
	src := newFake(map[string]int64{"/m": size})
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: testChunk / 2})
	defer s.Close()
	fl := s.NewFiller(FillerOptions{Slots: 1})
	_, err := fl.Fill(context.Background(), fill.Request{Path: "/m", Size: size, Rank: 1}, io.Discard)
	if !errors.Is(err, ErrNotStored) || fl.Stats().NotStored != 1 || fl.Stats().Stored != 0 {
		t.Fatalf("Fill: %v, %+v", err, fl.Stats())
	}
}
