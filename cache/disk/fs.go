package disk

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// FS is the file system a Store works on: the few operations it uses. The
// default is OSFS. Tests wrap it to inject faults (EIO, ENOSPC, EROFS, ...).
// Every method reports errors as the os package does (*fs.PathError etc.),
// so that errors.Is(err, fs.ErrNotExist) identifies a missing file.
type FS interface {
	// Open opens a file for reading.
	Open(name string) (File, error)
	// OpenFile opens a file with os.OpenFile's flags and permissions.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Rename atomically replaces newpath with oldpath.
	Rename(oldpath, newpath string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Mkdir creates a directory; its parent must exist.
	Mkdir(path string, perm fs.FileMode) error
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(path string, perm fs.FileMode) error
	// ReadDir lists a directory.
	ReadDir(name string) ([]fs.DirEntry, error)
	// Stat describes a file, following symbolic links.
	Stat(name string) (fs.FileInfo, error)
}

// File is an open file of an FS. Files opened by OSFS are *os.File, which
// Chunk.Section hands out for sendfile.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	// Sync commits the file (or directory) to stable storage.
	Sync() error
	// Stat describes the open file.
	Stat() (fs.FileInfo, error)
}

// OSFS is the FS of the operating system, through the os package.
type OSFS struct{}

// Open implements FS: it opens the file to read, without blocking if it
// is a FIFO someone left in a cache dir (see openNonblock).
func (OSFS) Open(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Rename implements FS. On unix it is rename(2) alone: os.Rename first
// stats newpath to refine the error for a directory there, a path lookup
// per chunk written that cost 2% of a disk miss's CPU.
func (OSFS) Rename(oldpath, newpath string) error { return rename(oldpath, newpath) }

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Mkdir implements FS.
func (OSFS) Mkdir(path string, perm fs.FileMode) error { return os.Mkdir(path, perm) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// Stat implements FS.
func (OSFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// notExist reports whether err says a file is missing.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// truncated reports whether err is a read that ended early: the file is
// shorter than its header says, a corruption rather than a disk failure.
func truncated(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// shortOfResources reports whether err is the process or the system
// running short of file descriptors or memory (EMFILE, ENFILE, ENOMEM):
// the operation failed, but neither the file nor the disk is at fault. A
// request that meets it is a miss (a Put fails); nothing is dropped, and
// the disk stays in service. Slow clients holding many chunk files open
// under a low descriptor limit made a disk go out of service, its index
// dropped, until an operator cleared it.
func shortOfResources(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM)
}

// openRead opens the file at path to read it (FS.Open), with
// errNotRegular (damaged, not a disk fault) if it is not a regular file,
// and returns what its Stat said: callers need no second one.
func openRead(fsys FS, path string) (File, fs.FileInfo, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	return f, fi, nil
}

// diskFault reports whether err is a failure of the disk itself (EIO,
// EROFS, EACCES, ...) rather than a missing or damaged file, or a full
// file system (NoSpace, full.go). Callers at run time check
// shortOfResources first.
func diskFault(err error) bool {
	return err != nil && !notExist(err) && !truncated(err) && !NoSpace(err) &&
		!errors.Is(err, errCorrupt) && !errors.Is(err, ErrChecksum) && !errors.Is(err, errForeign)
}
