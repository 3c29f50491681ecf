package disk

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"testing"
	"time"

	"edgecache/cache/disk/disktest"
)

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestReadAllVerified(t *testing.T) {
	const size = 40_000
	cases := []struct {
		name     string
		damage   func(t *testing.T, path string)
		checksum bool  // a checksum failure (else Corrupt)
		wantErr  error // what the error wraps
	}{
		{"first payload byte", func(t *testing.T, p string) { disktest.RotByte(t, p, size) }, true, ErrChecksum},
		{"last payload byte", func(t *testing.T, p string) { disktest.RotByte(t, p, 1) }, true, ErrChecksum},
		{"middle payload byte", func(t *testing.T, p string) { disktest.RotByte(t, p, size/2) }, true, ErrChecksum},
		{"truncated", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()-100)
		}, false, io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dirs, state := mkdirs(t, 2, 16<<20)
			s, lb := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1})
			ids := fill(t, s, 6, size)
			victim := ids[3]
			want := payload(victim, "etag-1", size)

			// Clean: the bytes come back verified.
			c, err := s.Get(victim, "etag-1")
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, c.Len())
			if err := c.ReadAllVerified(dst); err != nil || !bytes.Equal(dst, want) {
				t.Fatalf("ReadAllVerified of a good chunk: %v (equal %v)", err, bytes.Equal(dst, want))
			}
			if err := c.ReadAllVerified(dst[1:]); err == nil {
				t.Error("ReadAllVerified into a short buffer succeeded")
			}
			c.Close()

			// Damaged in place after it was verified (here while open; a
			// payload damaged before Get is opened too, as its payload was
			// verified once): ReadAllVerified refuses it.
			path := chunkFile(t, dirs, victim)
			c, err = s.Get(victim, "etag-1")
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path)
			err = c.ReadAllVerified(dst)
			c.Close()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ReadAllVerified of a damaged chunk: %v, want %v", err, tc.wantErr)
			}
			if !bytes.Equal(dst, make([]byte, len(dst))) {
				t.Error("damaged bytes left in dst")
			}
			st := s.Stats()
			if tc.checksum && st.ChecksumFailures != 1 || !tc.checksum && st.Corrupt != 1 {
				t.Errorf("checksum failures %d, corrupt %d", st.ChecksumFailures, st.Corrupt)
			}
			if st.IOErrors != 0 || st.OutOfService != 0 {
				t.Errorf("damage counted as a disk fault: %+v", st)
			}
			if tc.checksum && lb.count("chunk checksum mismatch, dropped") != 1 {
				t.Error("no WARN for the mismatch")
			}
			mustMiss(t, s, victim, "etag-1")
			if fileExists(path) {
				t.Error("damaged file not deleted")
			}
			for _, id := range ids {
				if id != victim {
					mustGet(t, s, id, "etag-1", payload(id, "etag-1", size))
				}
			}
		})
	}
}

func TestSuspect(t *testing.T) {
	const size = 30_000
	dirs, state := mkdirs(t, 1, 16<<20)
	s, lb := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1})
	ids := fill(t, s, 4, size)

	// A good chunk stays.
	c, err := s.Get(ids[0], "etag-1")
	if err != nil {
		t.Fatal(err)
	}
	c.Suspect()
	c.Suspect() // already queued: dropped
	c.Close()

	// A damaged one goes.
	path := chunkFile(t, dirs, ids[1])
	disktest.RotByte(t, path, 7)
	c, err = s.Get(ids[1], "etag-1")
	if err != nil {
		t.Fatal(err)
	}
	c.Suspect()
	c.Close()
	waitFor(t, "the suspect chunk to be dropped", func() bool {
		return s.Stats().ChecksumFailures == 1 && lb.count("chunk checksum mismatch, dropped") == 1
	})
	mustMiss(t, s, ids[1], "etag-1")
	if fileExists(path) {
		t.Error("damaged file not deleted")
	}
	if lb.count("chunk checksum mismatch, dropped") != 1 {
		t.Error("no WARN for the mismatch")
	}
	for _, id := range []ID{ids[0], ids[2], ids[3]} {
		mustGet(t, s, id, "etag-1", payload(id, "etag-1", size))
	}
	// A Suspect after Close is harmless.
	s.Close()
	c.Suspect()
}

func TestScrub(t *testing.T) {
	const size = 20_000
	dirs, state := mkdirs(t, 2, 16<<20)
	s, lb := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: 1 << 30, scrubIdle: time.Millisecond})
	ids := fill(t, s, 10, size)
	waitFor(t, "a scrub pass over every chunk", func() bool {
		st := s.Stats()
		return st.ScrubPasses >= 2 && st.ScrubbedChunks >= int64(len(ids))
	})
	if st := s.Stats(); st.ChecksumFailures != 0 || st.ScrubbedBytes < int64(len(ids)*size) {
		t.Fatalf("clean chunks: %+v", st)
	}

	// Damage two chunks in place, after they were written and scrubbed:
	// the scrubber drops them without any Get.
	victims := []ID{ids[2], ids[7]}
	var paths []string
	for _, v := range victims {
		p := chunkFile(t, dirs, v)
		paths = append(paths, p)
		disktest.RotByte(t, p, size/3)
	}
	waitFor(t, "the scrubber to catch the damage", func() bool {
		return s.Stats().ChecksumFailures == 2 && lb.count("chunk checksum mismatch, dropped") == 2
	})
	if n := lb.count("chunk checksum mismatch, dropped"); n != 2 {
		t.Errorf("%d WARNs for 2 mismatches", n)
	}
	for i, v := range victims {
		mustMiss(t, s, v, "etag-1")
		if fileExists(paths[i]) {
			t.Errorf("damaged file %s not deleted", paths[i])
		}
	}
	for _, id := range ids {
		if id != victims[0] && id != victims[1] {
			mustGet(t, s, id, "etag-1", payload(id, "etag-1", size))
		}
	}
	if st := s.Stats(); st.Corrupt != 0 || st.IOErrors != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestScrubPaced checks that the scrubber keeps to its rate and that Close
// stops it while it waits.
func TestScrubPaced(t *testing.T) {
	dirs, state := mkdirs(t, 1, 16<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1})
	fill(t, s, 3, 10_000)
	s.Close()
	s, _ = open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: 1, scrubIdle: time.Millisecond})
	waitFor(t, "the first scrubbed chunk", func() bool { return s.Stats().ScrubbedChunks >= 1 })
	// At 1 byte/s the next chunk is hours away.
	time.Sleep(20 * time.Millisecond)
	if st := s.Stats(); st.ScrubbedChunks != 1 || st.ScrubPasses != 0 {
		t.Errorf("scrubber ran ahead of its rate: %+v", st)
	}
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the scrubber")
	}
}

// TestPace checks the scrubber's pacing: reads average at most the rate,
// after the credit of maxScrubCredit, and the pauses that keep to it are
// few and long (one per scrubNap at most), not one per chunk.
func TestPace(t *testing.T) {
	dirs, state := mkdirs(t, 1, 16<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1})
	const rate, step, total = 64 << 20, 256 << 10, 96 << 20
	p := &pacer{rate: rate}
	start := time.Now()
	for n := 0; n < total; n += step {
		if !s.pace(p, step) {
			t.Fatal("pace reported the store closed")
		}
	}
	elapsed := time.Since(start)
	// 64 MiB go at once (the credit); 32 MiB take 500 ms, of which up to
	// one nap's worth may be still ahead at the end.
	if min := time.Duration(float64(total-rate)/rate*float64(time.Second)) - scrubNap; elapsed < min {
		t.Errorf("%d MiB paced at %d MiB/s in %v, want at least %v", total>>20, rate>>20, elapsed, min)
	}
	if max := int(elapsed/scrubNap) + 1; p.naps < 1 || p.naps > max {
		t.Errorf("%d pauses in %v, want 1 to %d (chunks: %d)", p.naps, elapsed, max, total/step)
	}
}

func TestScrubDisabled(t *testing.T) {
	dirs, state := mkdirs(t, 1, 16<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1, scrubIdle: time.Millisecond})
	fill(t, s, 3, 10_000)
	time.Sleep(20 * time.Millisecond)
	if st := s.Stats(); st.ScrubbedChunks != 0 {
		t.Errorf("disabled scrubber scrubbed: %+v", st)
	}
}

// TestPutSummed checks that PutSummed stores the caller's checksum: a right
// one reads back verified, ranked or not, and a wrong one (the payload
// changed in the caller's memory after it was summed) is caught by the
// first verified read, which removes the chunk as damaged.
func TestPutSummed(t *testing.T) {
	const size = 40_000
	dirs, state := mkdirs(t, 1, 16<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1})
	good, ranked, bad := ID{Key: "/good", Index: 0}, ID{Key: "/ranked", Index: 2}, ID{Key: "/bad", Index: 1}
	for _, tc := range []struct {
		id  ID
		rk  Rank
		sum func(p []byte) uint32
	}{
		{good, Rank{}, func(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }},
		{ranked, Rank{Gen: 7, Rank: 3}, func(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }},
		{bad, Rank{}, func(p []byte) uint32 { return crc32.Checksum(p, castagnoli) ^ 1 }},
	} {
		p := payload(tc.id, "v1", size)
		if err := s.PutSummed(tc.id, "v1", []byte("meta"), p, tc.sum(p), tc.rk); err != nil {
			t.Fatalf("PutSummed %s: %v", tc.id.Key, err)
		}
	}
	if rk, ok := s.RankOf(ranked); !ok || rk != (Rank{Gen: 7, Rank: 3}) {
		t.Errorf("rank of the ranked chunk: %+v %v", rk, ok)
	}
	for _, id := range []ID{good, ranked} {
		c, err := s.Get(id, "v1")
		if err != nil {
			t.Fatalf("Get %s: %v", id.Key, err)
		}
		dst := make([]byte, c.Len())
		if err := c.ReadAllVerified(dst); err != nil || !bytes.Equal(dst, payload(id, "v1", size)) {
			t.Errorf("%s: ReadAllVerified %v, equal %v", id.Key, err, bytes.Equal(dst, payload(id, "v1", size)))
		}
		c.Close()
	}
	c, err := s.Get(bad, "v1")
	if err != nil {
		t.Fatalf("Get %s: %v", bad.Key, err)
	}
	err = c.ReadAllVerified(make([]byte, c.Len()))
	c.Close()
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("ReadAllVerified of a chunk put with a wrong sum: %v, want ErrChecksum", err)
	}
	if _, err := s.Get(bad, "v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the failed verification: %v, want ErrNotFound", err)
	}
	if st := s.Stats(); st.ChecksumFailures != 1 {
		t.Errorf("ChecksumFailures = %d, want 1", st.ChecksumFailures)
	}
	if err := s.PutSummed(ID{Key: "/x"}, "v1", nil, []byte("x"), 0, Rank{Gen: 0, Rank: 5}); err == nil {
		t.Error("PutSummed with a rank of generation 0 succeeded")
	}
}
