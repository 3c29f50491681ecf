package cache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"sync"
)

// flight is one fetch of one chunk from the source. Any number of readers
// join it and stream buf[:n] as it grows; it runs on its own goroutine,
// detached from whichever request started it.
type flight struct {
	id    chunkID
	ready chan struct{} // closed once meta (or err) is known

	// Set before ready is closed, read-only after.
	meta *Meta
	err  error // the fetch failed before any byte: no meta

	mu   sync.Mutex
	cond sync.Cond
	buf  []byte // the whole chunk; bytes below n are final
	n    int
	done bool
	ferr error // why the flight ended short of len(buf)
}

func newFlight(id chunkID) *flight {
	f := &flight{id: id, ready: make(chan struct{})}
	f.cond.L = &f.mu
	return f
}

// fail ends a flight that never got an answer.
func (f *flight) fail(err error) {
	f.err = err
	close(f.ready)
	f.end(err)
}

// start publishes the version and allocates the chunk buffer.
func (f *flight) start(meta *Meta, length int) {
	f.meta = meta
	f.buf = make([]byte, length)
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
	h := maphash.String(g.seed, id.key) ^ (uint64(id.idx) * 0x9e3779b97f4a7c15)
	return &g.shards[h%uint64(len(g.shards))]
}
