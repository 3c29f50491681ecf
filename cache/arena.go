package cache

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The memory tier's chunk payloads and the flights' chunk buffers live in an
// arena: one anonymous mapping outside the Go heap, made when the Store is
// made and never returned, so the garbage collector neither scans nor frees
// payloads and a chunk reuses pages the process already has (no first-touch
// page faults once the arena is prefaulted, see Store.Prefault).
//
// The arena is cut into chunk-size slots. A chunk shorter than half a slot
// (an object's last chunk, a small object) takes a piece of a slot split
// into equal power-of-two pieces (a slab) of the smallest size that holds
// it, down to 4 KiB; a slab's slot is whole again once all its pieces are
// free. The memory tier charges a chunk the size of its slot or piece, so
// the tier's budget bounds the arena memory it holds.
//
// Every chunk carries a reference count. Whoever uses a chunk's bytes holds
// a reference: the memory tier while it holds the chunk, a flight while
// it fills it and anyone reads it, a Reader for the current chunk and the
// chunks it pinned, a disk write job, a promotion. A chunk's memory is
// handed out again only after its last reference is released. When the
// arena has no free slot (every slot held, for instance by readers of
// chunks evicted meanwhile), a chunk is allocated on the Go heap instead
// and counted (Stats.ArenaHeapChunks): correctness never depends on the
// arena's size.
//
// On Linux the mapping is of a memory file (memfd_create(2)), so that a
// chunk held in memory can be sent to a client with sendfile(2) from the
// file, as a chunk on disk is: the kernel queues references to the pages
// on the socket instead of copying the bytes. A page stays queued after
// sendfile returns, until the peer has the bytes, so a chunk that was sent
// from the file (chunk.sent) does not have its pages written again: when it
// is released, its range's pages are taken out of the file (dropPages), the
// socket keeps the old ones, and the range gets fresh pages when it is next
// written. A chunk never sent keeps its pages.

// arenaPoison, when set, fills a chunk's memory with poisonByte as it is
// released, so that a read after release returns bytes that a test
// comparing content notices. Tests set it; it costs a memset per release.
var arenaPoison bool

// poisonByte is what arenaPoison fills released memory with.
const poisonByte = 0xDB

// minPiece is the smallest piece of a slab.
const minPiece = 4 << 10

// maxPieces bounds the pieces of one slab (the width of slab.used).
const maxPieces = 256

// arena hands out chunk memory from one mapping; see above.
type arena struct {
	mem     []byte
	file    *os.File // the memory file mem maps; nil: an anonymous mapping, chunks cannot be sent from it
	log     *slog.Logger
	slot    int64   // bytes per slot: the chunk size
	classes []int64 // piece sizes of the slab classes, largest first (slot/2, slot/4, ...)

	mu      sync.Mutex
	free    []int32   // whole free slots, lowest address last
	partial [][]int32 // per class: slabs with a free piece
	slabs   []slab

	used      atomic.Int64 // bytes of slots and pieces handed out
	fallbacks atomic.Int64 // chunks allocated on the Go heap for want of a slot
	dropped   atomic.Int64 // released chunks whose pages were taken out of the file (see above)
	sentBytes atomic.Int64 // chunk bytes sent from the file with sendfile(2)
	lost      atomic.Int64 // bytes of slots and pieces never handed out again: their pages could not be dropped
	noSend    atomic.Bool  // dropping pages failed once: chunks are no longer sent from the file
	warmSum   byte         // written once by warm
}

// slab is the state of one slot.
type slab struct {
	class int8  // -1: whole (free or handed out as one chunk); else the class it is split in
	nfree int16 // free pieces, when split
	pos   int32 // index in partial[class], -1 if not there
	used  [maxPieces / 64]uint64
}

// newArena maps an arena of at least size bytes in slots of slot bytes, of
// a memory file where the system has them (see above); where it has not,
// the mapping is anonymous, and a warning on log says why. The mapping is
// reserved, not committed: pages are backed when first touched, or all at
// once by prefault.
func newArena(size, slot int64, log *slog.Logger) (*arena, error) {
	n := max((size+slot-1)/slot, 1)
	if n > 1<<31-1 {
		return nil, fmt.Errorf("arena: %d slots of %d bytes: too many", n, slot)
	}
	length := n * slot
	if page := int64(unix.Getpagesize()); length%page != 0 {
		length += page - length%page
	}
	mem, f, err := mapArenaFile(length)
	if err != nil {
		log.Warn("memory tier chunks will be copied to clients, not sent with sendfile", "err", fmt.Errorf("arena: %w", err))
		mem, err = mapAnon(length)
		if err != nil {
			return nil, fmt.Errorf("arena: mapping %d bytes: %w", length, err)
		}
	}
	a := &arena{mem: mem, file: f, log: log, slot: slot, free: make([]int32, n), slabs: make([]slab, n)}
	for i := range a.free {
		a.free[i] = int32(int(n) - 1 - i)
		a.slabs[i] = slab{class: -1, pos: -1}
	}
	for p := slot / 2; p >= minPiece && slot/p <= maxPieces && slot%p == 0; p /= 2 {
		a.classes = append(a.classes, p)
	}
	a.partial = make([][]int32, len(a.classes))
	return a, nil
}

// size returns the arena's bytes.
func (a *arena) size() int64 { return int64(len(a.mem)) }

// prefault backs the whole arena with memory now (MADV_POPULATE_WRITE, or
// by touching every page where the kernel lacks it), so that no chunk pays
// a page fault later. Call it before the arena is used: the fallback
// writes to every page.
func (a *arena) prefault() (time.Duration, error) {
	start := time.Now()
	if err := populate(a.mem); err != nil {
		page := unix.Getpagesize()
		for i := 0; i < len(a.mem); i += page {
			a.mem[i] = 0
		}
	}
	return time.Since(start), nil
}

// warm reads one byte of every page of the arena, from the start, until it
// has read them all or ctx is done, and returns how long it took: once from
// the process and once by the kernel (the page's byte written to a pipe
// with writev(2) and read back). Where the process runs in a virtual
// machine whose hypervisor maps a guest's pages lazily (shadow paging), the
// kernel's prefault does not reach the hypervisor, which keeps one mapping
// for the guest's user mode and one for its kernel mode: each page's first
// access in each mode costs an exit to it. In such a guest (this project's
// benchmark machines) a chunk received from the origin (the kernel writes
// it) into never-accessed arena memory cost about 2.4 ms per MiB against
// 0.1 ms once read in kernel mode; a copy by the process likewise, once
// read in user mode; the peers harness's 1 MiB miss cost 2.7 ms of server
// CPU against 1.3 ms with a small, soon reused, memory tier. Reads change
// nothing, so warm runs while chunks are written. On bare metal it costs a
// few milliseconds per GiB.
func (a *arena) warm(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	pause := warmPauser{last: start}
	page := unix.Getpagesize()
	var sum byte
	for i := 0; i < len(a.mem); i += page {
		if i%(64<<20) == 0 && ctx.Err() != nil {
			return time.Since(start), ctx.Err()
		}
		if i%(warmBatch*page) == 0 {
			pause.maybe()
		}
		sum += a.mem[i]
	}
	a.warmSum = sum // so that the reads are not optimised away
	pr, pw, err := os.Pipe()
	if err != nil {
		return time.Since(start), fmt.Errorf("arena: warming: %w", err)
	}
	defer pr.Close()
	defer pw.Close()
	wfd := int(pw.Fd())
	const batch = warmBatch
	iov := make([][]byte, 0, batch)
	buf := make([]byte, batch)
	for i := 0; i < len(a.mem); i += page {
		iov = append(iov, a.mem[i:i+1])
		if len(iov) < batch && i+page < len(a.mem) {
			continue
		}
		if i%(64<<20) < page*batch && ctx.Err() != nil {
			return time.Since(start), ctx.Err()
		}
		pause.maybe()
		n, err := writev(wfd, iov)
		if err == nil && n == len(iov) {
			_, err = io.ReadFull(pr, buf[:n])
		} else if err == nil {
			err = io.ErrShortWrite
		}
		if err != nil {
			return time.Since(start), fmt.Errorf("arena: warming: %w", err)
		}
		iov = iov[:0]
	}
	return time.Since(start), nil
}

// warmBatch is how many pages warm touches between checks of its pause
// (warmPauser), and in one writev(2) (at most IOV_MAX, 1024): about half
// a millisecond here, where 1024 pages in one writev took about 8 ms.
const warmBatch = 64

// warmEvery is how long warm works between pauses.
const warmEvery = time.Millisecond

// warmPauser makes warm sleep a moment every warmEvery. A goroutine that
// never blocks (warm's reads, or system calls one after the other) keeps
// a daemon with one P (on one core) from polling the network until the
// runtime preempts it, up to 10 ms later: requests that came in while the
// arena was being warmed waited that much longer for their first byte.
// The pause lets the scheduler look. Measured with 1 KiB hits every 100
// ms from 1.2 s after start, 1 GiB tier: time to first byte median 9-14
// ms (max 27) without pauses, 2.4-3.0 ms with one every 1 ms, 1.6-1.7 ms
// (max 4) every 0.5 ms; warming took 5.5, 7.6-8.7 and 11.3 s. 1 ms keeps
// it within the peers harness's 10 s of settling.
type warmPauser struct{ last time.Time }

// maybe sleeps if warmEvery has passed since the last pause.
func (p *warmPauser) maybe() {
	if time.Since(p.last) >= warmEvery {
		time.Sleep(time.Microsecond)
		p.last = time.Now()
	}
}

// class returns the slab class for a chunk of n bytes, -1 for a whole slot.
func (a *arena) class(n int64) int {
	c := -1
	for i, p := range a.classes {
		if p < n {
			break
		}
		c = i
	}
	return c
}

// alloc returns a chunk of n bytes (at most a slot) of the given version
// with one reference, held by the caller.
func (a *arena) alloc(n int64, version string) *chunk {
	if n <= 0 || n > a.slot {
		return heapChunk(n, version)
	}
	cl := a.class(n)
	a.mu.Lock()
	off, size, ok := a.take(cl)
	a.mu.Unlock()
	if !ok {
		a.fallbacks.Add(1)
		return heapChunk(n, version)
	}
	a.used.Add(size)
	c := &chunk{version: version, data: a.mem[off : off+n : off+n], a: a, off: off, size: size}
	c.refs.Store(1)
	return c
}

// heapChunk is a chunk of n bytes on the Go heap: not reference counted.
func heapChunk(n int64, version string) *chunk {
	return &chunk{version: version, data: make([]byte, max(n, 0))}
}

// take finds room of class cl; the lock is held.
func (a *arena) take(cl int) (off, size int64, ok bool) {
	if cl < 0 {
		if len(a.free) == 0 {
			return 0, 0, false
		}
		i := a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		return int64(i) * a.slot, a.slot, true
	}
	piece := a.classes[cl]
	pieces := int(a.slot / piece)
	var i int32
	if p := a.partial[cl]; len(p) > 0 {
		i = p[len(p)-1]
	} else {
		if len(a.free) == 0 {
			return 0, 0, false
		}
		i = a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		a.slabs[i] = slab{class: int8(cl), nfree: int16(pieces), pos: int32(len(a.partial[cl]))}
		a.partial[cl] = append(a.partial[cl], i)
	}
	s := &a.slabs[i]
	k := -1
	for w := range s.used {
		if free := ^s.used[w]; free != 0 {
			k = w*64 + bits.TrailingZeros64(free)
			break
		}
	}
	s.used[k/64] |= 1 << (k % 64)
	if s.nfree--; s.nfree == 0 {
		a.unlist(i)
	}
	return int64(i)*a.slot + int64(k)*piece, piece, true
}

// unlist removes slab i from its class's partial list; the lock is held.
func (a *arena) unlist(i int32) {
	s := &a.slabs[i]
	p := a.partial[s.class]
	last := p[len(p)-1]
	p[s.pos] = last
	a.slabs[last].pos = s.pos
	a.partial[s.class] = p[:len(p)-1]
	s.pos = -1
}

// release gives a chunk's memory back; its last reference is gone.
func (a *arena) release(c *chunk) {
	if c.sent.Load() {
		a.dropped.Add(1)
		if err := dropPages(a.file, c.off, c.size); err != nil {
			// Its pages may still be queued on a socket: never write them
			// again. The arena is one chunk smaller; correctness holds.
			if !a.noSend.Swap(true) {
				a.log.Error("memory chunks sent with sendfile cannot be reused: dropping their pages failed; memory hits are copied from now on", "err", err)
			}
			a.lost.Add(c.size)
			a.used.Add(-c.size)
			return
		}
	}
	if arenaPoison {
		b := a.mem[c.off : c.off+c.size]
		for i := range b {
			b[i] = poisonByte
		}
	}
	a.used.Add(-c.size)
	i := int32(c.off / a.slot)
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &a.slabs[i]
	if c.size == a.slot {
		a.free = append(a.free, i)
		return
	}
	piece := c.size
	pieces := int16(a.slot / piece)
	k := (c.off % a.slot) / piece
	if s.used[k/64]&(1<<(k%64)) == 0 {
		panic(fmt.Sprintf("cache: arena piece %d of slot %d released twice", k, i))
	}
	s.used[k/64] &^= 1 << (k % 64)
	if s.nfree++; s.nfree == 1 {
		s.pos = int32(len(a.partial[s.class]))
		a.partial[s.class] = append(a.partial[s.class], i)
	}
	if s.nfree == pieces {
		a.unlist(i)
		*s = slab{class: -1, pos: -1}
		a.free = append(a.free, i)
	}
}

// ref takes another reference to c, which the caller knows is held (it
// holds one, or the lock of a tier that holds one).
func (c *chunk) ref() {
	if c != nil && c.a != nil {
		if c.refs.Add(1) <= 1 {
			panic("cache: reference taken on a released chunk")
		}
	}
}

// unref releases a reference to c (nil: none); the last one gives its
// memory back to the arena.
func (c *chunk) unref() {
	if c == nil || c.a == nil {
		return
	}
	switch n := c.refs.Add(-1); {
	case n == 0:
		c.a.release(c)
	case n < 0:
		panic("cache: chunk released more often than referenced")
	}
}

// cost is what the memory tier charges for holding c: its slot or piece,
// or its length when it is on the Go heap.
func (c *chunk) cost() int64 {
	if c.a != nil {
		return c.size
	}
	return int64(len(c.data))
}

// alloc returns a chunk buffer of n bytes for version, with one reference.
func (s *Store) alloc(n int64, version string) *chunk {
	return s.arena.alloc(n, version)
}

// Prefault backs the memory tier's arena (its chunks and the flights'
// buffers) with memory now, so that filling a chunk later costs no page
// fault. It takes about as long as writing that much memory. Call it once,
// before the Store serves.
//
// It then reads every page of the arena in the background, for a
// hypervisor that maps a guest's pages on their first access (see
// arena.warm), and logs at INFO when that is done; Close stops it.
func (s *Store) Prefault() (bytes int64, took time.Duration, err error) {
	took, err = s.arena.prefault()
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if !s.closed {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			d, err := s.arena.warm(s.ctx)
			switch {
			case s.ctx.Err() != nil:
			case err != nil:
				s.log.Warn("memory tier not warmed: its first chunks may cost more CPU in a virtual machine", "err", err)
			default:
				s.log.Info("memory tier warmed", "bytes", s.arena.size(), "took", d.Round(time.Millisecond))
			}
		}()
	}
	return s.arena.size(), took, err
}

// ArenaBytes returns the size of the Store's chunk arena: the memory tier
// budget, the fetch memory and (with a disk tier) the disk write queue.
func (s *Store) ArenaBytes() int64 { return s.arena.size() }
