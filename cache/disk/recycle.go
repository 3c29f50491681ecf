package disk

import (
	"fmt"
	"os"
	"strconv"
)

// Recycling.
//
// A full disk deletes a chunk file for every chunk it stores, and creating
// and deleting a file cost more than writing its bytes: in BenchmarkPut at
// 256 KiB, ext4 spent about half of a Put's CPU finding a free inode (it
// skips inodes freed in the last minutes, one buffer lookup each, when it
// has no journal, as cache disks often do). So an evicted file is not
// deleted but renamed into tmp/ (up to spareMax per disk), and the next Put
// on that disk empties it and writes its chunk there: no inode allocated or
// freed, no directory entry made in tmp/.
//
// The file is emptied, not overwritten in place: sendfile(2) leaves the
// file's pages referenced by the socket until the peer has the bytes, well
// after the reader closed the chunk, and a write into those pages would
// change bytes not yet sent. Punching out its blocks (clearForReuse) or
// truncating it takes the pages out of the file (the socket keeps the old
// ones) and the write gets new pages.
//
// A file is recycled only when nothing can be reading it: the disk's index
// is fully loaded (a scan reads files by name) and its entry has no users
// (entry.users counts every Get and verification from the moment it looks
// the entry up until it closes the file, so a reader that opened the file
// before the eviction, or is opening it, keeps it from being recycled; the
// file is then deleted as before). Once dropped from the index an entry
// gets no new users. Renamed away from its chunk path, a recycled file is
// never opened by a reader again.
//
// Recycled files wait in tmp/, outside the disk's budget (at most spareMax
// chunks per disk); Open empties tmp/ as it does of a crash's temp files.

// spareMax bounds the recycled files waiting in one disk's tmp/.
const spareMax = 16

// takeSpare returns a recycled file of d to write, or "".
func (s *Store) takeSpare(d *disk) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(d.spare)
	if n == 0 {
		return ""
	}
	name := d.spare[n-1]
	d.spare = d.spare[:n-1]
	d.spareN--
	return name
}

// openTmp opens a temp file of d to write a chunk of size bytes to: a
// recycled file, emptied (clearForReuse, else O_TRUNC), or a new one.
func (s *Store) openTmp(d *disk, size int64) (f File, name string, err error) {
	for name = s.takeSpare(d); name != ""; name = s.takeSpare(d) {
		f, err = s.fs.OpenFile(name, os.O_WRONLY, 0o644)
		if err == nil {
			var cleared bool
			if cleared, err = clearForReuse(f, size); !cleared {
				f.Close()
				if err == nil {
					f, err = s.fs.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0o644)
				}
			}
		}
		if err == nil {
			s.recycled.Add(1)
			return f, name, nil
		}
		_ = s.fs.Remove(name)
		if !notExist(err) {
			return nil, "", fmt.Errorf("disk: open recycled %s: %w", name, err)
		}
	}
	name = d.tmp + "/" + s.nonce + "." + strconv.FormatUint(s.tmpSeq.Add(1), 36)
	f, err = s.fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if notExist(err) { // tmp/ removed behind our back
		if err = s.remakeDir(d, d.tmp); err == nil {
			f, err = s.fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("disk: create %s: %w", name, err)
	}
	return f, name, nil
}
