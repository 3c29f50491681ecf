package cache

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"edgecache/cache/disk"
)

// The disk tier sits under memory. Chunks fetched from the origin are kept
// in memory and written to disk behind the response (a bounded queue of
// writes: when the disks fall behind, writes are skipped and counted rather
// than buffered without end). A chunk found only on disk is served from its
// file; on its second disk hit within the memory tier's window it is also
// read into memory (promotion), so a chunk that stays hot ends up served
// from memory and one played once does not displace the memory tier.

// diskJob is one chunk waiting to be written to disk.
type diskJob struct {
	id   chunkID
	meta *Meta
	data []byte
}

// diskMeta is the object metadata stored with every chunk on disk, so that
// a restarted daemon knows the object (size, validators, freshness) without
// asking the origin.
type diskMeta struct {
	Size         int64  `json:"size"`
	ETag         string `json:"etag,omitempty"`
	LastModified int64  `json:"lm,omitempty"` // Unix seconds; 0 if none
	ContentType  string `json:"ct,omitempty"`
	FetchedAt    int64  `json:"fetched"` // Unix nanoseconds
	Expires      int64  `json:"expires"` // Unix nanoseconds
}

func encodeMeta(m *Meta) []byte {
	dm := diskMeta{Size: m.Size, ETag: m.ETag, ContentType: m.ContentType,
		FetchedAt: m.FetchedAt.UnixNano(), Expires: m.Expires.UnixNano()}
	if !m.LastModified.IsZero() {
		dm.LastModified = m.LastModified.Unix()
	}
	b, _ := json.Marshal(dm) // a struct of strings and integers always encodes
	return b
}

// decodeMeta rebuilds the Meta stored with key's chunks and checks that it
// is the version the disk index recorded.
func decodeMeta(key, version string, b []byte) (*Meta, error) {
	var dm diskMeta
	if err := json.Unmarshal(b, &dm); err != nil {
		return nil, fmt.Errorf("disk metadata of %s: %w", key, err)
	}
	m := &Meta{Key: key, Size: dm.Size, ETag: dm.ETag, ContentType: dm.ContentType,
		FetchedAt: time.Unix(0, dm.FetchedAt), Expires: time.Unix(0, dm.Expires)}
	if dm.LastModified != 0 {
		m.LastModified = time.Unix(dm.LastModified, 0).UTC()
	}
	m.version = m.Validator()
	if m.version != version || m.Size < 0 {
		return nil, fmt.Errorf("disk metadata of %s: version %q, index says %q", key, m.version, version)
	}
	return m, nil
}

// diskTier is the Store's view of the disk store plus its write queue and
// promotion window.
type diskTier struct {
	st    *disk.Store
	queue chan diskJob

	mu     sync.Mutex
	recent *simplelru.LRU[chunkID, struct{}] // chunks hit once on disk lately
}

func newDiskTier(st *disk.Store, writers, window int) *diskTier {
	recent, _ := simplelru.NewLRU[chunkID, struct{}](max(window, 1024), nil)
	return &diskTier{st: st, queue: make(chan diskJob, 4*writers), recent: recent}
}

// secondHit records a disk hit on id and reports whether it is the second
// within the window (then the chunk should move to memory).
func (t *diskTier) secondHit(id chunkID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.recent.Contains(id) {
		t.recent.Remove(id)
		return true
	}
	t.recent.Add(id, struct{}{})
	return false
}

// diskWriter writes queued chunks until the queue is closed.
func (s *Store) diskWriter() {
	defer s.dwg.Done()
	for j := range s.disk.queue {
		err := s.disk.st.Put(disk.ID{Key: j.id.key, Index: j.id.idx}, j.meta.version, encodeMeta(j.meta), j.data)
		if err != nil {
			s.diskWriteErrors.Add(1)
			s.log.Debug("chunk not written to disk", "key", j.id.key, "chunk", j.id.idx, "err", err)
			continue
		}
		s.diskWrites.Add(1)
	}
}

// keep stores a complete chunk: in memory now, on disk behind the response.
func (s *Store) keep(id chunkID, meta *Meta, data []byte) {
	if meta.NoStore {
		return
	}
	s.mem.add(id, &chunk{version: meta.version, data: data})
	if s.disk == nil {
		return
	}
	select {
	case s.disk.queue <- diskJob{id, meta, data}:
	default:
		s.diskWriteSkipped.Add(1)
	}
}

// diskObject returns the object version the disk tier holds for key, if any.
func (s *Store) diskObject(key string) *Meta {
	if s.disk == nil {
		return nil
	}
	version, b, ok := s.disk.st.Meta(key)
	if !ok {
		return nil
	}
	m, err := decodeMeta(key, version, b)
	if err != nil {
		s.log.Warn("unreadable object metadata on disk; asking the origin", "key", key, "err", err)
		return nil
	}
	return m
}

// diskChunk looks for chunk idx of meta's version on disk. It returns the
// open chunk, or, when this hit promoted the chunk, its bytes now in memory.
func (s *Store) diskChunk(meta *Meta, idx int64) (*disk.Chunk, []byte) {
	if s.disk == nil {
		return nil, nil
	}
	c, err := s.disk.st.Get(disk.ID{Key: meta.Key, Index: idx}, meta.version)
	if err != nil {
		return nil, nil
	}
	want := min(s.chunk, meta.Size-idx*s.chunk)
	if c.Len() != want {
		c.Close()
		s.disk.st.Remove(disk.ID{Key: meta.Key, Index: idx})
		s.log.Warn("chunk on disk has the wrong length; dropped", "key", meta.Key, "chunk", idx, "len", c.Len(), "want", want)
		return nil, nil
	}
	id := chunkID{meta.Key, idx}
	if !s.disk.secondHit(id) {
		s.diskHits.Add(1)
		return c, nil
	}
	data := make([]byte, want)
	_, err = c.ReadAt(data, 0)
	c.Close()
	if err != nil {
		s.log.Warn("reading chunk from disk failed", "key", meta.Key, "chunk", idx, "err", err)
		return nil, nil
	}
	s.diskHits.Add(1)
	s.promotions.Add(1)
	s.mem.add(id, &chunk{version: meta.version, data: data}) // id.key is meta.Key: owned by the Store
	return nil, data
}

// onDisk reports whether the disk tier holds chunk idx of meta's version.
func (s *Store) onDisk(meta *Meta, idx int64) bool {
	return s.disk != nil && s.disk.st.Has(disk.ID{Key: meta.Key, Index: idx}, meta.version)
}
