package cache

// Tiers describes the memory tier for the metrics: what it holds against
// its budget.
type Tiers struct {
	MemoryBytes     int64 // payload bytes held
	MemoryChunks    int   // chunks held
	MemoryBudget    int64 // byte budget
	MemoryEvictions int64 // chunks evicted to stay within the budget
	Objects         int   // entries in the object index (versions and remembered status answers)
	ChunkSize       int64
}

// Tiers returns what the memory tier and the object index hold. It takes
// each shard's lock in turn, briefly: for scrapes and stats, not for
// serving.
func (s *Store) Tiers() Tiers {
	t := Tiers{MemoryBytes: s.mem.Bytes(), MemoryBudget: s.opt.Memory, MemoryEvictions: s.mem.evictions.Load(),
		ChunkSize: s.chunk}
	for i := range s.mem.shards {
		sh := &s.mem.shards[i]
		sh.mu.Lock()
		t.MemoryChunks += len(sh.chunks)
		sh.mu.Unlock()
	}
	for i := range s.objs.shards {
		sh := &s.objs.shards[i]
		sh.mu.Lock()
		t.Objects += sh.lru.Len()
		sh.mu.Unlock()
	}
	return t
}
