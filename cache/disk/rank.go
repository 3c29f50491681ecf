package disk

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"edgecache/cache/policy"
)

// Ranked chunks (see the package doc, Ranks): chunks stored by PutRanked
// are kept out of their disk's eviction policy, in the disk's rankSet,
// whose bytes share the disk's budget with the policy's. The policy's
// capacity stays the budget; the store keeps policy bytes plus ranked bytes
// within it by trimming the policy (policy.Policy.Trim) and evicting
// ranked chunks, worst first, before it adds a chunk.

// MaxRank is the largest Rank.Rank a store keeps.
const MaxRank = math.MaxInt32

// Rank is the fill rank of a chunk. The zero Rank means unranked.
//
// Ranks compare by generation first: a chunk of a newer generation (a
// newer fill job) is better than any chunk of an older one, whatever their
// ranks, so a new manifest's ranks supersede an older one's. Within a
// generation a lower Rank is better (more popular).
type Rank struct {
	// Gen is the generation, > 0 for a ranked chunk: the fill job's (its
	// start time in Unix nanoseconds, say); a newer job has a greater one.
	Gen int64
	// Rank orders chunks within a generation: lower is better; 0..MaxRank.
	Rank int
}

// Ranked reports whether r is a rank (not the zero Rank).
func (r Rank) Ranked() bool { return r.Gen != 0 }

// Better reports whether r ranks strictly higher than o. Any rank is
// better than the zero Rank.
func (r Rank) Better(o Rank) bool {
	switch {
	case !r.Ranked():
		return false
	case !o.Ranked():
		return true
	case r.Gen != o.Gen:
		return r.Gen > o.Gen
	}
	return r.Rank < o.Rank
}

// ErrRankedFull is wrapped by the error of PutRanked when the chunk's disk
// cannot make room for it without evicting chunks ranked as high as it or
// higher: the disk is full of better-ranked content.
var ErrRankedFull = errors.New("disk: full of content ranked as high or higher")

// rankKey is a Rank as an entry keeps it.
type rankKey struct {
	gen  int64
	rank int32
}

func (e *entry) rankKey() rankKey { return rankKey{e.gen, e.rank} }

func keyOf(r Rank) rankKey { return rankKey{r.Gen, int32(r.Rank)} }

// worse reports whether a ranks strictly lower than b.
func worse(a, b rankKey) bool { return a.gen < b.gen || (a.gen == b.gen && a.rank > b.rank) }

// rankBucket holds the ranked chunks of one disk with one rank. Its cold
// chunks (entry.cold) come first in ents, the warm ones after them.
type rankBucket struct {
	key   rankKey
	bytes int64
	ents  []*entry // entry.rpos is the position here; ents[:cold] are cold
	cold  int
	// listed: in rankSet.coldOrder (see rankSet.relist)
	listed bool
}

// swap exchanges the entries at positions i and j.
func (b *rankBucket) swap(i, j int) {
	b.ents[i], b.ents[j] = b.ents[j], b.ents[i]
	b.ents[i].rpos, b.ents[j].rpos = int32(i), int32(j)
}

// rankSet is a disk's ranked chunks, by rank. Its methods run under
// Store.mu. Adding and removing a chunk of an existing rank is O(1);
// the first chunk of a new rank, or the last of one, costs a binary search
// and a move of the slice of ranks.
type rankSet struct {
	bytes  int64
	n      int
	byKey  map[rankKey]*rankBucket
	order  []*rankBucket // worst first: generation ascending, then rank descending
	evicts int64         // ranked chunks evicted

	// Cold chunks: not read since their fill (see fillTime). coldOrder
	// holds the buckets whose every chunk is cold, worst first: ranks
	// (titles, for a fill) nobody read since the fill.
	coldBytes  int64
	coldOrder  []*rankBucket
	coldEvicts int64 // cold chunks evicted for unranked ones (Store.roomLocked)
	min        int64 // Options.MinCharge: see charge
}

// fillTime is when ranked chunk e was filled, in Unix nanoseconds: when it
// was written, or its generation (the fill job's start time) for a chunk
// the job found held and ranked (SetRank). A generation that is not a
// time (a small number) only makes the write time count.
func fillTime(e *entry) int64 { return max(e.written, e.gen) }

// isCold reports whether ranked chunk e was not read since its fill.
func isCold(e *entry) bool { return e.lastUse <= fillTime(e) }

// charge is what a chunk file of n bytes counts against its disk's
// budget: its 4 KiB blocks, and at least min (Options.MinCharge).
func charge(n, min int64) int64 { return max(blocks(n), min) }

// size is what chunk e counts against its disk's budget.
func (rs *rankSet) size(e *entry) int64 { return charge(int64(e.hlen)+e.plen, rs.min) }

// search returns the position of key in order (worst first), or where it
// would go.
func search(order []*rankBucket, key rankKey) int {
	return sort.Search(len(order), func(i int) bool { return !worse(order[i].key, key) })
}

// insertBucket puts b in order (worst first) and returns the new slice.
func insertBucket(order []*rankBucket, b *rankBucket) []*rankBucket {
	i := search(order, b.key)
	order = append(order, nil)
	copy(order[i+1:], order[i:])
	order[i] = b
	return order
}

// removeBucket takes b out of order and returns the new slice.
func removeBucket(order []*rankBucket, b *rankBucket) []*rankBucket {
	i := search(order, b.key)
	if i >= len(order) || order[i] != b {
		return order
	}
	copy(order[i:], order[i+1:])
	order[len(order)-1] = nil
	return order[:len(order)-1]
}

// add puts e, whose gen and rank are set, in the set.
func (rs *rankSet) add(e *entry) {
	if rs.byKey == nil {
		rs.byKey = make(map[rankKey]*rankBucket)
	}
	key := e.rankKey()
	b := rs.byKey[key]
	if b == nil {
		b = &rankBucket{key: key}
		rs.byKey[key] = b
		rs.order = insertBucket(rs.order, b)
	}
	e.rpos = int32(len(b.ents))
	b.ents = append(b.ents, e)
	size := rs.size(e)
	b.bytes += size
	rs.bytes += size
	rs.n++
	e.cold = isCold(e)
	if e.cold {
		b.swap(int(e.rpos), b.cold)
		b.cold++
		rs.coldBytes += size
	}
	rs.relist(b)
}

// relist puts b in coldOrder or takes it out: it is listed while it holds
// chunks and none of them was read since its fill.
func (rs *rankSet) relist(b *rankBucket) {
	want := b.cold > 0 && b.cold == len(b.ents)
	switch {
	case want && !b.listed:
		rs.coldOrder = insertBucket(rs.coldOrder, b)
	case !want && b.listed:
		rs.coldOrder = removeBucket(rs.coldOrder, b)
	}
	b.listed = want
}

// warm marks e, which is in the set, read since its fill.
func (rs *rankSet) warm(e *entry) {
	if !e.cold {
		return
	}
	e.cold = false
	b := rs.byKey[e.rankKey()]
	if b == nil || int(e.rpos) >= b.cold || b.ents[e.rpos] != e {
		return
	}
	b.swap(int(e.rpos), b.cold-1)
	b.cold--
	rs.coldBytes -= rs.size(e)
	rs.relist(b)
}

// remove takes e out of the set if it is there.
func (rs *rankSet) remove(e *entry) {
	key := e.rankKey()
	b := rs.byKey[key]
	if b == nil || int(e.rpos) >= len(b.ents) || b.ents[e.rpos] != e {
		return
	}
	rs.warm(e) // out of the cold part first
	b.swap(int(e.rpos), len(b.ents)-1)
	b.ents[len(b.ents)-1] = nil
	b.ents = b.ents[:len(b.ents)-1]
	size := rs.size(e)
	b.bytes -= size
	rs.bytes -= size
	rs.n--
	rs.relist(b)
	if len(b.ents) == 0 {
		delete(rs.byKey, key)
		rs.order = removeBucket(rs.order, b)
	}
}

// worst returns a chunk of the worst rank held (of that rank, a cold one
// first, the one made cold last; else the one added or warmed last), or
// nil.
func (rs *rankSet) worst() *entry {
	if len(rs.order) == 0 {
		return nil
	}
	b := rs.order[0]
	if b.cold > 0 {
		return b.ents[b.cold-1]
	}
	return b.ents[len(b.ents)-1]
}

// worstCold returns a chunk of the worst rank whose chunks are all cold
// (the one of that rank made cold last), or nil.
func (rs *rankSet) worstCold() *entry {
	if len(rs.coldOrder) == 0 {
		return nil
	}
	b := rs.coldOrder[0]
	return b.ents[b.cold-1]
}

// evictRankedLocked evicts ranked chunk e: it is dropped from the index
// (and so from its rank set) and its file deleted.
func (s *Store) evictRankedLocked(d *disk, e *entry) {
	h := handle(e.obj.hash, e.index)
	if s.idx[h] != e {
		d.ranked.remove(e) // not indexed: cannot happen, but never loop on it
		return
	}
	s.evictions.Add(1)
	d.ranked.evicts++
	s.dropLocked(h, e, true)
}

// roomLocked evicts chunks of d until size more bytes fit its budget, and
// reports whether they do. For an unranked chunk (rank zero) it evicts, as
// long as the policy names its next victim (policy.Victimizer), the chunks
// of ranks none of whose chunks was read since their fill, worst first,
// filled before that victim's last use (evictColdLocked); then unranked
// chunks in the policy's order, then ranked chunks, worst first. For a
// ranked chunk it evicts only what ranks strictly lower, in
// this order: ranked chunks of older generations (worst first), unranked
// chunks (the policy's order), ranked chunks of the same generation and a
// worse rank (worst first); if that cannot free enough, it evicts nothing
// and returns false.
func (s *Store) roomLocked(d *disk, size int64, rk Rank) bool {
	over := func() int64 { return d.heldLocked() + size - d.budget }
	if over() <= 0 {
		return true
	}
	if !rk.Ranked() {
		s.evictColdLocked(d, over)
		d.pol.Trim(d.pol.Bytes() - over())
		for over() > 0 {
			w := d.ranked.worst()
			if w == nil {
				break
			}
			s.evictRankedLocked(d, w)
		}
		return over() <= 0
	}
	key := keyOf(rk)
	free, need := d.pol.Bytes(), over()
	for _, b := range d.ranked.order {
		if free >= need || !worse(b.key, key) {
			break
		}
		free += b.bytes
	}
	if free < need {
		return false
	}
	for over() > 0 {
		w := d.ranked.worst()
		if w == nil || w.gen >= rk.Gen {
			break
		}
		s.evictRankedLocked(d, w)
	}
	if o := over(); o > 0 {
		d.pol.Trim(d.pol.Bytes() - o)
	}
	for over() > 0 {
		w := d.ranked.worst()
		if w == nil || !worse(w.rankKey(), key) {
			break
		}
		s.evictRankedLocked(d, w)
	}
	return over() <= 0
}

// evictColdLocked evicts cold ranked chunks of d, of the ranks none of
// whose chunks was read since their fill, worst first, while over() > 0
// and the chunk's fill is older than the last use of the policy's next
// victim: titles a fill predicted and nobody watched since make room
// before content players read after that fill. It does nothing if the
// policy cannot name its victim.
func (s *Store) evictColdLocked(d *disk, over func() int64) {
	vp, ok := d.pol.(policy.Victimizer)
	if !ok {
		return
	}
	for over() > 0 {
		c := d.ranked.worstCold()
		if c == nil {
			return
		}
		k, ok := vp.Victim()
		if !ok {
			return
		}
		v := s.idx[k]
		if v == nil || fillTime(c) >= v.lastUse {
			return
		}
		d.ranked.coldEvicts++
		s.evictRankedLocked(d, c)
	}
}

// used records a read of ranked chunk e of d (its lastUse set): it is no
// longer cold.
func (d *disk) used(e *entry) {
	if e.cold && !isCold(e) {
		d.ranked.warm(e)
	}
}

// shrinkLocked evicts from d, unranked chunks first, until it is within
// its budget; loading uses it after adding a loaded chunk.
func (s *Store) shrinkLocked(d *disk) { s.roomLocked(d, 0, Rank{}) }

// checkRank checks a rank given to PutRanked or SetRank.
func checkRank(rk Rank) error {
	if rk.Gen <= 0 || rk.Rank < 0 || rk.Rank > MaxRank {
		return fmt.Errorf("disk: rank %+v: want a generation > 0 and a rank in [0, %d]", rk, MaxRank)
	}
	return nil
}

// PutRanked is Put for a chunk with a fill rank (see the package doc,
// Ranks): the chunk is kept out of the disk's eviction policy, and to make
// room for it the store evicts only chunks that rank strictly lower (older
// generations, unranked chunks, worse ranks of its generation). When that
// cannot free enough, nothing is evicted, the chunk is not stored, and the
// error wraps ErrRankedFull. The rank is kept in the chunk's header and in
// the index snapshot, so it survives a restart.
func (s *Store) PutRanked(id ID, version string, meta []byte, payload []byte, rk Rank) error {
	if err := checkRank(rk); err != nil {
		return err
	}
	return s.put(id, version, meta, payload, nil, rk)
}

// SetRank gives the stored chunk id of version the rank rk if that is
// better than the one it has (any rank of a newer generation is; an
// unranked chunk leaves its policy for the ranked set), and reports whether
// the chunk is stored. It moves no bytes and evicts nothing. The new rank
// is kept in the index snapshot at Close, not in the chunk file: after a
// crash (a scan) the chunk has the rank its file was written with again.
func (s *Store) SetRank(id ID, version string, rk Rank) (bool, error) {
	if err := checkRank(rk); err != nil {
		return false, err
	}
	h := s.handleOf(id.Key, id.Index)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.idx[h]
	if s.closed || e == nil || e.state != stateLive || e.obj.key != id.Key || e.index != id.Index || e.version != version {
		return false, nil
	}
	if !rk.Better(Rank{Gen: e.gen, Rank: int(e.rank)}) {
		return true, nil
	}
	d := s.disks[e.disk]
	if e.gen == 0 {
		d.pol.Remove(h)
	} else {
		d.ranked.remove(e)
	}
	e.gen, e.rank = rk.Gen, int32(rk.Rank)
	d.ranked.add(e)
	return true, nil
}

// RankOf returns the rank of the stored chunk id (of any version); ok is
// false if it is not stored. An unranked chunk has the zero Rank.
func (s *Store) RankOf(id ID) (rk Rank, ok bool) {
	h := s.handleOf(id.Key, id.Index)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.idx[h]
	if e == nil || e.obj.key != id.Key || e.index != id.Index {
		return Rank{}, false
	}
	return Rank{Gen: e.gen, Rank: int(e.rank)}, true
}
