// Package simulate is the offline cache policy simulator: it loads a
// request trace once into compact arrays, then replays it against cache
// replacement policies (those of package edgecache/cache/policy, plus the
// offline optimum "belady") at several cache sizes, in parallel, and reports
// object and byte hit ratios.
//
//	r, err := trace.Open("requests.tr.gz")
//	...
//	t, err := simulate.Load(r)
//	...
//	size, err := t.CacheSize("5%") // or "10GiB", "1000000"
//	results, err := simulate.Run(ctx, t, []string{"lru", "belady"}, []int64{size}, 0)
//
// # Replay
//
// Each request is replayed as a cache in front of an origin does it: Get;
// on a hit count the request and its bytes as hits, on a miss Add the key
// with the request's size. An object therefore occupies the size of the
// request that admitted it; a hit counts the bytes of the request, even if
// the object's size has changed since. Keys are interned to dense ids at
// load time (by a 128-bit hash of the key, so the key strings are not kept);
// a policy sees each id through a bijective mix (so distinct keys stay
// distinct and policies that index by key bits see well-spread keys).
//
// # Belady
//
// "belady" is the offline optimum by furthest next use, made byte-aware: on
// a miss it admits the object unless it is never requested again (or is
// larger than the cache), then, while over capacity, evicts the resident
// object whose next request is furthest away — which may be the object just
// admitted, so that it bypasses the cache. With unit sizes this is the
// optimal object hit ratio; with mixed sizes it is the usual heuristic upper
// bound (the exact byte-aware optimum is NP-hard), not a guaranteed one.
package simulate

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"strconv"
	"strings"

	"edgecache/bench/trace"
	"edgecache/config"
)

// never is the next-use index of a request whose key is not requested again.
const never = math.MaxUint32

// maxRequests is the longest trace Load accepts: request indexes are
// uint32, with never reserved.
const maxRequests = math.MaxUint32 - 1

// Trace is a request trace loaded into memory: per request a dense object
// id, a size and the index of the next request for the same object. It is
// read-only once built, so one Trace serves any number of concurrent
// simulations.
type Trace struct {
	name        string
	ids         []uint32 // object id of each request
	sizes       []int64  // size of each request
	next        []uint32 // index of the next request of the same id, or never
	distinct    int
	uniqueBytes int64
	totalBytes  int64
}

// Load reads every request of r into a Trace. It does not close r. Errors
// name the trace (trace.Reader errors already do).
func Load(r *trace.Reader) (*Trace, error) {
	b := newBuilder(r.Name())
	for {
		_, key, size, err := r.NextBytes()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := b.add(key, size); err != nil {
			return nil, err
		}
	}
	return b.finish(), nil
}

// Builder makes a Trace from requests given one by one, where Load reads
// them from a trace file.
type Builder struct{ b *builder }

// NewBuilder returns an empty Builder for a trace called name.
func NewBuilder(name string) *Builder { return &Builder{newBuilder(name)} }

// Add appends a request of key for size bytes (>= 1); key is not kept.
func (b *Builder) Add(key []byte, size int64) error {
	if size < 1 {
		return fmt.Errorf("trace %s: request of %d bytes: need at least 1", b.b.t.name, size)
	}
	return b.b.add(key, size)
}

// Trace returns the Trace of the requests added; the Builder is spent.
func (b *Builder) Trace() *Trace { return b.b.finish() }

// builder accumulates requests into a Trace.
//
// Keys are interned by a 128-bit hash (two independently seeded
// hash/maphash values) rather than by the key string: the map then holds
// no pointers and compares keys without touching the key bytes, which
// makes loading several times faster on large traces. Two distinct keys of
// a trace collide with probability about n²/2¹²⁹ for n distinct keys (below
// 10⁻²² for a billion keys).
type builder struct {
	t            *Trace
	seed1, seed2 maphash.Seed
	ids          map[keyHash]uint32
	maxLen       []int64 // largest size seen per id
	reqIDs       chunked[uint32]
	reqSizes     chunked[int64]
}

// chunked is an append-only sequence stored in chunks, so that growing it
// never copies what it holds (unlike append on one huge slice, which copies
// several times the final size while it grows).
type chunked[T any] struct {
	full [][]T
	cur  []T
	n    int
}

// Chunk lengths: chunks start small (tests build many tiny traces) and
// double up to maxChunk elements.
const (
	minChunk = 1 << 10
	maxChunk = 1 << 20
)

func (c *chunked[T]) add(v T) {
	if len(c.cur) == cap(c.cur) {
		size := minChunk
		if c.cur != nil {
			c.full = append(c.full, c.cur)
			size = min(2*cap(c.cur), maxChunk)
		}
		c.cur = make([]T, 0, size)
	}
	c.cur = append(c.cur, v)
	c.n++
}

// flatten returns the elements in one slice of exactly their number,
// releasing the chunks as it goes.
func (c *chunked[T]) flatten() []T {
	out := make([]T, 0, c.n)
	for i, f := range c.full {
		out = append(out, f...)
		c.full[i] = nil
	}
	out = append(out, c.cur...)
	*c = chunked[T]{}
	return out
}

// keyHash identifies a key while loading.
type keyHash [2]uint64

func newBuilder(name string) *builder {
	return &builder{
		t:     &Trace{name: name},
		seed1: maphash.MakeSeed(),
		seed2: maphash.MakeSeed(),
		ids:   make(map[keyHash]uint32),
	}
}

// add appends one request of key with size bytes (>= 1).
func (b *builder) add(key []byte, size int64) error {
	t := b.t
	if b.reqIDs.n >= maxRequests {
		return fmt.Errorf("trace %s: more than %d requests", t.name, maxRequests)
	}
	h := keyHash{maphash.Bytes(b.seed1, key), maphash.Bytes(b.seed2, key)}
	id, ok := b.ids[h]
	if !ok {
		id = uint32(len(b.ids))
		b.ids[h] = id
		b.maxLen = append(b.maxLen, 0)
	}
	if size > b.maxLen[id] {
		b.maxLen[id] = size
	}
	b.reqIDs.add(id)
	b.reqSizes.add(size)
	t.totalBytes += size
	return nil
}

// finish computes the derived arrays and returns the Trace.
func (b *builder) finish() *Trace {
	t := b.t
	t.ids = b.reqIDs.flatten()
	t.sizes = b.reqSizes.flatten()
	t.distinct = len(b.ids)
	for _, s := range b.maxLen {
		t.uniqueBytes += s
	}
	// One backward pass: last[id] is the next request of id after i.
	last := make([]uint32, t.distinct)
	for i := range last {
		last[i] = never
	}
	t.next = make([]uint32, len(t.ids))
	for i := len(t.ids) - 1; i >= 0; i-- {
		id := t.ids[i]
		t.next[i] = last[id]
		last[id] = uint32(i)
	}
	b.ids, b.maxLen = nil, nil
	return t
}

// Name returns the name of the trace the Trace was loaded from.
func (t *Trace) Name() string { return t.name }

// Requests returns the number of requests.
func (t *Trace) Requests() int { return len(t.ids) }

// Distinct returns the number of distinct keys.
func (t *Trace) Distinct() int { return t.distinct }

// UniqueBytes returns the sum over distinct keys of each key's largest
// request size: the capacity of a cache that never needs to evict.
func (t *Trace) UniqueBytes() int64 { return t.uniqueBytes }

// TotalBytes returns the sum of the sizes of all requests.
func (t *Trace) TotalBytes() int64 { return t.totalBytes }

// CacheSize parses a cache size for this trace: an absolute size as
// config.ParseSize reads it ("10GiB", "512MiB", "1000000" bytes) or a
// percentage of UniqueBytes ("1%", "0.5%"), rounded down. The result is at
// least 1 byte.
func (t *Trace) CacheSize(spec string) (int64, error) {
	if num, ok := strings.CutSuffix(spec, "%"); ok {
		p, err := strconv.ParseFloat(num, 64)
		if err != nil || p <= 0 || math.IsInf(p, 0) || math.IsNaN(p) {
			return 0, fmt.Errorf("cache size %q: want a positive percentage such as 5%%", spec)
		}
		size := math.Floor(p / 100 * float64(t.uniqueBytes))
		if size < 1 {
			return 0, fmt.Errorf("cache size %q: %s of %d unique bytes is less than 1 byte", spec, spec, t.uniqueBytes)
		}
		if size >= math.MaxInt64 {
			return 0, fmt.Errorf("cache size %q: too large", spec)
		}
		return int64(size), nil
	}
	size, err := config.ParseSize(spec)
	if err != nil {
		return 0, fmt.Errorf("cache size: %w", err)
	}
	if size <= 0 {
		return 0, errors.New("cache size: must be at least 1 byte")
	}
	return int64(size), nil
}
