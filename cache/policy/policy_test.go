package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// recorder collects the Evicted calls of a policy.
type recorder struct {
	keys  []uint64
	sizes []int64
}

func (r *recorder) evicted(key uint64, size int64) {
	r.keys = append(r.keys, key)
	r.sizes = append(r.sizes, size)
}

// take returns the keys evicted since the last call.
func (r *recorder) take() []uint64 {
	k := r.keys
	r.keys, r.sizes = nil, nil
	return k
}

func newPolicy(t testing.TB, name string, capacity int64, onEvict Evicted) Policy {
	t.Helper()
	p, err := New(name, capacity, onEvict)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNames(t *testing.T) {
	want := []string{"lru", "2q", "arc", "s3fifo", "tinylfu"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	Names()[0] = "changed"
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() shares its slice: after a caller's write it returns %v", got)
	}
	for _, name := range want {
		p := newPolicy(t, name, 100, nil)
		if p.Name() != name {
			t.Errorf("New(%q).Name() = %q", name, p.Name())
		}
		if p.Capacity() != 100 || p.Len() != 0 || p.Bytes() != 0 {
			t.Errorf("%s: new policy has Capacity %d, Len %d, Bytes %d; want 100, 0, 0",
				name, p.Capacity(), p.Len(), p.Bytes())
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name     string
		capacity int64
		want     string
	}{
		{"x", 10, `policy: unknown policy "x" (known: lru, 2q, arc, s3fifo, tinylfu)`},
		{"LRU", 10, `policy: unknown policy "LRU" (known: lru, 2q, arc, s3fifo, tinylfu)`},
		{"", 10, `policy: unknown policy "" (known: lru, 2q, arc, s3fifo, tinylfu)`},
		{"lru", 0, `policy: lru: capacity must be > 0 bytes, got 0`},
		{"tinylfu", -5, `policy: tinylfu: capacity must be > 0 bytes, got -5`},
	}
	for _, tt := range tests {
		p, err := New(tt.name, tt.capacity, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("New(%q, %d) = %v, %v; want error %q", tt.name, tt.capacity, p, err, tt.want)
		}
	}
}

func TestConstructorsPanicOnBadCapacity(t *testing.T) {
	ctors := map[string]func(){
		"lru":     func() { NewLRU(0, nil) },
		"2q":      func() { New2Q(0, nil) },
		"arc":     func() { NewARC(-1, nil) },
		"s3fifo":  func() { NewS3FIFO(0, nil) },
		"tinylfu": func() { NewTinyLFU(0, nil) },
	}
	for name, f := range ctors {
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), name+": capacity must be > 0") {
					t.Errorf("%s constructor with bad capacity: recovered %v", name, r)
				}
			}()
			f()
		}()
	}
}

// TestCommonBehaviour checks, for every policy, the contract pieces that do
// not depend on the replacement decisions.
func TestCommonBehaviour(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			var rec recorder
			p := newPolicy(t, name, 100, rec.evicted)

			// Oversize and non-positive sizes are rejected without effect.
			for _, size := range []int64{101, 1 << 40, 0, -1} {
				if p.Get(1) {
					t.Fatalf("Get(1) on empty policy = true")
				}
				if p.Add(1, size) {
					t.Errorf("Add(1, %d) with capacity 100 = true, want rejection", size)
				}
				if p.Len() != 0 || p.Bytes() != 0 || p.Get(1) {
					t.Errorf("after rejected Add(1, %d): Len %d Bytes %d", size, p.Len(), p.Bytes())
				}
			}
			// An entry of exactly the capacity fits.
			if !p.Get(2) && !p.Add(2, 100) {
				t.Fatalf("Add(2, 100) with capacity 100 rejected")
			}
			if p.Bytes() != 100 || p.Len() != 1 || !p.Get(2) {
				t.Fatalf("after Add(2, 100): Len %d Bytes %d Get %v", p.Len(), p.Bytes(), p.Get(2))
			}
			// Remove, then Get is false; Remove does not call Evicted.
			p.Remove(2)
			if p.Get(2) || p.Len() != 0 || p.Bytes() != 0 {
				t.Fatalf("after Remove(2): Get %v Len %d Bytes %d", p.Get(2), p.Len(), p.Bytes())
			}
			p.Remove(2) // not resident: no-op
			if len(rec.keys) != 0 {
				t.Fatalf("Evicted called for %v without any eviction needed", rec.keys)
			}

			// Adding a resident key updates its size and keeps the budget.
			for k := uint64(10); k < 15; k++ {
				if !p.Get(k) {
					p.Add(k, 10)
				}
			}
			for k := uint64(10); k < 15; k++ {
				if !p.Get(k) {
					t.Fatalf("key %d of 5×10 bytes not resident in 100 bytes", k)
				}
			}
			if p.Bytes() != 50 || p.Len() != 5 {
				t.Fatalf("5 keys of 10 bytes: Len %d Bytes %d", p.Len(), p.Bytes())
			}
			if !p.Add(12, 30) {
				t.Fatalf("growing resident key 12 to 30 bytes rejected")
			}
			if p.Bytes() != 70 || p.Len() != 5 || !p.Get(12) {
				t.Fatalf("after growing 12 to 30: Len %d Bytes %d", p.Len(), p.Bytes())
			}
			if !p.Add(12, 5) || p.Bytes() != 45 {
				t.Fatalf("after shrinking 12 to 5: Bytes %d, want 45", p.Bytes())
			}
			// Growing to the whole capacity evicts every other key, not 12.
			if !p.Add(12, 100) {
				t.Fatalf("growing resident key 12 to the capacity rejected")
			}
			if p.Bytes() != 100 || p.Len() != 1 || !p.Get(12) {
				t.Fatalf("after growing 12 to 100: Len %d Bytes %d Get(12) %v", p.Len(), p.Bytes(), p.Get(12))
			}
			got := rec.take()
			slices.Sort(got)
			if !slices.Equal(got, []uint64{10, 11, 13, 14}) {
				t.Fatalf("growing 12 to the capacity evicted %v, want [10 11 13 14]", got)
			}
			// Growing a resident key beyond the capacity drops it, silently.
			if p.Add(12, 101) {
				t.Fatalf("growing resident key 12 beyond the capacity accepted")
			}
			if p.Len() != 0 || p.Bytes() != 0 || p.Get(12) || len(rec.keys) != 0 {
				t.Fatalf("after oversize update of 12: Len %d Bytes %d evicted %v", p.Len(), p.Bytes(), rec.keys)
			}
		})
	}
}

// TestRandomOperations replays seeded random operations with random sizes
// against every policy and checks the residency model maintained from the
// Evicted callback, Add's results and Remove after every operation.
func TestRandomOperations(t *testing.T) {
	for _, name := range Names() {
		for _, capacity := range []int64{1, 7, 100, 1000} {
			for seed := uint64(1); seed <= 4; seed++ {
				t.Run(fmt.Sprintf("%s/cap%d/seed%d", name, capacity, seed), func(t *testing.T) {
					checkRandomOperations(t, name, capacity, seed, 4000)
				})
			}
		}
	}
}

func checkRandomOperations(t *testing.T, name string, capacity int64, seed uint64, ops int) {
	r := rand.New(rand.NewPCG(seed, 42))
	model := make(map[uint64]int64) // resident key → size
	var modelBytes int64
	var phase string // the operation in progress, for Evicted's checks
	evictOK := false
	p := newPolicy(t, name, capacity, func(key uint64, size int64) {
		if !evictOK {
			t.Fatalf("%s: Evicted(%d, %d) called during %s", name, key, size, phase)
		}
		s, ok := model[key]
		if !ok {
			t.Fatalf("%s: Evicted(%d, %d) during %s: key not resident", name, key, size, phase)
		}
		if s != size {
			t.Fatalf("%s: Evicted(%d, %d) during %s: resident with size %d", name, key, size, phase, s)
		}
		delete(model, key)
		modelBytes -= size
	})
	universe := uint64(20 + r.IntN(300))
	randSize := func() int64 {
		switch r.IntN(20) {
		case 0:
			return capacity + 1 + r.Int64N(10) // oversize
		case 1:
			return capacity // exactly the capacity
		case 2, 3, 4:
			return 1
		default:
			return 1 + r.Int64N(max(capacity/4, 1))
		}
	}
	for i := range ops {
		key := r.Uint64N(universe)
		switch op := r.IntN(20); {
		case op < 14: // request: Get, then Add on a miss
			phase = fmt.Sprintf("op %d Get(%d)", i, key)
			evictOK = false
			_, resident := model[key]
			if got := p.Get(key); got != resident {
				t.Fatalf("%s: %s = %v, model says %v", name, phase, got, resident)
			}
			if resident {
				break
			}
			fallthrough
		case op < 17: // Add, possibly of a resident key
			size := randSize()
			phase = fmt.Sprintf("op %d Add(%d, %d)", i, key, size)
			evictOK = true
			oldSize, wasResident := model[key]
			if wasResident {
				// An update: the key itself must not be reported evicted.
				delete(model, key)
				modelBytes -= oldSize
			}
			ok := p.Add(key, size)
			evictOK = false
			if size <= 0 || size > capacity {
				if ok {
					t.Fatalf("%s: %s accepted an oversize entry", name, phase)
				}
			}
			if wasResident && size <= capacity && !ok {
				t.Fatalf("%s: %s rejected an update of a resident key", name, phase)
			}
			if ok {
				model[key] = size
				modelBytes += size
			}
		default:
			phase = fmt.Sprintf("op %d Remove(%d)", i, key)
			evictOK = false
			p.Remove(key)
			if s, ok := model[key]; ok {
				delete(model, key)
				modelBytes -= s
			}
		}
		if p.Bytes() > p.Capacity() {
			t.Fatalf("%s: after %s: Bytes %d > Capacity %d", name, phase, p.Bytes(), p.Capacity())
		}
		if p.Bytes() != modelBytes || p.Len() != len(model) {
			t.Fatalf("%s: after %s: Len %d Bytes %d, model has %d keys of %d bytes",
				name, phase, p.Len(), p.Bytes(), len(model), modelBytes)
		}
	}
	// Finally every key of the universe: Get is true exactly for the model's.
	evictOK = false
	phase = "final sweep"
	for k := range universe {
		_, resident := model[k]
		if got := p.Get(k); got != resident {
			t.Fatalf("%s: final Get(%d) = %v, model says %v", name, k, got, resident)
		}
	}
	checkBounded(t, p)
}

// TestSteadyStateAllocations checks that entries are recycled: once the
// cache is warm, a request stream does not allocate. lru is the exception:
// it is golang-lru's simplelru, which allocates one list element per
// admitted entry (per miss, never per hit).
func TestSteadyStateAllocations(t *testing.T) {
	for _, name := range Names() {
		if name == "lru" {
			continue
		}
		p := newPolicy(t, name, 5000, nil)
		keys := zipfKeys(1<<16, 100000, 1)
		i := 0
		stream := func() {
			for range 1000 {
				k := keys[i&(len(keys)-1)]
				i++
				if !p.Get(k) {
					p.Add(k, sizeOf(k))
				}
			}
		}
		for range 200 {
			stream()
		}
		// The map may rarely rehash; evictions alone are hundreds per run.
		if a := testing.AllocsPerRun(50, stream); a > 5 {
			t.Errorf("%s: %.1f allocations per 1000 warm requests, want about 0", name, a)
		}
	}
}

// zipfKeys returns n keys drawn from a Zipf(1.1) distribution over
// [0, universe).
func zipfKeys(n int, universe, seed uint64) []uint64 {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, 99)), 1.1, 1, universe-1)
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = z.Uint64()
	}
	return keys
}

// sizeOf gives key a stable size of 1..100 bytes.
func sizeOf(key uint64) int64 {
	return int64(1 + mix64(key)%100)
}

// checkBounded checks the history bounds of the policies that keep ghosts.
func checkBounded(t *testing.T, p Policy) {
	t.Helper()
	switch q := p.(type) {
	case *TwoQ:
		if q.a1out.bytes > q.kout {
			t.Errorf("2q: A1out holds %d bytes of keys, Kout is %d", q.a1out.bytes, q.kout)
		}
	case *ARC:
		c := q.capacity
		if q.t1.bytes+q.b1.bytes > c || q.t1.bytes+q.t2.bytes+q.b1.bytes+q.b2.bytes > 2*c {
			t.Errorf("arc: directory too large: T1 %d T2 %d B1 %d B2 %d, c %d",
				q.t1.bytes, q.t2.bytes, q.b1.bytes, q.b2.bytes, c)
		}
		if q.p < 0 || q.p > c {
			t.Errorf("arc: target p = %d outside [0, %d]", q.p, c)
		}
	case *S3FIFO:
		if q.ghost.bytes > q.ghostCap {
			t.Errorf("s3fifo: ghost holds %d bytes of keys, bound %d", q.ghost.bytes, q.ghostCap)
		}
	case *TinyLFU:
		// Sized from min(capacity, 4096) words, grown to the entry count,
		// which is at most the capacity: a power of two below 2·capacity.
		if words := int64(len(q.sketch.table)); words > max(2*q.capacity, sketchMinWords) {
			t.Errorf("tinylfu: sketch of %d words for a capacity of %d", words, q.capacity)
		}
	}
}

// request is one access of a hand-computed sequence: Get, then Add on a
// miss.
func request(p Policy, key uint64, size int64) (hit bool) {
	if p.Get(key) {
		return true
	}
	p.Add(key, size)
	return false
}

func TestLRUSequences(t *testing.T) {
	tests := []struct {
		name        string
		capacity    int64
		keys        []uint64
		sizes       []int64 // nil: all 1
		wantHits    []uint64
		wantEvicted []uint64
		wantOrder   []uint64 // resident keys, most recent first
	}{
		{
			name: "unit", capacity: 3,
			keys:     []uint64{1, 2, 3, 1, 4},
			wantHits: []uint64{1}, wantEvicted: []uint64{2},
			wantOrder: []uint64{4, 1, 3},
		},
		{
			name: "bytes", capacity: 10,
			keys:     []uint64{1, 2, 3, 1, 4},
			sizes:    []int64{4, 3, 3, 4, 5},
			wantHits: []uint64{1}, wantEvicted: []uint64{2, 3},
			wantOrder: []uint64{4, 1},
		},
		{
			name: "big entry flushes all", capacity: 10,
			keys:     []uint64{1, 2, 3, 4, 1},
			sizes:    []int64{2, 2, 2, 10, 2},
			wantHits: nil, wantEvicted: []uint64{1, 2, 3, 4},
			wantOrder: []uint64{1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			p := NewLRU(tt.capacity, rec.evicted)
			var hits []uint64
			for i, k := range tt.keys {
				size := int64(1)
				if tt.sizes != nil {
					size = tt.sizes[i]
				}
				if request(p, k, size) {
					hits = append(hits, k)
				}
			}
			if !slices.Equal(hits, tt.wantHits) || !slices.Equal(rec.keys, tt.wantEvicted) {
				t.Errorf("hits %v evicted %v; want hits %v evicted %v", hits, rec.keys, tt.wantHits, tt.wantEvicted)
			}
			order := p.lru.Keys() // oldest first
			slices.Reverse(order)
			if !slices.Equal(order, tt.wantOrder) {
				t.Errorf("recency order %v, want %v", order, tt.wantOrder)
			}
		})
	}
}

// keysOf lists the keys of l from front to back.
func keysOf(l *list) []uint64 {
	var keys []uint64
	for e := l.root.next; e != &l.root; e = e.next {
		keys = append(keys, e.key)
	}
	return keys
}
