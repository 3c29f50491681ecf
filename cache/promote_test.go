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
