package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"edgecache/origin"
)

// Span fetches. A miss over several consecutive missing chunks is one
// origin request for the span, cut into chunk flights as it streams: the
// flight of the first chunk (the leader) asks for up to MaxSpan bytes of
// chunks, and once the answer's headers are in, before any reader can see the
// version, it puts a flight for each further chunk the answer covers (a
// follower) into the group, unless that chunk is held or being fetched
// already (the span stops there). Readers of any of those chunks join its
// flight as they would any other; the leader fills the followers one after
// the other from the same body. A body that fails mid-span is resumed with
// one request for the rest of the span, which feeds the followers after
// it. A follower the body cannot fill (the chunk before it failed, resume
// included) runs as a flight of its own. A fill's flight makes spans too
// (fill.go); its followers are stored as the fill's chunks are.
//
// A span holds one chunk of fetch memory, the leader's, whatever its
// length: fetch memory bounds the chunk buffers being filled, and the span
// fills its chunks one after the other, each in a buffer of its own only
// while it is filled (a filled chunk is the memory tier's). A follower
// waiting for its turn holds none; one the body cannot fill takes its own,
// waiting for it as any flight does. So a span is as long as the range its
// reader asked for (at most MaxSpan bytes of chunks; at most openSpan when
// a Reader, which cannot tell an explicit range from a request to the end,
// misses a chunk), however many misses are being fetched at once. (Holding
// a chunk per follower, taken only if free, cut short the spans of misses
// that came at once: 16 players starting 1 MiB objects asked the origin 262
// times instead of 200.)

// MaxSpan is the most bytes one origin request of a span fetch asks for
// (in whole chunks, at least one): 64 chunks of the default 256 KiB.
const MaxSpan = 16 << 20

// openSpan is the most bytes a first fetch for a request to the object's
// end (a GET without Range, an open-ended range) asks for: such a request
// is often abandoned early (a player seeking away), and what it asked for
// but nobody read is the origin's waste.
const openSpan = 8 << 20

// spanChunks returns how many chunks bytes of span hold (at least one).
func (s *Store) spanChunks(bytes int64) int64 { return max(bytes/s.chunk, 1) }

// LookupRange is Lookup for a request of n bytes from at (n < 0: to the
// object's end). When the object is unknown, the first fetch asks the
// origin for the chunks of that range at once (up to MaxSpan bytes, 8 MiB
// for a request to the end) rather than for one chunk: a cold object read
// from its start costs one origin request, not one per chunk.
func (s *Store) LookupRange(ctx context.Context, k Key, at, n int64, req Request) (*Meta, Status, error) {
	return s.lookupSpan(ctx, k, at, n, req)
}

// spanOf returns the chunks a first fetch for n bytes from at may ask for.
func (s *Store) spanOf(at, n int64) int64 {
	if at < 0 || n == 0 {
		return 1
	}
	if n < 0 {
		return s.spanChunks(openSpan)
	}
	first, last := at/s.chunk, (at+n-1)/s.chunk
	return max(min(last-first+1, s.spanChunks(MaxSpan)), 1)
}

// spanExtra returns how many chunks past f's its fetch may ask for:
// f.span-1, at most MaxSpan bytes in all; none for a chunk of an answer
// not stored (f.noStore: nobody may join its followers, so only f's chunk
// of the answer would be read: an abuse review had a 64 MiB object cost
// 592 MB from the origin, each chunk asking for 8 MiB).
func (s *Store) spanExtra(f *flight) int64 {
	if f.span <= 1 || f.private || f.noStore || f.resp != nil {
		return 0
	}
	const maxInt64 = 1<<63 - 1
	extra := min(f.span, s.spanChunks(MaxSpan)) - 1
	extra = min(extra, (maxInt64-f.id.idx*s.chunk)/s.chunk-1) // the span's end, (idx+1+extra)·chunk, must not overflow
	return max(extra, 0)
}

// early puts the flights of the chunks after f's (a flight of want's
// version, whose size is known) into the group before f asks the source,
// up to f.span chunks in all, stopping at the first chunk held or being
// fetched: f.fs. A reader who reaches one of them meanwhile joins it
// instead of asking for it alone. Only a held f does (one that took its
// fetch memory when it was made): run starts or fails its followers only
// once it has that memory.
func (s *Store) early(f *flight, want *Meta) {
	if f.span <= 1 || !f.held || want.NoStore || want.Key != f.id.key {
		f.reach.Store(f.id.idx) // nothing put in the group ahead of the answer
		return
	}
	f.fs = s.register(f, want, want.Size, s.spanExtra(f))
	f.span = 1 + int64(len(f.fs)) // run asks for these and no more
	f.reach.Store(f.id.idx + int64(len(f.fs)))
}

// followers returns the flights the answer resp fills after f's chunk: the
// ones early put in the group as far as resp covers them (the others are
// left in f.fs, for orphans), else new ones for the chunks resp covers, at
// most extra.
func (s *Store) followers(f *flight, meta *Meta, resp *origin.Response, extra int64) []*flight {
	end := min(resp.Offset+resp.Length, resp.Size)
	if len(f.fs) > 0 {
		n := 0
		for n < len(f.fs) && min((f.fs[n].id.idx+1)*s.chunk, resp.Size) <= end && f.fs[n].id.idx*s.chunk < resp.Size {
			n++
		}
		fs := f.fs[:n]
		f.fs = f.fs[n:]
		return fs
	}
	if extra == 0 || meta.NoStore || meta.Key != f.id.key {
		return nil
	}
	return s.register(f, meta, end, extra)
}

// register puts flights for up to n chunks after f's that end by end (and
// that meta's version has) into the group, stopping at the first chunk
// held or being fetched. The tiers are looked at under the group lock, as
// Store.flight does: a flight that completes stores its chunk (in memory,
// or a fill's on disk) before it leaves the group, so a chunk found in
// neither the group nor a tier is not being fetched. (Looking at the tiers
// before taking the lock missed flights completing in between and fetched
// their chunks a second time: TestFetchMemoryBudget saw a chunk's bytes
// twice from the origin once the spans grew long.)
func (s *Store) register(f *flight, meta *Meta, end int64, n int64) []*flight {
	return s.registerFrom(f, f.id.idx+1, meta, end, n)
}

// registerFrom is register from chunk from (after f's) on.
func (s *Store) registerFrom(f *flight, from int64, meta *Meta, end int64, n int64) []*flight {
	var fs []*flight
	for j := from; int64(len(fs)) < n && min((j+1)*s.chunk, meta.Size) <= end && j*s.chunk < meta.Size; j++ {
		id := chunkID{f.id.key, j}
		g := s.flights.shard(id)
		g.mu.Lock()
		if g.m[id] != nil || s.mem.contains(id, meta.version) || s.onDisk(meta, j) {
			g.mu.Unlock()
			break
		}
		s.closeMu.RLock()
		if s.closed {
			s.closeMu.RUnlock()
			g.mu.Unlock()
			break
		}
		s.wg.Add(1)
		s.closeMu.RUnlock()
		fj := newFlight(id, f.path, f.fwd)
		fj.sp = f.sp
		if f.slot != nil { // a fill's span: its chunks go to disk ranked, as the fill's do
			fj.slot = &fillSlot{budget: f.slot.budget, rank: f.slot.rank, filler: f.slot.filler}
			f.slot.filler.flights.Add(1)
		}
		g.m[id] = fj
		g.mu.Unlock()
		s.nFlights.Add(1)
		fs = append(fs, fj)
	}
	return fs
}

// orphans starts the followers early put in the group that f's answer did
// not fill (it failed, or did not cover them) as flights of their own.
func (s *Store) orphans(f *flight) {
	for _, fj := range f.fs {
		go s.run(fj)
	}
	f.fs = nil
}

// feed fills the followers fs from body, the rest of the span's answer up
// to bodyEnd, one after the other, in the fetch memory of the span's
// leader, while ok (the chunk before was filled); those it cannot fill run
// as flights of their own. A chunk whose body failed is resumed for the
// rest of the span (fillChunk), and the next ones are fed from the resumed
// body. It returns the body it read last, for the caller to close, where
// that body ends, and whether the last chunk was filled.
func (s *Store) feed(fs []*flight, meta *Meta, body io.ReadCloser, bodyEnd int64, ok bool) (io.ReadCloser, int64, bool) {
	for i, fj := range fs {
		if !ok {
			go s.run(fj) // not held: it takes its own fetch memory
			continue
		}
		if fj.sp.unread() {
			s.abandon(fs[i:])
			return body, bodyEnd, false
		}
		fj.start(s, meta, int(min(s.chunk, meta.Size-fj.id.idx*s.chunk)))
		var err error
		body, bodyEnd, err = s.fillChunk(fj, meta, body, bodyEnd)
		s.originBytes.Add(int64(fj.filled()))
		s.complete(fj, meta, err)
		s.wg.Done()
		fj.drop()
		ok = err == nil
	}
	return body, bodyEnd, ok
}

// feedRest stores the chunks of an answer that holds more of the object
// than was asked for (an origin that ignored the Range, or answered a
// ranged request without Content-Length: it sent the whole object), from
// chunk from to the end of body, which is at the start of that chunk and
// ends at bodyEnd. Chunks held or being fetched are read past; the others
// are put in the group, as a span's followers are, and filled one after
// the other, so readers of any of them join instead of asking again. Such
// an origin answers every later request with the whole object too, so
// anything not taken from this answer would cost the object's bytes up to
// it again (an abuse review: a 64 MiB object read once cost 219 origin
// requests and 9.4 GB, taking the wanted chunk and four more of each). It
// stops as a span does when the span's Readers have gone (feed), and after
// MaxSpan bytes for a fetch no Reader follows. It returns the body it read
// last, for the caller to close.
func (s *Store) feedRest(f *flight, from int64, meta *Meta, body io.ReadCloser, bodyEnd int64) io.ReadCloser {
	if f.private || meta.NoStore || meta.Key != f.id.key {
		return body // an answer for its requester alone: nobody joins its chunks
	}
	end := min(bodyEnd, meta.Size)
	if f.sp == nil && f.slot == nil {
		// No Reader can be seen leaving (a HEAD's fetch, say): at most a
		// span's worth more, not the whole object for nobody.
		end = min(end, from*s.chunk+MaxSpan)
	}
	for j := from; j*s.chunk < end && s.ctx.Err() == nil; {
		n := min(s.chunk, meta.Size-j*s.chunk)
		if j*s.chunk+n > end {
			return body // a partial chunk at the answer's end: not stored
		}
		fs := s.registerFrom(f, j, meta, end, 1<<62)
		if len(fs) == 0 { // held, or being fetched: read past it
			if _, err := io.CopyN(io.Discard, body, n); err != nil {
				return body
			}
			j++
			continue
		}
		next := body
		var ok bool
		body, bodyEnd, ok = s.feed(fs, meta, body, bodyEnd, true)
		if !ok || body != next {
			return body // failed, or resumed with a ranged request: it ends with the span
		}
		j += int64(len(fs))
	}
	return body
}

// spanState counts the Readers reading in a span: those that entered one
// of its chunks, as a flight or already filled in memory (chunk.sp), and
// have neither closed nor moved on to another span's chunks. A span whose Readers have all gone stops before its next chunk
// (feed, abandon): a client that asks for an object and leaves at once
// would otherwise cost the origin the whole span, 8 MiB for a request to
// the end (an abuse review: 20 requests reset at once took 168 MB from the
// origin). A span no Reader has held (read-ahead, a fill's) is not
// stopped.
type spanState struct {
	readers  atomic.Int32
	attached atomic.Bool // a Reader has entered one of its chunks
}

// unread reports whether the span had Readers and has none left. It is
// false for a nil span.
func (sp *spanState) unread() bool {
	return sp != nil && sp.attached.Load() && sp.readers.Load() == 0
}

// attach counts a Reader in the span.
func (sp *spanState) attach() {
	sp.readers.Add(1)
	sp.attached.Store(true)
}

// detach counts a Reader out of the span.
func (sp *spanState) detach() { sp.readers.Add(-1) }

// errSpanAbandoned ends the flights of a span whose Readers have all gone.
var errSpanAbandoned = errors.New("cache: span abandoned: its readers have gone")

// abandon ends the span's flights fs that nobody has joined, unfilled:
// they leave the group (a Reader who asks for one of their chunks later
// starts a fetch of its own); one that somebody joined meanwhile runs as a
// flight of its own.
func (s *Store) abandon(fs []*flight) {
	for _, fj := range fs {
		g := s.flights.shard(fj.id)
		g.mu.Lock()
		alone := fj.users.Load() == 1 // the span's own reference: nobody joined
		if alone && g.m[fj.id] == fj {
			delete(g.m, fj.id)
		}
		g.mu.Unlock()
		if !alone {
			go s.run(fj) // not held: it takes its own fetch memory
			continue
		}
		s.spansAbandoned.Add(1)
		fj.fail(fmt.Errorf("chunk %d of %s: %w", fj.id.idx, fj.path, errSpanAbandoned))
		s.wg.Done()
		fj.drop()
	}
}
