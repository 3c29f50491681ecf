package cache

import (
	"strconv"
	"testing"
)

func TestHitWindow(t *testing.T) {
	a, b, c, d := chunkID{"/a", 0}, chunkID{"/a", 1}, chunkID{"/b", 0}, chunkID{"/c", 0}
	for _, tc := range []struct {
		name string
		n    int
		hits []chunkID
		want []bool
	}{
		{"first hit, second promotes", 4, []chunkID{a, a}, []bool{false, true}},
		{"promoted chunk starts over", 4, []chunkID{a, a, a, a}, []bool{false, true, false, true}},
		{"same key, other chunk", 4, []chunkID{a, b, b, a}, []bool{false, false, true, true}},
		{"oldest falls out", 2, []chunkID{a, b, c, a}, []bool{false, false, false, false}},
		{"within n first hits", 3, []chunkID{a, b, c, a}, []bool{false, false, false, true}},
		{"a promoted chunk's slot counts until reused", 2, []chunkID{a, b, b, c, d, a}, []bool{false, false, true, false, false, false}},
		{"window of one", 0, []chunkID{a, a, a, b, a}, []bool{false, true, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newHitWindow(tc.n)
			for i, id := range tc.hits {
				if got := w.take(id); got != tc.want[i] {
					t.Fatalf("hit %d on %v: take %v, want %v", i, id, got, tc.want[i])
				}
			}
			if len(w.pos) > len(w.ring) {
				t.Fatalf("%d entries in a window of %d", len(w.pos), len(w.ring))
			}
		})
	}
}

func TestHitWindowAllocatesNothing(t *testing.T) {
	const n = 64
	w := newHitWindow(n)
	ids := make([]chunkID, 4*n)
	for i := range ids {
		ids[i] = chunkID{"/obj" + strconv.Itoa(i%97), int64(i)}
	}
	i := 0
	hit := func() {
		w.take(ids[i%len(ids)])
		w.take(ids[(i*7)%len(ids)])
		i++
	}
	for range 10 * len(ids) {
		hit() // grow the map to its working size
	}
	if a := testing.AllocsPerRun(1000, hit); a != 0 {
		t.Fatalf("%.2f allocations per hit", a)
	}
}
