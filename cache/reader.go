package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"edgecache/cache/disk"
)

// Reader streams bytes [off, off+n) of one object version: from memory where
// the chunks are held, else from the flights fetching them, as their bytes
// arrive. It implements io.WriterTo so a server can hand it the connection
// and no byte is copied through an intermediate buffer. A Reader is not safe
// for concurrent use; Close returns it to its Store.
type Reader struct {
	s        *Store
	meta     *Meta
	pos, end int64

	idx int64       // chunk of cur, dc or f; -1 for none
	cur []byte      // the chunk's bytes, when memory had it (cc's), or read from disk (buf's)
	cc  *chunk      // the memory chunk cur views; the Reader holds a reference
	dc  *disk.Chunk // the chunk's file, when only the disk tier had it
	f   *flight     // the chunk's flight, when neither had it
	sp  *spanState  // the span the Reader reads in: the one that fetched the last chunk it entered (span.go)
	// spAhead is the span the Reader's read-ahead started or joined last,
	// which it has not reached yet: it counts among its readers too.
	spAhead *spanState
	buf     []byte      // read buffer for dc when the writer cannot take a file
	sec     fileSection // the part of dc's file sendFile hands to the writer
	err     error
	src     int // where the current chunk's bytes come from: fromMemory, fromDisk or fromOrigin

	served [3]int64 // bytes served, by source (see Served)
	ahead  int64    // the last chunk read ahead for this Reader; its bytes count as the origin's
	// short is a range of at most memorySendfileRange bytes: Held leaves
	// its memory chunks that WriteTo sends from the arena's file to it.
	short bool

	// Chunks resolved by Pin, held until the Reader reaches them:
	// pins[i] is chunk pinFrom+i.
	pins [PinChunks]pin
	// pinsHeld are the pins taken from the Store's budget not yet given
	// back: npins, less those the Reader has reached.
	pinsHeld int
	npins    int
	pinFrom  int64
}

// pin is a chunk a Reader holds ahead of reading it: its bytes in memory
// (a reference keeps them valid after an eviction), or its open file.
type pin struct {
	c  *chunk
	dc *disk.Chunk
}

// Sources of the bytes a Reader serves, indexes of Reader.served.
const (
	fromMemory = iota
	fromDisk
	fromOrigin
)

// Served returns the bytes the Reader has served so far by where they came
// from: memory, the disk tier, and the origin (a flight, started or
// joined, or a chunk read ahead for this Reader that had landed in memory
// by the time it got there). Call it before Close.
func (r *Reader) Served() (memory, disk, origin int64) {
	return r.served[fromMemory], r.served[fromDisk], r.served[fromOrigin]
}

// Missed tells the Reader that its first chunks were fetched from the
// origin for its request: the Lookup that found the version asked for
// them, as LookupRange asks for n bytes from the Reader's start (n < 0: to
// the end). Their bytes count as the origin's in Served even if they are in
// memory by the time the Reader gets to them. Call it before reading.
func (r *Reader) Missed(n int64) {
	r.ahead = max(r.ahead, r.pos/r.s.chunk+r.s.spanOf(r.pos, n)-1)
}

// advance consumes n bytes of the current chunk.
func (r *Reader) advance(n int64) {
	r.pos += n
	r.served[r.src] += n
}

// source sets src from the current chunk's holder. A chunk fetched for
// this Reader (see Missed, and its read-ahead) that landed in memory before
// the Reader got to it counts as the origin's.
func (r *Reader) source() {
	switch {
	case r.f != nil:
		r.src = fromOrigin
	case r.dc != nil:
		r.src = fromDisk
	case r.idx <= r.ahead:
		r.src = fromOrigin
	default:
		r.src = fromMemory
	}
}

// PinChunks is the most chunks Pin holds for one Reader: 4 MiB at the
// default chunk size, a media segment of a few seconds at up to about
// 8 Mbit/s. (Each pinned disk chunk holds an open file.)
const PinChunks = 16

// NewReader returns a Reader of bytes [off, off+n) of meta's version. The
// range must lie within the object.
func (s *Store) NewReader(meta *Meta, off, n int64) *Reader {
	r, _ := s.readers.Get().(*Reader)
	if r == nil {
		r = new(Reader)
	}
	buf := r.buf
	*r = Reader{s: s, meta: meta, pos: off, end: off + n, idx: -1, buf: buf, ahead: -1, short: n <= memorySendfileRange}
	if off < 0 || n < 0 || off+n > meta.Size {
		r.err = fmt.Errorf("range [%d,%d) outside %s (%d bytes)", off, off+n, meta.Key, meta.Size)
	}
	return r
}

// next returns the next bytes available at r.pos, blocking until at least one
// is, without consuming them.
func (r *Reader) next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.pos >= r.end {
		return nil, io.EOF
	}
	c := r.s.chunk
	idx := r.enter()
	lo, hi := int(r.pos-idx*c), int(min(c, r.end-idx*c))
	if r.dc != nil {
		r.copyDisk(idx)
	}
	if r.cur != nil {
		if len(r.cur) < hi {
			r.err = fmt.Errorf("chunk %d of %s holds %d bytes, want %d", idx, r.meta.Key, len(r.cur), hi)
			return nil, r.err
		}
		return r.cur[lo:hi], nil
	}
	f := r.f
	<-f.ready
	switch {
	case f.err != nil:
		r.err = f.err
	case f.meta.version != r.meta.version:
		r.err = fmt.Errorf("%s: %w", r.meta.Key, ErrVersionChanged)
	case len(f.buf) < hi:
		r.err = fmt.Errorf("chunk %d of %s has %d bytes, want %d: %w", idx, r.meta.Key, len(f.buf), hi, ErrVersionChanged)
	}
	if r.err != nil {
		return nil, r.err
	}
	n, err := f.wait(lo)
	if n > lo {
		return f.buf[lo:min(n, hi)], nil
	}
	r.err = fmt.Errorf("%s: %w", r.meta.Key, err)
	return nil, r.err
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	b, err := r.next()
	if err != nil {
		return 0, err
	}
	n := copy(p, b)
	r.advance(int64(n))
	return n, nil
}

// copyDisk replaces the current disk chunk, about to be copied through
// user space, by its bytes read into the Reader's buffer and verified
// against the chunk's checksum. A chunk that fails (damaged in place since
// it was last verified, or unreadable) has been dropped by the disk store:
// it is fetched again, and its bytes come from that flight.
func (r *Reader) copyDisk(idx int64) {
	dc := r.dc
	r.dc = nil
	n := int(dc.Len())
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	err := dc.ReadAllVerified(r.buf[:n])
	dc.Close()
	if err == nil {
		r.cur = r.buf[:n]
		return
	}
	r.s.diskBadReads.Add(1)
	r.s.log.Warn("chunk on disk failed verification; fetching it again", "key", r.meta.Key, "chunk", idx, "err", err)
	r.setChunk(r.s.chunkFor(r.meta, idx, idx)) // this chunk alone: the next ones may be sound on disk
	if r.f != nil {
		r.src = fromOrigin
	}
	if r.dc != nil { // another copy appeared on disk meanwhile: verify it too
		r.copyDisk(idx)
	}
}

// flightWriteMax is the most WriteTo writes at once from a chunk that is
// still being fetched.
const flightWriteMax = 128 << 10

// WriteTo writes the rest of the range to w, each piece as soon as it is
// available.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	rf, _ := w.(io.ReaderFrom)
	for {
		if rf != nil && r.err == nil && r.pos < r.end {
			r.enter()
			if r.dc != nil {
				n, err := r.sendFile(w, rf)
				total += n
				if err != nil {
					return total, err
				}
				continue
			}
			if sec, ok := r.memorySection(); ok {
				n, err := r.sendSection(rf, sec, "in memory")
				r.cc.a.sentBytes.Add(n)
				total += n
				if err != nil {
					return total, err
				}
				continue
			}
		}
		b, err := r.next()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if r.f != nil && len(b) > flightWriteMax {
			// Bytes still arriving are shared by every waiter: hand them
			// out in slices so one waiter's large write does not hold the
			// others' first bytes back.
			b = b[:flightWriteMax]
		}
		n, err := w.Write(b)
		total += int64(n)
		r.advance(int64(n))
		if err != nil {
			r.err = err
			return total, err
		}
	}
}

// enter makes the chunk holding r.pos the current one, from memory, disk or
// a flight, and returns its index. A flight also starts the read-ahead.
func (r *Reader) enter() int64 {
	c := r.s.chunk
	idx := r.pos / c
	if idx == r.idx {
		return idx
	}
	r.leave()
	r.idx = idx
	if i := idx - r.pinFrom; i >= 0 && i < int64(r.npins) && (r.pins[i].c != nil || r.pins[i].dc != nil) {
		r.setChunk(r.pins[i].c, r.pins[i].dc, nil)
		r.pins[i] = pin{}
		r.pinsHeld--
		r.s.pinned.Add(-1) // the current chunk now, no longer a pin
		r.source()
		return idx
	}
	r.setChunk(r.s.chunkFor(r.meta, idx, r.spanEnd(idx)))
	r.source()
	if r.f == nil || r.meta.NoStore {
		return idx // no read-ahead of chunks nobody will keep
	}
	// The chunks up to cover are the business of a span already started
	// (its leader puts their flights in the group just after it is
	// itself): the read-ahead leaves them to it rather than race it with
	// a fetch of its own, and counts them as fetched for this Reader once
	// their flights are there.
	cover := r.f.reach.Load()
	for a := int64(1); a <= int64(r.s.opt.ReadAhead) && (idx+a)*c < r.end; a++ {
		j := idx + a
		if j <= cover {
			if r.s.fetching(r.meta.Key, j) {
				r.ahead = max(r.ahead, j)
			}
			continue
		}
		if reach, sp := r.s.prefetch(r.meta, j, r.spanEnd(j)); reach >= 0 {
			r.ahead = max(r.ahead, j)
			cover = reach
			r.readAhead(sp)
		}
	}
	return idx
}

// setChunk makes c (a memory chunk the Reader now holds a reference to),
// dc (an open disk chunk) or f (a flight the Reader holds) the current
// chunk's holder.
func (r *Reader) setChunk(c *chunk, dc *disk.Chunk, f *flight) {
	r.cc, r.dc, r.f, r.cur = c, dc, f, nil
	if c != nil {
		r.cur = c.data
	}
	var sp *spanState // the span that fetched (or fetches) this chunk, if any
	switch {
	case f != nil:
		sp = f.sp
	case c != nil:
		sp = c.sp // filled already: its reader still counts in the span
	}
	if sp != nil && sp != r.sp {
		// Now reading in this span (and no longer in the one before).
		if sp == r.spAhead {
			r.spAhead = nil // counted already
		} else {
			sp.attach()
		}
		if r.sp != nil {
			r.sp.detach()
		}
		r.sp = sp
	}
}

// readAhead counts the Reader in sp, the span its read-ahead started or
// joined, which it will read in next (and no longer in the one it read
// ahead in before, if any).
func (r *Reader) readAhead(sp *spanState) {
	if sp == nil || sp == r.sp || sp == r.spAhead {
		return
	}
	sp.attach()
	if r.spAhead != nil {
		r.spAhead.detach()
	}
	r.spAhead = sp
}

// leave lets go of the current chunk: its memory reference, its file, or
// its flight.
func (r *Reader) leave() {
	if r.dc != nil {
		r.dc.Close()
		r.dc = nil
	}
	r.cc.unref()
	if r.f != nil {
		r.f.drop()
	}
	r.cc, r.f, r.cur = nil, nil, nil
}

// spanEnd returns the last chunk a fetch of chunk idx for this Reader may
// ask for with it (span.go): the range's last, at most openSpan bytes on.
// A Reader does not know whether its client asked for these bytes or
// for everything to the end (and may leave at any time), so what it asks
// for ahead of itself is bounded as a request to the end is.
func (r *Reader) spanEnd(idx int64) int64 {
	return min((max(r.end, r.pos+1)-1)/r.s.chunk, idx+r.s.spanChunks(openSpan)-1)
}

// sendFile hands the current disk chunk's part of the range to rf (which is
// w) as a fileSection, which a server's TCP connection sends with
// sendfile(2) from the section's offset (the disk store shares the file's
// descriptor among its readers: its offset is never used).
func (r *Reader) sendFile(w io.Writer, rf io.ReaderFrom) (int64, error) {
	lo, n := r.part(r.dc.Len())
	f, off := r.dc.Section(lo, n)
	if f == nil {
		// The disk store's files are not OS files (tests): copy instead.
		b, err := r.next()
		if err != nil {
			return 0, err
		}
		m, err := w.Write(b)
		r.advance(int64(m))
		return int64(m), err
	}
	m, err := r.sendSection(rf, fileSection{f: f, pos: off, end: off + n}, "on disk")
	if err != nil && !clientGone(err) {
		// The file may be what failed: have the disk store verify it.
		r.dc.Suspect()
	}
	return m, err
}

// sendSection hands sec, the current chunk's part of the range, to rf and
// consumes what rf sent. A section sent short (its file ended) is an error;
// where says where the chunk is held, for the message.
func (r *Reader) sendSection(rf io.ReaderFrom, sec fileSection, where string) (int64, error) {
	n := sec.end - sec.pos
	r.sec = sec
	m, err := rf.ReadFrom(&r.sec)
	r.sec = fileSection{}
	r.advance(m)
	if err == nil && m < n {
		err = fmt.Errorf("chunk %d of %s %s: sent %d of %d bytes: %w", r.idx, r.meta.Key, where, m, n, io.ErrUnexpectedEOF)
	}
	if err != nil {
		r.err = err
	}
	return m, err
}

// memorySendfileMin is the fewest bytes of a memory chunk WriteTo sends
// from the arena's file rather than writes. Measured with alternating runs
// of the peers harness's loads (srv_us, three rounds each): a 1 MiB hit
// costs 112-120 sent against 136-139 copied; a 256 KiB range (RANGE-256K,
// whose parts are 256 KiB or two pieces of it) 33-35 with parts from 32 KiB
// sent, 35-37 from 128 KiB, against 41-45 from 512 KiB (that is, copied).
// A sent 4 KiB page costs a page-cache lookup, a pipe buffer and a socket
// fragment, against a copy of its bytes into the socket buffer.
const memorySendfileMin = 32 << 10

// part returns where the range's part of the current chunk, whose length
// is n, starts in the chunk, and its length from there.
func (r *Reader) part(n int64) (lo, size int64) {
	lo = r.pos - r.idx*r.s.chunk
	return lo, min(n, r.end-r.idx*r.s.chunk) - lo
}

// memorySendfileAfter is how many times its size a memory chunk has
// copied out in parts of at least memorySendfileMin before WriteTo sends
// such parts from the arena's file. A chunk that was sent costs fresh pages
// when it is released (arena.go): about 250 µs per MiB in the punch and the
// faults, against about 20 µs per MiB that a send saves over a copy. So
// only a chunk that has shown it is read again and again is sent, and it
// is counted in bytes, so that a chunk read in small parts has to show as
// much. Measured on a memory tier that churns (`edgecache bench`, 100
// titles of 32 MiB over a 512 MiB tier, 6000 requests, server CPU from
// /proc, three seeds, alternating, with whole-chunk reads counted): never
// sending 3470 / 3440 / 3590 ms; sending after 16 reads 3440 / 3460 / 3650
// (15-41 chunks dropped); after 8, 3500 / 3640 / 3700 (82-134 dropped);
// from the second read (the rule before), 3850 / 3890 / 4100 against
// 3530 / 3590 / 3630 never sending (1100-1450 dropped). A hot set loses
// nothing: HIT-1M srv_us 100-105 after 16 reads against 125-127 never
// sending.
const memorySendfileAfter = 16

// memorySection returns the current chunk's part of the range as a section
// of the arena's file, when WriteTo sends it from there: a memory chunk in
// the file, with at least memorySendfileMin bytes left to send, that has
// had memorySendfileAfter times its size copied out already. The chunk is
// marked sent before the section is handed out: its pages may stay queued
// on the socket after the send, so the arena takes them out of the file
// when it is released rather than let them be written again.
func (r *Reader) memorySection() (fileSection, bool) {
	c := r.cc
	if c == nil {
		return fileSection{}, false
	}
	lo, n := r.part(int64(len(r.cur)))
	if !r.sendable(c, n) {
		r.countCopied(c, n)
		return fileSection{}, false
	}
	if !c.sent.Load() {
		c.sent.Store(true)
	}
	return fileSection{f: c.a.file, pos: c.off + lo, end: c.off + lo + n, mapped: c.a.mem}, true
}

// memorySendfileRange is the longest range whose memory chunks Held leaves
// to WriteTo when WriteTo would send them from the arena's file
// (memorySection): such a range goes out as its header on its own, then a
// sendfile(2) per chunk, rather than one writev(2) copying it all. A range
// the socket takes in one go costs less sent than copied; a larger one,
// which waits for the socket to drain several times, costs more, as the
// memory file's pages are looked up and referenced one by one on every
// send (shmem's splice, unlike a disk file system's, has no batched page
// lookup: perf showed about 14% of a 1 MiB hit's CPU in it). 512 KiB is
// what the server's default send buffer (256 KiB, doubled by the kernel)
// takes at once. Measured with the peers harness's loads (srv_us, server
// pinned to one core, one daemon per run, alternating; copied against
// sent): a 256 KiB range of an 8 MiB object 55-61 against 46-53; whole
// objects of 256 KiB 38-47 against 32-34, of 512 KiB 70-79 against 63-74,
// of 1 MiB 153-174 against 173-315.
const memorySendfileRange = 512 << 10

// Held appends to dst the bytes of the range, from the Reader's position
// on, that memory holds now: the current chunk's part and those of the
// chunks pinned after it (Pin), as far as they follow on without a gap, up
// to limit bytes in all. It consumes nothing. The slices stay valid and
// unchanged until the Reader moves past them (Discard, Read, WriteTo,
// Close): the Reader holds a reference to each chunk they view. A server
// hands them to the connection in one writev(2) (the response's header
// first) and then Discards what was written, where WriteTo would have made
// a write per chunk. The bytes end at the first chunk that is not in
// memory (on disk, or still being fetched).
//
// Held bytes are copied into the socket, never sent from the arena's file
// (memorySection): with the writes per chunk gone, the copy is the cheaper
// way for a large range. Measured with the peers harness's loads (srv_us,
// server pinned to one core, alternating runs, on an earlier machine): a
// 256 KiB range 79-80 with every part copied in one writev, 98 with the
// parts WriteTo would send still sent, 126-127 before (a write or sendfile
// per chunk); a 1 MiB hit 176-184, 201-291 and 229-299. On the machine of
// memorySendfileRange's figures, sending a short range's chunks wins: Held
// stops at a chunk WriteTo would send from the file when the range is
// that short.
func (r *Reader) Held(dst [][]byte, limit int64) [][]byte {
	if r.err != nil || r.pos >= r.end || limit <= 0 {
		return dst
	}
	c := r.s.chunk
	idx := r.enter()
	for j, got := idx, int64(0); got < limit && j*c < r.end; j++ {
		ch := r.cc
		if j != idx {
			i := j - r.pinFrom
			if i < 0 || i >= int64(r.npins) {
				break
			}
			ch = r.pins[i].c
		}
		if ch == nil {
			break
		}
		lo, hi := max(r.pos, j*c)-j*c, min(r.end, (j+1)*c)-j*c
		if int64(len(ch.data)) < hi {
			break
		}
		if r.short && r.sendable(ch, hi-lo) {
			break // sent from the arena's file (memorySendfileRange)
		}
		n := min(hi-lo, limit-got)
		dst = append(dst, ch.data[lo:lo+n])
		got += n
	}
	return dst
}

// Discard consumes the next n bytes of the range, which Held returned and
// the caller has written.
func (r *Reader) Discard(n int64) {
	for n > 0 && r.err == nil && r.pos < r.end {
		r.enter()
		if r.cc == nil {
			r.err = fmt.Errorf("chunk %d of %s: discarding bytes memory does not hold", r.idx, r.meta.Key)
			return
		}
		_, size := r.part(int64(len(r.cur)))
		k := min(n, size)
		r.countCopied(r.cc, size)
		r.advance(k)
		n -= k
	}
}

// countCopied counts a part of n bytes of memory chunk c copied out, toward
// memorySendfileAfter: a large part, until the chunk has shown it is read
// again and again.
func (r *Reader) countCopied(c *chunk, n int64) {
	if c.a != nil && n >= r.s.sendMin && c.copied.Load() < memorySendfileAfter*int64(len(c.data)) {
		c.copied.Add(n)
	}
}

// sendable reports whether a part of n bytes of memory chunk c goes out
// from the arena's file (see memorySection).
func (r *Reader) sendable(c *chunk, n int64) bool {
	return c.a != nil && c.a.file != nil && !c.a.noSend.Load() && n >= r.s.sendMin &&
		c.copied.Load() >= memorySendfileAfter*int64(len(c.data))
}

// Pin resolves the chunks the Reader will send, up to max (at most
// PinChunks) from the start of its range, and holds them until it reaches
// them: a chunk found in memory or on disk now is served from there even if
// it is evicted meanwhile. It returns how many of the range's chunks it
// found in memory and only on disk, and how many chunks the range spans;
// chunks past the pinned ones are counted as they are now, without holding
// them. This is what makes a Cache-Status computed from it exact for every
// response of up to max chunks. Call it once, before reading.
func (r *Reader) Pin(max int) (mem, onDisk, total int) {
	if r.err != nil || r.pos >= r.end {
		return 0, 0, 0
	}
	c := r.s.chunk
	first, last := r.pos/c, (r.end-1)/c
	total = int(last - first + 1)
	max = r.s.takePins(min(max, PinChunks, total))
	r.pinFrom, r.npins, r.pinsHeld = first, max, max
	for i := range max {
		c, dc := r.s.resident(r.meta, first+int64(i))
		r.pins[i] = pin{c, dc}
		switch {
		case c != nil:
			mem++
		case dc != nil:
			onDisk++
		}
	}
	if rest := first + int64(max); rest <= last {
		m, d, _ := r.s.Residency(r.meta, rest*c, r.end-rest*c)
		mem, onDisk = mem+m, onDisk+d
	}
	return mem, onDisk, total
}

// WaitFirst waits until the first chunk the Reader sends is known to be
// coming: held by a tier (or pinned), or its flight's source answered with
// a version that matches. It starts that flight if need be, and returns
// its failure (the origin package's errors, or ErrVersionChanged) so a
// server can answer with an error status before it sends headers, rather
// than send a 200 and cut it short. Call it after Pin, before reading.
func (r *Reader) WaitFirst(ctx context.Context) error {
	if r.err != nil || r.pos >= r.end {
		return r.err
	}
	r.enter()
	f := r.f
	if f == nil {
		return nil
	}
	select {
	case <-f.ready:
	case <-ctx.Done():
		return fmt.Errorf("waiting for chunk %d of %s: %w", r.idx, r.meta.Key, ctx.Err())
	}
	switch {
	case f.err != nil:
		return f.err
	case f.meta.version != r.meta.version:
		return fmt.Errorf("%s: %w", r.meta.Key, ErrVersionChanged)
	}
	return nil
}

// Close releases the Reader; it must not be used afterwards. Flights it
// joined carry on for the cache.
func (r *Reader) Close() error {
	s := r.s
	r.leave()
	if r.sp != nil {
		r.sp.detach()
	}
	if r.spAhead != nil {
		r.spAhead.detach()
	}
	for i := range r.npins {
		if dc := r.pins[i].dc; dc != nil {
			dc.Close()
		}
		r.pins[i].c.unref()
	}
	if r.pinsHeld > 0 {
		s.pinned.Add(-int64(r.pinsHeld))
	}
	buf := r.buf
	*r = Reader{buf: buf}
	if s != nil {
		s.readers.Put(r)
	}
	return nil
}

// clientGone reports whether err is the client's connection failing (it
// went away or stopped reading), not the disk.
func clientGone(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout())
}

// fileSection is bytes [pos, end) of a disk chunk's open file, or of the
// arena's file for a memory chunk, handed to a writer's ReadFrom. A writer
// that recognises it by SendfileSection (a server's TCP connection) sends
// it with sendfile(2) from the explicit offset; any other reads it with
// Read (as does a buffered writer topping up its buffer first). The file is
// shared with the other readers of the chunk: it is read only at explicit
// offsets (pread, or a copy from the arena's mapping), never at its file
// offset. It does not implement io.WriterTo, so that a writer's
// ReadFrom falling back to a copy reads it rather than hands itself back.
type fileSection struct {
	f        *os.File
	pos, end int64
	mapped   []byte // the file's bytes, mapped (the arena's): Read copies from here
}

// Read implements io.Reader, reading at the section's offset. A file that
// ends early ends the section early: the caller counts what it got.
func (s *fileSection) Read(p []byte) (int, error) {
	if s.pos >= s.end {
		return 0, io.EOF
	}
	if int64(len(p)) > s.end-s.pos {
		p = p[:s.end-s.pos]
	}
	if s.mapped != nil {
		n := copy(p, s.mapped[s.pos:s.end])
		s.pos += int64(n)
		return n, nil
	}
	n, err := s.f.ReadAt(p, s.pos)
	s.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// SendfileSection returns the file's descriptor and the part of the file
// left to send: n bytes from file offset off. The descriptor stays valid
// while the section is being written; it must not be closed, and its file
// offset must not be used. Report the bytes sent with Sent.
func (s *fileSection) SendfileSection() (fd uintptr, off, n int64) {
	return s.f.Fd(), s.pos, s.end - s.pos
}

// Sent records that n more bytes of the section were sent.
func (s *fileSection) Sent(n int64) { s.pos += n }

// takePins takes up to n pins from the Store's budget and returns how many
// it got; the caller gives them back (Reader.enter, Reader.Close).
func (s *Store) takePins(n int) int {
	for {
		held := s.pinned.Load()
		k := min(int64(n), s.pinMax-held)
		if k <= 0 {
			if n > 0 {
				s.pinDenied.Add(int64(n))
			}
			return 0
		}
		if s.pinned.CompareAndSwap(held, held+k) {
			if k < int64(n) {
				s.pinDenied.Add(int64(n) - k)
			}
			return int(k)
		}
	}
}
