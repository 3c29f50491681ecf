//go:build unix

package disk

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive advisory lock on f, so that two daemons never
// share a cache directory. Files not from the os package are not locked.
func lockFile(f File, name string) error {
	of, ok := f.(*os.File)
	if !ok {
		return nil
	}
	if err := syscall.Flock(int(of.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if err == syscall.EWOULDBLOCK {
			return fmt.Errorf("lock %s: cache dir in use by another process", name)
		}
		return fmt.Errorf("lock %s: %w", name, err)
	}
	return nil
}

// openScanDir returns a descriptor of dir for readHead, or -1 when fsys is
// not OSFS (readHead then goes through fsys). The caller closes it with
// closeScanDir.
func openScanDir(fsys FS, dir string) int {
	if _, ok := fsys.(OSFS); !ok {
		return -1
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1 // readHead falls back to fsys and reports the error
	}
	return fd
}

func closeScanDir(fd int) {
	if fd >= 0 {
		syscall.Close(fd)
	}
}

// openNonblock is added to the flags of every file the store opens to
// read: opening a FIFO someone left in a cache dir would otherwise block
// for ever (the scan never ends, a Get hangs, shutdown waits for them).
// It changes nothing for a regular file.
const openNonblock = syscall.O_NONBLOCK

// readHead reads the start of the file name in dir into buf and returns the
// bytes read, the file's size and its identity. With a descriptor of dir (openScanDir) it
// uses four raw system calls (openat, fstat, pread, close) instead of the os
// package's six and a full path walk, which speeds up the start-up scan.
func readHead(fsys FS, dirfd int, dir, name string, buf []byte) (int, head, error) {
	path := dir + "/" + name
	if dirfd < 0 {
		return readHeadFS(fsys, path, buf)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|openNonblock, 0)
	for err == unix.EINTR {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|openNonblock, 0)
	}
	if err != nil {
		return 0, head{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, head{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return 0, head{}, &os.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	n, err := syscall.Pread(fd, buf, 0)
	for err == syscall.EINTR {
		n, err = syscall.Pread(fd, buf, 0)
	}
	if err != nil {
		return 0, head{}, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return n, head{size: st.Size, id: fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, haveID: true}, nil
}

// fileIdentity returns the device and inode of the file fi describes, if
// its Sys() is a *syscall.Stat_t.
func fileIdentity(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// fstat returns the size, link count and modification time (Unix ns) of
// the open file fd, with one system call and no allocation.
func fstat(fd int) (size int64, links uint64, mtime int64, err error) {
	var st unix.Stat_t
	for {
		err = unix.Fstat(fd, &st)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, 0, 0, err
	}
	return st.Size, uint64(st.Nlink), st.Mtim.Nano(), nil
}

// fileLinks returns the link count of the file fi describes, if its Sys()
// is a *syscall.Stat_t.
func fileLinks(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}

// openFileLimit returns the soft limit on open files (RLIMIT_NOFILE), or 0
// if unknown.
func openFileLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return uint64(rl.Cur)
}

// freeSpace returns the bytes free to an unprivileged user on the file
// system of path (statfs(2)).
func freeSpace(path string) (int64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, false
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), true
}

// haveFstat says whether fstat works here.
const haveFstat = true

// rename is rename(2), with os.Rename's error type.
func rename(oldpath, newpath string) error {
	if err := syscall.Rename(oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
