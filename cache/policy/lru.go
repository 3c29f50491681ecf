package policy

const lruResident uint8 = 1

// LRU is the classic least-recently-used policy by bytes: a hit moves the
// entry to the front, and entries are evicted from the back until the new
// one fits. It admits every entry that fits the capacity.
//
// An LRU is not safe for concurrent use.
type LRU struct {
	capacity int64
	onEvict  Evicted
	idx      index
	ll       list
}

// NewLRU returns an empty LRU policy of capacity bytes. onEvict may be nil.
// It panics if capacity <= 0.
func NewLRU(capacity int64, onEvict Evicted) *LRU {
	checkCapacity("lru", capacity)
	p := &LRU{capacity: capacity, onEvict: onEvict, idx: newIndex()}
	p.ll.init()
	return p
}

// Name returns "lru".
func (p *LRU) Name() string { return "lru" }

// Len returns the number of resident entries.
func (p *LRU) Len() int { return p.ll.len }

// Bytes returns the total size of the resident entries.
func (p *LRU) Bytes() int64 { return p.ll.bytes }

// Capacity returns the byte budget.
func (p *LRU) Capacity() int64 { return p.capacity }

// Get reports whether key is resident and, if so, moves it to the front.
func (p *LRU) Get(key uint64) bool {
	e := p.idx.get(key)
	if e == nil {
		return false
	}
	p.ll.moveToFront(e)
	return true
}

// Add admits key of size bytes at the front, evicting from the back until it
// fits; a resident key gets the new size and moves to the front. It returns
// false only when size is not in (0, Capacity()].
func (p *LRU) Add(key uint64, size int64) bool {
	e := p.idx.get(key)
	if !acceptable(size, p.capacity) {
		if e != nil {
			p.Remove(key)
		}
		return false
	}
	if e != nil {
		p.ll.remove(e)
		e.size = size
	} else {
		e = p.idx.insert(key, size)
	}
	for p.ll.bytes+size > p.capacity {
		v := p.ll.back()
		p.ll.remove(v)
		p.idx.evict(v, p.onEvict)
	}
	p.ll.pushFront(e, lruResident)
	return true
}

// Remove drops key if resident, without calling Evicted.
func (p *LRU) Remove(key uint64) {
	if e := p.idx.get(key); e != nil {
		p.ll.remove(e)
		p.idx.release(e)
	}
}
