package policy

// Lists of an ARC.
const (
	arcT1 uint8 = iota + 1 // resident, seen once recently
	arcT2                  // resident, seen at least twice recently
	arcB1                  // ghost keys evicted from T1
	arcB2                  // ghost keys evicted from T2
)

// ARC is the Adaptive Replacement Cache of Megiddo and Modha ("ARC: A
// Self-Tuning, Low Overhead Replacement Cache", FAST 2003), measured in
// bytes instead of pages.
//
// T1 holds keys seen once recently and T2 keys seen at least twice, both
// LRU; B1 and B2 remember the keys last evicted from T1 and T2. The target
// p is the share of the capacity, in bytes, that T1 should get: when room
// is needed, T1's LRU entry goes (to B1) if T1 holds more than p bytes, or
// at least p bytes and the key being added came from B2; otherwise T2's
// LRU entry goes (to B2). A hit in T1 or T2 moves the key to the front of
// T2; adding a key remembered in B1 or B2 puts it at the front of T2.
//
// Byte adaptation: the paper moves p by one page times the ratio of the
// ghost lists' lengths. Here a ghost hit on a key of s bytes moves p by s
// bytes times the ratio of the ghost lists' byte totals (at least s):
//
//	hit in B1: p = min(p + s·max(1, |B2|/|B1|), c)
//	hit in B2: p = max(p − s·max(1, |B1|/|B2|), 0)
//
// where |X| is the bytes of X (including the hit key) and c the capacity.
// With unit sizes this is exactly the paper's rule. The directory bounds
// also hold in bytes: after every operation |T1|+|B1| <= c and
// |T1|+|T2|+|B1|+|B2| <= 2c, so the ghost metadata is bounded by the
// capacity. The ghost lists record each key's last size.
//
// ARC admits every entry that fits the capacity. It is not safe for
// concurrent use.
type ARC struct {
	capacity       int64
	p              int64 // target bytes for T1, in [0, capacity]
	onEvict        Evicted
	idx            index
	t1, t2, b1, b2 list
}

// NewARC returns an empty ARC policy of capacity bytes. onEvict may be nil.
// It panics if capacity <= 0.
func NewARC(capacity int64, onEvict Evicted) *ARC {
	checkCapacity("arc", capacity)
	p := &ARC{capacity: capacity, onEvict: onEvict, idx: newIndex()}
	p.t1.init()
	p.t2.init()
	p.b1.init()
	p.b2.init()
	return p
}

// Name returns "arc".
func (p *ARC) Name() string { return "arc" }

// Len returns the number of resident entries.
func (p *ARC) Len() int { return p.t1.len + p.t2.len }

// Bytes returns the total size of the resident entries.
func (p *ARC) Bytes() int64 { return p.t1.bytes + p.t2.bytes }

// Capacity returns the byte budget.
func (p *ARC) Capacity() int64 { return p.capacity }

func (p *ARC) list(where uint8) *list {
	switch where {
	case arcT1:
		return &p.t1
	case arcT2:
		return &p.t2
	case arcB1:
		return &p.b1
	default:
		return &p.b2
	}
}

// Get reports whether key is resident and, if so, moves it to the front of
// T2.
func (p *ARC) Get(key uint64) bool {
	e := p.idx.get(key)
	if e == nil {
		return false
	}
	switch e.where {
	case arcT1:
		p.t1.remove(e)
		p.t2.pushFront(e, arcT2)
	case arcT2:
		p.t2.moveToFront(e)
	default:
		return false
	}
	return true
}

// Add admits key: into T2 if it is remembered in B1 or B2 (adapting the
// target), else into T1. A resident key gets the new size and stays on its
// list, at the front. It returns false only when size is not in
// (0, Capacity()].
func (p *ARC) Add(key uint64, size int64) bool {
	e := p.idx.get(key)
	if !acceptable(size, p.capacity) {
		p.Remove(key)
		return false
	}
	where, fromB2 := arcT1, false
	switch {
	case e == nil:
		e = p.idx.insert(key, size)
	case e.where == arcB1:
		p.p = min(p.p+scaledDelta(size, p.b2.bytes, p.b1.bytes), p.capacity)
		p.b1.remove(e)
		e.size = size
		where = arcT2
	case e.where == arcB2:
		p.p = max(p.p-scaledDelta(size, p.b1.bytes, p.b2.bytes), 0)
		p.b2.remove(e)
		e.size = size
		where, fromB2 = arcT2, true
	default:
		where = e.where
		p.list(where).remove(e)
		e.size = size
	}
	for p.t1.bytes+p.t2.bytes+size > p.capacity {
		p.replace(fromB2)
	}
	p.list(where).pushFront(e, where)
	p.trimGhosts()
	return true
}

// scaledDelta returns size·max(1, num/den) bytes, saturated at 1<<62 so that
// no byte count can overflow.
func scaledDelta(size, num, den int64) int64 {
	if num <= den || den <= 0 {
		return size
	}
	d := float64(size) * (float64(num) / float64(den))
	if d >= 1<<62 {
		return 1 << 62
	}
	return int64(d)
}

// Victim returns the key the next eviction would drop, as REPLACE chooses
// it for a key that is not a B2 ghost (T1's least recently used entry if T1
// holds more than its target p, or T2 is empty; else T2's), without
// recording an access; ok is false when nothing is resident.
func (p *ARC) Victim() (key uint64, ok bool) {
	switch {
	case p.fromT1(false):
		return p.t1.back().key, true
	case p.t2.len > 0:
		return p.t2.back().key, true
	}
	return 0, false
}

// fromT1 reports whether REPLACE takes T1's least recently used entry (else
// T2's) when the key being added came from B2 (fromB2) or not.
func (p *ARC) fromT1(fromB2 bool) bool {
	return p.t1.len > 0 && (p.t1.bytes > p.p || (fromB2 && p.t1.bytes >= p.p) || p.t2.len == 0)
}

// replace evicts one resident entry to its ghost list (the paper's
// REPLACE).
func (p *ARC) replace(fromB2 bool) {
	if p.fromT1(fromB2) {
		v := p.t1.back()
		p.t1.remove(v)
		p.b1.pushFront(v, arcB1)
		if p.onEvict != nil {
			p.onEvict(v.key, v.size)
		}
		return
	}
	v := p.t2.back()
	p.t2.remove(v)
	p.b2.pushFront(v, arcB2)
	if p.onEvict != nil {
		p.onEvict(v.key, v.size)
	}
}

// trimGhosts forgets the oldest ghost keys until |T1|+|B1| <= c and
// |T1|+|T2|+|B1|+|B2| <= 2c.
func (p *ARC) trimGhosts() {
	for p.t1.bytes+p.b1.bytes > p.capacity && p.b1.len > 0 {
		p.dropGhost(&p.b1)
	}
	for p.t1.bytes+p.t2.bytes+p.b1.bytes+p.b2.bytes > 2*p.capacity {
		if p.b2.len > 0 {
			p.dropGhost(&p.b2)
		} else {
			p.dropGhost(&p.b1)
		}
	}
}

func (p *ARC) dropGhost(l *list) {
	g := l.back()
	l.remove(g)
	p.idx.release(g)
}

// Remove drops key if resident, without calling Evicted. A remembered ghost
// key stays remembered.
func (p *ARC) Remove(key uint64) {
	e := p.idx.get(key)
	if e == nil || (e.where != arcT1 && e.where != arcT2) {
		return
	}
	p.list(e.where).remove(e)
	p.idx.release(e)
}
