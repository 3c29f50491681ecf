package server

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestCoalesce(t *testing.T) {
	type br = ByteRange
	tests := []struct {
		in, want []ByteRange
	}{
		{nil, nil},
		{[]br{{5, 1}}, []br{{5, 1}}},
		// Far apart: unchanged, in the client's order.
		{[]br{{1000, 10}, {0, 10}, {500, 10}}, []br{{1000, 10}, {0, 10}, {500, 10}}},
		// Overlapping, contained, duplicate.
		{[]br{{0, 10}, {5, 10}}, []br{{0, 15}}},
		{[]br{{0, 100}, {10, 5}}, []br{{0, 100}}},
		{[]br{{7, 1}, {7, 1}}, []br{{7, 1}}},
		// Adjacent, and a gap of exactly CoalesceGap and one more.
		{[]br{{0, 10}, {10, 10}}, []br{{0, 20}}},
		{[]br{{0, 10}, {10 + CoalesceGap, 1}}, []br{{0, 11 + CoalesceGap}}},
		{[]br{{0, 10}, {11 + CoalesceGap, 1}}, []br{{0, 10}, {11 + CoalesceGap, 1}}},
		// A merged group stands where its first member stood.
		{[]br{{5000, 1}, {0, 1}, {5001, 1}, {9000, 1}}, []br{{5000, 2}, {0, 1}, {9000, 1}}},
		{[]br{{9000, 1}, {5001, 1}, {0, 1}, {5000, 1}}, []br{{9000, 1}, {5000, 2}, {0, 1}}},
		// Out of order, chained through a middle range.
		{[]br{{100, 10}, {0, 10}, {50, 10}}, []br{{0, 110}}},
		// Sixteen single bytes a chunk apart stay sixteen parts.
		{oneBytes(16, 1<<20), oneBytes(16, 1<<20)},
		// Seventeen single bytes ten apart become one range.
		{oneBytes(17, 10), []br{{0, 161}}},
	}
	for _, tt := range tests {
		got := Coalesce(slices.Clone(tt.in), CoalesceGap)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Coalesce(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func oneBytes(n int, stride int64) []ByteRange {
	var r []ByteRange
	for i := range n {
		r = append(r, ByteRange{int64(i) * stride, 1})
	}
	return r
}

// Coalesce against a byte map, on random ranges: the same bytes plus only
// closed gaps, disjoint ranges more than the gap apart, the client's order.
func TestCoalesceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const size = 400
	for iter := 0; iter < 5000; iter++ {
		gap := int64(rng.IntN(12))
		in := make([]ByteRange, 1+rng.IntN(20))
		for i := range in {
			s := rng.Int64N(size)
			in[i] = ByteRange{s, 1 + rng.Int64N(min(size-s, 30))}
		}
		got := Coalesce(slices.Clone(in), gap)
		var want, have [size]bool
		for _, r := range in {
			for b := r.Start; b < r.Start+r.Length; b++ {
				want[b] = true
			}
		}
		for i, r := range got {
			for b := r.Start; b < r.Start+r.Length; b++ {
				if have[b] {
					t.Fatalf("%v gap %d: %v overlaps", in, gap, got)
				}
				have[b] = true
			}
			for j, q := range got {
				if i != j && q.Start >= r.Start+r.Length && q.Start-(r.Start+r.Length) <= gap {
					t.Fatalf("%v gap %d: %v and %v not merged", in, gap, r, q)
				}
			}
		}
		for b := range size {
			// A byte served but not asked for must lie in a gap of at most
			// gap bytes between asked-for bytes.
			if want[b] && !have[b] {
				t.Fatalf("%v gap %d: byte %d lost in %v", in, gap, b, got)
			}
			if have[b] && !want[b] {
				lo, hi := b, b
				for lo >= 0 && !want[lo] {
					lo--
				}
				for hi < size && !want[hi] {
					hi++
				}
				if lo < 0 || hi >= size || int64(hi-lo-1) > gap {
					t.Fatalf("%v gap %d: byte %d served outside a closable gap: %v", in, gap, b, got)
				}
			}
		}
		// Order: the group holding in[i] appears no later than the group
		// holding in[j] for the first member of each.
		firsts := make([]int, len(got))
		for k, r := range got {
			firsts[k] = -1
			for i, x := range in {
				if x.Start >= r.Start && x.Start+x.Length <= r.Start+r.Length {
					firsts[k] = i
					break
				}
			}
		}
		if !slices.IsSorted(firsts) {
			t.Fatalf("%v gap %d: %v out of the client's order (first members %v)", in, gap, got, firsts)
		}
	}
}

func TestCoalesceAllocs(t *testing.T) {
	r := []ByteRange{{5000, 1}, {0, 1}, {5001, 1}, {9000, 1}}
	buf := make([]ByteRange, len(r))
	if n := testing.AllocsPerRun(100, func() {
		copy(buf, r)
		Coalesce(buf, CoalesceGap)
	}); n != 0 {
		t.Fatalf("%v allocations, want 0", n)
	}
}
