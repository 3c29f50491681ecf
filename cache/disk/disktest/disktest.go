// Package disktest damages and inspects cache directories for tests of the
// disk tier, as a failing disk or a stray write would: it knows the
// directory layout of package edgecache/cache/disk, nothing else.
package disktest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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

// RotByte is FlipByte below the file system: it damages the byte as bit
// rot on the medium would, and leaves the file's modification time as it
// was, so that the disk store's stamps cannot tell (the store then trusts
// a chunk it wrote or verified, and only a copy's or the scrubber's
// checksum finds the damage).
func RotByte(tb testing.TB, path string, fromEnd int64) {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	FlipByte(tb, path, fromEnd)
	if err := os.Chtimes(path, time.Time{}, fi.ModTime()); err != nil {
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
