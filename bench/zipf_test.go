package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestZipfFrequencies(t *testing.T) {
	const (
		n     = 100
		s     = 0.9
		draws = 1_000_000
	)
	z, err := NewZipf(n, s)
	if err != nil {
		t.Fatal(err)
	}
	h := 0.0
	for k := 1; k <= n; k++ {
		h += math.Pow(float64(k), -s)
	}
	r := rand.New(rand.NewPCG(42, 7))
	counts := make([]int, n+1)
	for range draws {
		k := z.Sample(r)
		if k < 1 || k > n {
			t.Fatalf("rank %d outside 1..%d", k, n)
		}
		counts[k]++
	}
	for k := 1; k <= 10; k++ {
		want := math.Pow(float64(k), -s) / h
		if p := z.Prob(k); math.Abs(p-want) > 1e-12 {
			t.Errorf("Prob(%d) = %v, want %v", k, p, want)
		}
		got := float64(counts[k]) / draws
		if rel := math.Abs(got-want) / want; rel > 0.03 {
			t.Errorf("rank %d: frequency %.5f, theory %.5f (off by %.1f%%)", k, got, want, rel*100)
		}
	}
	// Least-squares slope of log(frequency) on log(rank).
	var sx, sy, sxx, sxy float64
	for k := 1; k <= n; k++ {
		x, y := math.Log(float64(k)), math.Log(float64(counts[k]))
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	if math.Abs(slope+s) > 0.05 {
		t.Errorf("log-log slope %.3f, want about %.2f", slope, -s)
	}
}

func TestZipfEdges(t *testing.T) {
	for _, c := range []struct {
		n int
		s float64
	}{{0, 1}, {10, -0.1}, {10, math.NaN()}, {10, math.Inf(1)}} {
		if _, err := NewZipf(c.n, c.s); err == nil {
			t.Errorf("NewZipf(%d, %v) accepted", c.n, c.s)
		}
	}
	// One rank: always rank 1. Exponent 0: uniform.
	z, err := NewZipf(1, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 100 {
		if k := z.Sample(r); k != 1 {
			t.Fatalf("single rank sampled %d", k)
		}
	}
	u, err := NewZipf(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 4; k++ {
		if p := u.Prob(k); math.Abs(p-0.25) > 1e-12 {
			t.Errorf("uniform Prob(%d) = %v", k, p)
		}
	}
	if u.Prob(0) != 0 || u.Prob(5) != 0 {
		t.Error("Prob outside the ranks is not 0")
	}
}
