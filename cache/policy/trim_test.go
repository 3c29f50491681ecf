package policy

import "testing"

func TestTrim(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			var evicted int64
			p, err := New(name, 1000, func(_ uint64, size int64) { evicted += size })
			if err != nil {
				t.Fatal(err)
			}
			for k := uint64(1); k <= 100; k++ {
				p.Get(k)
				p.Add(k, 10)
				if k%3 == 0 {
					p.Get(k)
				}
			}
			before := p.Bytes()
			evicted = 0
			for _, target := range []int64{before + 10, 700, 333, 0, -5} {
				p.Trim(target)
				if p.Bytes() > max(target, 0) {
					t.Fatalf("Trim(%d): %d bytes left", target, p.Bytes())
				}
				if before-p.Bytes() != evicted {
					t.Fatalf("Trim(%d): %d bytes gone, %d reported evicted", target, before-p.Bytes(), evicted)
				}
			}
			if p.Len() != 0 || p.Capacity() != 1000 {
				t.Fatalf("after Trim(0): %d entries, capacity %d", p.Len(), p.Capacity())
			}
			// Still usable at its capacity.
			for k := uint64(200); k < 300; k++ {
				p.Add(k, 10)
			}
			if p.Bytes() > 1000 || p.Bytes() == 0 {
				t.Fatalf("after refill: %d bytes", p.Bytes())
			}
		})
	}
}
