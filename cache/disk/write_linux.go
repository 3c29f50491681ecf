package disk

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// clearForReuse empties f, a recycled chunk file opened to write without
// O_TRUNC, for a chunk of size bytes, and reports whether it could (else
// the caller opens it again with O_TRUNC). It punches every block and page
// out of the file: the pages leave the page cache whole, so a socket still
// holding one (sendfile) keeps the old bytes, as with truncation. Then it
// cuts the file to size if it was longer: a hole, so nothing is zeroed in
// place. Truncation to zero, which O_TRUNC is, makes ext4 (auto_da_alloc)
// and XFS start the writeback of the new bytes when the file is closed, in
// the writer's time: 12% of a Put's CPU in BenchmarkPut, evicting, on
// Linux 6.18. A punch costs its own elsewhere: XFS, and ext4 in older
// kernels, first write back the punched range's dirty pages and wait,
// which a recycled file has only if its chunk was evicted within the
// writeback interval (30 s by default) of being written: a disk that turns
// over that fast.
func clearForReuse(f File, size int64) (bool, error) {
	of, ok := f.(*os.File)
	if !ok {
		return false, nil
	}
	fi, err := of.Stat()
	if err != nil {
		return false, err
	}
	old := fi.Size()
	if old > 0 {
		// Page-aligned at both ends, so no page is zeroed in place.
		n := (old + pageSize - 1) &^ (pageSize - 1)
		if err := unix.Fallocate(int(of.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, n); err != nil {
			return false, nil // not supported here: O_TRUNC
		}
	}
	if old > size {
		if err := of.Truncate(size); err != nil {
			return false, err
		}
	}
	return true, nil
}

// pageSize is the largest page size whose alignment clearForReuse needs.
const pageSize = 64 << 10

// writeBoth writes a then b to f: with writev(2) where f is an *os.File,
// one system call for a chunk's header and payload instead of two.
func writeBoth(f File, a, b []byte) error {
	of, ok := f.(*os.File)
	if !ok {
		return writeEach(f, a, b)
	}
	rc, err := of.SyscallConn()
	if err != nil {
		return writeEach(f, a, b)
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		iov := [][]byte{a, b}
		for len(iov[0])+len(iov[1]) > 0 {
			n, err := unix.Writev(int(fd), iov)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				werr = &os.PathError{Op: "write", Path: of.Name(), Err: err}
				return true
			}
			if n == 0 {
				werr = &os.PathError{Op: "write", Path: of.Name(), Err: io.ErrShortWrite}
				return true
			}
			for _, i := range []int{0, 1} {
				k := min(n, len(iov[i]))
				iov[i], n = iov[i][k:], n-k
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
