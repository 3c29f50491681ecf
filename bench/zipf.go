package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Zipf samples ranks 1..n with probability proportional to 1/k^s, for any
// exponent s >= 0 (math/rand/v2's Zipf needs s > 1; video popularity is
// usually fitted with s below 1). It draws by inverse-CDF sampling: a
// uniform number is looked up by binary search in a precomputed cumulative
// table. A Zipf is immutable and safe for concurrent use; the randomness
// comes from the caller's generator.
type Zipf struct {
	cdf []float64 // cdf[k-1] = P(rank <= k); cdf[n-1] == 1
	s   float64
}

// NewZipf returns a sampler over ranks 1..n with exponent s.
func NewZipf(n int, s float64) (*Zipf, error) {
	if n < 1 {
		return nil, fmt.Errorf("bench: zipf over %d ranks: need at least 1", n)
	}
	if s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("bench: zipf exponent %v: need a finite number >= 0", s)
	}
	cdf := make([]float64, n)
	sum := 0.0
	for k := 1; k <= n; k++ {
		sum += math.Pow(float64(k), -s)
		cdf[k-1] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	cdf[n-1] = 1
	return &Zipf{cdf: cdf, s: s}, nil
}

// N returns the number of ranks.
func (z *Zipf) N() int { return len(z.cdf) }

// Prob returns the probability of rank k (0 outside 1..N).
func (z *Zipf) Prob(k int) float64 {
	if k < 1 || k > len(z.cdf) {
		return 0
	}
	if k == 1 {
		return z.cdf[0]
	}
	return z.cdf[k-1] - z.cdf[k-2]
}

// Sample draws a rank in 1..N using r.
func (z *Zipf) Sample(r *rand.Rand) int {
	u := r.Float64() // [0, 1)
	// The first rank k with cdf[k-1] > u; u < 1 == cdf[n-1] bounds it.
	return sort.Search(len(z.cdf), func(i int) bool { return z.cdf[i] > u }) + 1
}
