package cache

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// objEntry is what the object index knows of a key: a version, a
// remembered status answer of the origin (404, 301, ...) until negUntil, or
// (vary) that the object varies on these request fields, its variants
// being entries of their own under their variant keys.
type objEntry struct {
	meta     *Meta
	negErr   error
	negUntil time.Time
	vary     []string
}

// objects is the object index: key → current version, bounded by a count of
// entries (least recently used first out), sharded by key hash.
type objects struct {
	seed   maphash.Seed
	shards []objShard
}

type objShard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, objEntry]
	_   [48]byte
}

func newObjects(capacity int) *objects {
	const n = 32
	o := &objects{seed: maphash.MakeSeed(), shards: make([]objShard, n)}
	for i := range o.shards {
		o.shards[i].lru, _ = simplelru.NewLRU[string, objEntry](max(1, capacity/n), nil)
	}
	return o
}

func (o *objects) shard(key string) *objShard {
	return &o.shards[maphash.String(o.seed, key)%uint64(len(o.shards))]
}

func (o *objects) get(key string) (objEntry, bool) {
	s := o.shard(key)
	s.mu.Lock()
	e, ok := s.lru.Get(key)
	s.mu.Unlock()
	return e, ok
}

func (o *objects) put(key string, e objEntry) {
	s := o.shard(key)
	s.mu.Lock()
	s.lru.Add(key, e)
	s.mu.Unlock()
}

func (o *objects) remove(key string) {
	s := o.shard(key)
	s.mu.Lock()
	s.lru.Remove(key)
	s.mu.Unlock()
}
