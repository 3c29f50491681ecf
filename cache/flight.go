package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"edgecache/origin"
)

// flight is one fetch of one chunk from the source. Any number of readers
// join it and stream buf[:n] as it grows; it runs on its own goroutine,
// detached from whichever request started it.
type flight struct {
	id    chunkID
	ready chan struct{} // closed once meta (or err) is known
	held  bool          // took its fetch memory when it was made; else run waits for it
	slot  *fillSlot     // set for a fill's flight (fill.go): its own fetch budget, and it stores to disk

	// Set when the flight is made, read-only after.
	path    string           // what is asked upstream (the object's key)
	fwd     http.Header      // request fields sent upstream; nil: none
	private bool             // for one request only (it sent Authorization): not in the group, its answer stored only if it may be shared
	noStore bool             // its answer is not stored whatever it says (a request's no-store directive)
	resp    *origin.Response // the answer, when a revalidation already has it; else run asks
	sent    time.Time        // when resp was asked for (its request_time, RFC 9111 §4.2.3)

	// Set before ready is closed, read-only after.
	meta *Meta
	err  error // the fetch failed before any byte: no meta

	// users counts who may still read buf: the flight's own goroutine
	// and every caller that s.flight handed it to (see hold, drop). The
	// last one out releases the flight's reference to c.
	users atomic.Int32
	c     *chunk // buf's memory, set by start; heap for an answer nobody keeps (see start)
	span  int64  // chunks the fetch may ask for at once (span.go); 0 or 1: this one
	// reach is the last chunk this fetch asks for with its own (the
	// span's end): what it was started to ask for until early has put the
	// span's flights in the group, then what early put there. A reader
	// who joined it leaves the chunks up to reach to the span.
	reach atomic.Int64
	fs    []*flight  // the span's flights after this one, put in the group before it asks (span.go)
	sp    *spanState // the readers of the span this flight leads or follows in; nil: not a span (span.go)

	mu   sync.Mutex
	cond sync.Cond
	buf  []byte // the whole chunk; bytes below n are final
	n    int
	done bool
	ferr error // why the flight ended short of len(buf)

	// sum is the CRC-32C of buf[:n], computed by fill (the only writer)
	// right after each read, while the bytes are in the CPU's cache: the
	// disk write of the complete chunk then need not read the whole chunk
	// again from memory to checksum it. summing, set by start, says
	// whether the chunk may go to a disk tier at all; else nobody needs it.
	sum     uint32
	summing bool
}

// castagnoli is the CRC-32C table, the disk tier's payload checksum.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// newFlight returns a flight for chunk id of the object at path, whose
// fetch sends the request fields fwd.
func newFlight(id chunkID, path string, fwd http.Header) *flight {
	f := &flight{id: id, path: path, fwd: fwd, ready: make(chan struct{})}
	f.reach.Store(id.idx)
	f.cond.L = &f.mu
	f.users.Store(1) // the flight's goroutine
	return f
}

// hold counts one more reader of f's buffer. The caller must know f is
// held: it found f in the group under the shard lock, or it holds f
// already.
func (f *flight) hold() { f.users.Add(1) }

// drop ends one reader's (or the flight goroutine's) use of f's buffer; the
// last one releases the buffer's chunk.
func (f *flight) drop() {
	if f.users.Add(-1) == 0 {
		f.c.unref()
	}
}

// fail ends a flight that never got an answer.
func (f *flight) fail(err error) {
	f.err = err
	close(f.ready)
	f.end(err)
}

// start publishes the version and takes the chunk buffer: from the arena
// for a chunk that will be kept (it is filled in the memory it keeps), from
// the Go heap for an answer that is only streamed (a private fetch, one
// that may not be stored, a variant's first fetch): such a flight is read
// through Meta.pass by readers who do not hold it.
func (f *flight) start(s *Store, meta *Meta, length int) {
	f.meta = meta
	if f.private || meta.NoStore || meta.Key != f.id.key {
		f.c = heapChunk(int64(length), meta.version)
	} else {
		f.c = s.alloc(int64(length), meta.version)
	}
	f.c.sp = f.sp
	f.buf = f.c.data
	f.summing = s.disk != nil && !meta.NoStore
	close(f.ready)
}

// fill reads from body into the chunk buffer, waking readers as bytes arrive.
// It returns nil once the buffer is full.
func (f *flight) fill(body io.Reader) error {
	for {
		f.mu.Lock()
		n := f.n
		f.mu.Unlock()
		if n == len(f.buf) {
			return nil
		}
		m, err := body.Read(f.buf[n:])
		if m > 0 {
			if f.summing {
				f.sum = crc32.Update(f.sum, castagnoli, f.buf[n:n+m])
			}
			f.mu.Lock()
			f.n += m
			f.mu.Unlock()
			f.cond.Broadcast()
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if n+m == len(f.buf) {
					return nil
				}
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("chunk %d of %s at byte %d: %w", f.id.idx, f.id.key, n+m, err)
		}
	}
}

// filled returns how many bytes of the chunk are final.
func (f *flight) filled() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// end marks the flight finished (err nil: complete) and wakes every reader.
func (f *flight) end(err error) {
	f.mu.Lock()
	f.done = true
	if f.n < len(f.buf) && err == nil {
		err = io.ErrUnexpectedEOF
	}
	f.ferr = err
	f.mu.Unlock()
	f.cond.Broadcast()
}

// wait blocks until more than have bytes are final or the flight ended, and
// returns the final count and, if the flight ended short, why.
func (f *flight) wait(have int) (int, error) {
	f.mu.Lock()
	for f.n <= have && !f.done {
		f.cond.Wait()
	}
	n, err := f.n, f.ferr
	if f.done && n < len(f.buf) && err == nil {
		err = io.ErrUnexpectedEOF
	}
	f.mu.Unlock()
	return n, err
}

// DefaultFetchMemory is the default Options.FetchMemory: 64 MiB (256
// chunks of the default 256 KiB), room for 32 players missing 1 MiB at
// once, each with 1 MiB of read-ahead, before a flight waits; at 50 ms to
// fetch a MiB it lets the origin fill about 10 Gbit/s.
const DefaultFetchMemory = 64 << 20

// fetchBudget bounds the bytes of the chunk buffers flights are filling.
// A flight takes a chunk's worth before it asks the source and gives it
// back when it ends, complete or not: a flight never waits on a reader or
// on another flight while it holds budget, so every wait ends. Waiters are
// served first come, first served.
type fetchBudget struct {
	sem   *semaphore.Weighted
	held  atomic.Int64 // bytes taken now
	waits atomic.Int64 // acquisitions that had to wait
}

func newFetchBudget(size int64) *fetchBudget {
	return &fetchBudget{sem: semaphore.NewWeighted(size)}
}

// acquire takes n bytes, waiting behind earlier waiters if need be, until
// ctx ends. n must not exceed the budget's size.
func (b *fetchBudget) acquire(ctx context.Context, n int64) error {
	if !b.sem.TryAcquire(n) {
		b.waits.Add(1)
		if err := b.sem.Acquire(ctx, n); err != nil {
			return fmt.Errorf("waiting for fetch memory: %w", err)
		}
	}
	b.held.Add(n)
	return nil
}

// tryAcquire takes n bytes if they are free and nobody waits for budget.
func (b *fetchBudget) tryAcquire(n int64) bool {
	if !b.sem.TryAcquire(n) {
		return false
	}
	b.held.Add(n)
	return true
}

// idle reports whether a flight of n bytes would start without waiting now.
// Read-ahead asks this first, so that it does not queue ahead of (or take
// the budget of) the flights readers are waiting on. (A flight made right
// after idle said yes may still find the budget taken by then, and wait.)
func (b *fetchBudget) idle(n int64) bool {
	if !b.sem.TryAcquire(n) {
		return false
	}
	b.sem.Release(n)
	return true
}

// release gives back n bytes.
func (b *fetchBudget) release(n int64) {
	b.held.Add(-n)
	b.sem.Release(n)
}

// group holds the flights in progress, sharded by chunk hash.
type group struct {
	seed   maphash.Seed
	shards [32]groupShard
}

type groupShard struct {
	mu sync.Mutex
	m  map[chunkID]*flight
	_  [48]byte
}

func newGroup() *group {
	g := &group{seed: maphash.MakeSeed()}
	for i := range g.shards {
		g.shards[i].m = make(map[chunkID]*flight)
	}
	return g
}

func (g *group) shard(id chunkID) *groupShard {
	return &g.shards[id.hash(g.seed)%uint64(len(g.shards))]
}

// checksum returns the chunk's CRC-32C for its disk write, or nil if fill
// did not compute it (see summing).
func (f *flight) checksum() *uint32 {
	if !f.summing {
		return nil
	}
	sum := f.sum
	return &sum
}
