package cache

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"edgecache/cache/policy"
)

// chunkID names one chunk of one object.
type chunkID struct {
	key string
	idx int64
}

// hash returns a 64-bit hash of id under seed: its key's, mixed with its
// index. The memory tier's shards and policy handles, the flight group's
// shards and the disk tier's promotion window use it.
func (id chunkID) hash(seed maphash.Seed) uint64 {
	h := maphash.String(seed, id.key) ^ (uint64(id.idx) * 0x9e3779b97f4a7c15)
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>32
}

// chunk is a chunk payload and the version it belongs to. Its memory is a
// slot or piece of the Store's arena (a != nil), reference counted (see
// arena.go), or on the Go heap.
type chunk struct {
	version string // Meta.Validator() of the object version
	data    []byte

	a      *arena       // nil: on the Go heap, not counted
	off    int64        // where its slot or piece starts in a.mem
	size   int64        // its slot or piece's size
	refs   atomic.Int32 // references; the memory goes back to a at 0
	sent   atomic.Bool  // sent from a's file with sendfile: its pages are dropped, not reused (arena.go)
	copied atomic.Int64 // bytes WriteTo copied out of it in large parts (see Reader.memorySection)
	sp     *spanState   // the span whose fetch filled it, if any: a Reader reading it counts in that span (span.go)
}

// Memory is a byte-budgeted cache of chunk payloads, sharded by chunk hash so
// that concurrent hits on different chunks do not share a lock. Each shard
// holds an equal share of the budget and decides what to keep with a
// replacement policy from package policy (the same interface the disk tier
// evicts through; LRU by default).
type Memory struct {
	seed      maphash.Seed
	shards    []memShard
	bytes     atomic.Int64 // payload bytes held, for stats (the shards count what they charge: see chunk.cost)
	evictions atomic.Int64 // chunks the policies evicted
}

type memShard struct {
	mu     sync.Mutex
	chunks map[chunkID]*memEntry
	byH    map[uint64]chunkID // policy handle → chunk, for evictions
	pol    policy.Policy
	freq   *policy.Sketch // every access to the shard's chunks, resident or not (see admits)
	bytes  int64
	budget int64
	m      *Memory
	_      [40]byte // keep neighbouring shards' locks off one cache line
}

type memEntry struct {
	c *chunk
	h uint64 // the chunk's handle in pol: its 64-bit hash
}

// NewMemory returns a memory tier holding at most budget payload bytes,
// evicting by the named policy ("" for lru; see policy.Names). chunkSize is
// used to pick a shard count that leaves every shard room for several
// chunks.
func NewMemory(budget, chunkSize int64, policyName string) (*Memory, error) {
	if policyName == "" {
		policyName = "lru"
	}
	n := 64
	for n > 1 && budget/int64(n) < 8*chunkSize {
		n /= 2
	}
	m := &Memory{seed: maphash.MakeSeed(), shards: make([]memShard, n)}
	for i := range m.shards {
		s := &m.shards[i]
		s.budget = max(budget/int64(n), 1)
		s.m = m
		s.chunks = map[chunkID]*memEntry{}
		s.byH = map[uint64]chunkID{}
		pol, err := policy.New(policyName, s.budget, s.evicted)
		if err != nil {
			return nil, fmt.Errorf("memory tier: %w", err)
		}
		s.pol = pol
		// Sized for many more chunks than the shard holds: the candidates
		// admits compares with residents are chunks on disk.
		s.freq = policy.NewSketch(int(max(min(4*s.budget/max(chunkSize, 1), 1<<16), 256)))
	}
	return m, nil
}

// evicted is the policy's eviction callback; the shard lock is held.
func (s *memShard) evicted(h uint64, size int64) {
	if id, ok := s.byH[h]; ok {
		s.forget(id, h, size)
		s.m.evictions.Add(1)
	}
}

// forget removes a chunk from the shard's maps and byte counts (not from
// its policy); the lock is held.
func (s *memShard) forget(id chunkID, h uint64, size int64) {
	if e, ok := s.chunks[id]; ok {
		s.m.bytes.Add(-int64(len(e.c.data)))
		e.c.unref() // the tier's reference
	}
	delete(s.byH, h)
	delete(s.chunks, id)
	s.bytes -= size
}

// shard returns the shard of id and id's policy handle, a 64-bit hash that
// stays the same across evictions so frequency-aware policies remember it.
func (m *Memory) shard(id chunkID) (*memShard, uint64) {
	h := id.hash(m.seed)
	return &m.shards[h%uint64(len(m.shards))], h
}

// get returns the chunk with a reference for the caller to release, and
// records the access (a miss too: frequency-aware policies count them).
func (m *Memory) get(id chunkID) (*chunk, bool) {
	s, h := m.shard(id)
	s.mu.Lock()
	e, ok := s.chunks[id]
	if ok {
		e.c.ref()
	}
	s.pol.Get(h)
	s.freq.Increment(h)
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return e.c, true
}

// admits reports whether a chunk of size bytes (see chunk.cost) that is
// not in memory is worth a place there (TinyLFU's admission test, W-TinyLFU
// in Einziger, Friedman and Manes, ACM ToS 2017): the shard has room for it
// without evicting, or it was accessed more often lately than the chunk
// the shard's policy would evict for it. A policy that cannot name its
// victim admits every chunk, as its Add would.
func (m *Memory) admits(id chunkID, size int64) bool {
	s, h := m.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+size <= s.budget {
		return true
	}
	v, ok := s.pol.(policy.Victimizer)
	if !ok {
		return true
	}
	vh, ok := v.Victim()
	return !ok || s.freq.Frequency(h) > s.freq.Frequency(vh)
}

// contains reports whether the chunk of that version is held, without
// recording a hit.
func (m *Memory) contains(id chunkID, version string) bool {
	s, _ := m.shard(id)
	s.mu.Lock()
	e, ok := s.chunks[id]
	s.mu.Unlock()
	return ok && e.c.version == version
}

// add stores a chunk, replacing any other version of it; the policy evicts
// other chunks to make room first, so the shard never holds more than its
// budget, or declines the chunk. A chunk larger than a shard's budget is not
// stored. The tier takes its own reference to a chunk it stores: the
// caller's stays the caller's. It reports whether the chunk was stored.
func (m *Memory) add(id chunkID, c *chunk) bool {
	s, h := m.shard(id)
	size := c.cost()
	if size > s.budget || len(c.data) == 0 {
		return false
	}
	c.ref()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.chunks[id]; ok {
		s.drop(id, e) // another version, or a refetch: replaced below
	}
	if other, ok := s.byH[h]; ok {
		s.drop(other, s.chunks[other]) // a hash collision: the newcomer wins
	}
	s.chunks[id] = &memEntry{c: c, h: h}
	s.byH[h] = id
	s.bytes += size
	if !s.pol.Add(h, size) { // declined by the policy
		s.pol.Remove(h)
		delete(s.byH, h)
		delete(s.chunks, id)
		s.bytes -= size
		c.unref()
		return false
	}
	// Counted in the tier's total only now that the policy has evicted to
	// make room, so Bytes, read without the lock, never exceeds the budget.
	m.bytes.Add(int64(len(c.data)))
	return true
}

// drop removes a held chunk from the shard and its policy; the lock is held.
func (s *memShard) drop(id chunkID, e *memEntry) {
	s.pol.Remove(e.h)
	s.forget(id, e.h, e.c.cost())
}

// Bytes returns the payload bytes currently held.
func (m *Memory) Bytes() int64 { return m.bytes.Load() }
