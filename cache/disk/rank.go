package disk

import (
	"errors"
	"fmt"
	"math"
	"sort"
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

// rankBucket holds the ranked chunks of one disk with one rank.
type rankBucket struct {
	key   rankKey
	bytes int64
	ents  []*entry // entry.rpos is the position here
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
}

// entrySize is what a chunk counts against its disk's budget.
func entrySize(e *entry) int64 { return blocks(int64(e.hlen) + e.plen) }

// find returns the position of key in order, or where it would go.
func (rs *rankSet) find(key rankKey) int {
	return sort.Search(len(rs.order), func(i int) bool { return !worse(rs.order[i].key, key) })
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
		i := rs.find(key)
		rs.order = append(rs.order, nil)
		copy(rs.order[i+1:], rs.order[i:])
		rs.order[i] = b
	}
	e.rpos = int32(len(b.ents))
	b.ents = append(b.ents, e)
	size := entrySize(e)
	b.bytes += size
	rs.bytes += size
	rs.n++
}

// remove takes e out of the set if it is there.
func (rs *rankSet) remove(e *entry) {
	key := e.rankKey()
	b := rs.byKey[key]
	if b == nil || int(e.rpos) >= len(b.ents) || b.ents[e.rpos] != e {
		return
	}
	last := b.ents[len(b.ents)-1]
	b.ents[e.rpos] = last
	last.rpos = e.rpos
	b.ents[len(b.ents)-1] = nil
	b.ents = b.ents[:len(b.ents)-1]
	size := entrySize(e)
	b.bytes -= size
	rs.bytes -= size
	rs.n--
	if len(b.ents) == 0 {
		delete(rs.byKey, key)
		i := rs.find(key)
		copy(rs.order[i:], rs.order[i+1:])
		rs.order[len(rs.order)-1] = nil
		rs.order = rs.order[:len(rs.order)-1]
	}
}

// worst returns a chunk of the worst rank held (the one of that rank added
// last), or nil.
func (rs *rankSet) worst() *entry {
	if len(rs.order) == 0 {
		return nil
	}
	b := rs.order[0]
	return b.ents[len(b.ents)-1]
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
// reports whether they do. For an unranked chunk (rank zero) it evicts
// unranked chunks in the policy's order first, then ranked chunks, worst
// first. For a ranked chunk it evicts only what ranks strictly lower, in
// this order: ranked chunks of older generations (worst first), unranked
// chunks (the policy's order), ranked chunks of the same generation and a
// worse rank (worst first); if that cannot free enough, it evicts nothing
// and returns false.
func (s *Store) roomLocked(d *disk, size int64, rk Rank) bool {
	over := func() int64 { return d.pol.Bytes() + d.ranked.bytes + size - d.budget }
	if over() <= 0 {
		return true
	}
	if !rk.Ranked() {
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
	return s.put(id, version, meta, payload, rk)
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
