package cache

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"edgecache/origin"
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
// entries (least recently used first out), sharded by key hash. The bodies
// of the remembered status answers it holds are bounded in bytes too
// (StatusBytes in all): an origin's error pages can be large, and a client
// chooses how many distinct paths get one.
type objects struct {
	seed   maphash.Seed
	shards []objShard
}

type objShard struct {
	mu        sync.Mutex
	lru       *simplelru.LRU[string, objEntry]
	negBytes  int64 // status answers' bytes held (statusSize)
	negBudget int64
	_         [32]byte
}

// StatusBytes bounds the bytes of the status answers the object index
// remembers (their bodies and header fields; a shard, a 32nd of it, holds
// answers of up to 512 KiB); an answer that does not fit is passed on and
// not remembered. It is part of the daemon's memory plan.
const StatusBytes = 16 << 20

// statusSize is what a remembered status answer costs in the index: its
// body and its header fields.
func statusSize(e objEntry) int64 {
	se, ok := e.negErr.(*origin.StatusError)
	if !ok || se == nil {
		return 0
	}
	n := int64(len(se.Body))
	for k, vs := range se.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v))
		}
	}
	return n
}

func newObjects(capacity int) *objects {
	const n = 32
	o := &objects{seed: maphash.MakeSeed(), shards: make([]objShard, n)}
	for i := range o.shards {
		s := &o.shards[i]
		s.negBudget = StatusBytes / n
		s.lru, _ = simplelru.NewLRU[string, objEntry](max(1, capacity/n), func(_ string, e objEntry) {
			s.negBytes -= statusSize(e) // under s.mu: evicted or removed
		})
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

// put records e for key and reports whether it did: a status answer that
// does not fit the shard's share of StatusBytes is not recorded (and any
// entry the key had is dropped).
func (o *objects) put(key string, e objEntry) bool {
	s := o.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	n, oldN := statusSize(e), int64(0)
	old, had := s.lru.Peek(key)
	if had {
		oldN = statusSize(old)
	}
	if n > 0 && s.negBytes-oldN+n > s.negBudget {
		s.lru.Remove(key) // the callback uncounts the old entry
		return false
	}
	s.negBytes -= oldN // Add replaces without the callback
	s.lru.Add(key, e)  // an entry it evicts is uncounted by the callback
	s.negBytes += n
	return true
}

func (o *objects) remove(key string) {
	s := o.shard(key)
	s.mu.Lock()
	s.lru.Remove(key)
	s.mu.Unlock()
}
