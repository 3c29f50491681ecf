package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"edgecache/cache/disk"
	"edgecache/fill"
)

// Filling ahead of demand (package fill) goes through the same flights as
// players' misses, so a player who asks for a chunk a fill is fetching joins
// that fetch and a fill that wants a chunk a player is fetching joins the
// player's, and the same version checks and origin rules apply. What
// differs for a fill's flight:
//
//   - Fetch slots. A fill's flight takes its chunk buffer from the Filler's
//     own fetch budget (FillerOptions.Slots chunks), never from the
//     players' (Options.FetchMemory): a player's miss never waits for fetch
//     memory a fill holds, and a fill waits only for its own slots. A
//     player who joins a fill's flight does not wait for a slot either:
//     the flight has one already. The cost is that the fill's slots come
//     on top of Options.FetchMemory in the daemon's memory use.
//   - Where the chunk goes. A complete chunk of a fill's flight is written
//     to the disk tier at once (not through the memory tier, and not
//     through the players' disk write queue, whose room stays theirs), in
//     the flight's goroutine, ranked (disk.Store.PutRanked, with the job's
//     generation and the title's rank; the rank is also in the chunk's
//     metadata, for FillRank); the flight ends after the write, so the
//     fill learns whether the chunk was stored. A chunk the disk tier
//     refuses because its disk is full of content ranked as high or higher
//     (disk.ErrRankedFull) fails the fill with fill.ErrFull, which stops
//     the job from adding more. Without a disk tier the chunk goes to
//     memory.
//   - Ranks of held chunks. Has (the job's diff) and Fill give the chunks
//     they find held on disk the request's rank (disk.Store.SetRank), so a
//     file a new job finds already held counts as ranked by that job and
//     is not evicted for its lower-ranked files.
//
//   - Spans. Like a player's miss (span.go), a fill's flight asks the
//     origin for the run of chunks after its own that nothing holds or
//     fetches (at most MaxSpan bytes), and its followers carry the fill's
//     rank, so an object is one origin request, not one per chunk. The
//     fill reaches the followers' chunks as it would any other: from their
//     flight while it runs, else from the disk (read back and verified).
//
// The bandwidth cap is applied before a flight is started (fill.Request's
// Pace, for the whole span it asks for), never while it streams: a player
// who joined a fill's flight gets the bytes at the origin's speed.

// DefaultFillSlots is the default FillerOptions.Slots.
const DefaultFillSlots = 4

// FillerOptions configure a Filler.
type FillerOptions struct {
	// Slots is the most chunks fills fetch at once (each holds a chunk
	// buffer); default DefaultFillSlots. Give a fill.Runner at most this
	// Concurrency: more would only wait for slots.
	Slots int
}

// Filler fills a Store on behalf of package fill: it implements
// fill.Cache. Make it with Store.NewFiller; it is safe for concurrent use.
type Filler struct {
	s      *Store
	budget *fetchBudget

	flights, fetched, stored, notStored, discarded atomic.Int64
}

// FillerStats are a Filler's counters.
type FillerStats struct {
	Flights   int64 // chunk fetches fills started (a span's chunks each count)
	Fetched   int64 // bytes those fetches received from the source
	Stored    int64 // chunks of those fetches stored
	NotStored int64 // chunks the tier refused or failed to store
	Discarded int64 // objects discarded (their bytes did not match the manifest)
	SlotWaits int64 // fetches that waited for a fill slot
}

// fillSlot marks a fill's flight; see the comment at the top of the file.
type fillSlot struct {
	budget *fetchBudget
	rank   disk.Rank
	filler *Filler
	err    error // why the chunk was not stored; set before the flight ends
}

// NewFiller returns a Filler of s.
func (s *Store) NewFiller(opt FillerOptions) *Filler {
	if opt.Slots <= 0 {
		opt.Slots = DefaultFillSlots
	}
	return &Filler{s: s, budget: newFetchBudget(int64(opt.Slots) * s.chunk)}
}

var _ fill.Cache = (*Filler)(nil)

// Stats returns the Filler's counters.
func (fl *Filler) Stats() FillerStats {
	return FillerStats{Flights: fl.flights.Load(), Fetched: fl.fetched.Load(), Stored: fl.stored.Load(),
		NotStored: fl.notStored.Load(), Discarded: fl.discarded.Load(), SlotWaits: fl.budget.waits.Load()}
}

// ErrNotStored is wrapped by the error of a fill whose chunk the tier did
// not keep (the disk tier's policy declined it, or every disk failed).
var ErrNotStored = errors.New("chunk not stored")

// known returns the version of the object at key the Store knows, from its
// index or the disk tier, fresh or not; nil if none.
func (fl *Filler) known(key string) *Meta {
	s := fl.s
	if e, ok := s.objs.get(key); ok && e.meta != nil {
		return e.meta
	}
	return s.diskObject(key)
}

// holds reports whether the tier a fill keeps chunks in (disk, else memory)
// holds chunk idx of meta's version.
func (fl *Filler) holds(meta *Meta, idx int64) bool {
	if fl.s.disk != nil {
		return fl.s.onDisk(meta, idx)
	}
	return fl.s.mem.contains(chunkID{meta.Key, idx}, meta.version)
}

// Has implements fill.Cache: the object's version known to the Store has
// req.Size bytes and every chunk of it is on disk (in memory without a
// disk tier). Freshness is not asked for: a fill checks bytes against the
// manifest, not the origin's cache lifetimes. A zero-size object is always
// held. The chunks of a held object get req's rank if it ranks higher than
// theirs (disk.Store.SetRank).
func (fl *Filler) Has(_ context.Context, req fill.Request) bool {
	size := req.Size
	if size == 0 {
		return true
	}
	m := fl.known(req.Path)
	if m == nil || m.Size != size || m.NoStore {
		return false
	}
	for idx := int64(0); idx*fl.s.chunk < size; idx++ {
		if !fl.holds(m, idx) {
			return false
		}
	}
	for idx := int64(0); fl.s.disk != nil && idx*fl.s.chunk < size; idx++ {
		fl.rerank(m, idx, diskRank(req))
	}
	return true
}

// diskRank is the disk tier's rank of a fill request: its generation (at
// least 1) and its rank (within [0, disk.MaxRank]).
func diskRank(req fill.Request) disk.Rank {
	return disk.Rank{Gen: max(req.Gen, 1), Rank: min(max(req.Rank, 0), disk.MaxRank)}
}

// rerank gives chunk idx of meta's version on disk the rank rk if that is
// higher than its own.
func (fl *Filler) rerank(meta *Meta, idx int64, rk disk.Rank) {
	if _, err := fl.s.disk.st.SetRank(disk.ID{Key: meta.Key, Index: idx}, meta.dver, rk); err != nil {
		fl.s.log.Warn("fill: cannot rank a held chunk", "key", meta.Key, "chunk", idx, "err", err)
	}
}

// Fill implements fill.Cache. Chunks held on disk are read (and verified
// against their checksum) from there; chunks only in memory (a player's
// fetch whose disk write is still queued, or was skipped) are written to
// disk; the others are fetched by fill flights, one at a time, each after
// req.Pace. The object's version is the one the Store knows if it is
// fresh, else the origin's, learnt from the flight of chunk 0. A chunk in
// flight when ctx ends is waited for (it is bounded by the origin's
// timeouts) and stored; the object is then left incomplete.
func (fl *Filler) Fill(ctx context.Context, req fill.Request, w io.Writer) (int64, error) {
	s := fl.s
	if req.Size == 0 {
		return 0, nil
	}
	var f0 *flight
	meta := fl.known(req.Path)
	if meta == nil || !meta.Fresh(s.opt.Now()) {
		var err error
		// A stale version held: the span stops at its chunks held, as it
		// would for the current version (the answer stops there anyway).
		if f0, err = fl.flight(ctx, chunkID{req.Path, 0}, nil, meta, req); err != nil {
			return 0, err
		}
		defer f0.drop()
		select {
		case <-f0.ready:
		case <-ctx.Done():
			return 0, fmt.Errorf("fill %s: %w", req.Path, ctx.Err())
		}
		if f0.err != nil {
			return 0, fmt.Errorf("fill %s: %w", req.Path, f0.err)
		}
		meta = f0.meta
	}
	switch {
	case meta.NoStore:
		return 0, fmt.Errorf("fill %s: the origin does not allow storing it: %w", req.Path, ErrNotStored)
	case meta.Size != req.Size:
		return 0, fmt.Errorf("fill %s: the origin's object has %d bytes, the manifest says %d", req.Path, meta.Size, req.Size)
	}
	var written int64
	var buf []byte
	// The chunks before mine are fetched by this fill's spans: read back
	// from the disk, they are not a use of the chunk (disk.Store.Peek),
	// unlike a chunk the fill finds held from before (see chunk).
	var mine int64
	if f0 != nil {
		mine = f0.reach.Load() + 1
	}
	for idx := int64(0); idx*s.chunk < meta.Size; idx++ {
		if err := ctx.Err(); err != nil {
			return written, fmt.Errorf("fill %s: %w", req.Path, err)
		}
		var f *flight
		if idx == 0 {
			f = f0
		}
		n, err := fl.chunk(ctx, meta, idx, f, req, w, &buf, &mine)
		written += n
		if err != nil {
			return written, fmt.Errorf("fill %s chunk %d: %w", req.Path, idx, err)
		}
	}
	return written, nil
}

// chunk writes chunk idx of meta's version to w from where the tier holds
// it, or fetches it (through f if not nil, a flight of it already joined).
//
// *mine is where the chunks the fill's own spans fetch end: a chunk
// before it found on disk was stored by those spans and is read back
// without recording a use; one at or after it was held before the fill,
// and the fill's read of it is a use, as it was before spans. A flight
// started here moves *mine to its span's end.
func (fl *Filler) chunk(ctx context.Context, meta *Meta, idx int64, f *flight, req fill.Request, w io.Writer, buf *[]byte, mine *int64) (int64, error) {
	s := fl.s
	id := chunkID{meta.Key, idx}
	want := min(s.chunk, meta.Size-idx*s.chunk)
	for attempt := 0; ; attempt++ {
		if f == nil {
			if data, c := fl.read(meta, idx, want, buf, idx >= *mine); data != nil {
				if s.disk != nil {
					fl.rerank(meta, idx, diskRank(req))
				}
				n, err := w.Write(data)
				c.unref()
				return int64(n), err
			}
			if c := fl.memOnly(meta, idx); c != nil {
				// A player's chunk that has not reached the disk: put it there.
				err := fl.put(id, meta, diskRank(req), c.data, nil)
				n, werr := w.Write(c.data)
				c.unref()
				return int64(n), errors.Join(err, werr)
			}
			var err error
			if f, err = fl.flight(ctx, id, meta, meta, req); err != nil {
				return 0, err
			}
			if f == nil {
				continue // it was stored between the looks above and the flight
			}
			defer f.drop()
			// Its span's chunks are the fill's own: known once the answer
			// is in (flight.reach, set before the version is published).
			defer func(f *flight) { *mine = max(*mine, f.reach.Load()+1) }(f)
		}
		n, err := fl.stream(meta, f, w)
		if err == nil || n > 0 || attempt >= 2 || !errors.Is(err, errFlightGone) {
			return n, err
		}
		f = nil // the flight failed before a byte: look again
	}
}

// errFlightGone is a flight that failed before its first byte.
var errFlightGone = errors.New("fetch failed")

// stream writes flight f's chunk to w as it arrives, then waits for the
// flight to end and reports whether the chunk was stored.
func (fl *Filler) stream(meta *Meta, f *flight, w io.Writer) (int64, error) {
	<-f.ready
	if f.err != nil {
		return 0, fmt.Errorf("%w: %w", errFlightGone, f.err)
	}
	if f.meta.version != meta.version {
		return 0, ErrVersionChanged
	}
	var n int
	for n < len(f.buf) {
		m, err := f.wait(n)
		if m > n {
			k, werr := w.Write(f.buf[n:m])
			n += k
			if werr != nil {
				return int64(n), werr
			}
			continue
		}
		if err != nil {
			return int64(n), err
		}
	}
	if _, err := f.wait(len(f.buf)); err != nil { // until the flight ends
		return int64(n), err
	}
	if f.slot != nil && f.slot.err != nil {
		return int64(n), f.slot.err
	}
	return int64(n), nil
}

// read returns chunk idx of meta's version, want bytes, from the tier a
// fill keeps chunks in: from disk verified against its checksum (into
// *buf; recording a use of the chunk if use is set), or from memory
// without a disk tier (then with the memory chunk, whose reference the
// caller releases); nil if not held.
func (fl *Filler) read(meta *Meta, idx, want int64, buf *[]byte, use bool) ([]byte, *chunk) {
	s := fl.s
	if s.disk == nil {
		c := fl.peek(chunkID{meta.Key, idx})
		if c != nil && c.version == meta.version && int64(len(c.data)) == want {
			return c.data, c
		}
		c.unref()
		return nil, nil
	}
	// A chunk this fill's span stored is read back with Peek: the fill's
	// own read is not a player's, and an unread filled chunk stays unread
	// (see disk.Store.Peek).
	get := s.disk.st.Peek
	if use {
		get = s.disk.st.Get
	}
	c, err := get(disk.ID{Key: meta.Key, Index: idx}, meta.dver)
	if err != nil {
		return nil, nil
	}
	defer c.Close()
	if c.Len() != want {
		return nil, nil
	}
	if int64(cap(*buf)) < want {
		*buf = make([]byte, want)
	}
	data := (*buf)[:want]
	if err := c.ReadAllVerified(data); err != nil {
		s.diskBadReads.Add(1)
		return nil, nil // dropped by the disk store: fetched again
	}
	return data, nil
}

// memOnly returns chunk idx of meta's version, with a reference the
// caller releases, if memory holds it and the disk tier (there is one)
// does not.
func (fl *Filler) memOnly(meta *Meta, idx int64) *chunk {
	if fl.s.disk == nil {
		return nil
	}
	c := fl.peek(chunkID{meta.Key, idx})
	if c != nil && c.version == meta.version {
		return c
	}
	c.unref()
	return nil
}

// peek returns the chunk memory holds for id, with a reference the caller
// releases, without recording a use.
func (fl *Filler) peek(id chunkID) *chunk {
	sh, _ := fl.s.mem.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.chunks[id]; ok {
		e.c.ref()
		return e.c
	}
	return nil
}

// flight joins the flight of id or starts a fill's flight of it, after
// req.Pace and with a fill slot. With want set it returns nil if the chunk
// is held by the time the group is locked. Its span stops at the first
// chunk held of version held (want, or a stale version; nil: none).
func (fl *Filler) flight(ctx context.Context, id chunkID, want, held *Meta, req fill.Request) (*flight, error) {
	s := fl.s
	size := req.Size // the object's size as far as the manifest knows
	if want != nil {
		size = want.Size
	}
	g := s.flights.shard(id)
	g.mu.Lock()
	f := g.m[id]
	if f != nil {
		f.hold()
	}
	g.mu.Unlock()
	if f != nil {
		return f, nil // joined: its bytes cost the origin nothing more, nor the rate
	}
	span := fl.span(id, held, size, req.MaxFetch)
	// Both may wait: neither under the group lock.
	if req.Pace != nil {
		if err := req.Pace(ctx, min(span*s.chunk, max(size-id.idx*s.chunk, 0))); err != nil {
			return nil, err
		}
	}
	if err := fl.budget.acquire(ctx, s.chunk); err != nil {
		return nil, fmt.Errorf("fill slot: %w", err)
	}
	g.mu.Lock()
	if f := g.m[id]; f != nil {
		f.hold()
		g.mu.Unlock()
		fl.budget.release(s.chunk)
		return f, nil
	}
	if want != nil && fl.holds(want, id.idx) {
		g.mu.Unlock()
		fl.budget.release(s.chunk)
		return nil, nil
	}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		g.mu.Unlock()
		fl.budget.release(s.chunk)
		return nil, fmt.Errorf("chunk %d of %s: %w", id.idx, id.key, ErrClosed)
	}
	s.wg.Add(1)
	s.closeMu.RUnlock()
	path, fwd := id.key, http.Header(nil)
	if want != nil {
		path, fwd = want.path, want.fwd
	}
	f = newFlight(id, path, fwd)
	f.held = true
	f.span = span
	f.reach.Store(id.idx + span - 1)
	f.slot = &fillSlot{budget: fl.budget, rank: diskRank(req), filler: fl}
	f.hold() // for the caller
	g.m[id] = f
	g.mu.Unlock()
	s.nFlights.Add(1)
	fl.flights.Add(1)
	if want != nil {
		s.early(f, want) // the size is known: the span's flights go in now
	}
	go s.run(f)
	return f, nil
}

// span returns how many chunks, from id's on, one origin request of a fill
// asks for (span.go): the chunks of the object's size it does not hold
// (with want, the version it fills; without, all of them) up to the first
// held or being fetched, at most MaxSpan bytes, and at most maxFetch bytes
// if > 0 (fill.Request.MaxFetch). It is what the request is paced for;
// the flight itself stops its span where it finds a chunk held, as any
// span does.
func (fl *Filler) span(id chunkID, want *Meta, size, maxFetch int64) int64 {
	s := fl.s
	limit := s.spanChunks(MaxSpan)
	if maxFetch > 0 {
		limit = min(limit, s.spanChunks(maxFetch))
	}
	k := int64(1)
	for j := id.idx + 1; k < limit && j*s.chunk < size; j++ {
		if want != nil && fl.holds(want, j) {
			break
		}
		if s.fetching(id.key, j) {
			break
		}
		k++
	}
	return k
}

// keepFilled stores the complete chunk of a fill's flight: on disk with its
// rank, or in memory without a disk tier. Why it was not stored is left in
// f.slot.err for the fill to report.
func (s *Store) keepFilled(f *flight, meta *Meta) {
	fl := f.slot.filler
	fl.fetched.Add(int64(len(f.buf)))
	if meta.NoStore {
		f.slot.err = fmt.Errorf("the origin does not allow storing it: %w", ErrNotStored)
		return
	}
	id := chunkID{meta.Key, f.id.idx}
	if s.disk == nil {
		if !s.mem.add(id, f.c) {
			fl.notStored.Add(1)
			f.slot.err = fmt.Errorf("chunk %d of %s: the memory tier declined it: %w", id.idx, id.key, ErrNotStored)
			return
		}
		fl.stored.Add(1)
		return
	}
	f.slot.err = fl.put(id, meta, f.slot.rank, f.buf, f.checksum())
}

// put writes a chunk to the disk tier with its rank, and checks that the
// tier kept it; sum is data's CRC-32C if the fetch computed it
// (flight.sum), else nil. A refusal for want of room among lower-ranked
// content (disk.ErrRankedFull) wraps fill.ErrFull too.
func (fl *Filler) put(id chunkID, meta *Meta, rk disk.Rank, data []byte, sum *uint32) error {
	s := fl.s
	did := disk.ID{Key: id.key, Index: id.idx}
	err := s.disk.put(did, meta.dver, encodeFillMeta(meta, rk.Rank), data, sum, rk)
	switch {
	case errors.Is(err, disk.ErrRankedFull):
		err = fmt.Errorf("%w: %w: %w", fill.ErrFull, ErrNotStored, err)
	case err == nil && !s.disk.st.Has(did, meta.dver):
		err = fmt.Errorf("the disk tier did not keep it (declined, or evicted at once by other writes): %w", ErrNotStored)
	}
	if err != nil {
		fl.notStored.Add(1)
		s.diskWriteErrors.Add(1)
		return fmt.Errorf("chunk %d of %s: %w", id.idx, id.key, err)
	}
	fl.stored.Add(1)
	s.diskWrites.Add(1)
	return nil
}

// filledMeta is the disk metadata of a filled chunk: the object's, plus the
// rank of its title in the manifest that filled it. Readers of diskMeta
// ignore the extra field.
type filledMeta struct {
	diskMeta
	Rank int `json:"rank"`
}

// encodeFillMeta is encodeMeta with the rank.
func encodeFillMeta(m *Meta, rank int) []byte {
	var fm filledMeta
	_ = json.Unmarshal(encodeMeta(m), &fm.diskMeta) // encodeMeta's own output
	fm.Rank = rank
	b, _ := json.Marshal(fm) // as encodeMeta: always encodes
	return b
}

// FillRank returns the rank stored with the object at key on disk by the
// fill that last wrote its newest chunk; ok is false if there is none (not
// on disk, or written by a player's fetch).
func (s *Store) FillRank(key string) (rank int, ok bool) {
	if s.disk == nil {
		return 0, false
	}
	_, b, found := s.disk.st.Meta(key)
	if !found {
		return 0, false
	}
	var fm struct {
		Rank *int `json:"rank"`
	}
	if json.Unmarshal(b, &fm) != nil || fm.Rank == nil {
		return 0, false
	}
	return *fm.Rank, true
}

// Discard implements fill.Cache: it drops every chunk of the object at path
// (of any version, as far as the known version's size reaches) from memory
// and disk, and forgets the object.
func (fl *Filler) Discard(path string) {
	s := fl.s
	fl.discarded.Add(1)
	m := fl.known(path)
	if m == nil {
		return
	}
	for idx := int64(0); idx*s.chunk < m.Size; idx++ {
		id := chunkID{path, idx}
		sh, _ := s.mem.shard(id)
		sh.mu.Lock()
		if e, ok := sh.chunks[id]; ok {
			sh.drop(id, e)
		}
		sh.mu.Unlock()
		if s.disk != nil {
			s.disk.st.Remove(disk.ID{Key: path, Index: idx})
		}
	}
	s.objs.remove(path)
	s.log.Warn("fill: object discarded", "key", path)
}

// Capacity implements fill.Cache: the byte budgets of the disks in
// service, or the memory tier's without a disk tier.
func (fl *Filler) Capacity() int64 {
	s := fl.s
	if s.disk == nil {
		return s.opt.Memory
	}
	var n int64
	for _, d := range s.disk.st.Stats().Disks {
		if d.InService {
			n += d.Budget
		}
	}
	return n
}

// fillHeaderAllowance is what Footprint counts for a chunk file's header
// besides the key: the fixed fields, the version and the object's metadata
// (its origin header fields), generously.
const fillHeaderAllowance = 1536

// Footprint implements fill.Cache: the chunk files of the object as the
// disk tier counts them (payload and header, in 4 KiB blocks), or its
// bytes without a disk tier.
func (fl *Filler) Footprint(path string, size int64) int64 {
	s := fl.s
	if s.disk == nil {
		return size
	}
	var n int64
	for off := int64(0); off < size; off += s.chunk {
		n += blocks4k(min(s.chunk, size-off) + int64(len(path)) + fillHeaderAllowance)
	}
	return n
}

// blocks4k rounds n up to whole 4 KiB blocks.
func blocks4k(n int64) int64 { return (n + 4095) &^ 4095 }
