package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edgecache/cache/disk"
	"edgecache/origin"
	"edgecache/rfc9111"
)

// Source fetches bytes [off, off+n) of the object at key, sending the
// request fields h along (nil: none; see origin.Client.Fetch); n < 0 asks
// for the whole object. A conditional fetch's 304 is an *origin.StatusError.
// *origin.Client implements it; tests put anything behind it.
// The answer must already be checked for consistency (status, Content-Range,
// length): the Store trusts Offset, Length and Size.
type Source interface {
	Fetch(ctx context.Context, key string, off, n int64, h http.Header) (*origin.Response, error)
}

// DefaultChunkSize is the default Options.ChunkSize. A cold range costs the
// origin its chunks: a 256 KiB range at an unaligned offset is two 256 KiB
// chunks (about 0.5 MiB from the origin) where 1 MiB chunks made it 1.25 MiB
// on average, and the player's first byte waits for less of the chunk
// before it. See the README (Chunk size) for what was measured.
const DefaultChunkSize = 256 << 10

// Options configure a Store. Zero fields take the documented defaults.
type Options struct {
	ChunkSize     int64         // bytes per chunk; default DefaultChunkSize
	Memory        int64         // memory tier budget in bytes; default 512 MiB
	NegativeTTL   time.Duration // how long status answers cacheable by default (404, 301, ...) without explicit freshness are remembered; 0 disables
	DefaultTTL    time.Duration // freshness when the origin gives none and no heuristic applies; default 0: stale at once (revalidated on every use)
	ReadAhead     int           // chunks a missing read fetches ahead of itself, within its range; default 1 MiB's worth (at least 1)
	Retries       int           // resumed fetches after a chunk fetch fails mid-body; default 1
	MaxObjects    int           // object index entries; default Memory/ChunkSize*4, at least 65536
	Policy        string        // memory tier replacement policy (see package policy); default "lru"
	Disk          *disk.Store   // the disk tier under memory; nil for memory only. The Store does not close it.
	DiskWriters   int           // concurrent chunk writes to the disk tier; default 4
	DiskQueue     int64         // bytes of chunks waiting to be written to disk; default 64 MiB (at least 4 chunks)
	DiskQueueWait time.Duration // longest a fetched chunk waits for room in the disk write queue before it is not written; default 2s
	FetchMemory   int64         // bytes of chunk buffers being filled from the source at once; default DefaultFetchMemory (at least 1 chunk)
	// MaxStaleWhileRevalidate caps the stale-while-revalidate a response
	// asks for (RFC 5861 §3); default 10m, negative: never serve stale
	// while revalidating.
	MaxStaleWhileRevalidate time.Duration
	// MaxStaleIfError caps the stale-if-error a response asks for (RFC
	// 5861 §4) and StaleIfError; default 24h, negative: never serve stale
	// on an origin failure.
	MaxStaleIfError time.Duration
	// StaleIfError is how long past expiry a response that says nothing
	// of it may be served when the origin fails (RFC 9111 §4.2.4 allows
	// it unless the response forbids it); 0: not at all.
	StaleIfError time.Duration
	// TTLOverrides replace the origin's freshness lifetime for the
	// objects whose key starts with a prefix (the longest wins). They never
	// make storable what may not be stored.
	TTLOverrides []TTLOverride
	Logger       *slog.Logger // default slog.Default()
	Now          func() time.Time

	writerStuck time.Duration     // see writerStuck; tests shorten it
	lookupAgain func(attempt int) // if set, called before a lookup's attempt after attempt: tests arrange its races
}

// Freshness are the Store's settings of how long versions are fresh and
// how long they may be served stale (see the Options fields of the same
// names, and their defaults). SetFreshness replaces them while the Store
// serves.
type Freshness struct {
	DefaultTTL, NegativeTTL                                time.Duration
	TTLOverrides                                           []TTLOverride
	MaxStaleWhileRevalidate, MaxStaleIfError, StaleIfError time.Duration
}

// SetFreshness makes f the Store's freshness settings, from the next
// lookup on (a configuration reload). Zero fields take the defaults, as in
// Options; versions already known keep the freshness they were given.
func (s *Store) SetFreshness(f Freshness) {
	f.DefaultTTL = max(f.DefaultTTL, 0)
	f.TTLOverrides = slices.Clone(f.TTLOverrides)
	slices.SortStableFunc(f.TTLOverrides, func(a, b TTLOverride) int { return len(b.Prefix) - len(a.Prefix) })
	if f.MaxStaleWhileRevalidate == 0 {
		f.MaxStaleWhileRevalidate = 10 * time.Minute
	}
	if f.MaxStaleIfError == 0 {
		f.MaxStaleIfError = 24 * time.Hour
	}
	s.fresh.Store(&f)
}

// TTLOverride gives the objects whose key starts with Prefix the freshness
// lifetime TTL, whatever the origin said.
type TTLOverride struct {
	Prefix string
	TTL    time.Duration
}

// Status says how Lookup found an object.
type Status int

const (
	// Hit: the object's version was known and fresh (or a status answer remembered).
	Hit Status = iota
	// Miss: the object was unknown; the origin was asked.
	Miss
	// Revalidated: the stored version was stale; the origin was asked again.
	Revalidated
	// Pass: the origin's answer may not be stored (Meta.NoStore, or a
	// status answer that may not be stored): it was fetched for this
	// request, and the Meta's first chunk is that fetch's.
	Pass
	// Stale: the stored version was stale and is served as it is while it
	// is revalidated in the background (stale-while-revalidate).
	Stale
	// StaleError: the stored version was stale, its revalidation failed
	// (the origin could not be reached, timed out or answered 500, 502,
	// 503 or 504), and it is served as it is (stale-if-error).
	StaleError
)

// Stats are a Store's counters since it was made.
type Stats struct {
	ChunkHits       int64 // chunks read from memory
	ChunkMisses     int64 // chunks read from a flight (started or joined)
	Flights         int64 // chunk fetches started
	FlightErrors    int64 // chunk fetches that failed
	OriginBytes     int64 // payload bytes received from the source
	MemoryBytes     int64 // payload bytes held by the memory tier
	NegativeHits    int64 // lookups answered by a remembered status answer
	VersionChanges  int64 // times the origin answered with a new version of a known object
	Revalidations   int64 // conditional requests for stale versions
	NotModified     int64 // revalidations the origin answered 304: the version was refreshed, no byte fetched
	StaleHits       int64 // stale versions served as they were (stale-while-revalidate, stale-if-error)
	DiskHits        int64 // chunks read from the disk tier
	Promotions      int64 // disk chunks copied into memory on their second hit
	DiskWrites      int64 // chunks written to the disk tier
	DiskWriteErrors int64 // chunk writes the disk tier refused or failed
	DiskWriteSkips  int64 // chunks not written because the disk write queue was full
	DiskQueueBytes  int64 // bytes of chunks waiting in the disk write queue now
	DiskBadReads    int64 // disk chunks that failed verification or reading when copied, and were fetched again
	DiskQueueWaits  int64 // fetched chunks that waited for room in the disk write queue
	StuckWriters    int64 // disk writers whose write has not ended for writerStuck now (each replaced by another)
	QueuedHits      int64 // chunks read from the disk write queue: memory had evicted them before the disk had written them (counted in ChunkHits too)
	FetchBytes      int64 // fetch memory held now by flights filling chunk buffers (a chunk each; at most Options.FetchMemory)
	FetchWaits      int64 // flights that waited for fetch memory before asking the source
	ReadAheadSkips  int64 // read-ahead fetches not started because fetch memory was in use or awaited
	FlightJoins     int64 // times a reader or read-ahead joined a chunk fetch already in progress (collapsed)
	SpansAbandoned  int64 // chunks of span fetches not fetched because every reader of the span had gone (span.go)
	ArenaHeapChunks int64 // chunks put on the Go heap because every arena slot was held (see arena.go)
	ArenaDropped    int64 // chunks sent from the arena's file whose pages were taken out of it when they were released
	ArenaSentBytes  int64 // memory chunk bytes sent from the arena's file with sendfile(2), not copied
	ArenaLostBytes  int64 // arena bytes never reused because their pages could not be taken out of the file
	PinnedChunks    int64 // chunks pinned by responses now (at most PinBudget's chunks)
	PinsDenied      int64 // chunks a response did not pin because the pin budget was spent
}

// PinBudget is the most bytes of chunks the Store's Readers pin at once
// (Reader.Pin): a quarter of the memory tier, at least PinChunks chunks.
// Pinned chunks the tiers evicted meanwhile are memory beyond the tier's;
// this bounds it.
func PinBudget(memory, chunk int64) int64 { return max(memory/4, PinChunks*chunk) }

// ErrVersionChanged means the origin changed the object while a reader was
// assembling a response from the old version; the response must be aborted.
var ErrVersionChanged = errors.New("object changed at the origin during the response")

// Store is the cache: the object index, the memory tier and the fetch group.
// It is safe for concurrent use.
type Store struct {
	clock   bool // Options.Now was set: it is the time of every request
	src     Source
	opt     Options
	chunk   int64
	mem     *Memory
	arena   *arena // the memory of chunks and flight buffers (arena.go)
	sendMin int64  // memorySendfileMin; tests lower it
	objs    *objects
	flights *group
	fetch   *fetchBudget // bounds the flights' chunk buffers
	log     *slog.Logger

	disk   *diskTier       // nil without a disk tier
	ctx    context.Context // flights run under it; Close cancels it
	cancel context.CancelFunc

	closeMu sync.RWMutex   // held for reading while a flight is added to wg
	closed  bool           // set by Close under closeMu: no flight starts after it
	wg      sync.WaitGroup // flights
	dwg     sync.WaitGroup // disk writers

	readers sync.Pool

	// Chunks pinned by Readers (Reader.Pin), at most pinMax: a pinned
	// memory chunk keeps its arena slot even once evicted (new chunks then
	// go on the Go heap) and a pinned disk chunk keeps its file open, so
	// slow readers must not pin without bound (about 2.5 GB with 600
	// connections that did not read, in an abuse review).
	pinned    atomic.Int64
	pinMax    int64
	pinDenied atomic.Int64

	fresh atomic.Pointer[Freshness] // see SetFreshness

	revalMu sync.Mutex
	revals  map[string]*reval // revalidations in progress, by variant key

	chunkHits, chunkMisses, nFlights, flightErrors atomic.Int64
	originBytes, negHits, versionChanges           atomic.Int64
	revalidations, notModified, staleHits          atomic.Int64
	diskHits, promotions, readAheadSkips           atomic.Int64
	diskWrites, diskWriteErrors, diskWriteSkipped  atomic.Int64
	diskBadReads, diskQueueWaits, queuedHits       atomic.Int64
	flightJoins, spansAbandoned                    atomic.Int64
}

// New returns a Store filling from src. It fails only for an unknown
// Options.Policy.
func New(src Source, opt Options) (*Store, error) {
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = DefaultChunkSize
	}
	if opt.Memory <= 0 {
		opt.Memory = 512 << 20
	}
	if opt.ReadAhead <= 0 {
		opt.ReadAhead = int(max((1<<20)/opt.ChunkSize, 1))
	}
	if opt.Retries < 0 {
		opt.Retries = 0
	} else if opt.Retries == 0 {
		opt.Retries = 1
	}
	if opt.MaxObjects <= 0 {
		opt.MaxObjects = max(65536, int(opt.Memory/opt.ChunkSize)*4)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	clock := opt.Now != nil
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.DiskWriters <= 0 {
		opt.DiskWriters = 4
	}
	if opt.writerStuck <= 0 {
		opt.writerStuck = writerStuck
	}
	if opt.DiskQueue <= 0 {
		opt.DiskQueue = 64 << 20
	}
	opt.DiskQueue = max(opt.DiskQueue, 4*opt.ChunkSize)
	if opt.DiskQueueWait <= 0 {
		opt.DiskQueueWait = 2 * time.Second
	}
	if opt.FetchMemory <= 0 {
		opt.FetchMemory = DefaultFetchMemory
	}
	opt.FetchMemory = max(opt.FetchMemory, opt.ChunkSize) // a flight takes a whole chunk
	mem, err := NewMemory(opt.Memory, opt.ChunkSize, opt.Policy)
	if err != nil {
		return nil, err
	}
	arenaSize := opt.Memory + opt.FetchMemory
	if opt.Disk != nil {
		arenaSize += opt.DiskQueue
	}
	ar, err := newArena(arenaSize, opt.ChunkSize, opt.Logger)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		arena:   ar,
		sendMin: memorySendfileMin,
		clock:   clock,
		src:     src,
		opt:     opt,
		chunk:   opt.ChunkSize,
		mem:     mem,
		objs:    newObjects(opt.MaxObjects),
		flights: newGroup(),
		revals:  make(map[string]*reval),
		fetch:   newFetchBudget(opt.FetchMemory),
		pinMax:  PinBudget(opt.Memory, opt.ChunkSize) / opt.ChunkSize,
		log:     opt.Logger,
		ctx:     ctx,
		cancel:  cancel,
	}
	s.SetFreshness(Freshness{DefaultTTL: opt.DefaultTTL, NegativeTTL: opt.NegativeTTL, TTLOverrides: opt.TTLOverrides,
		MaxStaleWhileRevalidate: opt.MaxStaleWhileRevalidate, MaxStaleIfError: opt.MaxStaleIfError, StaleIfError: opt.StaleIfError})
	if opt.Disk != nil {
		s.disk = newDiskTier(opt.Disk, opt.DiskQueue, opt.ChunkSize, opt.DiskQueueWait, int(opt.Memory/opt.ChunkSize), opt.Logger)
		for range opt.DiskWriters {
			s.dwg.Add(1)
			go s.diskWriter()
		}
	}
	return s, nil
}

// ErrClosed is the error of a chunk a Reader needs after the Store was
// closed.
var ErrClosed = errors.New("cache: store closed")

// Close stops every flight in progress and waits for them to end. A flight
// asked for after Close fails with ErrClosed. Close is idempotent.
func (s *Store) Close() {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return
	}
	s.closed = true // no wg.Add after this, so Wait below is final
	s.closeMu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.disk != nil {
		close(s.disk.queue) // no flight is left to queue a write
		s.dwg.Wait()
	}
}

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		ChunkHits:       s.chunkHits.Load(),
		ChunkMisses:     s.chunkMisses.Load(),
		Flights:         s.nFlights.Load(),
		FlightErrors:    s.flightErrors.Load(),
		OriginBytes:     s.originBytes.Load(),
		MemoryBytes:     s.mem.Bytes(),
		NegativeHits:    s.negHits.Load(),
		VersionChanges:  s.versionChanges.Load(),
		Revalidations:   s.revalidations.Load(),
		NotModified:     s.notModified.Load(),
		StaleHits:       s.staleHits.Load(),
		DiskHits:        s.diskHits.Load(),
		Promotions:      s.promotions.Load(),
		DiskWrites:      s.diskWrites.Load(),
		DiskWriteErrors: s.diskWriteErrors.Load(),
		DiskWriteSkips:  s.diskWriteSkipped.Load(),
		DiskQueueBytes:  s.diskQueued(),
		DiskBadReads:    s.diskBadReads.Load(),
		DiskQueueWaits:  s.diskQueueWaits.Load(),
		QueuedHits:      s.queuedHits.Load(),
		StuckWriters:    s.disk.stuckWriters(),
		FetchBytes:      s.fetch.held.Load(),
		FetchWaits:      s.fetch.waits.Load(),
		ReadAheadSkips:  s.readAheadSkips.Load(),
		PinnedChunks:    s.pinned.Load(),
		PinsDenied:      s.pinDenied.Load(),
		FlightJoins:     s.flightJoins.Load(),
		SpansAbandoned:  s.spansAbandoned.Load(),
		ArenaHeapChunks: s.arena.fallbacks.Load(),
		ArenaDropped:    s.arena.dropped.Load(),
		ArenaSentBytes:  s.arena.sentBytes.Load(),
		ArenaLostBytes:  s.arena.lost.Load(),
	}
}

// Request is what Lookup reads of a client's request: its header fields
// and when it arrived. The strings Values returns may view a buffer that
// changes after Lookup returns: the Store copies what it keeps.
type Request interface {
	// Values returns the lines of the field name, nil if absent.
	Values(name string) []string
	// Clone returns all the fields as an owned http.Header.
	Clone() http.Header
	// Time is when the request arrived: freshness is judged at it (a
	// server has read the clock once already), unless Options.Now is set.
	Time() time.Time
}

// Lookup returns the current version of the object at key for the request
// req (nil: none, arriving now). key is an owned copy (see Key): the
// Store keeps it in its index, its tiers and its flights.
//
// If the object is unknown to memory and the disk tier holds a fresh
// version, that version is the answer. If the object is unknown it asks the
// origin for the chunk holding byte at (at < 0: the first chunk), and
// returns as soon as the origin's answer headers are in (the chunk keeps
// streaming in for whoever reads it). A stale version is revalidated with
// a conditional request (a 304 refreshes it without fetching a chunk), or
// served stale (Stale, StaleError) as its stale-while-revalidate and
// stale-if-error allow. An object that varies on request fields (Vary)
// answers with the variant req selects. A fetch or revalidation req leads
// sends req's fields (see origin.ForwardedHeader), as nginx, Varnish and
// Traffic Server do; the version stored keeps only the fields it varies
// on, and the later fetches of its chunks send only those. A request with Authorization is fetched for it
// alone, and its answer is stored only if RFC 9111 §3.5 allows it.
//
// Origin failures come back as the origin package's errors
// (*origin.StatusError, timeouts); a remembered status answer comes back as
// its *origin.StatusError with Status Hit; one that may not be stored comes
// back with Status Pass.
func (s *Store) Lookup(ctx context.Context, k Key, at int64, req Request) (*Meta, Status, error) {
	return s.LookupRange(ctx, k, at, 1, req)
}

// lookupSpan is Lookup of a request for n bytes from at (n < 0: to the
// end): a first fetch may ask for the chunks of that range at once (see
// span.go).
func (s *Store) lookupSpan(ctx context.Context, k Key, at, n int64, req Request) (*Meta, Status, error) {
	key := k.String()
	span := s.spanOf(at, n)
	for attempt := 0; ; attempt++ {
		// The last attempt fetches for this request alone: a fetch nobody
		// else leads is answered for the request's own variant. Before it,
		// the lookup joins the first fetch in progress, if any, as usual;
		// one that purges keep making first fetches (led by requests for
		// other variants) would otherwise never get its own.
		alone := attempt == lookupAttempts-1
		meta, st, err, again := s.lookup(ctx, key, at, span, req, alone)
		switch {
		case !again:
			return meta, st, err
		case attempt >= lookupAttempts-1:
			// Never a nil version without an error to a caller.
			return nil, st, fmt.Errorf("lookup %s: the origin answered for another variant %d times: %w", key, attempt+1, ErrVariantMismatch)
		}
		if s.opt.lookupAgain != nil {
			s.opt.lookupAgain(attempt)
		}
	}
}

// lookupAttempts is how many times a lookup tries: see lookupSpan.
const lookupAttempts = 3

// ErrVariantMismatch is wrapped by the error of a lookup whose fetches kept
// being answered for another variant than the request's (see Lookup).
var ErrVariantMismatch = errors.New("answer for another variant")

// lookup is one attempt of Lookup. again says that the answer was for
// another variant than req's (a first fetch another request led, of an
// object that turned out to vary): Lookup then tries again, now knowing
// what the object varies on. alone: a fetch it makes is for req alone
// (private), joined by nobody and joining nobody's.
func (s *Store) lookup(ctx context.Context, key string, at, span int64, req Request, alone bool) (meta *Meta, st Status, err error, again bool) {
	now := s.now(req)
	st = Miss
	skey, sel := key, http.Header(nil) // the variant's key and its selecting fields
	e, ok := s.objs.get(key)
	if !ok {
		if m := s.diskObject(key); m != nil {
			s.learn(m)
			e, ok = objEntry{meta: m}, true
		}
	}
	if ok && e.vary != nil {
		sel = selecting(e.vary, req)
		skey = variantKey(key, e.vary, sel)
		e, ok = s.objs.get(skey)
	}
	var stale *Meta
	if ok {
		switch {
		case e.meta == nil && now.Before(e.negUntil):
			s.negHits.Add(1)
			return nil, Hit, e.negErr, false
		case e.meta != nil && e.meta.Fresh(now):
			return e.meta, Hit, nil, false
		case e.meta != nil:
			stale = e.meta
			st = Revalidated
			if at >= stale.Size {
				at = 0
			}
		}
	}
	idx := int64(0)
	if at > 0 {
		// The last chunk index whose byte range is representable: a chunk
		// ending past math.MaxInt64 could not even be asked for. Any index
		// past the object's end will do: the origin answers 416 with the size.
		const maxInt64 = 1<<63 - 1
		idx = min(at/s.chunk, (maxInt64-s.chunk+1)/s.chunk)
	}
	// Fetched for this request alone: it sent credentials, or asked that
	// nothing of the answer be stored (RFC 9111 §5.2.1.5).
	noStore := req != nil && requestNoStore(req)
	if sel != nil && !ok && s.objs.variantCount(key) >= MaxVariants {
		noStore = true // a variant past MaxVariants: fetched for this request alone
	}
	private := req != nil && len(req.Values("Authorization")) > 0 || noStore
	// What a fetch on req's behalf sends upstream: req's end-to-end fields
	// (origin.ForwardedHeader), with the values that select the variant
	// it wants; the version stored from the answer keeps only those.
	fwd := sel
	if req != nil {
		fwd = origin.ForwardedHeader(req.Clone())
		for k, v := range sel {
			fwd[k] = v
		}
	}
	if stale != nil && !private {
		return s.staleLookup(ctx, stale, idx, now, fwd)
	}
	solo := private || alone // the fetch is this request's alone
	meta, err = s.fetchMeta(ctx, key, skey, idx, fwd, solo, noStore, span)
	if err == errKnownNow {
		return nil, st, nil, true
	}
	var se *origin.StatusError
	if errors.As(err, &se) && se.Code == http.StatusRequestedRangeNotSatisfiable && se.Size >= 0 {
		// Asked past the end: the answer told the size.
		if se.Size == 0 {
			meta = s.emptyMeta(key, se.Header, now)
			err = nil
		} else if idx != 0 {
			meta, err = s.fetchMeta(ctx, key, skey, 0, fwd, solo, noStore, 1)
			if err == errKnownNow {
				// Another request's fetch of chunk 0 completed meanwhile
				// (it was a 502 here: the purge-and-read test's 416s).
				return nil, st, nil, true
			}
		}
	}
	if err != nil {
		return nil, s.statusAnswer(skey, err, st, now), err, false
	}
	// The variant the request wants is judged by the fields it has sent
	// upstream (fwd, built from req above: those a client's Connection
	// names are not), as the answer's key was.
	if meta.vary != nil && sel == nil && variantKey(key, meta.vary, selecting(meta.vary, fwd)) != meta.Key {
		// A first fetch another request led, answered for its variant.
		return nil, st, nil, true
	}
	if meta.NoStore {
		st = Pass
	}
	return meta, st, nil, false
}

// now is the time a lookup for req happens at: the request's arrival,
// unless a clock was set in Options.
func (s *Store) now(req Request) time.Time {
	if req == nil || s.clock {
		return s.opt.Now()
	}
	return req.Time()
}

// statusAnswer records the origin's status answer (in err, if it is one)
// for key when it may be stored, and returns the Status of the lookup that
// got it: st, or Pass when it may not be stored.
func (s *Store) statusAnswer(key string, err error, st Status, now time.Time) Status {
	var se *origin.StatusError
	if errors.As(err, &se) && se.Code != http.StatusRequestedRangeNotSatisfiable {
		ttl, ok := s.statusLifetime(se)
		if !ok || !s.objs.put(key, objEntry{negErr: se, negUntil: now.Add(ttl)}) {
			return Pass // may not be stored, or no room among the status answers remembered
		}
	}
	return st
}

// cacheableByDefault are the statuses other than 200 and 206 that a cache
// may store without explicit freshness (RFC 9110 §15.1).
var cacheableByDefault = map[int]bool{203: true, 204: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true}

// statusLifetime says whether the origin's answer se (a status other than
// 200, 206 and 416) may be stored, and for how long: for its explicit
// freshness (max-age, s-maxage, Expires) if it has one, else for
// Options.NegativeTTL if its status is cacheable by default; never when it
// says no-store or private.
func (s *Store) statusLifetime(se *origin.StatusError) (time.Duration, bool) {
	if !cacheableByDefault[se.Code] && !hasExplicitFreshness(se.Header) {
		return 0, false
	}
	now := s.opt.Now()
	ttl, noStore := freshness(se.Header, se.Code, now, s.fresh.Load().NegativeTTL, nil)
	ttl -= rfc9111.CurrentAge(se.Header, now, now, now)
	return ttl, !noStore && ttl > 0
}

// hasExplicitFreshness reports whether h carries an explicit freshness
// lifetime (RFC 9111 §4.2.1).
func hasExplicitFreshness(h http.Header) bool {
	d := rfc9111.ResponseDirectives(h)
	return d.MaxAge.Set || d.SMaxAge.Set || len(h.Values("Expires")) > 0
}

// fetchMeta joins or starts the flight of chunk idx of the object at path
// (its variant skey: path, or a variant key) and waits for its answer
// headers. The fetch, if it starts one, sends the request fields fwd. A
// private fetch is one request's own: nobody joins it (see Lookup).
func (s *Store) fetchMeta(ctx context.Context, path, skey string, idx int64, fwd http.Header, private, noStore bool, span int64) (*Meta, error) {
	if private {
		f := newFlight(chunkID{skey, idx}, path, fwd)
		f.private, f.noStore = true, noStore
		s.startFlight(f)
		return s.flightMeta(ctx, f)
	}
	f := s.flight(chunkID{skey, idx}, nil, path, fwd, span)
	if f == nil {
		return nil, errKnownNow
	}
	defer f.drop() // only its answer is read here: a pass flight's buffer is the heap's
	return s.flightMeta(ctx, f)
}

// errKnownNow is fetchMeta's word for a first fetch not started because
// the one it would repeat completed meanwhile: the lookup looks again.
var errKnownNow = errors.New("cache: the object became known meanwhile")

// flightMeta waits for f's answer headers and returns its version.
func (s *Store) flightMeta(ctx context.Context, f *flight) (*Meta, error) {
	select {
	case <-f.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for %s: %w", f.path, ctx.Err())
	}
	if f.err != nil {
		return nil, f.err
	}
	if f.private || f.meta.NoStore || f.meta.Key != f.id.key {
		// Nothing will hold this chunk (or not under the key the flight
		// is known by: a variant's first fetch), or not before the flight
		// ends (a private fetch, which nobody can join): the reader of this
		// answer reads it from this flight, so it costs one origin fetch,
		// not two.
		m := *f.meta
		m.pass = f
		if f.private {
			// The request's later chunks are fetched with its own fields
			// (its credentials). The version as stored, which other
			// requests fetch from, carries none of them, in memory or on
			// disk: RFC 9111 §3.5 lets a public answer be shared, not the
			// credentials it was fetched with.
			m.fwd = f.fwd
		}
		return &m, nil
	}
	return f.meta, nil
}

// emptyMeta is the version of a zero-length object, known from a 416 answer.
func (s *Store) emptyMeta(key string, h http.Header, now time.Time) *Meta {
	r := &origin.Response{ETag: h.Get("ETag"), ContentType: h.Get("Content-Type"),
		CacheControl: h.Get("Cache-Control"), Expires: h.Get("Expires"), Age: h.Get("Age")}
	r.LastModified, _ = http.ParseTime(h.Get("Last-Modified"))
	r.Date, _ = http.ParseTime(h.Get("Date"))
	m := metaFrom(key, r, now, now, s.fresh.Load().DefaultTTL, nil, s.chunk)
	s.override(m)
	s.learn(m)
	return m
}

// override applies the first of Options.TTLOverrides (longest prefix
// first) that matches m's key to its freshness: fresh for the override's
// TTL from when the origin answered, less nothing of the answer's age. A
// version that may not be stored is left as it is.
func (s *Store) override(m *Meta) {
	if m.NoStore {
		return
	}
	for _, o := range s.fresh.Load().TTLOverrides {
		if strings.HasPrefix(m.path, o.Prefix) {
			m.Expires = m.FetchedAt.Add(o.TTL)
			return
		}
	}
}

// learn records the version the origin just answered with.
func (s *Store) learn(m *Meta) {
	if m.NoStore {
		s.objs.remove(m.Key)
		return
	}
	if m.vary != nil {
		s.objs.put(m.path, objEntry{vary: m.vary})
	}
	if e, ok := s.objs.get(m.Key); ok && e.meta != nil && e.meta.version != m.version {
		s.versionChanges.Add(1)
		s.log.Info("object changed at the origin", "key", m.Key, "old", e.meta.version, "new", m.version)
	}
	s.objs.put(m.Key, objEntry{meta: m})
}

// chunkFor returns chunk idx of meta's version: its bytes if memory holds
// them (a chunk the caller holds a reference to), else its open file if
// the disk tier does, else the flight that is fetching it (started if need
// be, as a span up to chunk last; held for the caller: see flight.drop).
func (s *Store) chunkFor(meta *Meta, idx, last int64) (*chunk, *disk.Chunk, *flight) {
	if p := meta.pass; p != nil && p.id.idx == idx {
		s.chunkMisses.Add(1)
		p.hold() // its buffer is the heap's (see flight.start): harmless
		return nil, nil, p
	}
	id := chunkID{meta.Key, idx}
	for {
		if c, dc := s.resident(meta, idx); c != nil || dc != nil {
			return c, dc, nil
		}
		if f := s.flight(id, meta, "", nil, last-idx+1); f != nil {
			s.chunkMisses.Add(1)
			return nil, nil, f
		}
	}
}

// resident returns chunk idx of meta's version if a tier holds it: its
// memory chunk (or one just promoted from disk), with a reference the
// caller must release, else its open file on disk; nil, nil if neither
// holds it.
func (s *Store) resident(meta *Meta, idx int64) (*chunk, *disk.Chunk) {
	if c, ok := s.mem.get(chunkID{meta.Key, idx}); ok {
		if c.version == meta.version {
			s.chunkHits.Add(1)
			return c, nil
		}
		c.unref()
	}
	dc, c := s.diskChunk(meta, idx)
	if dc == nil && c == nil {
		if c = s.queuedChunk(chunkID{meta.Key, idx}, meta.version); c != nil {
			s.chunkHits.Add(1)
			s.queuedHits.Add(1)
		}
	}
	return c, dc
}

// prefetch starts fetching chunk idx of meta's version unless memory holds it
// or it is being fetched already, and only if fetch memory is free now:
// read-ahead never waits for it, nor queues ahead of flights readers need.
//
// It returns the last chunk the flight it started or joined was started to
// fetch (its span's end, see flight.reach), or -1 if no chunk is being
// fetched for the caller, and the flight's span, if it is one.
func (s *Store) prefetch(meta *Meta, idx, last int64) (int64, *spanState) {
	id := chunkID{meta.Key, idx}
	if !s.mem.contains(id, meta.version) && !s.onDisk(meta, idx) && !s.queued(id, meta.version) {
		if !s.fetch.idle(s.chunk) {
			s.readAheadSkips.Add(1)
			return -1, nil
		}
		f := s.flight(id, meta, "", nil, last-idx+1)
		if f == nil {
			return -1, nil
		}
		reach, sp := f.reach.Load(), f.sp
		f.drop() // read-ahead does not read it
		return reach, sp
	}
	return -1, nil
}

// fetching reports whether a flight for chunk idx of key is in the group.
func (s *Store) fetching(key string, idx int64) bool {
	id := chunkID{key, idx}
	g := s.flights.shard(id)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[id] != nil
}

// flight joins the flight for id, or starts one. With want set, it is a
// flight for a chunk of that version: memory is checked again under the
// group lock so that a flight that completed since the caller looked is not
// repeated (then it returns nil and the caller looks in memory again), and
// the fetch asks for want's path with want's request fields. Without want
// (a first fetch), it asks for path with the fields fwd, unless the index
// has learnt a fresh version of id's object whose chunk memory holds (nil:
// the caller looks again). A flight it starts may ask for
// span chunks at once (see span.go). The flight is held for the caller,
// who must drop it.
func (s *Store) flight(id chunkID, want *Meta, path string, fwd http.Header, span int64) *flight {
	g := s.flights.shard(id)
	g.mu.Lock()
	if f := g.m[id]; f != nil {
		f.hold()
		g.mu.Unlock()
		s.flightJoins.Add(1)
		return f
	}
	if want != nil {
		if s.mem.contains(id, want.version) {
			g.mu.Unlock()
			return nil // it completed between the caller's look and now
		}
		path, fwd = want.path, want.fwd
	} else if e, ok := s.objs.get(id.key); ok && e.meta != nil && e.meta.Fresh(s.opt.Now()) && s.mem.contains(id, e.meta.version) {
		// A first fetch whose caller found the object unknown, and whose
		// flight completed (learnt, stored, left the group) between that
		// look and now: not asked again (under load, 50 collapsed first
		// lookups asked the origin for chunk 0 twice).
		g.mu.Unlock()
		return nil
	}
	f := newFlight(id, path, fwd)
	f.noStore = want != nil && want.NoStore // a later chunk of an answer not stored
	f.span = span
	if span > 1 {
		f.sp = new(spanState)
	}
	f.reach.Store(id.idx + max(span, 1) - 1)
	f.hold()
	if !s.begin(f) {
		g.mu.Unlock()
		return f
	}
	g.m[id] = f
	g.mu.Unlock()
	if want != nil {
		s.early(f, want) // the size is known: the span's flights go in now
	}
	go s.run(f)
	return f
}

// startFlight starts f, a flight nobody else joins (it is not in the
// group), and returns it.
func (s *Store) startFlight(f *flight) *flight {
	if s.begin(f) {
		go s.run(f)
	}
	return f
}

// begin readies f (made by newFlight, with private and resp set as need
// be) to run: it counts it in the Store's flights and takes its fetch
// memory if that is free now. After Close it fails f instead (closing a
// response f was given) and returns false.
func (s *Store) begin(f *flight) bool {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		if f.resp != nil {
			f.resp.Body.Close()
		}
		f.fail(fmt.Errorf("chunk %d of %s: %w", f.id.idx, f.path, ErrClosed))
		return false
	}
	s.wg.Add(1)
	s.closeMu.RUnlock()
	f.held = s.fetch.tryAcquire(s.chunk) // now, so that the caller's read-ahead sees it taken
	s.nFlights.Add(1)
	return true
}

// settle removes a finished flight from the group.
func (s *Store) settle(f *flight) {
	g := s.flights.shard(f.id)
	g.mu.Lock()
	if g.m[f.id] == f {
		delete(g.m, f.id)
	}
	g.mu.Unlock()
}

// run fetches one chunk: it takes a chunk of fetch memory (waiting if need
// be), publishes the version as soon as the headers are in, streams the body
// into the flight buffer, resumes once or more after a failure mid-body,
// stores the complete chunk in memory, and gives the fetch memory back.
func (s *Store) run(f *flight) {
	defer s.wg.Done()
	defer f.drop()
	key, off := f.path, f.id.idx*s.chunk
	budget := s.fetch
	if f.slot != nil {
		budget = f.slot.budget // a fill's flight never holds players' fetch memory
	}
	if !f.held {
		if err := budget.acquire(s.ctx, s.chunk); err != nil {
			if f.resp != nil {
				f.resp.Body.Close()
			}
			s.flightErrors.Add(1)
			s.settle(f)
			f.fail(fmt.Errorf("chunk %d of %s: %w", f.id.idx, key, err))
			return
		}
	}
	defer budget.release(s.chunk)
	// The chunks past f's this fetch asks for (span.go): flights already
	// in the group (f.fs), or as many put there once the answer tells the
	// size (extra).
	var extra int64
	if len(f.fs) == 0 {
		extra = s.spanExtra(f)
	}
	defer s.orphans(f) // followers the answer did not fill fetch their own
	resp, err, sent := f.resp, error(nil), f.sent
	if resp == nil {
		sent = s.opt.Now()
		resp, err = s.src.Fetch(s.ctx, key, off, s.chunk*(1+extra+int64(len(f.fs))), f.fwd)
	}
	if errors.Is(err, origin.ErrInconsistent) {
		// An answer that cannot be used for this range (a 206 of bytes
		// that do not hold the chunk's first one, say) from an origin that
		// may still serve the object right without Range.
		s.log.Debug("origin answered the range inconsistently; asking for the whole object", "key", key, "chunk", f.id.idx, "err", err)
		sent = s.opt.Now()
		resp, err = s.src.Fetch(s.ctx, key, 0, -1, f.fwd)
	}
	if err != nil {
		s.flightErrors.Add(1)
		s.settle(f)
		f.fail(err)
		return
	}
	meta := metaFrom(key, resp, sent, s.opt.Now(), s.fresh.Load().DefaultTTL, f.fwd, s.chunk)
	s.override(meta)
	if f.noStore {
		meta.NoStore = true
	}
	if resp.Offset > off {
		resp.Body.Close()
		s.flightErrors.Add(1)
		s.settle(f)
		f.fail(fmt.Errorf("chunk %d of %s: origin answered from byte %d: %w", f.id.idx, key, resp.Offset, origin.ErrInconsistent))
		return
	}
	if off >= resp.Size && !(off == 0 && resp.Size == 0) {
		resp.Body.Close()
		s.flightErrors.Add(1)
		s.settle(f)
		f.fail(fmt.Errorf("chunk %d of %s: object has only %d bytes: %w", f.id.idx, key, resp.Size, origin.ErrInconsistent))
		return
	}
	if !(f.private && meta.NoStore) { // one request's own answer leaves the index as it was
		s.learn(meta)
	}
	if meta.NoStore {
		// An answer for its requesters only: nobody who asks later joins it.
		s.settle(f)
	}
	if resp.Offset < off {
		s.runWhole(f, meta, resp)
		return
	}
	fs := s.followers(f, meta, resp, extra) // before the version is published
	// The span as it is: the chunks this answer fills (its followers may
	// stop short of what was asked for, at a chunk held or being fetched).
	f.reach.Store(f.id.idx + int64(len(fs)))
	f.start(s, meta, int(min(s.chunk, resp.Size-off)))
	asked := off + s.chunk*(1+extra+int64(len(f.fs)))
	body, bodyEnd, err := s.fillChunk(f, meta, resp.Body, resp.Offset+resp.Length)
	s.originBytes.Add(int64(f.filled()))
	s.complete(f, meta, err)
	first := body
	body, bodyEnd, ok := s.feed(fs, meta, body, bodyEnd, err == nil)
	if next := f.id.idx + 1 + int64(len(fs)); ok && body == first && bodyEnd > asked {
		body = s.feedRest(f, next, meta, body, bodyEnd) // the origin sent more than was asked for
	}
	body.Close()
}

// maxContinuations bounds the requests one chunk may take from an origin
// that answers every range with fewer bytes than asked.
const maxContinuations = 64

// maxSkip is the most bytes a continuation may read and drop to reach the
// point it needs, when the origin answers from an earlier byte.
const maxSkip = 4 << 20

// fillChunk fills f's chunk from body, which delivers the object's bytes
// from f's fill point up to bodyEnd. When body ends before the chunk is full
// it asks for the rest: at once when the answer simply ended where it said
// it would (an origin that answers ranges with fewer bytes than asked),
// after a WARN and at most Options.Retries times when the body failed. A
// continuation answer that starts earlier than needed is read up to the
// needed byte; one of another version ends the fill with ErrVersionChanged.
// A resume after a failed body asks for everything the failed body still
// owed (to bodyEnd), so that the chunks of a span after f's are fed from
// the resumed body as they were to be from the first. It returns the body
// it read last, which the caller must close (after a complete fill it may
// hold the object's next bytes), and where that body ends.
func (s *Store) fillChunk(f *flight, meta *Meta, body io.ReadCloser, bodyEnd int64) (io.ReadCloser, int64, error) {
	off := f.id.idx * s.chunk
	failures := 0
	for cont := 0; ; cont++ {
		err := f.fill(body)
		if err == nil || s.ctx.Err() != nil {
			return body, bodyEnd, err
		}
		have := int64(f.filled())
		want := int64(len(f.buf)) - have
		if off+have != bodyEnd { // the body failed, not a short answer
			if failures++; failures > s.opt.Retries {
				return body, bodyEnd, err
			}
			s.log.Warn("chunk fetch failed mid-body; resuming", "key", meta.Key, "chunk", f.id.idx, "have", have, "err", err)
			want = max(want, bodyEnd-(off+have))
		} else if cont >= maxContinuations {
			return body, bodyEnd, fmt.Errorf("chunk %d of %s: origin sent it in more than %d pieces: %w", f.id.idx, meta.Key, maxContinuations, err)
		}
		body.Close()
		r2, err2 := s.src.Fetch(s.ctx, meta.path, off+have, want, f.fwd)
		if err2 != nil {
			return io.NopCloser(nil), off + have, fmt.Errorf("%w (resume: %w)", err, err2)
		}
		body, bodyEnd = r2.Body, r2.Offset+r2.Length
		if versionOf(r2) != meta.version {
			return body, bodyEnd, fmt.Errorf("%w (resume: %w)", err, ErrVersionChanged)
		}
		skip := off + have - r2.Offset
		if skip < 0 || skip > maxSkip {
			return body, bodyEnd, fmt.Errorf("chunk %d of %s: resume asked for byte %d, origin answered from %d: %w",
				f.id.idx, meta.Key, off+have, r2.Offset, origin.ErrInconsistent)
		}
		if _, err := io.CopyN(io.Discard, body, skip); err != nil {
			return body, bodyEnd, fmt.Errorf("chunk %d of %s: resume: %w", f.id.idx, meta.Key, err)
		}
	}
}

// complete stores a full chunk, takes the flight out of the group (in that
// order, so a newcomer finds the chunk in one place or the other, and never
// joins a flight that has failed), then wakes the flight's readers.
func (s *Store) complete(f *flight, meta *Meta, err error) {
	switch {
	case err == nil && f.slot != nil:
		s.keepFilled(f, meta) // to disk, with its rank (fill.go)
	case err == nil:
		s.keep(chunkID{meta.Key, f.id.idx}, meta, f.c, f.checksum())
	}
	if err != nil {
		s.flightErrors.Add(1)
		s.log.Warn("chunk fetch failed", "key", f.id.key, "chunk", f.id.idx, "err", err)
	}
	s.settle(f)
	f.end(err)
}

// runWhole handles an origin that answered from an earlier byte than the
// chunk's first: it ignored the Range header and sent the whole object, or
// sent a larger range. The whole chunks before the wanted one that are not
// held are stored as they stream past (if fetch memory is free for a second
// buffer, else skipped), the wanted one is streamed to its readers, and the
// rest of the answer is stored as a span's followers are (feedRest): such
// an origin sends the whole object for every chunk asked.
func (s *Store) runWhole(f *flight, meta *Meta, resp *origin.Response) {
	body := resp.Body
	defer func() { body.Close() }()
	f.start(s, meta, int(min(s.chunk, resp.Size-f.id.idx*s.chunk)))
	// A partial chunk at the answer's start cannot be stored: skip to the
	// first chunk boundary in it.
	first := (resp.Offset + s.chunk - 1) / s.chunk
	if _, err := io.CopyN(io.Discard, body, min(first, f.id.idx)*s.chunk-resp.Offset); err != nil {
		s.complete(f, meta, fmt.Errorf("chunk %d of %s: %w", f.id.idx, meta.Key, err))
		return
	}
	store := func(j int64) error {
		c := s.alloc(min(s.chunk, resp.Size-j*s.chunk), meta.version)
		defer c.unref()
		if _, err := io.ReadFull(body, c.data); err != nil {
			return fmt.Errorf("chunk %d of %s: %w", j, meta.Key, err)
		}
		s.originBytes.Add(int64(len(c.data)))
		s.keep(chunkID{meta.Key, j}, meta, c, nil)
		return nil
	}
	for j := first; j < f.id.idx; j++ {
		var err error
		held := s.mem.contains(chunkID{meta.Key, j}, meta.version) || s.onDisk(meta, j) || s.fetching(meta.Key, j)
		if !held && s.fetch.tryAcquire(s.chunk) {
			err = store(j)
			s.fetch.release(s.chunk)
		} else if _, err = io.CopyN(io.Discard, body, s.chunk); err != nil {
			err = fmt.Errorf("chunk %d of %s: %w", j, meta.Key, err)
		}
		if err != nil {
			s.complete(f, meta, err)
			return
		}
	}
	var err error
	next := body
	var bodyEnd int64
	body, bodyEnd, err = s.fillChunk(f, meta, body, resp.Offset+resp.Length)
	s.originBytes.Add(int64(f.filled()))
	s.complete(f, meta, err)
	if err != nil || body != next {
		return
	}
	// The span's flights early put in the group, then the rest.
	fs := s.followers(f, meta, resp, 0)
	body, bodyEnd, ok := s.feed(fs, meta, body, bodyEnd, true)
	if ok && body == next {
		body = s.feedRest(f, f.id.idx+1+int64(len(fs)), meta, body, bodyEnd)
	}
}

// Residency counts the chunks of [off, off+n) of meta's version that memory
// holds, those only the disk tier holds, and the chunks in all.
func (s *Store) Residency(meta *Meta, off, n int64) (mem, disk, total int) {
	if n <= 0 {
		return 0, 0, 0
	}
	for idx := off / s.chunk; idx*s.chunk < off+n; idx++ {
		total++
		switch {
		case s.mem.contains(chunkID{meta.Key, idx}, meta.version):
			mem++
		case s.onDisk(meta, idx):
			disk++
		}
	}
	return mem, disk, total
}
