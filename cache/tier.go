package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"edgecache/cache/disk"
	"edgecache/ratelog"
)

// The disk tier sits under memory. Chunks fetched from the origin are kept
// in memory and written to disk behind the response, through a write queue
// bounded in bytes (Options.DiskQueue). When the disks fall that far behind,
// the flight that fetched a chunk waits for room (up to
// Options.DiskQueueWait) before it ends; it holds its fetch memory while it
// waits, so origin fetches slow down to what the disks can write instead of
// fetching chunks the disks would have to drop. Its readers are not held
// back: the chunk's bytes are final and in memory, and a reader that comes
// to it after memory evicted it, before its write ended, is given the
// queued chunk (Store.queuedChunk). Past the wait (a stalled
// disk) the chunk is not written, and that is counted (Stats.DiskWriteSkips)
// and logged (a WARN at most once a minute, with the count since the last
// one) rather than buffered without end; the chunk stays in memory and is
// fetched again if it is evicted before anything rewrites it. A chunk found only on disk is served from its
// file; on its second disk hit within the memory tier's window it is also
// read into memory (promotion) if memory has room for it or it was read
// more often lately than the chunk memory would evict for it (see
// Memory.admits), so a chunk that stays hot ends up served from memory,
// one played once does not displace the memory tier, and a hot set larger
// than memory with no chunk hotter than another (where any choice of
// residents gives the same hit ratio) is not copied back and forth.

// diskJob is one chunk waiting to be written to disk.
type diskJob struct {
	id   chunkID
	meta *Meta
	c    *chunk  // the job holds a reference until it is written
	sum  *uint32 // CRC-32C of c.data computed as it arrived (flight.sum), or nil
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
	// Header is the version's end-to-end header fields.
	Header map[string][]string `json:"h,omitempty"`
	Age    int64               `json:"age,omitempty"` // its age when received, nanoseconds
	// A variant (of a response with Vary): the object's key, the fields
	// it varies on, and the request fields that select it.
	Path string              `json:"p,omitempty"`
	Vary []string            `json:"v,omitempty"`
	Fwd  map[string][]string `json:"f,omitempty"`
}

func encodeMeta(m *Meta) []byte {
	dm := diskMeta{Size: m.Size, ETag: m.ETag, ContentType: m.ContentType,
		FetchedAt: m.FetchedAt.UnixNano(), Expires: m.Expires.UnixNano(), Header: m.Header,
		Age: int64(m.initialAge), Vary: m.vary, Fwd: m.fwd}
	if m.path != m.Key {
		dm.Path = m.path
	}
	if !m.LastModified.IsZero() {
		dm.LastModified = m.LastModified.Unix()
	}
	b, _ := json.Marshal(dm) // strings, integers and a map of strings always encode
	return b
}

// errOtherChunkSize is decodeMeta's error for chunks cut at another chunk
// size than the Store's (see diskVersion).
var errOtherChunkSize = errors.New("chunks cut at another chunk size")

// decodeMeta rebuilds the Meta stored with key's chunks, cut at chunk
// bytes, and checks that it is the version the disk index recorded.
func decodeMeta(key, version string, b []byte, chunk int64) (*Meta, error) {
	var dm diskMeta
	if err := json.Unmarshal(b, &dm); err != nil {
		return nil, fmt.Errorf("disk metadata of %s: %w", key, err)
	}
	m := &Meta{Key: key, Size: dm.Size, ETag: dm.ETag, ContentType: dm.ContentType,
		FetchedAt: time.Unix(0, dm.FetchedAt), Expires: time.Unix(0, dm.Expires),
		path: key, initialAge: time.Duration(max(dm.Age, 0)), vary: dm.Vary, memo: new(memo)}
	if dm.Vary != nil {
		// A stored version is fetched with the fields it varies on and
		// nothing else. Releases before this one also kept a private
		// request's fields (its credentials) with the version it fetched:
		// they are dropped here.
		m.fwd = selecting(dm.Vary, http.Header(dm.Fwd))
	}
	if dm.Path != "" {
		m.path = dm.Path
	}
	if dm.LastModified != 0 {
		m.LastModified = time.Unix(dm.LastModified, 0).UTC()
	}
	m.setHeader(dm.Header)
	m.version = m.Validator()
	m.dver = diskVersion(m.version, chunk)
	if m.Size < 0 {
		return nil, fmt.Errorf("disk metadata of %s: size %d", key, m.Size)
	}
	if m.dver != version {
		if version == m.version || strings.HasPrefix(version, m.version+" c=") {
			return nil, fmt.Errorf("disk metadata of %s: version %q, want chunk size %d: %w", key, version, chunk, errOtherChunkSize)
		}
		return nil, fmt.Errorf("disk metadata of %s: version %q, index says %q", key, m.dver, version)
	}
	return m, nil
}

// diskTier is the Store's view of the disk store plus its write queue and
// promotion window.
type diskTier struct {
	st     *disk.Store
	queue  chan diskJob
	room   *semaphore.Weighted // the queue's budget in bytes: a job holds its size until written
	queued atomic.Int64        // payload bytes in queue or being written
	budget int64               // most bytes queued at once
	wait   time.Duration       // longest a chunk waits for room
	warn   *ratelog.Limiter
	// moved is when a queued write last ended, or the queue last went
	// from empty to not empty (Unix nanoseconds): a queue that has not
	// moved for queueStall is stuck behind a disk that hangs, and a chunk
	// does not wait for it.
	moved atomic.Int64

	mu     sync.Mutex
	recent *hitWindow // chunks hit once on disk lately
	// queuedChunks are the chunks in the write queue or being written,
	// by id: a chunk memory evicted before its write ended is served
	// from here rather than fetched again (see Store.queuedChunk). The
	// job's reference keeps each valid until the writer removes it.
	queuedChunks map[chunkID]*chunk
	stuck        atomic.Int64 // writers replaced because their write hangs, still in it (see writerStuck)
}

// stuckWriters returns the writers replaced because their write has not
// ended (0 without a disk tier).
func (t *diskTier) stuckWriters() int64 {
	if t == nil {
		return 0
	}
	return t.stuck.Load()
}

// newDiskTier returns the disk tier over st with a write queue of budget
// bytes of chunkSize chunks and a promotion window of window chunks.
//
// The window is the memory tier's chunk count, with no larger floor: a chunk
// hit twice within fewer distinct disk hits than memory holds would survive
// there, one re-hit only after more would be evicted before it paid back its
// copy and checksum (with a 16-chunk memory tier under a 64-chunk hot set, a
// 1024-entry window promoted nearly every hit and churned the memory tier).
// A hot set that fits in memory still ends up there.
func newDiskTier(st *disk.Store, budget, chunkSize int64, wait time.Duration, window int, log *slog.Logger) *diskTier {
	recent := newHitWindow(window)
	// The channel holds the budget's worth of full chunks, and short ones
	// (an object's last chunk) up to four times as many; past that a
	// sender waits for a writer to take one.
	slots := int(min(4*budget/chunkSize, 1<<16))
	t := &diskTier{st: st, queue: make(chan diskJob, slots), room: semaphore.NewWeighted(budget),
		budget: budget, wait: wait, recent: recent, warn: ratelog.New(log, time.Minute),
		queuedChunks: make(map[chunkID]*chunk)}
	t.moved.Store(time.Now().UnixNano())
	return t
}

// queueStall is how long a full write queue may go without a write ending
// before it counts as stuck (a disk that hangs: its writers block in the
// kernel and hold the queue): a chunk then skips the disk at once instead
// of waiting up to DiskQueueWait. A working disk, however slow, ends a
// chunk's write well within it.
const queueStall = time.Second

// stalled reports whether the queue holds chunks and has not moved for
// queueStall.
func (t *diskTier) stalled() bool {
	return t.queued.Load() > 0 && time.Since(time.Unix(0, t.moved.Load())) > queueStall
}

// diskQueued returns the bytes waiting in the disk write queue.
func (s *Store) diskQueued() int64 {
	if s.disk == nil {
		return 0
	}
	return s.disk.queued.Load()
}

// secondHit records a disk hit on id and reports whether it is the second
// within the window (then the chunk should move to memory).
func (t *diskTier) secondHit(id chunkID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.recent.take(id)
}

// writerStuck is how long a chunk write may take before another writer
// takes the queue in its writer's place, and maxStuckWriters how many
// writers may be stuck so at once. A disk that hangs blocks its writers in
// the kernel until it thaws; the queue is shared by every disk, so without
// replacements the writers, one after the other, would all end up blocked
// on the hung disk's chunks and the healthy disks would get no more
// writes (the disk store takes the hung disk out of service after
// disk.WriteHang, but that frees no writer). A replaced writer leaves once
// its write ends, so the writers are DiskWriters again.
const (
	writerStuck     = 2 * time.Second
	maxStuckWriters = 64
)

// diskWriter writes queued chunks until the queue is closed, or until a
// write of its outlasted writerStuck and another writer took its place.
func (s *Store) diskWriter() {
	defer s.dwg.Done()
	for j := range s.disk.queue {
		if s.writeQueued(j) {
			return
		}
	}
}

// writeQueued writes j to the disk tier. If the write has not ended after
// writerStuck, it starts another writer (unless maxStuckWriters are stuck
// already) and reports, once the write ends, that the caller was replaced.
func (s *Store) writeQueued(j diskJob) (replaced bool) {
	decided := make(chan struct{})
	t := time.AfterFunc(s.opt.writerStuck, func() {
		defer close(decided)
		n := s.disk.stuck.Add(1)
		if n > maxStuckWriters {
			s.disk.stuck.Add(-1)
			s.disk.warn.Log(slog.LevelError, "writers stuck", "disk writes hang and every spare writer is stuck: no chunk reaches any disk until one ends",
				"stuck_writers", n-1, "key", j.id.key, "chunk", j.id.idx)
			return
		}
		replaced = true
		s.disk.warn.Log(slog.LevelWarn, "writer stuck", "disk write has not ended: another writer takes the queue meanwhile (a disk hangs?)",
			"after", s.opt.writerStuck, "key", j.id.key, "chunk", j.id.idx, "stuck_writers", n)
		s.dwg.Add(1) // this writer has not called Done: the count is above 0
		go s.diskWriter()
	})
	err := s.disk.put(disk.ID{Key: j.id.key, Index: j.id.idx}, j.meta.dver, encodeMeta(j.meta), j.c.data, j.sum, disk.Rank{})
	if !t.Stop() {
		<-decided
		if replaced {
			s.disk.stuck.Add(-1)
		}
	}
	n := int64(len(j.c.data))
	s.disk.unqueue(j.id, j.c)
	j.c.unref()
	s.disk.moved.Store(time.Now().UnixNano())
	s.disk.queued.Add(-n)
	s.disk.room.Release(n)
	if err != nil {
		s.diskWriteErrors.Add(1)
		// The disk store logs what takes a disk out of service; this
		// says what it cost, once a minute per kind of failure.
		cause := "other"
		switch {
		case errors.Is(err, disk.ErrNoDisk):
			cause = "no disk"
		case errors.Is(err, disk.ErrClosed):
			cause = "closed"
		case disk.NoSpace(err):
			cause = "disk full"
		}
		s.disk.warn.Log(slog.LevelWarn, "write error: "+cause, "chunk not written to disk",
			"key", j.id.key, "chunk", j.id.idx, "err", err, "errors_total", s.diskWriteErrors.Load())
		return replaced
	}
	s.diskWrites.Add(1)
	return replaced
}

// put writes a chunk to the disk store: with rk, a fill's rank, or the
// zero Rank for a player's chunk; with sum, the CRC-32C its fetch computed
// (flight.sum), or nil for one the store computes.
func (t *diskTier) put(did disk.ID, version string, meta, data []byte, sum *uint32, rk disk.Rank) error {
	switch {
	case sum != nil:
		return t.st.PutSummed(did, version, meta, data, *sum, rk)
	case rk == (disk.Rank{}):
		return t.st.Put(did, version, meta, data)
	}
	return t.st.PutRanked(did, version, meta, data, rk)
}

// keep stores a complete chunk: in memory now, on disk behind the response.
// The tier and the disk write take references of their own. sum is the
// CRC-32C of c.data if the fetch computed it (flight.sum), else nil.
func (s *Store) keep(id chunkID, meta *Meta, c *chunk, sum *uint32) {
	if meta.NoStore {
		return
	}
	s.mem.add(id, c)
	if s.disk == nil {
		return
	}
	n := int64(len(c.data))
	if !s.disk.room.TryAcquire(n) {
		s.diskQueueWaits.Add(1)
		if !s.waitDiskRoom(n) {
			s.skipDiskWrite()
			return
		}
	}
	if s.disk.queued.Add(n) == n {
		s.disk.moved.Store(time.Now().UnixNano()) // the queue was empty: its clock starts now
	}
	c.ref()
	s.disk.mu.Lock()
	s.disk.queuedChunks[id] = c
	s.disk.mu.Unlock()
	s.disk.queue <- diskJob{id, meta, c, sum}
}

// unqueue forgets c, chunk id's bytes whose disk write has ended (written
// or not), unless a newer write of id replaced it. The caller then drops
// the job's reference.
func (t *diskTier) unqueue(id chunkID, c *chunk) {
	t.mu.Lock()
	if t.queuedChunks[id] == c {
		delete(t.queuedChunks, id)
	}
	t.mu.Unlock()
}

// queued reports whether chunk id of version waits in the disk write
// queue (or is being written).
func (s *Store) queued(id chunkID, version string) bool {
	if s.disk == nil {
		return false
	}
	s.disk.mu.Lock()
	defer s.disk.mu.Unlock()
	return s.disk.inQueue(id, version) != nil
}

// queuedChunk returns chunk id of version if it waits in the disk write
// queue (or is being written), with a reference for the caller, else nil.
// Memory may evict a chunk before the disks have written it (a small
// memory tier, a disk falling behind); without this, a reader reaching it
// then would fetch it from the origin again.
func (s *Store) queuedChunk(id chunkID, version string) *chunk {
	if s.disk == nil {
		return nil
	}
	s.disk.mu.Lock()
	defer s.disk.mu.Unlock()
	c := s.disk.inQueue(id, version)
	if c != nil {
		c.ref() // the job's reference is held until unqueue, under this lock
	}
	return c
}

// inQueue returns chunk id of version if the write queue holds it, else
// nil. t.mu is held.
func (t *diskTier) inQueue(id chunkID, version string) *chunk {
	if c := t.queuedChunks[id]; c != nil && c.version == version {
		return c
	}
	return nil
}

// waitDiskRoom waits for n bytes of room in the disk write queue, up to
// DiskQueueWait, unless the queue is stuck (stalled): a disk that hangs
// would otherwise make every miss wait that long per chunk (a
// fault-injection review froze one disk: a cold 8 MiB object took 62 s).
// Waiters get room in the order they came (one Acquire each, which the
// semaphore serves first come, first served; a watcher checks for a
// stall every queueStall/4 and ends the wait). It reports whether it got
// the room.
func (s *Store) waitDiskRoom(n int64) bool {
	if s.disk.stalled() {
		return false
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.disk.wait)
	defer cancel()
	go func() {
		t := time.NewTicker(queueStall / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.disk.stalled() {
					cancel()
					return
				}
			}
		}
	}()
	return s.disk.room.Acquire(ctx, n) == nil
}

// skipDiskWrite counts and logs a chunk the disk write queue had no room for.
func (s *Store) skipDiskWrite() {
	skipped := s.diskWriteSkipped.Add(1)
	if s.disk.stalled() {
		s.disk.warn.Log(slog.LevelWarn, "queue stalled", "disk write queue stuck: no write ended for a second (a disk hangs?): chunk kept in memory only",
			"queued_bytes", s.disk.queued.Load(), "queue_budget", s.disk.budget, "skipped_total", skipped)
		return
	}
	s.disk.warn.Log(slog.LevelWarn, "queue full", "disk write queue full: chunk kept in memory only",
		"queued_bytes", s.disk.queued.Load(), "queue_budget", s.disk.budget, "skipped_total", skipped)
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
	m, err := decodeMeta(key, version, b, s.chunk)
	if errors.Is(err, errOtherChunkSize) {
		s.disk.warn.Log(slog.LevelInfo, "chunk size", "chunks on disk were cut at another chunk size; fetching the object again", "key", key, "err", err)
		return nil
	}
	if err != nil {
		s.log.Warn("unreadable object metadata on disk; asking the origin", "key", key, "err", err)
		return nil
	}
	return m
}

// diskChunk looks for chunk idx of meta's version on disk. It returns the
// open chunk, or, when this hit promoted the chunk, the chunk now in memory
// with a reference for the caller.
func (s *Store) diskChunk(meta *Meta, idx int64) (*disk.Chunk, *chunk) {
	if s.disk == nil {
		return nil, nil
	}
	c, err := s.disk.st.Get(disk.ID{Key: meta.Key, Index: idx}, meta.dver)
	if err != nil {
		return nil, nil
	}
	want := min(s.chunk, meta.Size-idx*s.chunk)
	if n := c.Len(); n != want {
		c.Close()
		s.disk.st.Remove(disk.ID{Key: meta.Key, Index: idx})
		s.log.Warn("chunk on disk has the wrong length; dropped", "key", meta.Key, "chunk", idx, "len", n, "want", want)
		return nil, nil
	}
	id := chunkID{meta.Key, idx}
	if !s.disk.secondHit(id) || !s.mem.admits(id, s.chunk) {
		s.diskHits.Add(1)
		return c, nil
	}
	// Bytes copied into memory are served from there from now on: verify
	// them first (the disk store drops a damaged chunk, counts and logs it).
	mc := s.alloc(want, meta.version)
	err = c.ReadAllVerified(mc.data)
	c.Close()
	if err != nil {
		mc.unref()
		s.diskBadReads.Add(1)
		s.log.Warn("chunk on disk failed verification; fetching it again", "key", meta.Key, "chunk", idx, "err", err)
		return nil, nil
	}
	s.diskHits.Add(1)
	s.promotions.Add(1)
	s.mem.add(id, mc) // id.key is meta.Key: owned by the Store
	return nil, mc
}

// onDisk reports whether the disk tier holds chunk idx of meta's version.
func (s *Store) onDisk(meta *Meta, idx int64) bool {
	return s.disk != nil && s.disk.st.Has(disk.ID{Key: meta.Key, Index: idx}, meta.dver)
}
