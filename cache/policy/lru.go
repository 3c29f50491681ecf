package policy

import (
	"math"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// LRU is the classic least-recently-used policy by bytes: a hit moves the
// entry to the front, and entries are evicted from the back until the new
// one fits. It admits every entry that fits the capacity.
//
// It is golang-lru's simplelru (an LRU by entry count) with a byte budget
// on top: entries are evicted in a loop while the new one does not fit, and
// a resident entry is removed before it is re-added with its new size (an
// Add of an existing key would not call the eviction callback).
//
// An LRU is not safe for concurrent use.
type LRU struct {
	capacity int64
	bytes    int64
	onEvict  Evicted
	quiet    bool // the callback is for Remove and re-Add, not an eviction
	lru      *simplelru.LRU[uint64, int64]
}

// NewLRU returns an empty LRU policy of capacity bytes. onEvict may be nil.
// It panics if capacity <= 0.
func NewLRU(capacity int64, onEvict Evicted) *LRU {
	checkCapacity("lru", capacity)
	p := &LRU{capacity: capacity, onEvict: onEvict}
	// The entry count is bounded by the byte budget, not by simplelru.
	p.lru, _ = simplelru.NewLRU[uint64, int64](math.MaxInt32, func(key uint64, size int64) {
		p.bytes -= size
		if !p.quiet && p.onEvict != nil {
			p.onEvict(key, size)
		}
	})
	return p
}

// Name returns "lru".
func (p *LRU) Name() string { return "lru" }

// Len returns the number of resident entries.
func (p *LRU) Len() int { return p.lru.Len() }

// Bytes returns the total size of the resident entries.
func (p *LRU) Bytes() int64 { return p.bytes }

// Capacity returns the byte budget.
func (p *LRU) Capacity() int64 { return p.capacity }

// Get reports whether key is resident and, if so, moves it to the front.
func (p *LRU) Get(key uint64) bool {
	_, ok := p.lru.Get(key)
	return ok
}

// Add admits key of size bytes at the front, evicting from the back until it
// fits; a resident key gets the new size and moves to the front. It returns
// false only when size is not in (0, Capacity()].
func (p *LRU) Add(key uint64, size int64) bool {
	p.Remove(key)
	if !acceptable(size, p.capacity) {
		return false
	}
	for p.bytes+size > p.capacity {
		p.lru.RemoveOldest()
	}
	p.lru.Add(key, size)
	p.bytes += size
	return true
}

// Victim returns the key the next eviction would drop (the least recently
// used), without recording an access; ok is false when nothing is resident.
func (p *LRU) Victim() (key uint64, ok bool) {
	key, _, ok = p.lru.GetOldest()
	return key, ok
}

// Remove drops key if resident, without calling Evicted.
func (p *LRU) Remove(key uint64) {
	p.quiet = true
	p.lru.Remove(key)
	p.quiet = false
}
