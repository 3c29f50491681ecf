package policy

import (
	"math/rand/v2"
	"testing"
)

func TestSketchNeverUnderestimates(t *testing.T) {
	var s sketch
	s.ensure(64) // 1024 counters per row quarter; sample size 640
	r := rand.New(rand.NewPCG(7, 7))
	counts := make(map[uint64]int)
	for range 500 { // below the sample size: no halving
		k := r.Uint64N(200)
		counts[k]++
		s.increment(k)
	}
	over := 0
	for k, c := range counts {
		f := int(s.frequency(k))
		if f < min(c, 15) {
			t.Errorf("frequency(%d) = %d, but it was counted %d times", k, f, c)
		}
		if f > min(c, 15) {
			over++
		}
	}
	if over > len(counts)/10 {
		t.Errorf("%d of %d keys overestimated: hashing spreads badly", over, len(counts))
	}
	if s.frequency(1<<40) != 0 && s.frequency(1<<41) != 0 && s.frequency(1<<42) != 0 {
		t.Errorf("keys never counted all have non-zero estimates")
	}
}

func TestSketchSaturatesAndHalves(t *testing.T) {
	var s sketch
	s.ensure(1024)
	if len(s.table) != 1024 || s.sampleSize != 10240 {
		t.Fatalf("ensure(1024): %d words, sample size %d; want 1024, 10240", len(s.table), s.sampleSize)
	}
	const hot = 12345
	for range 20 {
		s.increment(hot)
	}
	if f := s.frequency(hot); f != 15 {
		t.Fatalf("after 20 increments frequency = %d, want 15 (4-bit cap)", f)
	}
	// Distinct keys, one increment each, until the sketch halves.
	before := s.additions
	k := uint64(1 << 32)
	for s.additions >= before {
		before = s.additions
		s.increment(k)
		k++
	}
	if f := s.frequency(hot); f < 7 || f > 8 {
		t.Fatalf("after halving frequency = %d, want 7 (15/2, or one more by collision)", f)
	}
	if s.additions > 10240/2 {
		t.Fatalf("after halving %d additions counted, want at most half the sample size", s.additions)
	}
}

func TestSketchGrows(t *testing.T) {
	var s sketch
	s.ensure(10)
	if len(s.table) != sketchMinWords {
		t.Fatalf("ensure(10): %d words, want the minimum %d", len(s.table), sketchMinWords)
	}
	s.increment(1)
	s.ensure(16) // no change
	if s.frequency(1) != 1 {
		t.Fatalf("ensure with a sufficient table lost the counts")
	}
	s.ensure(17)
	if len(s.table) != 32 || s.mask != 31 || s.sampleSize != 320 {
		t.Fatalf("ensure(17): %d words, mask %d, sample %d; want 32, 31, 320", len(s.table), s.mask, s.sampleSize)
	}
}
