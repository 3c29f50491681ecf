package disk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"edgecache/cache/policy"
)

// rankChunk is the payload length that makes every test chunk, ranked or
// not, count two 4 KiB blocks.
const rankChunk = 4096

// rankStore opens a one-disk store holding n test chunks.
func rankStore(t *testing.T, pol string, n int) (*Store, Options) {
	t.Helper()
	dirs, state := mkdirs(t, 1, int64(n)*2*blockSize)
	opt := Options{Dirs: dirs, StateFile: state, Policy: pol, ScrubRate: -1, CheckInterval: -1}
	s, _ := open(t, opt)
	return s, opt
}

// rid names test chunk i.
func rid(i int) ID { return ID{Key: fmt.Sprintf("/r/%d", i), Index: 0} }

// rput stores test chunk i, ranked unless rk is zero.
func rput(s *Store, i int, rk Rank) error {
	id := rid(i)
	if !rk.Ranked() {
		return s.Put(id, "v", nil, payload(id, "v", rankChunk))
	}
	return s.PutRanked(id, "v", nil, payload(id, "v", rankChunk), rk)
}

// held returns which of chunks 0..n-1 are stored, as a string of
// '.' (absent), 'u' (unranked) and 'r' (ranked).
func held(s *Store, n int) string {
	b := make([]byte, n)
	for i := range b {
		rk, ok := s.RankOf(rid(i))
		switch {
		case !ok:
			b[i] = '.'
		case rk.Ranked():
			b[i] = 'r'
		default:
			b[i] = 'u'
		}
	}
	return string(b)
}

func TestRankedEviction(t *testing.T) {
	g1 := func(r int) Rank { return Rank{Gen: 1, Rank: r} }
	g2 := func(r int) Rank { return Rank{Gen: 2, Rank: r} }
	un := Rank{}
	type put struct {
		i    int
		rk   Rank
		full bool // refused with ErrRankedFull
	}
	tests := []struct {
		name  string
		setup []put  // chunks 0..3 fill the 4-chunk disk
		then  []put  // chunks 4..
		want  string // held(6) after
		// lru is want for the policies that name their next victim (LRU,
		// ARC) when it differs: an unranked put first evicts the ranked
		// chunks not read since their fill (all of them here) filled
		// before the policy's next victim was last used
		// (TestRecencyOfRanked).
		lru string
	}{
		{"ranked refused when full of better ranks",
			[]put{{0, g1(1), false}, {1, g1(2), false}, {2, g1(3), false}, {3, g1(3), false}},
			[]put{{4, g1(3), true}, {5, g1(9), true}}, "rrrr..", ""},
		{"ranked evicts worse rank only",
			[]put{{0, g1(1), false}, {1, g1(5), false}, {2, g1(2), false}, {3, g1(3), false}},
			[]put{{4, g1(4), false}, {5, g1(4), true}}, "r.rrr.", ""},
		{"ranked evicts unranked before worse ranks",
			[]put{{0, g1(9), false}, {1, un, false}, {2, un, false}, {3, g1(9), false}},
			[]put{{4, g1(1), false}, {5, g1(1), false}}, "r..rrr", ""},
		{"ranked evicts older generations before unranked",
			[]put{{0, g1(0), false}, {1, un, false}, {2, un, false}, {3, g1(0), false}},
			[]put{{4, g2(50), false}, {5, g2(50), false}}, ".uu.rr", ""},
		{"older generation loses whatever its rank",
			[]put{{0, g2(90), false}, {1, g2(90), false}, {2, g2(90), false}, {3, g2(90), false}},
			[]put{{4, g1(0), true}}, "rrrr..", ""},
		{"unranked evicts unranked first",
			[]put{{0, un, false}, {1, g1(5), false}, {2, un, false}, {3, g1(5), false}},
			[]put{{4, un, false}, {5, un, false}}, ".r.ruu", ""},
		{"unranked evicts the worst ranks when nothing is unranked",
			[]put{{0, g1(1), false}, {1, g1(7), false}, {2, g2(9), false}, {3, g1(3), false}},
			[]put{{4, un, false}, {5, un, false}}, "r.rr.u", "r.r.uu"},
	}
	for _, pol := range policy.Names() {
		for _, tc := range tests {
			t.Run(pol+"/"+tc.name, func(t *testing.T) {
				s, _ := rankStore(t, pol, 4)
				for _, p := range append(append([]put(nil), tc.setup...), tc.then...) {
					err := rput(s, p.i, p.rk)
					if p.full != errors.Is(err, ErrRankedFull) || (!p.full && err != nil) {
						t.Fatalf("put %d %+v: err %v, want full=%v", p.i, p.rk, err, p.full)
					}
					if st := s.Stats().Disks[0]; st.Bytes > st.Budget {
						t.Fatalf("after put %d: %d bytes over the budget %d", p.i, st.Bytes, st.Budget)
					}
				}
				if pol == "tinylfu" && tc.name == "unranked evicts unranked first" {
					// TinyLFU may decline a new unranked chunk; it never
					// evicts a ranked one while unranked ones are left.
					if got := held(s, 6); got[1] != 'r' || got[3] != 'r' {
						t.Fatalf("held %s: a ranked chunk was evicted", got)
					}
					return
				}
				want := tc.want
				if (pol == "lru" || pol == "arc") && tc.lru != "" {
					want = tc.lru
				}
				if got := held(s, 6); got != want {
					t.Fatalf("held %s, want %s", got, want)
				}
				st := s.Stats().Disks[0]
				if st.RankedChunks != countByte(want, 'r') || st.Chunks != 6-countByte(want, '.') {
					t.Fatalf("stats %+v for %s", st, want)
				}
			})
		}
	}
}

func countByte(s string, c byte) int {
	n := 0
	for i := range len(s) {
		if s[i] == c {
			n++
		}
	}
	return n
}

func TestRankedRefusedLeavesNothing(t *testing.T) {
	s, opt := rankStore(t, "lru", 2)
	for i := range 2 {
		if err := rput(s, i, Rank{Gen: 1, Rank: 1}); err != nil {
			t.Fatal(err)
		}
	}
	err := rput(s, 2, Rank{Gen: 1, Rank: 2})
	if !errors.Is(err, ErrRankedFull) {
		t.Fatalf("err %v, want ErrRankedFull", err)
	}
	mustMiss(t, s, rid(2), "v")
	if st := s.Stats(); st.Rejected != 1 || st.Evictions != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A refused put over a stored chunk of another version: the old file
	// is gone with its entry, nothing is left behind.
	if err := s.Put(rid(3), "old", nil, payload(rid(3), "old", rankChunk)); err != nil {
		t.Fatal(err)
	}
	if got := held(s, 4); got != "rr.." && got != ".r.u" && got != "r..u" {
		t.Fatalf("held %s", got)
	}
	s.Close()
	if n := countFiles(t, opt.Dirs[0].Path); n != 2 {
		t.Fatalf("%d chunk files, want 2", n)
	}
}

// countFiles counts the chunk files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "chunks"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRankedHitAndSetRank(t *testing.T) {
	s, _ := rankStore(t, "lru", 4)
	// Generations are fill start times on the store's clock, as a fill
	// job's are: a chunk ranked while held counts as filled then.
	var clock atomic.Int64
	s.now = func() int64 { return clock.Add(1) }
	g5 := s.now()
	rk := Rank{Gen: g5, Rank: 2}
	for i := range 4 {
		r := Rank{}
		if i == 0 {
			r = rk
		}
		if err := rput(s, i, r); err != nil {
			t.Fatal(err)
		}
	}
	// A player's hit keeps it ranked.
	mustGet(t, s, rid(0), "v", payload(rid(0), "v", rankChunk))
	if got, ok := s.RankOf(rid(0)); !ok || got != rk {
		t.Fatalf("RankOf after a hit: %+v %v", got, ok)
	}
	// SetRank: a worse rank of the same generation changes nothing; a newer
	// generation supersedes; an unranked chunk becomes ranked.
	if ok, err := s.SetRank(rid(0), "v", Rank{Gen: g5, Rank: 3}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if got, _ := s.RankOf(rid(0)); got != rk {
		t.Fatalf("worse rank applied: %+v", got)
	}
	g6 := s.now()
	if ok, _ := s.SetRank(rid(0), "v", Rank{Gen: g6, Rank: 9}); !ok {
		t.Fatal("SetRank: not held")
	}
	if ok, _ := s.SetRank(rid(1), "v", Rank{Gen: g6, Rank: 1}); !ok {
		t.Fatal("SetRank: not held")
	}
	if ok, _ := s.SetRank(rid(2), "other", Rank{Gen: g6, Rank: 1}); ok {
		t.Fatal("SetRank of another version reported held")
	}
	if _, err := s.SetRank(rid(2), "v", Rank{}); err == nil {
		t.Fatal("SetRank with the zero Rank: no error")
	}
	if got := held(s, 4); got != "rruu" {
		t.Fatalf("held %s", got)
	}
	// Unranked puts now evict 2 and 3 first.
	for i := 4; i < 6; i++ {
		if err := rput(s, i, Rank{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := held(s, 6); got != "rr..uu" {
		t.Fatalf("held %s", got)
	}
}

func TestRanksSurviveRestart(t *testing.T) {
	for _, how := range []string{"snapshot", "scan", "v1 snapshot"} {
		t.Run(how, func(t *testing.T) {
			s, opt := rankStore(t, "lru", 6)
			ranks := []Rank{{Gen: 3, Rank: 1}, {}, {Gen: 3, Rank: 7}, {Gen: 2, Rank: 0}, {}}
			for i, rk := range ranks {
				if err := rput(s, i, rk); err != nil {
					t.Fatal(err)
				}
			}
			// Given a rank after it was written: kept by the snapshot only.
			if ok, _ := s.SetRank(rid(1), "v", Rank{Gen: 3, Rank: 4}); !ok {
				t.Fatal("SetRank: not held")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			snap := filepath.Join(opt.Dirs[0].Path, snapName)
			want := append([]Rank(nil), ranks...)
			switch how {
			case "snapshot":
				want[1] = Rank{Gen: 3, Rank: 4}
			case "scan":
				if err := os.Remove(snap); err != nil {
					t.Fatal(err)
				}
			case "v1 snapshot":
				// A snapshot of a release before ranks loads every chunk
				// unranked.
				writeV1Snapshot(t, snap)
				want = make([]Rank, len(ranks))
			}
			s2, _ := open(t, opt)
			for i, rk := range want {
				got, ok := s2.RankOf(rid(i))
				if !ok || got != rk {
					t.Fatalf("chunk %d: rank %+v %v, want %+v", i, got, ok, rk)
				}
				mustGet(t, s2, rid(i), "v", payload(rid(i), "v", rankChunk))
			}
			st := s2.Stats().Disks[0]
			if n := countRanked(want); st.RankedChunks != n || st.Chunks != len(want) || st.RankedBytes != int64(n)*2*blockSize {
				t.Fatalf("stats %+v", st)
			}
			// The loaded ranks act: puts of rank (3, 7) evict the unranked
			// chunks and generation 2's, then are refused; what is left ranks
			// (3, 7) or better.
			if err := rput(s2, 5, Rank{Gen: 3, Rank: 0}); err != nil {
				t.Fatal(err)
			}
			full := false
			for i := 6; i < 20 && !full; i++ {
				err := rput(s2, i, Rank{Gen: 3, Rank: 7})
				if full = errors.Is(err, ErrRankedFull); err != nil && !full {
					t.Fatalf("put %d: %v", i, err)
				}
			}
			if !full {
				t.Fatal("puts of rank (3, 7) never refused")
			}
			for i := range 20 {
				rk, ok := s2.RankOf(rid(i))
				if ok && (rk.Gen != 3 || rk.Rank > 7) {
					t.Fatalf("chunk %d of rank %+v kept", i, rk)
				}
				if !ok && (i == 5 || ((i == 0 || i == 2) && how != "v1 snapshot")) {
					t.Fatalf("chunk %d evicted", i)
				}
			}
		})
	}
}

func countRanked(rs []Rank) int {
	n := 0
	for _, r := range rs {
		if r.Ranked() {
			n++
		}
	}
	return n
}

// writeV1Snapshot rewrites the snapshot at path in format version 1 (no
// ranks), as a release before ranks wrote it.
func writeV1Snapshot(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	w := &snapWriter{}
	var out []byte
	buf := &sliceWriter{b: &out}
	w.w = bufioWriter(buf)
	var fixed [snapFixed]byte
	copy(fixed[:], snapMagic)
	putU32(fixed[8:], snapV1)
	putU64(fixed[16:], uint64(len(lr.objs)))
	putU64(fixed[24:], uint64(len(lr.recs)))
	w.write(fixed[:])
	for _, o := range lr.objs {
		w.str(o.key)
		w.str(o.version)
		w.uvarint(uint64(len(o.meta)))
		w.write(o.meta)
		w.varint(o.written)
	}
	var prev int64
	for _, r := range lr.recs {
		w.uvarint(uint64(r.obj))
		w.uvarint(uint64(r.index))
		w.uvarint(0)
		w.uvarint(uint64(r.plen))
		w.uvarint(uint64(r.hlen))
		w.varint(r.written)
		w.uvarint(uint64(r.lastUse - prev))
		prev = r.lastUse
	}
	if err := w.w.Flush(); err != nil || w.err != nil {
		t.Fatal(err, w.err)
	}
	out = appendCRC(out)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

type sliceWriter struct{ b *[]byte }

func (w *sliceWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

func bufioWriter(w io.Writer) *bufio.Writer { return bufio.NewWriter(w) }

func putU32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }
func putU64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }

func appendCRC(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func TestRankedHeader(t *testing.T) {
	rk := Rank{Gen: 1 << 40, Rank: MaxRank}
	b := appendRankedHeader(nil, "/k", "v", []byte("m"), 3, 10, 7, 9, rk)
	hd, err := decodeHeader(b)
	if err != nil || hd.rank != rk || string(hd.meta) != "m" || hd.hlen != len(b) {
		t.Fatalf("decoded %+v, %v", hd, err)
	}
	if plain := appendHeader(nil, "/k", "v", []byte("m"), 3, 10, 7, 9); len(plain) != len(b)-rankFields {
		t.Fatalf("unranked header %d bytes, ranked %d", len(plain), len(b))
	}
	// A ranked flag with a zero generation is damage.
	bad := appendRankedHeader(nil, "/k", "v", nil, 0, 0, 0, 0, Rank{Gen: 1})
	bad[len(bad)-4-rankFields] = 0
	bad = append(bad[:len(bad)-4], binary.LittleEndian.AppendUint32(nil, crc32.Checksum(bad[:len(bad)-4], castagnoli))...)
	if _, err := decodeHeader(bad); !errors.Is(err, errCorrupt) {
		t.Fatalf("zero generation: %v", err)
	}
}
