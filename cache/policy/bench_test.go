package policy

import "testing"

// BenchmarkPolicies replays a Zipf(1.1) stream over a million keys of 1..100
// bytes (sizes fixed per key) through a 500 kB cache (about 10,000 entries):
// Get, then Add on a miss. One op is one request.
func BenchmarkPolicies(b *testing.B) {
	keys := zipfKeys(1<<20, 1<<20, 1)
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			p := newPolicy(b, name, 500_000, nil)
			for _, k := range keys[:1<<18] { // warm up
				if !p.Get(k) {
					p.Add(k, sizeOf(k))
				}
			}
			hits := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := keys[i&(len(keys)-1)]
				if p.Get(k) {
					hits++
				} else {
					p.Add(k, sizeOf(k))
				}
			}
			b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
		})
	}
}
