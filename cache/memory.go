package cache

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// chunkID names one chunk of one object.
type chunkID struct {
	key string
	idx int64
}

// chunk is a complete chunk payload and the version it belongs to.
type chunk struct {
	version string // Meta.Validator() of the object version
	data    []byte
}

// Memory is a byte-budgeted LRU of chunk payloads, sharded by chunk hash so
// that concurrent hits on different chunks do not share a lock. Each shard
// holds an equal share of the budget.
type Memory struct {
	seed   maphash.Seed
	shards []memShard
	bytes  atomic.Int64 // sum over shards, for stats
}

type memShard struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[chunkID, *chunk]
	bytes  int64
	budget int64
	_      [40]byte // keep neighbouring shards' locks off one cache line
}

// NewMemory returns a memory tier holding at most budget payload bytes.
// chunkSize is used to pick a shard count that leaves every shard room for
// several chunks.
func NewMemory(budget, chunkSize int64) *Memory {
	n := 64
	for n > 1 && budget/int64(n) < 8*chunkSize {
		n /= 2
	}
	m := &Memory{seed: maphash.MakeSeed(), shards: make([]memShard, n)}
	for i := range m.shards {
		s := &m.shards[i]
		s.budget = budget / int64(n)
		s.lru, _ = simplelru.NewLRU[chunkID, *chunk](math.MaxInt32, func(_ chunkID, c *chunk) {
			s.bytes -= int64(len(c.data))
			m.bytes.Add(-int64(len(c.data)))
		})
	}
	return m
}

func (m *Memory) shard(id chunkID) *memShard {
	h := maphash.String(m.seed, id.key) ^ (uint64(id.idx) * 0x9e3779b97f4a7c15)
	return &m.shards[h%uint64(len(m.shards))]
}

// get returns the chunk and marks it recently used.
func (m *Memory) get(id chunkID) (*chunk, bool) {
	s := m.shard(id)
	s.mu.Lock()
	c, ok := s.lru.Get(id)
	s.mu.Unlock()
	return c, ok
}

// contains reports whether the chunk of that version is held, without
// touching its recency.
func (m *Memory) contains(id chunkID, version string) bool {
	s := m.shard(id)
	s.mu.Lock()
	c, ok := s.lru.Peek(id)
	s.mu.Unlock()
	return ok && c.version == version
}

// add stores a chunk, replacing any other version of it, and evicts least
// recently used chunks until the shard is within its budget. A chunk larger
// than a shard's budget is not stored.
func (m *Memory) add(id chunkID, c *chunk) {
	s := m.shard(id)
	size := int64(len(c.data))
	if size > s.budget {
		return
	}
	s.mu.Lock()
	// Add of an existing key does not call the eviction callback: remove first.
	// Make room first, so the byte count never exceeds the budget.
	s.lru.Remove(id)
	for s.bytes+size > s.budget {
		s.lru.RemoveOldest()
	}
	s.lru.Add(id, c)
	s.bytes += size
	m.bytes.Add(size)
	s.mu.Unlock()
}

// Bytes returns the payload bytes currently held.
func (m *Memory) Bytes() int64 { return m.bytes.Load() }
