package disk

import (
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
)

// DefaultOpenFiles is the default of Options.OpenFiles: how many verified
// chunk files the store keeps open between Gets.
const DefaultOpenFiles = 4096

// ofile is an open chunk file, shared by the Chunks Get hands out for it.
// While it is in the store's fd cache, its index entry holds it (e.of) and
// it is on the cache's LRU list; it is closed after its last user lets go.
type ofile struct {
	f    File
	osf  *os.File // f, when it is an OS file (sendfile, fstat)
	fd   int      // osf's descriptor; -1 without osf
	crc  uint32   // payload CRC-32C, from the header read when it was opened
	refs atomic.Int32

	// guarded by Store.mu
	e          *entry // the entry holding it; nil when not cached
	prev, next *ofile // LRU list (Store.fdList), most recently used first
}

// newOFile wraps f, just opened and checked, with one reference: its
// first user's.
func newOFile(f File, crc uint32) *ofile {
	of := &ofile{f: f, fd: -1, crc: crc}
	if osf, ok := f.(*os.File); ok {
		of.osf = osf
		if haveFstat {
			of.fd = int(osf.Fd())
		}
	}
	of.refs.Store(1)
	return of
}

// release drops a reference; the last one closes the file.
func (of *ofile) release() {
	if of.refs.Add(-1) == 0 {
		_ = of.f.Close() // read only: nothing to lose
	}
}

// check makes sure that the file of a cached ofile is still the indexed
// chunk's: still linked (not deleted or replaced behind the store's back)
// and of the size its header gave (not truncated or extended). It reads
// nothing else: the header and payload were checked when it was opened.
// It reports whether the file was modified since it was stamped with
// written (stamp.go): then the caller verifies its payload again.
func (of *ofile) check(d *disk, id ID, size, written int64) (changed bool, err error) {
	var sz, mtime int64
	var links uint64
	if of.fd >= 0 {
		if sz, links, mtime, err = fstat(of.fd); err != nil {
			return false, fmt.Errorf("disk: stat chunk %s: %w", d.chunkPath(id.Key, id.Index), err)
		}
	} else {
		fi, err := of.f.Stat()
		if err != nil {
			return false, fmt.Errorf("disk: stat chunk %s: %w", d.chunkPath(id.Key, id.Index), err)
		}
		sz, links, mtime = fi.Size(), 1, fi.ModTime().UnixNano()
		if n, ok := fileLinks(fi); ok {
			links = n
		}
	}
	if links == 0 {
		path := d.chunkPath(id.Key, id.Index)
		return false, fmt.Errorf("disk: chunk %s: open file unlinked: %w", path, &fs.PathError{Op: "fstat", Path: path, Err: fs.ErrNotExist})
	}
	if sz != size {
		return false, fmt.Errorf("disk: chunk %s: %w: %d bytes, want %d", d.chunkPath(id.Key, id.Index), errCorrupt, sz, size)
	}
	return !d.stamped(mtime, written), nil
}

// fdCache is the store's cache of open chunk files: an LRU list of at
// most max ofiles, each held by its index entry. Guarded by Store.mu.
type fdCache struct {
	max  int
	n    int
	head ofile // sentinel: head.next is the most recently used
	hits atomic.Int64
}

func (c *fdCache) init(max int) {
	c.max = max
	c.head.prev, c.head.next = &c.head, &c.head
}

func (c *fdCache) unlink(of *ofile) {
	of.prev.next, of.next.prev = of.next, of.prev
	of.prev, of.next = nil, nil
}

func (c *fdCache) pushFront(of *ofile) {
	of.prev, of.next = &c.head, c.head.next
	c.head.next.prev = of
	c.head.next = of
}

// fdTouchLocked makes of the most recently used of the cached files.
func (s *Store) fdTouchLocked(of *ofile) {
	if s.fds.head.next != of {
		s.fds.unlink(of)
		s.fds.pushFront(of)
	}
}

// fdAddLocked caches of (which has a reference for the cache already) as
// e's open file, closing the least recently used ones beyond the bound
// (after their last users).
func (s *Store) fdAddLocked(e *entry, of *ofile) {
	e.of, of.e = of, e
	s.fds.pushFront(of)
	s.fds.n++
	for s.fds.n > s.fds.max {
		s.fdDropLocked(s.fds.head.prev.e)
	}
}

// fdDropLocked takes e's open file, if any, out of the cache; it is closed
// after its last user.
func (s *Store) fdDropLocked(e *entry) {
	of := e.of
	if of == nil {
		return
	}
	s.fds.unlink(of)
	s.fds.n--
	e.of, of.e = nil, nil
	of.release()
}

// fdDropAllLocked empties the cache (at Close).
func (s *Store) fdDropAllLocked() {
	for s.fds.n > 0 {
		s.fdDropLocked(s.fds.head.prev.e)
	}
}
