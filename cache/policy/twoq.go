package policy

// Lists of a TwoQ.
const (
	twoQIn  uint8 = iota + 1 // A1in: resident, seen once, FIFO
	twoQAm                   // Am: resident, re-referenced, LRU
	twoQOut                  // A1out: ghost keys evicted from A1in, FIFO
)

// TwoQ is the full 2Q policy of Johnson and Shasha ("2Q: A Low Overhead High
// Performance Buffer Management Replacement Algorithm", VLDB 1994), measured
// in bytes instead of pages.
//
// A new key enters A1in, a FIFO; a hit there does not move it (correlated
// references are ignored). When room is needed and A1in holds more than Kin
// bytes (a quarter of the capacity), its oldest entry is evicted and its key
// remembered in the ghost FIFO A1out; otherwise the least recently used
// entry of Am is evicted (and forgotten). A key added while it is in A1out
// was re-referenced after leaving A1in and goes straight to Am, an LRU.
// A1out remembers at most Kout bytes' worth of keys (half the capacity,
// using each key's last size), so its metadata is bounded by the capacity.
//
// TwoQ admits every entry that fits the capacity. It is not safe for
// concurrent use.
type TwoQ struct {
	capacity  int64
	kin, kout int64
	onEvict   Evicted
	idx       index
	a1in      list
	am        list
	a1out     list
}

// New2Q returns an empty 2Q policy of capacity bytes. onEvict may be nil.
// It panics if capacity <= 0.
func New2Q(capacity int64, onEvict Evicted) *TwoQ {
	checkCapacity("2q", capacity)
	p := &TwoQ{
		capacity: capacity,
		kin:      capacity / 4,
		kout:     capacity / 2,
		onEvict:  onEvict,
		idx:      newIndex(),
	}
	p.a1in.init()
	p.am.init()
	p.a1out.init()
	return p
}

// Name returns "2q".
func (p *TwoQ) Name() string { return "2q" }

// Len returns the number of resident entries.
func (p *TwoQ) Len() int { return p.a1in.len + p.am.len }

// Bytes returns the total size of the resident entries.
func (p *TwoQ) Bytes() int64 { return p.a1in.bytes + p.am.bytes }

// Capacity returns the byte budget.
func (p *TwoQ) Capacity() int64 { return p.capacity }

func (p *TwoQ) list(where uint8) *list {
	switch where {
	case twoQIn:
		return &p.a1in
	case twoQAm:
		return &p.am
	default:
		return &p.a1out
	}
}

// Get reports whether key is resident. A hit in Am moves the key to the
// front of Am; a hit in A1in changes nothing.
func (p *TwoQ) Get(key uint64) bool {
	e := p.idx.get(key)
	if e == nil || e.where == twoQOut {
		return false
	}
	if e.where == twoQAm {
		p.am.moveToFront(e)
	}
	return true
}

// Add admits key: into Am if it is remembered in A1out, else into A1in. A
// resident key gets the new size and stays on its list, at the front. It
// returns false only when size is not in (0, Capacity()].
func (p *TwoQ) Add(key uint64, size int64) bool {
	e := p.idx.get(key)
	if !acceptable(size, p.capacity) {
		p.Remove(key)
		return false
	}
	where := twoQIn
	switch {
	case e == nil:
		e = p.idx.insert(key, size)
	case e.where == twoQOut:
		p.a1out.remove(e)
		e.size = size
		where = twoQAm
	default:
		where = e.where
		p.list(where).remove(e)
		e.size = size
	}
	p.reclaim(size)
	p.list(where).pushFront(e, where)
	return true
}

// reclaim evicts until size more bytes fit.
func (p *TwoQ) reclaim(size int64) {
	for p.a1in.bytes+p.am.bytes+size > p.capacity {
		if p.a1in.len > 0 && (p.a1in.bytes > p.kin || p.am.len == 0) {
			v := p.a1in.back()
			p.a1in.remove(v)
			p.a1out.pushFront(v, twoQOut)
			if p.onEvict != nil {
				p.onEvict(v.key, v.size)
			}
			for p.a1out.bytes > p.kout {
				g := p.a1out.back()
				p.a1out.remove(g)
				p.idx.release(g)
			}
			continue
		}
		v := p.am.back()
		p.am.remove(v)
		p.idx.evict(v, p.onEvict)
	}
}

// Remove drops key if resident, without calling Evicted. A remembered ghost
// key stays remembered.
func (p *TwoQ) Remove(key uint64) {
	e := p.idx.get(key)
	if e == nil || e.where == twoQOut {
		return
	}
	p.list(e.where).remove(e)
	p.idx.release(e)
}
