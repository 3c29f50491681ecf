package cache

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mapArenaFile maps length bytes of a new memory file (memfd_create(2)) to
// hold the arena, so that a chunk held in memory can be sent from the file
// with sendfile(2) like a chunk on disk: the kernel references the pages
// instead of copying them into socket buffers. It fails where the kernel
// may back the file with huge pages regardless of the mapping's advice
// (shmem_enabled "force"): a hole punched in part of a huge page zeroes
// that part in place, which a page still queued on a socket would send.
func mapArenaFile(length int64) ([]byte, *os.File, error) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/shmem_enabled"); err == nil && bytes.Contains(b, []byte("[force]")) {
		return nil, nil, fmt.Errorf("shmem_enabled is force: huge pages cannot be turned off for the arena's file")
	}
	fd, err := unix.MemfdCreate("edgecache-arena", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "edgecache-arena")
	if err := f.Truncate(length); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("sizing the arena file to %d bytes: %w", length, err)
	}
	mem, err := unix.Mmap(fd, 0, int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("mapping the arena file (%d bytes): %w", length, err)
	}
	if err := unix.Madvise(mem, unix.MADV_NOHUGEPAGE); err != nil {
		unix.Munmap(mem)
		f.Close()
		return nil, nil, fmt.Errorf("madvise(MADV_NOHUGEPAGE) on the arena file: %w", err)
	}
	return mem, f, nil
}

// mapAnon maps length bytes of anonymous memory, reserved rather than
// committed (MAP_NORESERVE): the arena where it has no file.
func mapAnon(length int64) ([]byte, error) {
	return unix.Mmap(-1, 0, int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
}

// populate backs mem with memory now (MADV_POPULATE_WRITE, Linux 5.14).
func populate(mem []byte) error { return unix.Madvise(mem, unix.MADV_POPULATE_WRITE) }

// writev is writev(2).
func writev(fd int, iov [][]byte) (int, error) { return unix.Writev(fd, iov) }

// dropPages takes the pages of bytes [off, off+n) of the arena's file out
// of the file (fallocate(2) FALLOC_FL_PUNCH_HOLE): pages a socket still
// references keep their bytes until it lets go of them, and the range
// gets fresh pages when it is next written. n and off are multiples of the
// page size.
func dropPages(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
