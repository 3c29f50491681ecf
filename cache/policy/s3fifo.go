package policy

// Lists of an S3FIFO.
const (
	s3Small uint8 = iota + 1 // S: resident, new, FIFO
	s3Main                   // M: resident, FIFO with reinsertion
	s3Ghost                  // G: ghost keys evicted from S, FIFO
)

// s3MaxFreq caps the per-entry access counter (two bits).
const s3MaxFreq = 3

// s3MoveThreshold is the access count an entry needs, when it reaches the
// tail of S, to move to M instead of being evicted. The paper's Algorithm 1
// (EVICTS) tests "if t.freq > 1", where freq counts hits since insertion,
// and the authors' artifact agrees: libCacheSim's S3FIFO.c in
// github.com/Thesys-lab/sosp23-s3fifo (likewise S3FIFOv0.c and S3FIFO.c in
// github.com/1a1a11a/libCacheSim) moves an entry when
// "freq >= move_to_main_threshold", with move-to-main-threshold=2 by
// default. (The authors' blog posts describe it loosely as "accessed again";
// a threshold of 1 is a common variant.)
const s3MoveThreshold = 2

// S3FIFO is S3-FIFO by Yang, Zhang, Qiu, Yue and Vinayak ("FIFO queues are
// all you need for cache eviction", SOSP 2023), measured in bytes.
//
// Three FIFO queues: S (a tenth of the capacity), M (the rest) and the
// ghost queue G of keys evicted from S. Each resident entry has an access
// counter capped at 3; a hit only increments it. A new key enters S, or M if
// G remembers it. To make room, S is evicted from while it holds at least
// its share (or M is empty), else M:
//
//   - S's oldest entry moves to M (counter reset) if it was hit at least
//     twice while in S (the paper's "freq > 1"); otherwise it is evicted and
//     its key enters G. This repeats until one entry has been evicted.
//     (The paper evicts from M inside this loop when M is full; here M may
//     overflow its share until the next round of the make-room loop, which
//     then evicts from M: the same entries go.)
//   - M's oldest entry is reinserted at M's front with its counter
//     decremented if the counter is non-zero; otherwise it is evicted.
//
// G remembers keys (with their last size) up to M's share of the capacity in
// bytes, as in the authors' implementation (ghost size ratio 0.9); with unit
// sizes that is the paper's "as many entries as M".
//
// Deviation: the authors' implementation refuses a new entry not remembered
// in G whose size is at least S's share; here it enters S like any other
// (and S evicts from its tail until the cache fits), so that objects
// between a tenth of the capacity and the capacity remain cacheable.
//
// S3FIFO admits every entry that fits the capacity. It is not safe for
// concurrent use.
type S3FIFO struct {
	capacity int64
	smallCap int64 // target bytes of S
	ghostCap int64 // bytes' worth of keys G remembers
	onEvict  Evicted
	idx      index
	small    list
	main     list
	ghost    list
}

// NewS3FIFO returns an empty S3-FIFO policy of capacity bytes. onEvict may be
// nil. It panics if capacity <= 0.
func NewS3FIFO(capacity int64, onEvict Evicted) *S3FIFO {
	checkCapacity("s3fifo", capacity)
	smallCap := max(capacity/10, 1)
	p := &S3FIFO{
		capacity: capacity,
		smallCap: smallCap,
		ghostCap: capacity - smallCap,
		onEvict:  onEvict,
		idx:      newIndex(),
	}
	p.small.init()
	p.main.init()
	p.ghost.init()
	return p
}

// Name returns "s3fifo".
func (p *S3FIFO) Name() string { return "s3fifo" }

// Len returns the number of resident entries.
func (p *S3FIFO) Len() int { return p.small.len + p.main.len }

// Bytes returns the total size of the resident entries.
func (p *S3FIFO) Bytes() int64 { return p.small.bytes + p.main.bytes }

// Capacity returns the byte budget.
func (p *S3FIFO) Capacity() int64 { return p.capacity }

func (p *S3FIFO) list(where uint8) *list {
	switch where {
	case s3Small:
		return &p.small
	case s3Main:
		return &p.main
	default:
		return &p.ghost
	}
}

// Get reports whether key is resident and, if so, increments its access
// counter (capped at 3).
func (p *S3FIFO) Get(key uint64) bool {
	e := p.idx.get(key)
	if e == nil || e.where == s3Ghost {
		return false
	}
	if e.freq < s3MaxFreq {
		e.freq++
	}
	return true
}

// Add admits key: into M if G remembers it, else into S, with a zero access
// counter. A resident key gets the new size and keeps its queue and counter
// (it is reinserted at the queue's front). It returns false only when size
// is not in (0, Capacity()].
func (p *S3FIFO) Add(key uint64, size int64) bool {
	e := p.idx.get(key)
	if !acceptable(size, p.capacity) {
		p.Remove(key)
		return false
	}
	where := s3Small
	switch {
	case e == nil:
		e = p.idx.insert(key, size)
	case e.where == s3Ghost:
		p.ghost.remove(e)
		e.size = size
		e.freq = 0
		where = s3Main
	default:
		where = e.where
		p.list(where).remove(e)
		e.size = size
	}
	for p.small.bytes+p.main.bytes+size > p.capacity {
		if p.small.len > 0 && (p.small.bytes >= p.smallCap || p.main.len == 0) {
			p.evictSmall()
		} else {
			p.evictMain()
		}
	}
	p.list(where).pushFront(e, where)
	return true
}

// evictSmall moves S's oldest entries that were hit often enough to M until
// it evicts one (to G), or S is empty.
func (p *S3FIFO) evictSmall() {
	for p.small.len > 0 {
		t := p.small.back()
		p.small.remove(t)
		if t.freq >= s3MoveThreshold {
			t.freq = 0
			p.main.pushFront(t, s3Main)
			continue
		}
		p.ghost.pushFront(t, s3Ghost)
		if p.onEvict != nil {
			p.onEvict(t.key, t.size)
		}
		for p.ghost.bytes > p.ghostCap {
			g := p.ghost.back()
			p.ghost.remove(g)
			p.idx.release(g)
		}
		return
	}
}

// evictMain reinserts M's oldest entries with a non-zero counter
// (decrementing it) until it evicts one. Counters are at most 3, so this
// visits at most 3·len(M)+1 entries, O(1) amortized over the hits that set
// the counters.
func (p *S3FIFO) evictMain() {
	for p.main.len > 0 {
		t := p.main.back()
		if t.freq > 0 {
			t.freq--
			p.main.moveToFront(t)
			continue
		}
		p.main.remove(t)
		p.idx.evict(t, p.onEvict)
		return
	}
}

// Remove drops key if resident, without calling Evicted. A remembered ghost
// key stays remembered.
func (p *S3FIFO) Remove(key uint64) {
	e := p.idx.get(key)
	if e == nil || e.where == s3Ghost {
		return
	}
	p.list(e.where).remove(e)
	p.idx.release(e)
}
