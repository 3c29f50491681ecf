package policy

// Lists of a TinyLFU.
const (
	tlfuWindow    uint8 = iota + 1 // admission window, LRU
	tlfuProbation                  // main SLRU, probationary segment
	tlfuProtected                  // main SLRU, protected segment
)

// TinyLFU is W-TinyLFU (Einziger, Eytan, Friedman and Manes, "Adaptive
// Software Cache Management", Middleware 2018; the policy of Caffeine) in
// bytes, with a static window.
//
// A new key enters the window, an LRU of 1% of the capacity. Entries pushed
// out of the window are candidates for the main cache, a segmented LRU of
// the remaining 99% whose protected segment holds up to 80% of it; a hit in
// the probationary segment promotes the entry to protected, and protected's
// least recently used entries are demoted back to probation's front when it
// overflows.
//
// Admission: a candidate enters probation freely while the cache has room.
// Otherwise the victims it would displace are, in order, probation's least
// recently used entries and then protected's, as many as it takes to free
// the bytes the candidate needs. The candidate is admitted, and those
// victims evicted, only if its estimated frequency is strictly greater than
// the frequency of each of them; otherwise the candidate is evicted and the
// victims stay. With unit sizes this is exactly TinyLFU's one candidate
// against one victim. If a newly added key is itself pushed out of the
// window and loses, Add returns false.
//
// Frequencies come from a count-min sketch of 4-bit counters (depth 4,
// halved after 10 increments per table word). Get counts every access, hit
// or miss; Add does not count (in the Get-then-Add protocol the request was
// already counted). The table has a power-of-two number of 64-bit words
// (16 counters each), at least 16: at first enough for min(capacity, 4096),
// then, whenever the resident entry count exceeds the words, grown to the
// next power of two at or above the count, forgetting its counts (the
// count only outgrows the table while the cache fills, and the table at
// least doubles each time). Every entry is at least one byte, so the
// sketch is bounded by the capacity: fewer than 2·capacity words.
//
// Deviations from Caffeine: no doorkeeper Bloom filter, no hill-climbing of
// the window size, and no random admission of warm candidates (Caffeine's
// defence against hash flooding; keys here are the caller's hashes).
//
// TinyLFU is not safe for concurrent use.
type TinyLFU struct {
	capacity     int64
	windowCap    int64
	protectedCap int64
	onEvict      Evicted
	idx          index
	window       list
	probation    list
	protected    list
	sketch       sketch
}

// NewTinyLFU returns an empty W-TinyLFU policy of capacity bytes. onEvict may
// be nil. It panics if capacity <= 0.
func NewTinyLFU(capacity int64, onEvict Evicted) *TinyLFU {
	checkCapacity("tinylfu", capacity)
	windowCap := max(capacity/100, 1)
	p := &TinyLFU{
		capacity:     capacity,
		windowCap:    windowCap,
		protectedCap: (capacity - windowCap) * 8 / 10,
		onEvict:      onEvict,
		idx:          newIndex(),
	}
	p.window.init()
	p.probation.init()
	p.protected.init()
	p.sketch.ensure(int(min(capacity, sketchInitialWords)))
	return p
}

// Name returns "tinylfu".
func (p *TinyLFU) Name() string { return "tinylfu" }

// Len returns the number of resident entries.
func (p *TinyLFU) Len() int { return p.window.len + p.probation.len + p.protected.len }

// Bytes returns the total size of the resident entries.
func (p *TinyLFU) Bytes() int64 { return p.window.bytes + p.probation.bytes + p.protected.bytes }

// Capacity returns the byte budget.
func (p *TinyLFU) Capacity() int64 { return p.capacity }

func (p *TinyLFU) list(where uint8) *list {
	switch where {
	case tlfuWindow:
		return &p.window
	case tlfuProbation:
		return &p.probation
	default:
		return &p.protected
	}
}

// Get counts an access to key and reports whether it is resident. A hit
// moves the key to the front of its segment, promoting it from probation to
// protected.
func (p *TinyLFU) Get(key uint64) bool {
	p.sketch.increment(key)
	e := p.idx.get(key)
	if e == nil {
		return false
	}
	switch e.where {
	case tlfuWindow:
		p.window.moveToFront(e)
	case tlfuProbation:
		p.probation.remove(e)
		p.protected.pushFront(e, tlfuProtected)
		p.demote()
	default:
		p.protected.moveToFront(e)
	}
	return true
}

// demote moves protected's least recently used entries to probation's
// front until protected is within its share.
func (p *TinyLFU) demote() {
	for p.protected.bytes > p.protectedCap {
		v := p.protected.back()
		p.protected.remove(v)
		p.probation.pushFront(v, tlfuProbation)
	}
}

// Add puts key at the front of the window and lets the window's overflow
// contest admission to the main cache (see TinyLFU). It reports whether key
// is resident afterwards. A resident key gets the new size and stays in its
// segment, at the front; entries are evicted without contest to make room
// for its growth.
func (p *TinyLFU) Add(key uint64, size int64) bool {
	e := p.idx.get(key)
	if !acceptable(size, p.capacity) {
		p.Remove(key)
		return false
	}
	if e != nil {
		where := e.where
		p.list(where).remove(e)
		e.size = size
		for p.Bytes()+size > p.capacity {
			p.evictAny()
		}
		p.list(where).pushFront(e, where)
		p.demote()
		return true
	}

	e = p.idx.insert(key, size)
	p.window.pushFront(e, tlfuWindow)
	p.sketch.ensure(p.Len())
	resident := true
	for p.window.bytes > p.windowCap {
		c := p.window.back()
		p.window.remove(c)
		if p.admit(c) {
			p.probation.pushFront(c, tlfuProbation)
			continue
		}
		if c == e {
			resident = false
			p.idx.release(c)
		} else {
			p.idx.evict(c, p.onEvict)
		}
	}
	// A losing candidate may have freed less than the new key takes.
	for p.Bytes() > p.capacity {
		p.evictAny()
	}
	return resident
}

// admit decides whether candidate c, off every list, may enter probation,
// and if so evicts the victims that make room for it.
func (p *TinyLFU) admit(c *entry) bool {
	need := p.Bytes() + c.size - p.capacity
	if need <= 0 {
		return true
	}
	cf := p.sketch.frequency(c.key)
	l, v := &p.probation, p.probation.back()
	for freed := int64(0); freed < need; {
		if v == nil {
			if l == &p.protected {
				return false // the main cache cannot free enough
			}
			l, v = &p.protected, p.protected.back()
			continue
		}
		if cf <= p.sketch.frequency(v.key) {
			return false
		}
		freed += v.size
		v = l.before(v)
	}
	for p.Bytes()+c.size > p.capacity {
		p.evictAny()
	}
	return true
}

// evictAny evicts, without contest, probation's least recently used entry,
// else protected's, else the window's.
func (p *TinyLFU) evictAny() {
	l := &p.probation
	if l.len == 0 {
		l = &p.protected
	}
	if l.len == 0 {
		l = &p.window
	}
	v := l.back()
	l.remove(v)
	p.idx.evict(v, p.onEvict)
}

// Remove drops key if resident, without calling Evicted.
func (p *TinyLFU) Remove(key uint64) {
	if e := p.idx.get(key); e != nil {
		p.list(e.where).remove(e)
		p.idx.release(e)
	}
}
