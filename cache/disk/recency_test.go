package disk

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// recencyRun runs ops, space-separated, on a 4-chunk store of policy pol
// whose clock ticks once per reading, and returns held(n) after them:
//
//	u<i>        Put test chunk i (a player's miss)
//	F           a fill starts: later r and s ops use its generation (the
//	            clock's time, as a fill job's start time)
//	r<i>:<rank> PutRanked test chunk i with that rank
//	s<i>:<rank> SetRank of held test chunk i
//	g<i>        Get test chunk i (a player's hit)
//	R           Close and Open again (from the snapshot)
func recencyRun(t *testing.T, pol, ops string, n int) string {
	t.Helper()
	var clock atomic.Int64
	clock.Store(1000)
	tick := func() int64 { return clock.Add(1) }
	s, opt := rankStore(t, pol, 4)
	s.now = tick
	var gen int64
	for _, op := range strings.Fields(ops) {
		num := func() (int, int) {
			a, b, _ := strings.Cut(op[1:], ":")
			i, err := strconv.Atoi(a)
			if err != nil {
				t.Fatalf("op %q: %v", op, err)
			}
			r := 0
			if b != "" {
				if r, err = strconv.Atoi(b); err != nil {
					t.Fatalf("op %q: %v", op, err)
				}
			}
			return i, r
		}
		switch op[0] {
		case 'u':
			i, _ := num()
			if err := rput(s, i, Rank{}); err != nil {
				t.Fatalf("op %s: %v", op, err)
			}
		case 'F':
			gen = tick()
		case 'r':
			i, r := num()
			if err := rput(s, i, Rank{Gen: gen, Rank: r}); err != nil {
				t.Fatalf("op %s: %v", op, err)
			}
		case 's':
			i, r := num()
			if ok, err := s.SetRank(rid(i), "v", Rank{Gen: gen, Rank: r}); !ok || err != nil {
				t.Fatalf("op %s: %v %v", op, ok, err)
			}
		case 'g':
			i, _ := num()
			mustGet(t, s, rid(i), "v", payload(rid(i), "v", rankChunk))
		case 'R':
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, _ = open(t, opt)
			s.now = tick
		default:
			t.Fatalf("unknown op %q", op)
		}
		if st := s.Stats().Disks[0]; st.Bytes > st.Budget {
			t.Fatalf("after %s: %d bytes over the budget %d", op, st.Bytes, st.Budget)
		}
	}
	return held(s, n)
}

// TestRecencyOfRanked checks the eviction of ranked chunks not read since
// their fill (cold), by rank (a title), against unranked chunks used more
// recently, with the LRU policy (which names its next victim).
func TestRecencyOfRanked(t *testing.T) {
	tests := []struct {
		name, ops string
		want      string // held(len(want))
	}{
		{"unread fill older than the victim's last use goes first, worst rank first",
			"u0 u1 F r2:1 r3:2 u4 u5 u6", "..r.uuu"},
		{"a fill chunk read since the fill is kept",
			"u0 u1 F r2:1 r3:2 g3 u4 u5 u6", "...ruuu"},
		{"a title read since the fill keeps its unread chunks",
			"F r0:1 r1:1 r2:2 g0 u3 u4 u5", "rr..uu"},
		{"a fill newer than the victim's last use is kept",
			"u0 u1 u2 F r3:1 u4", ".uuru"},
		{"fill read entirely: kept over unranked, as without recency",
			"u0 u1 F r2:1 r3:2 g2 g3 u4 u5 u6", "..rr.uu"},
		{"a chunk ranked while held was filled at the generation, not when written",
			"u3 u0 u1 u2 F s3:1 u4", ".uuru"},
		{"a chunk ranked while held and not read since goes once the victim is newer",
			"u3 u0 u1 u2 F s3:1 u4 u5 u6 u7", "....uuuu"},
		{"a chunk ranked while held and read since is kept",
			"u3 u0 u1 u2 F s3:1 g3 u4 u5 u6 u7", "...r.uuu"},
		{"ranked puts stay rank-ordered, read or not",
			"F r0:5 r1:2 r2:3 r3:4 g0 r4:1", ".rrrr"},
		{"chunks of an older fill read since are kept; a newer fill's unread one goes",
			"F r0:1 r1:2 g0 g1 u2 F r3:1 u4 u5", "rr..uu"},
		{"read state survives a restart from the snapshot",
			"F r0:1 r1:2 g1 u2 u3 R u4 u5", ".r.uuu"},
		{"cold state survives a restart from the snapshot",
			"u0 F r1:1 r2:2 R u3 u4 u5", ".r.uuu"},
	}
	for _, pol := range []string{"lru", "arc"} {
		for _, tc := range tests {
			t.Run(pol+"/"+tc.name, func(t *testing.T) {
				if got := recencyRun(t, pol, tc.ops, len(tc.want)); got != tc.want {
					t.Fatalf("%s: held %s, want %s", tc.ops, got, tc.want)
				}
			})
		}
	}
}

// TestRecencyWithoutVictimizer checks that with a policy that cannot name
// its next victim, ranked chunks are kept over unranked ones whatever
// their recency, as before.
func TestRecencyWithoutVictimizer(t *testing.T) {
	for _, pol := range []string{"2q", "s3fifo"} {
		t.Run(pol, func(t *testing.T) {
			got := recencyRun(t, pol, "u0 u1 F r2:1 r3:2 u4 u5 u6", 7)
			if got[2] != 'r' || got[3] != 'r' {
				t.Fatalf("held %s: a ranked chunk was evicted", got)
			}
		})
	}
}

// TestColdStats checks the counters of cold chunks.
func TestColdStats(t *testing.T) {
	s, _ := rankStore(t, "lru", 4)
	var clock atomic.Int64
	s.now = func() int64 { return clock.Add(1) }
	for i := range 3 {
		if err := rput(s, i, Rank{Gen: 1, Rank: i}); err != nil {
			t.Fatal(err)
		}
	}
	mustGet(t, s, rid(0), "v", payload(rid(0), "v", rankChunk))
	if st := s.Stats().Disks[0]; st.ColdBytes != 2*2*blockSize || st.RankedBytes != 3*2*blockSize {
		t.Fatalf("stats %+v", st)
	}
	for i := 3; i < 6; i++ {
		if err := rput(s, i, Rank{}); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats().Disks[0]
	if st.ColdBytes != 0 || st.ColdEvictions != 2 || st.RankedEvictions != 2 || st.RankedChunks != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := held(s, 6); got != "r..uuu" {
		t.Fatalf("held %s", got)
	}
}

// TestPeekRecordsNoUse checks that Peek reads a chunk without making it
// used: a filled chunk stays cold, and an unranked one keeps its place in
// the policy's order, where Get would warm the one and move the other.
func TestPeekRecordsNoUse(t *testing.T) {
	for _, peek := range []bool{true, false} {
		t.Run(fmt.Sprintf("peek=%v", peek), func(t *testing.T) {
			s, _ := rankStore(t, "lru", 4)
			var clock atomic.Int64
			s.now = func() int64 { return clock.Add(1) }
			read := func(i int) {
				t.Helper()
				get := s.Get
				if peek {
					get = s.Peek
				}
				c, err := get(rid(i), "v")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(readAll(t, c), payload(rid(i), "v", rankChunk)) {
					t.Fatal("read other bytes")
				}
				c.Close()
			}
			// A filled chunk.
			if err := rput(s, 9, Rank{Gen: 1, Rank: 0}); err != nil {
				t.Fatal(err)
			}
			read(9)
			if cold := s.Stats().Disks[0].ColdBytes != 0; cold != peek {
				t.Errorf("filled chunk cold after the read: %v", cold)
			}
			s.Remove(rid(9))
			// Unranked chunks, the disk full of them.
			for i := range 4 {
				if err := rput(s, i, Rank{}); err != nil {
					t.Fatal(err)
				}
			}
			read(0)
			if err := rput(s, 4, Rank{}); err != nil { // evicts the least recently used
				t.Fatal(err)
			}
			if held := s.Has(rid(0), "v"); held == peek {
				t.Errorf("chunk 0 held after the read and one more Put: %v", held)
			}
		})
	}
}
