//go:build !linux

package cache

import (
	"errors"
	"os"
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
