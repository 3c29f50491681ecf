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

	// variants counts, by object path, the variants (versions of an
	// answer with Vary, under variant keys) the index holds: see
	// MaxVariants. Locked after a shard's lock, never before.
	vmu      sync.Mutex
	variants map[string]int
}

// MaxVariants is the most variants of one object the index holds: a
// request for another one is fetched for it alone and not stored. A client
// chooses the values of the fields an answer varies on (Accept-Encoding,
// User-Agent, ...), and every variant is an index entry of its own.
const MaxVariants = 64

// variantPath returns the path of the object e is a variant of, or "".
func variantPath(e objEntry) string {
	if m := e.meta; m != nil && m.Key != m.path {
		return m.path
	}
	return ""
}

// countVariant adds d to the variants of path.
func (o *objects) countVariant(path string, d int) {
	if path == "" {
		return
	}
	o.vmu.Lock()
	if n := o.variants[path] + d; n > 0 {
		o.variants[path] = n
	} else {
		delete(o.variants, path)
	}
	o.vmu.Unlock()
}

// variantCount returns how many variants of path the index holds.
func (o *objects) variantCount(path string) int {
	o.vmu.Lock()
	defer o.vmu.Unlock()
	return o.variants[path]
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
	o := &objects{seed: maphash.MakeSeed(), shards: make([]objShard, n), variants: make(map[string]int)}
	for i := range o.shards {
		s := &o.shards[i]
		s.negBudget = StatusBytes / n
		s.lru, _ = simplelru.NewLRU[string, objEntry](max(1, capacity/n), func(_ string, e objEntry) {
			s.negBytes -= statusSize(e) // under s.mu: evicted or removed
			o.countVariant(variantPath(e), -1)
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
	oldP := ""
	if had {
		oldP = variantPath(old)
	}
	if p := variantPath(e); p != oldP { // a variant replaced by a version of itself counts once
		o.countVariant(oldP, -1)
		o.countVariant(p, 1)
	}
	s.lru.Add(key, e) // an entry it evicts is uncounted by the callback
	s.negBytes += n
	return true
}

func (o *objects) remove(key string) {
	s := o.shard(key)
	s.mu.Lock()
	s.lru.Remove(key)
	s.mu.Unlock()
}
