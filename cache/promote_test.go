package cache

import (
	"fmt"
	"testing"
)

// TestPromotionWindow checks that a disk hit promotes a chunk only when the
// chunk was hit on disk before within the memory tier's chunk count of
// distinct disk hits, so a memory tier too small for the hot set is not
// churned while a hot set it can hold still ends up in memory.
func TestPromotionWindow(t *testing.T) {
	tests := []struct {
		name    string
		window  int // memory tier's chunk count
		between int // distinct other chunks hit on disk between two hits
		want    bool
	}{
		{"immediate re-hit", 16, 0, true},
		{"re-hit within window", 16, 14, true},
		{"re-hit at window edge", 16, 15, true},
		{"re-hit past window", 16, 16, false},
		{"64-chunk hot set over 16-chunk memory", 16, 63, false},
		{"hot set that memory holds", 1024, 63, true},
		{"zero-chunk memory tier still works", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dt := newDiskTier(nil, 1<<20, 1<<20, 0, tt.window, nil)
			target := chunkID{"/hot", 0}
			if dt.secondHit(target) {
				t.Fatal("first hit promoted")
			}
			for i := range tt.between {
				dt.secondHit(chunkID{fmt.Sprintf("/other/%d", i), 0})
			}
			if got := dt.secondHit(target); got != tt.want {
				t.Fatalf("second hit after %d others with window %d: promoted %v, want %v", tt.between, tt.window, got, tt.want)
			}
		})
	}
}

// TestMemoryAdmits checks the admission test of disk promotions: a chunk
// gets a place in memory when there is room for it, or when it was read
// more often lately than the chunk the memory policy would evict for it;
// a policy that cannot name its victim admits as before.
func TestMemoryAdmits(t *testing.T) {
	const cs = 4 << 10
	tests := []struct {
		name      string
		policy    string
		resident  int // chunks added first (memory holds 4)
		victimUse int // reads of the least recently used resident after it was added
		candUse   int // reads of the candidate (misses), the one being decided included
		want      bool
	}{
		{"room left", "lru", 3, 0, 1, true},
		{"full, both read once", "lru", 4, 0, 1, false},
		{"full, candidate read more often", "lru", 4, 0, 3, true},
		{"full, victim read more often", "lru", 4, 6, 3, false},
		{"full, equal reads", "lru", 4, 2, 3, false},
		{"policy without a victim", "s3fifo", 4, 6, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMemory(4*cs, cs, tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.shards) != 1 {
				t.Fatalf("%d shards, want 1", len(m.shards))
			}
			for i := range tt.resident {
				id := chunkID{fmt.Sprintf("/r%d", i), 0}
				m.get(id) // the miss that fetched it
				m.add(id, &chunk{version: "v", data: make([]byte, cs)})
			}
			victim := chunkID{"/r0", 0}
			for range tt.victimUse {
				if c, ok := m.get(victim); ok {
					c.unref()
				}
			}
			// Keep /r0 the least recently used: touch the others after it.
			for i := 1; i < tt.resident; i++ {
				if c, ok := m.get(chunkID{fmt.Sprintf("/r%d", i), 0}); ok {
					c.unref()
				}
			}
			cand := chunkID{"/disk", 7}
			for range tt.candUse {
				m.get(cand)
			}
			if got := m.admits(cand, cs); got != tt.want {
				t.Fatalf("admits = %v, want %v", got, tt.want)
			}
		})
	}
}
