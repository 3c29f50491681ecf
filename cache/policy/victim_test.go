package policy

import "testing"

// TestVictim checks, for every policy that implements Victimizer, that the
// key it names is the one Trim evicts next, and that naming it records no
// use.
func TestVictim(t *testing.T) {
	implemented := 0
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			var evicted []uint64
			p, err := New(name, 1000, func(key uint64, _ int64) { evicted = append(evicted, key) })
			if err != nil {
				t.Fatal(err)
			}
			v, ok := p.(Victimizer)
			if !ok {
				t.Skipf("%s does not implement Victimizer", name)
			}
			implemented++
			if _, ok := v.Victim(); ok {
				t.Fatal("empty policy named a victim")
			}
			for k := uint64(1); k <= 60; k++ {
				p.Get(k)
				p.Add(k, 10)
				if k%4 == 0 {
					p.Get(k / 2)
				}
			}
			for p.Len() > 0 {
				want, ok := v.Victim()
				if !ok {
					t.Fatalf("%d entries resident, no victim", p.Len())
				}
				if again, _ := v.Victim(); again != want {
					t.Fatalf("Victim changed from %d to %d without an operation", want, again)
				}
				evicted = evicted[:0]
				p.Trim(p.Bytes() - 1)
				if len(evicted) != 1 || evicted[0] != want {
					t.Fatalf("Victim named %d, Trim evicted %v", want, evicted)
				}
			}
		})
	}
	if implemented == 0 {
		t.Fatal("no policy implements Victimizer")
	}
}
