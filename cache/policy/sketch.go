package policy

import "math/bits"

// sketchMinWords is the smallest sketch table, in 64-bit words.
const sketchMinWords = 16

// sketchInitialWords caps the table a sketch starts with when sized from the
// capacity (one word per byte of capacity is right for unit sizes, far too
// much for large objects; the table grows with the entry count anyway).
const sketchInitialWords = 4096

// sketch is a count-min sketch of 4-bit counters with periodic halving, the
// frequency estimator of TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A
// Highly Efficient Cache Admission Policy", ACM ToS 2017), laid out as in
// Caffeine's FrequencySketch: a power-of-two table of 64-bit words holding
// 16 counters each, depth 4. A key picks one word per row and one of four
// counters in the quarter of that word reserved for the row; its estimate is
// the least of the four.
//
// After sampleSize increments (10 per table word, Caffeine's 10 per entry of
// the maximum size) every counter is halved, so that old popularity fades.
type sketch struct {
	table      []uint64
	mask       uint64
	additions  int
	sampleSize int
}

// ensure grows the table to at least n words (rounded up to a power of two)
// if it is smaller, forgetting the counts.
func (s *sketch) ensure(n int) {
	n = max(n, sketchMinWords)
	if len(s.table) >= n {
		return
	}
	w := 1 << bits.Len(uint(n-1))
	s.table = make([]uint64, w)
	s.mask = uint64(w - 1)
	s.additions = 0
	s.sampleSize = 10 * w
}

// mix64 is the splitmix64 finalizer; callers' keys may be small integers, so
// they are spread before indexing.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// slot returns the word index and the bit offset of key's counter in row i.
func (s *sketch) slot(h1, h2 uint64, i int) (int, uint) {
	x := h1 + uint64(i)*h2
	word := int((x ^ x>>32) & s.mask)
	off := uint(i)<<4 + uint(x>>62)<<2 // row i owns nibbles 4i..4i+3
	return word, off
}

func (s *sketch) hashes(key uint64) (uint64, uint64) {
	h1 := mix64(key)
	h2 := mix64(h1^0x9e3779b97f4a7c15) | 1
	return h1, h2
}

// increment counts one access to key.
func (s *sketch) increment(key uint64) {
	h1, h2 := s.hashes(key)
	added := false
	for i := range 4 {
		w, off := s.slot(h1, h2, i)
		if (s.table[w]>>off)&0xf < 0xf {
			s.table[w] += 1 << off
			added = true
		}
	}
	if added {
		s.additions++
		if s.additions >= s.sampleSize {
			s.reset()
		}
	}
}

// frequency returns the estimated recent access count of key, 0..15.
func (s *sketch) frequency(key uint64) uint8 {
	h1, h2 := s.hashes(key)
	f := uint64(0xf)
	for i := range 4 {
		w, off := s.slot(h1, h2, i)
		f = min(f, (s.table[w]>>off)&0xf)
	}
	return uint8(f)
}

// reset halves every counter. The additions count drops by half too, less
// the truncation of odd counters (a quarter per odd counter, as the four
// counters of a key mostly truncate together).
func (s *sketch) reset() {
	odd := 0
	for i, w := range s.table {
		odd += bits.OnesCount64(w & 0x1111111111111111)
		s.table[i] = (w >> 1) & 0x7777777777777777
	}
	s.additions = (s.additions - odd/4) / 2
}

// Sketch is a frequency estimator for callers that make their own
// admission decisions: the count-min sketch TinyLFU uses (4-bit counters,
// depth 4, every counter halved after ten increments per table word, so
// old popularity fades). Like the policies, it is not safe for concurrent
// use.
type Sketch struct{ s sketch }

// NewSketch returns a sketch sized for about n distinct keys seen between
// two halvings (at least 16 table words).
func NewSketch(n int) *Sketch {
	k := &Sketch{}
	k.s.ensure(n)
	return k
}

// Increment counts one access to key.
func (k *Sketch) Increment(key uint64) { k.s.increment(key) }

// Frequency returns key's estimated recent access count, 0..15.
func (k *Sketch) Frequency(key uint64) uint8 { return k.s.frequency(key) }
