// Package disktest damages and inspects cache directories for tests of the
// disk tier, as a failing disk or a stray write would: it knows the
// directory layout of package edgecache/cache/disk, nothing else.
package disktest

import (
	"os"
	"path/filepath"
	"testing"
)

// FlipByte flips the bits of the byte fromEnd bytes before the end of the
// file at path (1 is the last byte), in place: same inode, same size. A
// chunk file's payload is its end, so this damages the payload.
func FlipByte(tb testing.TB, path string, fromEnd int64) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, 1)
	off := fi.Size() - fromEnd
	if _, err := f.ReadAt(b, off); err != nil {
		tb.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		tb.Fatal(err)
	}
}

// ChunkFiles lists the chunk files of the cache directory dir (those under
// dir/chunks).
func ChunkFiles(dir string) []string {
	var files []string
	filepath.Walk(filepath.Join(dir, "chunks"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	return files
}
