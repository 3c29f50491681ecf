//go:build !unix

package disk

import "io/fs"

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
