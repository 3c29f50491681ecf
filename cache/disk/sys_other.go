//go:build !unix

package disk

import (
	"errors"
	"io/fs"
	"os"
)

// openNonblock is 0 where O_NONBLOCK is not available.
const openNonblock = 0

// lockFile does nothing where flock is not available.
func lockFile(File, string) error { return nil }

func openScanDir(FS, string) int { return -1 }

func closeScanDir(int) {}

// readHead reads the start of the file name in dir into buf and returns the
// bytes read, the file's size and its identity if known.
func readHead(fsys FS, _ int, dir, name string, buf []byte) (int, head, error) {
	return readHeadFS(fsys, dir+"/"+name, buf)
}

// fileIdentity reports no identity where syscall.Stat_t is not available.
func fileIdentity(fs.FileInfo) (fileID, bool) { return fileID{}, false }

// fstat is not used where syscall.Stat_t is not available: OS files are
// checked through File.Stat.
func fstat(int) (int64, uint64, int64, error) { return 0, 0, 0, errors.ErrUnsupported }

// fileLinks reports no link count where syscall.Stat_t is not available.
func fileLinks(fs.FileInfo) (uint64, bool) { return 0, false }

// openFileLimit reports no limit where RLIMIT_NOFILE is not available.
func openFileLimit() uint64 { return 0 }

// freeSpace reports that the free space is not known here.
func freeSpace(string) (int64, bool) { return 0, false }

// haveFstat says whether fstat works here.
const haveFstat = false

// rename is os.Rename.
func rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
