//go:build unix && !linux

package cache

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// mapArenaFile is only implemented on Linux: elsewhere the arena is an
// anonymous mapping and memory chunks are written, not sent from a file.
func mapArenaFile(length int64) ([]byte, *os.File, error) {
	return nil, nil, errors.New("a file-backed arena needs Linux (memfd_create)")
}

// dropPages is never called without an arena file.
func dropPages(f *os.File, off, n int64) error {
	return errors.New("a file-backed arena needs Linux")
}

// mapAnon maps length bytes of anonymous memory: the arena.
func mapAnon(length int64) ([]byte, error) {
	return unix.Mmap(-1, 0, int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
}

// populate reports that the kernel cannot back memory in advance here:
// the caller touches every page instead.
func populate([]byte) error { return errors.ErrUnsupported }

// writev writes the buffers of iov to fd one after the other.
func writev(fd int, iov [][]byte) (int, error) {
	n := 0
	for _, b := range iov {
		k, err := unix.Write(fd, b)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
