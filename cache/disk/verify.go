package disk

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
)

// ErrChecksum is returned (wrapped, with the chunk's path, key and index) by
// Chunk.ReadAllVerified when the payload read does not match the CRC-32C in
// the chunk's header. The chunk has then been dropped from the index and its
// file deleted; the bytes read must not be used.
var ErrChecksum = errors.New("disk: payload checksum mismatch")

// suspectQueue is how many Suspect requests may wait for the verifier; more
// are dropped (the scrubber still reaches those chunks).
const suspectQueue = 64

// suspectReq is a chunk to verify in the background.
type suspectReq struct {
	d *disk
	h uint64
	e *entry
}

// reject handles a chunk file found bad while e (under handle h, on d) was
// its index entry; err says what is wrong (from open, check or a verified
// read). A disk fault takes d out of service. Otherwise, if e is still the
// current entry, it is dropped, its file deleted (unless the file vanished or
// holds another key's chunk, which is left to its owner), and the failure
// counted and logged: checksum mismatches in ChecksumFailures with a WARN
// naming path, key and index; other damage in Corrupt.
func (s *Store) reject(d *disk, h uint64, e *entry, path string, id ID, err error) {
	if shortOfResources(err) {
		s.resourceErrors.Add(1)
		s.warn.Log(slog.LevelWarn, "short of resources", "chunk not read: the process is short of file descriptors or memory (the disk stays in service)",
			"path", path, "error", err)
		return
	}
	if diskFault(err) {
		s.diskFailed(d, err)
		return
	}
	if notExist(err) {
		// A vanished file may be the first sign of a vanished directory.
		if cerr := s.checkDir(d); cerr != nil {
			s.diskFailed(d, cerr)
			return
		}
	}
	del := !notExist(err) && !errors.Is(err, errForeign)
	s.mu.Lock()
	current := !s.closed && s.idx[h] == e
	if current {
		if d.pol != nil {
			d.pol.Remove(h)
		}
		s.dropLocked(h, e, del)
		// Counted before the drop can be seen: whoever finds the chunk
		// gone finds it counted.
		switch {
		case errors.Is(err, ErrChecksum):
			s.checksumFailures.Add(1)
		default: // damaged, holding another chunk, or vanished: lost either way
			s.corrupt.Add(1)
		}
	}
	ps := s.takePendingLocked()
	s.mu.Unlock()
	s.unlink(ps)
	if !current {
		// Replaced, evicted or removed since it was looked up: whatever was
		// read belonged to a file that is no longer indexed.
		if errors.Is(err, ErrChecksum) {
			s.log.Debug("checksum mismatch in a chunk no longer indexed", "path", path, "key", id.Key, "index", id.Index)
		}
		return
	}
	switch {
	case notExist(err):
		s.warn.Log(slog.LevelWarn, "chunk file vanished", "chunk file vanished, dropped from the index", "path", path, "key", id.Key, "index", id.Index)
	case errors.Is(err, errForeign):
		s.log.Warn("chunk file holds another chunk, dropped from the index", "path", path, "error", err)
	case errors.Is(err, ErrChecksum):
		s.log.Warn("chunk checksum mismatch, dropped", "path", path, "key", id.Key, "index", id.Index)
	default:
		s.log.Warn("damaged chunk file, dropped", "path", path, "key", id.Key, "index", id.Index, "error", err)
	}
}

// ReadAllVerified reads the whole payload into dst, which must be exactly
// Len() bytes, and checks it against the payload CRC-32C of the chunk's
// header. Use it whenever the chunk's bytes are copied into user space (a
// promotion to memory, a copy to a connection that cannot take a file):
// unlike ReadAt, whose bytes are verified only on the first Get after a
// load, it catches bytes damaged in place at any time.
//
// On a mismatch the chunk is dropped from the index and its file deleted,
// Stats.ChecksumFailures is counted, a WARN is logged with the path, key and
// index, dst is zeroed and the error wraps ErrChecksum. A file that shrank is
// dropped the same way (counted in Corrupt, the error wraps
// io.ErrUnexpectedEOF); an I/O error takes the disk out of service. On any
// error the contents of dst must not be used.
func (c *Chunk) ReadAllVerified(dst []byte) error {
	if int64(len(dst)) != c.n {
		return fmt.Errorf("disk: read chunk %s: buffer of %d bytes for a payload of %d", c.path(), len(dst), c.n)
	}
	if c.of == nil {
		return fmt.Errorf("disk: read chunk %s: %w", c.path(), os.ErrClosed)
	}
	n, err := c.f.ReadAt(dst, c.off)
	if err != nil && (n < len(dst) || !errors.Is(err, io.EOF)) {
		clear(dst)
		if truncated(err) {
			err = fmt.Errorf("disk: chunk %s: %w: %w: the file ended after %d of %d payload bytes",
				c.path(), errCorrupt, io.ErrUnexpectedEOF, n, c.n)
		} else {
			err = fmt.Errorf("disk: read chunk %s: %w", c.path(), err)
		}
		c.s.reject(c.d, c.h, c.e, c.path(), c.id, err)
		return err
	}
	if crc32.Checksum(dst, castagnoli) != c.crc {
		clear(dst)
		err := fmt.Errorf("disk: chunk %s (key %q, index %d): %w", c.path(), c.id.Key, c.id.Index, ErrChecksum)
		c.s.reject(c.d, c.h, c.e, c.path(), c.id, err)
		return err
	}
	return nil
}

// Suspect asks the store to verify this chunk's file in the background (its
// header and payload checksum, read anew from the file): call it when a read
// or a sendfile of the chunk failed and the cause may be the file. A
// mismatch is handled as by ReadAllVerified (dropped, deleted, counted,
// logged). Suspect never blocks: a request made while the chunk is already
// queued, or while the queue is full, is dropped (the scrubber still
// reaches the chunk). It may be called after Close.
func (c *Chunk) Suspect() {
	if c.e == nil {
		return
	}
	c.s.suspect(c.d, c.h, c.e)
}

func (s *Store) suspect(d *disk, h uint64, e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.idx[h] != e || e.state != stateLive || e.suspect {
		return
	}
	select {
	case s.suspects <- suspectReq{d, h, e}:
		e.suspect = true
	default:
		s.log.Debug("verification queue full, suspect chunk left to the scrubber", "key", e.obj.key, "index", e.index)
	}
}

// verifier verifies the chunks queued by Suspect until Close.
func (s *Store) verifier() {
	defer s.bg.Done()
	for {
		select {
		case <-s.stop:
			return
		case r := <-s.suspects:
			s.verify(r.d, r.h, r.e)
		}
	}
}

// verify opens the file of entry e (handle h, on disk d) and checks its
// header and payload checksum, as the first Get after a load does. A bad
// file is rejected (see reject); a good one is marked verified. It returns
// the payload length and whether the file was checked at all (false: e was
// no longer indexed, or its disk no longer in service).
func (s *Store) verify(d *disk, h uint64, e *entry) (n int64, checked bool) {
	s.mu.Lock()
	if s.closed || s.idx[h] != e || e.state != stateLive || !d.inService {
		if s.idx[h] == e {
			e.suspect = false
		}
		s.mu.Unlock()
		return 0, false
	}
	id := ID{Key: e.obj.key, Index: e.index}
	path := s.entryPath(e)
	version, hlen, plen, written := e.version, int64(e.hlen), e.plen, e.written
	e.users.Add(1) // its file is not recycled while open here
	s.mu.Unlock()
	defer e.users.Add(-1)

	of, err := s.open(d, path, id, version, hlen, plen, false, written)
	if err != nil {
		s.reject(d, h, e, path, id, err)
		return plen, true
	}
	of.release()
	s.mu.Lock()
	if s.idx[h] == e {
		e.verified, e.suspect = true, false
	}
	s.mu.Unlock()
	return plen, true
}
