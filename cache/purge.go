package cache

import (
	"slices"
	"strings"

	"edgecache/cache/disk"
)

// MaxPurgedKeys is the most keys a Purged lists; Objects counts them all.
const MaxPurgedKeys = 1000

// Purged is what a purge removed from the Store.
type Purged struct {
	// Objects is the number of distinct keys removed from the object
	// index or from a tier.
	Objects int `json:"objects"`
	// Keys lists them, sorted, at most MaxPurgedKeys of them.
	Keys []string `json:"keys"`
	// Truncated reports that Keys lists fewer than Objects.
	Truncated bool `json:"truncated,omitempty"`
	// MemoryChunks and MemoryBytes are the chunks and payload bytes
	// removed from the memory tier.
	MemoryChunks int   `json:"memory_chunks"`
	MemoryBytes  int64 `json:"memory_bytes"`
	// DiskChunks and DiskBytes are the chunk files and payload bytes
	// removed from the disk tier.
	DiskChunks int   `json:"disk_chunks"`
	DiskBytes  int64 `json:"disk_bytes"`
}

// PurgePath removes the object at path from every tier and the object
// index, with every query variant of it (the keys equal to path and those
// starting with path + "?") and their Vary variants. path is a normalized request path (see
// server.NormalizeTarget), without a query. The next request for any of
// them is a miss.
func (s *Store) PurgePath(path string) Purged {
	return s.Purge(func(key string) bool {
		return strings.HasPrefix(key, path) && (len(key) == len(path) || key[len(path)] == '?' || key[len(path)] == variantSep)
	})
}

// PurgeKey removes the object at exactly key (a normalized path and the
// query part of the key), with its Vary variants, from every tier and the
// object index.
func (s *Store) PurgeKey(key string) Purged {
	return s.Purge(func(k string) bool { return objectKey(k) == key })
}

// PurgePrefix removes every object whose key starts with prefix from every
// tier and the object index.
func (s *Store) PurgePrefix(prefix string) Purged {
	return s.Purge(func(key string) bool { return strings.HasPrefix(key, prefix) })
}

// Purge removes every object whose key match accepts from the disk tier,
// (match sees the keys of Vary variants too: the object's key, variantSep
// and the variant's selecting fields; Purged lists the object's key once),
// the memory tier and the object index (a remembered status answer too),
// in that order, and returns what it removed. Readers already sending an
// object finish with the chunks they hold; a fetch of the object in
// progress when Purge runs may still store its chunk afterwards (as a
// fetch started after it would).
func (s *Store) Purge(match func(key string) bool) Purged {
	keys := map[string]bool{}
	var p Purged
	if s.disk != nil {
		for key, o := range s.disk.st.Purge(match) {
			keys[objectKey(key)] = true
			p.DiskChunks += o.Chunks
			p.DiskBytes += o.Bytes
		}
	}
	for key, n := range s.mem.purge(match) {
		keys[objectKey(key)] = true
		p.MemoryChunks += n.Chunks
		p.MemoryBytes += n.Bytes
	}
	for _, key := range s.objs.purge(match) {
		keys[objectKey(key)] = true
	}
	p.Objects = len(keys)
	p.Keys = make([]string, 0, min(len(keys), MaxPurgedKeys))
	for k := range keys {
		p.Keys = append(p.Keys, k)
	}
	slices.Sort(p.Keys)
	if len(p.Keys) > MaxPurgedKeys {
		p.Keys, p.Truncated = p.Keys[:MaxPurgedKeys], true
	}
	return p
}

// purge drops every chunk of the keys match accepts and returns what it
// dropped, by key. It holds one shard's lock at a time.
func (m *Memory) purge(match func(key string) bool) map[string]disk.PurgedObject {
	out := map[string]disk.PurgedObject{}
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for id, e := range sh.chunks {
			if !match(id.key) {
				continue
			}
			o := out[id.key]
			o.Chunks++
			o.Bytes += int64(len(e.c.data))
			out[id.key] = o
			sh.drop(id, e)
		}
		sh.mu.Unlock()
	}
	return out
}

// purge removes the entries of the keys match accepts and returns those
// keys. It holds one shard's lock at a time.
func (o *objects) purge(match func(key string) bool) []string {
	var out []string
	for i := range o.shards {
		sh := &o.shards[i]
		sh.mu.Lock()
		for _, k := range sh.lru.Keys() {
			if match(k) {
				sh.lru.Remove(k)
				out = append(out, k)
			}
		}
		sh.mu.Unlock()
	}
	return out
}
