package simulate

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"edgecache/bench/trace"
)

// req is one request of a hand-written trace.
type req struct {
	key  string
	size int64
}

// build makes a Trace from requests.
func build(t testing.TB, name string, reqs []req) *Trace {
	t.Helper()
	b := newBuilder(name)
	for _, r := range reqs {
		if err := b.add([]byte(r.key), r.size); err != nil {
			t.Fatal(err)
		}
	}
	return b.finish()
}

// units makes a unit-size trace from space-separated keys.
func units(t testing.TB, keys string) *Trace {
	var reqs []req
	for k := range strings.FieldsSeq(keys) {
		reqs = append(reqs, req{k, 1})
	}
	return build(t, "units", reqs)
}

// testLRU is a minimal byte-aware LRU, independent of package policy, to
// check the replay engine: evict from the back until the new entry fits;
// reject entries larger than the capacity.
type testLRU struct {
	capacity, used int64
	ll             list.List // of *lruEntry, front = most recent
	m              map[uint64]*list.Element
}

type lruEntry struct {
	key  uint64
	size int64
}

func newTestLRU(_ string, capacity int64) (replayer, error) {
	return &testLRU{capacity: capacity, m: map[uint64]*list.Element{}}, nil
}

func (c *testLRU) Get(key uint64) bool {
	e, ok := c.m[key]
	if ok {
		c.ll.MoveToFront(e)
	}
	return ok
}

func (c *testLRU) Add(key uint64, size int64) bool {
	if size > c.capacity {
		return false
	}
	for c.used+size > c.capacity {
		e := c.ll.Back()
		v := c.ll.Remove(e).(*lruEntry)
		delete(c.m, v.key)
		c.used -= v.size
	}
	c.m[key] = c.ll.PushFront(&lruEntry{key, size})
	c.used += size
	return true
}

func TestLoad(t *testing.T) {
	in := "# t key size\n1 a 10\n2 b 5\n3 a 12\n4 c 1\n5 b 5\n"
	r, err := trace.NewReader(strings.NewReader(in), "in.tr")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Load(r)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Name() != "in.tr" || tr.Requests() != 5 || tr.Distinct() != 3 || tr.UniqueBytes() != 12+5+1 || tr.TotalBytes() != 33 {
		t.Errorf("got name %q, %d requests, %d distinct, %d unique bytes, %d total bytes",
			tr.Name(), tr.Requests(), tr.Distinct(), tr.UniqueBytes(), tr.TotalBytes())
	}
	if want := []uint32{0, 1, 0, 2, 1}; !slices.Equal(tr.ids, want) {
		t.Errorf("ids %v, want %v", tr.ids, want)
	}
	if want := []uint32{2, 4, never, never, never}; !slices.Equal(tr.next, want) {
		t.Errorf("next %v, want %v", tr.next, want)
	}

	r, err = trace.NewReader(strings.NewReader("1 a 1\n2 b\n"), "bad.tr")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(r); err == nil || !strings.HasPrefix(err.Error(), "bad.tr:2: ") {
		t.Errorf("Load of a malformed trace: %v, want an error at bad.tr:2", err)
	}
}

func TestCacheSize(t *testing.T) {
	tr := build(t, "x", []req{{"a", 600}, {"b", 400}, {"a", 1}}) // unique bytes 1000
	tests := []struct {
		spec string
		want int64 // 0: error
	}{
		{"1%", 10},
		{"5%", 50},
		{"0.5%", 5},
		{"12.34%", 123},
		{"100%", 1000},
		{"250%", 2500},
		{"0.01%", 0},
		{"0%", 0},
		{"-5%", 0},
		{"x%", 0},
		{"%", 0},
		{"1000000", 1000000},
		{"512MiB", 512 << 20},
		{"10GiB", 10 << 30},
		{"10MB", 10_000_000},
		{"0", 0},
		{"", 0},
		{"10 GiB", 0},
		{"-1", 0},
	}
	for _, tt := range tests {
		got, err := tr.CacheSize(tt.spec)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("CacheSize(%q) = %d, want an error", tt.spec, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CacheSize(%q) = %d, %v; want %d", tt.spec, got, err, tt.want)
		}
	}
}

// handCase is a trace with hit counts worked out by hand.
type handCase struct {
	name     string
	reqs     []req
	capacity int64
	// hits and hit bytes for LRU and for Belady.
	lruHits, lruHitBytes, belHits, belHitBytes int64
}

func handCases(t *testing.T) []handCase {
	unit := func(keys string) []req {
		var r []req
		for k := range strings.FieldsSeq(keys) {
			r = append(r, req{k, 1})
		}
		return r
	}
	return []handCase{
		// LRU, capacity 2: a b [b a]; c evicts a [c b]; a evicts b; d
		// evicts c; b evicts a; a evicts d: no hits.
		// Belady: a (next 3) and b (next 5) admitted; c, d never come
		// back: bypassed; a, b, a hit.
		{"abcadba cap 2", unit("a b c a d b a"), 2, 0, 0, 3, 3},
		// LRU, capacity 3: a b c [c b a]; a hit [a c b]; d evicts b
		// [d a c]; b evicts c [b d a]; a hit. Belady: a and b admitted;
		// c never comes back: bypassed; a hit; d bypassed; b hit; a hit.
		{"abcadba cap 3", unit("a b c a d b a"), 3, 2, 2, 3, 3},
		// Capacity 1: LRU never hits here. Belady admits a (next 3),
		// then b (next 5), which is furthest and evicted at once; c and
		// d are bypassed; a hits twice.
		{"abcadba cap 1", unit("a b c a d b a"), 1, 0, 0, 2, 2},
		// Every key once: nothing hits, Belady admits nothing.
		{"distinct", unit("a b c d e"), 2, 0, 0, 0, 0},
		// Mixed sizes, capacity 10: a:6 b:3 a:6 c:2 b:3 a:6.
		// LRU: a [a]6; b [b a]9; a hit [a b]; c: 11 > 10, evict b
		// [c a]8; b: 11, evict a [b c]5; a: 11, evict c [a b]9.
		// 1 hit of 6 bytes.
		// Belady: a, b admitted (9); a hit; c never again: bypassed; b
		// hit; a hit: 3 hits, 6+3+6 bytes.
		{"mixed", []req{{"a", 6}, {"b", 3}, {"a", 6}, {"c", 2}, {"b", 3}, {"a", 6}}, 10, 1, 6, 3, 15},
		// Mixed sizes, capacity 10: a:6 b:3 c:4 b:3 a:6 c:4.
		// LRU: a; b [b a]9; c: 13, evict a [c b]7; b hit [b c]; a: 13,
		// evict c [a b]9; c: 13, evict b [c a]10: 1 hit, 3 bytes.
		// Belady: a (next 4), b (next 3) admitted; c (next 5) admitted,
		// 13 > 10: c is furthest, evicted at once (bypass); b, a hit; c
		// never again: bypassed. 2 hits, 9 bytes.
		{"mixed bypass", []req{{"a", 6}, {"b", 3}, {"c", 4}, {"b", 3}, {"a", 6}, {"c", 4}}, 10, 1, 3, 2, 9},
		// Mixed sizes, capacity 10: a:3 b:3 c:8 c a b.
		// LRU: a, b [b a]6; c: 14, evict a then b [c]; c hit; a: 11,
		// evict c [a]; b [b a]: 1 hit, 8 bytes.
		// Belady: a (next 4), b (next 5), c (next 3): 14, evict b then
		// a; c hit; a, b never again: bypassed. 1 hit, 8 bytes.
		{"mixed two evictions", []req{{"a", 3}, {"b", 3}, {"c", 8}, {"c", 8}, {"a", 3}, {"b", 3}}, 10, 1, 8, 1, 8},
		// An object larger than the cache is never admitted.
		{"oversize", []req{{"a", 11}, {"a", 11}, {"b", 5}, {"b", 5}}, 10, 1, 5, 1, 5},
		// Same key, new size: the request's size counts; the size
		// changes on admission. Capacity 10: a:4 a:4 b:6 a:9 b:6.
		// LRU: a; a hit (4); b [b a]10; a hit (9 bytes counted, 4
		// resident) [a b]; b hit (6). 3 hits, 19 bytes.
		// Belady: same admissions, nothing to evict: 3 hits, 19 bytes.
		{"size change", []req{{"a", 4}, {"a", 4}, {"b", 6}, {"a", 9}, {"b", 6}}, 10, 3, 19, 3, 19},
	}
}

func TestHandComputed(t *testing.T) {
	for _, c := range handCases(t) {
		t.Run(c.name, func(t *testing.T) {
			tr := build(t, c.name, c.reqs)
			var bytes int64
			for _, r := range c.reqs {
				bytes += r.size
			}
			check := func(what string, r Result, hits, hitBytes int64) {
				t.Helper()
				n := int64(len(c.reqs))
				want := Result{
					Policy: r.Policy, Size: c.capacity, Requests: n, Hits: hits, Bytes: bytes, HitBytes: hitBytes,
					ObjectHitRatio: float64(hits) / float64(n), ByteHitRatio: float64(hitBytes) / float64(bytes),
					Elapsed: r.Elapsed,
				}
				if r != want {
					t.Errorf("%s:\ngot  %+v\nwant %+v", what, r, want)
				}
			}
			// The engine with the test LRU, and the real LRU and Belady.
			res, err := run(context.Background(), tr, []string{"testlru", Belady}, []int64{c.capacity}, 2, newTestLRU)
			if err != nil {
				t.Fatal(err)
			}
			check("test LRU", res[0], c.lruHits, c.lruHitBytes)
			check("belady", res[1], c.belHits, c.belHitBytes)
			res, err = Run(context.Background(), tr, []string{"lru", Belady}, []int64{c.capacity}, 1)
			if err != nil {
				t.Fatal(err)
			}
			check("policy lru", res[0], c.lruHits, c.lruHitBytes)
			check("belady via Run", res[1], c.belHits, c.belHitBytes)
		})
	}
}

// optimalHits is the best number of hits any policy can get on a unit-size
// trace with a cache of capacity objects, by dynamic programming over the
// resident sets (keys must be fewer than 16). On a miss the object may be
// admitted (evicting any one object when full) or not.
func optimalHits(ids []uint32, capacity int) int {
	best := map[uint32]int{0: 0} // resident set -> most hits so far
	for _, id := range ids {
		bit := uint32(1) << id
		nextBest := map[uint32]int{}
		put := func(set uint32, hits int) {
			if h, ok := nextBest[set]; !ok || hits > h {
				nextBest[set] = hits
			}
		}
		for set, hits := range best {
			if set&bit != 0 {
				put(set, hits+1)
				continue
			}
			put(set, hits) // bypass
			n := 0
			for s := set; s != 0; s &= s - 1 {
				n++
			}
			if n < capacity {
				put(set|bit, hits)
				continue
			}
			for s := set; s != 0; s &= s - 1 {
				victim := s & -s
				put(set&^victim|bit, hits)
			}
		}
		best = nextBest
	}
	m := 0
	for _, h := range best {
		m = max(m, h)
	}
	return m
}

// randomTrace makes n requests over k keys with a skewed popularity.
func randomTrace(t testing.TB, seed uint64, n, k int, maxSize int64) *Trace {
	rng := rand.New(rand.NewPCG(seed, 0))
	reqs := make([]req, n)
	sizes := make([]int64, k)
	for i := range sizes {
		sizes[i] = 1 + rng.Int64N(maxSize)
	}
	for i := range reqs {
		// Squaring a uniform variate favours small keys.
		u := rng.Float64()
		key := int(u * u * float64(k))
		reqs[i] = req{fmt.Sprint(key), sizes[key]}
	}
	return build(t, fmt.Sprintf("random-%d", seed), reqs)
}

func TestBeladyIsOptimalOnUnitSizes(t *testing.T) {
	for seed := range uint64(20) {
		tr := randomTrace(t, seed, 14, 6, 1)
		for capacity := 1; capacity <= 4; capacity++ {
			hits, _, err := runBelady(context.Background(), tr, int64(capacity), nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := optimalHits(tr.ids, capacity); int(hits) != want {
				t.Errorf("seed %d, capacity %d, ids %v: belady %d hits, optimum %d", seed, capacity, tr.ids, hits, want)
			}
		}
	}
}

func TestBeladyNeverWorse(t *testing.T) {
	for seed := range uint64(4) {
		tr := randomTrace(t, seed, 20000, 2000, 1)
		sizes := []int64{10, 50, 200, 1000}
		res, err := Run(context.Background(), tr, Policies(), sizes, 0)
		if err != nil {
			t.Fatal(err)
		}
		np := len(Policies())
		for i := range sizes {
			row := res[i*np : (i+1)*np]
			bel := row[np-1]
			if bel.Policy != Belady {
				t.Fatalf("last result is %s, want belady", bel.Policy)
			}
			for _, r := range row[:np-1] {
				if r.Hits > bel.Hits {
					t.Errorf("seed %d, size %d: %s has %d hits, more than belady's %d", seed, r.Size, r.Policy, r.Hits, bel.Hits)
				}
				if r.Hits == 0 {
					t.Errorf("seed %d, size %d: %s has no hits", seed, r.Size, r.Policy)
				}
			}
		}
	}
}

func TestRunDeterministicAcrossParallelism(t *testing.T) {
	tr := randomTrace(t, 7, 20000, 3000, 5000)
	sizes := []int64{100000, 1000000}
	a, err := Run(context.Background(), tr, Policies(), sizes, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), tr, Policies(), sizes, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		a[i].Elapsed, b[i].Elapsed = 0, 0
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("parallel 1 and 5 differ:\n%+v\n%+v", a, b)
	}
	for i, r := range a {
		if r.Policy != Policies()[i%len(Policies())] || r.Size != sizes[i/len(Policies())] {
			t.Errorf("result %d is %s at %d: wrong order", i, r.Policy, r.Size)
		}
	}
}

func TestRunErrors(t *testing.T) {
	tr := units(t, "a b a")
	_, err := Run(context.Background(), tr, []string{"lru", "fifo"}, []int64{1}, 0)
	var upe *UnknownPolicyError
	if !errors.As(err, &upe) || upe.Name != "fifo" || !strings.Contains(err.Error(), "belady") || !strings.Contains(err.Error(), "s3fifo") {
		t.Errorf("unknown policy: %v", err)
	}
	if _, err := Run(context.Background(), tr, []string{"lru"}, []int64{0}, 0); err == nil {
		t.Error("size 0: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, tr, Policies(), []int64{1, 2}, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	res, err := Run(context.Background(), build(t, "empty", nil), Policies(), []int64{1}, 0)
	if err != nil || len(res) != len(Policies()) || res[0].ObjectHitRatio != 0 {
		t.Errorf("empty trace: %+v, %v", res, err)
	}
}

// tracesDir finds the shared traces: $EDGECACHE_TRACES, or shared/traces
// beside the checkout (walking up from the package directory).
func tracesDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("EDGECACHE_TRACES"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		d := filepath.Join(dir, "shared", "traces")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "/work/shared/traces"
		}
		dir = parent
	}
}

// loadShared loads a trace of shared/traces, skipping the test if absent.
func loadShared(t *testing.T, file string) *Trace {
	t.Helper()
	path := filepath.Join(tracesDir(t), file)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("trace not available: %v", err)
	}
	r, err := trace.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tr, err := Load(r)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// reference is a hit ratio from shared/traces/README.md.
type reference struct {
	policy   string
	pct      string
	ohr, bhr float64 // bhr < 0: not given
}

// TestRealTraces checks LRU and Belady against the reference figures of
// shared/traces/README.md (±0.01) and logs every policy's hit ratios.
func TestRealTraces(t *testing.T) {
	tests := []struct {
		file string
		refs []reference
	}{
		{"adaptsize_request.tr.gz", []reference{
			{"lru", "1%", 0.209, 0.245}, {"lru", "5%", 0.270, 0.287}, {"lru", "10%", 0.298, 0.308},
			{"belady", "1%", 0.326, 0.326}, {"belady", "5%", 0.399, 0.373}, {"belady", "10%", 0.399, 0.373},
		}},
		{"youtube_umass_012908S1.tr.gz", []reference{
			{"lru", "1%", 0.113, -1}, {"lru", "5%", 0.199, -1}, {"lru", "10%", 0.260, -1},
			{"belady", "1%", 0.262, -1}, {"belady", "5%", 0.393, -1}, {"belady", "10%", 0.458, -1},
		}},
		{"youtube_umass_061807.tr.gz", nil},
	}
	const tolerance = 0.01
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tr := loadShared(t, tt.file)
			pcts := []string{"1%", "5%", "10%"}
			sizes := make([]int64, len(pcts))
			for i, p := range pcts {
				var err error
				if sizes[i], err = tr.CacheSize(p); err != nil {
					t.Fatal(err)
				}
			}
			pols := Policies()
			res, err := Run(context.Background(), tr, pols, sizes, 0)
			if err != nil {
				t.Fatal(err)
			}
			get := func(pol, pct string) Result {
				i, j := slices.Index(pcts, pct), slices.Index(pols, pol)
				return res[i*len(pols)+j]
			}
			for i, p := range pcts {
				var b strings.Builder
				for _, r := range res[i*len(pols) : (i+1)*len(pols)] {
					fmt.Fprintf(&b, " %s %.3f/%.3f", r.Policy, r.ObjectHitRatio, r.ByteHitRatio)
				}
				t.Logf("%s (%d bytes):%s", p, sizes[i], b.String())
			}
			for _, ref := range tt.refs {
				r := get(ref.policy, ref.pct)
				if math.Abs(r.ObjectHitRatio-ref.ohr) > tolerance {
					t.Errorf("%s at %s: object hit ratio %.3f, reference %.3f", ref.policy, ref.pct, r.ObjectHitRatio, ref.ohr)
				}
				if ref.bhr >= 0 && math.Abs(r.ByteHitRatio-ref.bhr) > tolerance {
					t.Errorf("%s at %s: byte hit ratio %.3f, reference %.3f", ref.policy, ref.pct, r.ByteHitRatio, ref.bhr)
				}
			}
			// Every policy stays below Belady in object hits on the
			// unit-size traces, and below an infinite cache everywhere.
			infinite := float64(tr.Requests()-tr.Distinct()) / float64(tr.Requests())
			for _, r := range res {
				if r.ObjectHitRatio > infinite+1e-9 {
					t.Errorf("%s at %d: object hit ratio %.3f above an infinite cache's %.3f", r.Policy, r.Size, r.ObjectHitRatio, infinite)
				}
				if tr.UniqueBytes() == int64(tr.Distinct()) && r.Hits > get(Belady, pcts[slices.Index(sizes, r.Size)]).Hits {
					t.Errorf("%s at %d: more hits than belady", r.Policy, r.Size)
				}
			}
		})
	}
}

// zipfTrace makes n requests over k objects with Zipf(alpha) popularity
// and log-uniform sizes from 1 KiB to 1 MiB.
func zipfTrace(t testing.TB, seed uint64, n, k int, alpha float64) *Trace {
	rng := rand.New(rand.NewPCG(seed, 1))
	cdf := make([]float64, k)
	var sum float64
	for i := range cdf {
		sum += 1 / math.Pow(float64(i+1), alpha)
		cdf[i] = sum
	}
	keys := make([][]byte, k)
	sizes := make([]int64, k)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "/obj/%08x", rng.Uint32())
		keys[i] = fmt.Appendf(keys[i], "-%d", i) // distinct
		sizes[i] = int64(math.Exp(math.Log(1024) + rng.Float64()*math.Log(1024)))
	}
	b := newBuilder(fmt.Sprintf("zipf-%d", n))
	for range n {
		i, _ := slices.BinarySearch(cdf, rng.Float64()*sum)
		i = min(i, k-1)
		if err := b.add(keys[i], sizes[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.finish()
}

func TestZipfSmall(t *testing.T) {
	tr := zipfTrace(t, 1, 100000, 20000, 0.9)
	size, err := tr.CacheSize("5%")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), tr, Policies(), []int64{size}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		t.Logf("%-8s ohr %.3f bhr %.3f  %.1fM req/s", r.Policy, r.ObjectHitRatio, r.ByteHitRatio,
			float64(r.Requests)/r.Elapsed.Seconds()/1e6)
		if r.ObjectHitRatio <= 0.05 {
			t.Errorf("%s: object hit ratio %.3f on a Zipf trace at 5%%", r.Policy, r.ObjectHitRatio)
		}
	}
}

// BenchmarkReplay replays a synthetic Zipf(0.9) trace of 10M requests
// over 1M objects (sizes 1 KiB to 1 MiB) at 5% of its unique bytes, one
// policy per sub-benchmark, and reports requests per second. Set
// SIMULATE_BENCH_REQUESTS to change the trace length.
func BenchmarkReplay(b *testing.B) {
	n := 10_000_000
	if s := os.Getenv("SIMULATE_BENCH_REQUESTS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			b.Fatal(err)
		}
	}
	tr := zipfTrace(b, 1, n, 1_000_000, 0.9)
	size, err := tr.CacheSize("5%")
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range Policies() {
		b.Run(p, func(b *testing.B) {
			var r Result
			for b.Loop() {
				res, err := Run(context.Background(), tr, []string{p}, []int64{size}, 1)
				if err != nil {
					b.Fatal(err)
				}
				r = res[0]
			}
			b.ReportMetric(float64(b.N)*float64(tr.Requests())/b.Elapsed().Seconds(), "req/s")
			b.ReportMetric(r.ObjectHitRatio, "ohr")
			b.ReportMetric(r.ByteHitRatio, "bhr")
		})
	}
}

// TestReplay checks that Replay reports every request once, in order, with
// the outcomes Run counts, for Belady and for policies; that Builder makes
// a trace of the requests given; and that it refuses unknown policies and
// empty caches.
func TestReplay(t *testing.T) {
	tr := zipfTrace(t, 7, 20_000, 500, 1.0)
	for _, name := range []string{Belady, "lru", "arc"} {
		res, err := Run(context.Background(), tr, []string{name}, []int64{40_000}, 1)
		if err != nil {
			t.Fatal(err)
		}
		next, hits := 0, int64(0)
		err = Replay(context.Background(), tr, name, 40_000, func(i int, hit bool) {
			if i != next {
				t.Fatalf("%s: request %d reported after %d", name, i, next-1)
			}
			next++
			if hit {
				hits++
			}
		})
		if err != nil || next != tr.Requests() || hits != res[0].Hits {
			t.Errorf("%s: %v, %d of %d requests reported, %d hits, Run counted %d", name, err, next, tr.Requests(), hits, res[0].Hits)
		}
	}
	b := NewBuilder("built")
	for _, r := range []struct {
		key  string
		size int64
	}{{"a", 10}, {"b", 20}, {"a", 10}, {"c", 5}, {"b", 20}} {
		if err := b.Add([]byte(r.key), r.size); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add([]byte("d"), 0); err == nil {
		t.Error("Builder took a request of 0 bytes")
	}
	built := b.Trace()
	if built.Requests() != 5 || built.Distinct() != 3 || built.UniqueBytes() != 35 || built.TotalBytes() != 65 {
		t.Errorf("built trace: %d requests, %d distinct, %d unique bytes, %d bytes", built.Requests(), built.Distinct(), built.UniqueBytes(), built.TotalBytes())
	}
	var got []bool
	if err := Replay(context.Background(), built, "lru", 30, func(_ int, hit bool) { got = append(got, hit) }); err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, false, true, false, false}; !slices.Equal(got, want) { // c evicts b, not a
		t.Errorf("LRU of 30 bytes over a b a c b: hits %v, want %v", got, want)
	}
	if err := Replay(context.Background(), built, "nope", 30, func(int, bool) {}); err == nil {
		t.Error("unknown policy accepted")
	}
	if err := Replay(context.Background(), built, "lru", 0, func(int, bool) {}); err == nil {
		t.Error("a cache of 0 bytes accepted")
	}
}
