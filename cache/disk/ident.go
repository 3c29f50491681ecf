package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// DefaultCheckInterval is how often the store checks that each cache dir is
// still the one it opened when Options.CheckInterval is 0.
const DefaultCheckInterval = 10 * time.Second

// errDirChanged marks a cache dir whose path no longer leads to the
// directory (or lock file) Open found there: removed, replaced, unmounted.
// It is a disk fault: the disk is taken out of service.
var errDirChanged = errors.New("cache directory replaced or removed")

// fileID identifies a file: its device and inode numbers.
type fileID struct{ dev, ino uint64 }

func (id fileID) String() string { return fmt.Sprintf("device %d inode %d", id.dev, id.ino) }

// dirChanged returns the error taking d out of service because of what
// changed.
func dirChanged(d *disk, what string) error {
	return fmt.Errorf("disk: %w: %s: %s", errDirChanged, d.path, what)
}

// identify records the identity of d's directory (fi) and of its lock file,
// when the FS reports them (OSFS does; test FSes may not: then d is not
// checked).
func (s *Store) identify(d *disk, fi fs.FileInfo) {
	d.dirID, d.haveID = fileIdentity(fi)
	if !d.haveID {
		return
	}
	lfi, err := d.lock.Stat()
	if err == nil {
		d.lockID, d.haveLockID = fileIdentity(lfi)
	}
}

// isMountPoint reports whether the directory path (described by fi) is a
// mount point: "/", or on another device than its parent. A bind mount of a
// directory of the same file system is not seen as one.
func (s *Store) isMountPoint(path string, fi fs.FileInfo) (bool, error) {
	parent := filepath.Dir(path)
	if parent == path {
		return true, nil
	}
	id, ok := fileIdentity(fi)
	if !ok {
		return false, fmt.Errorf("cannot tell whether %s is a mount point: no device number", path)
	}
	pfi, err := s.fs.Stat(parent)
	if err != nil {
		return false, err
	}
	pid, ok := fileIdentity(pfi)
	if !ok {
		return false, fmt.Errorf("cannot tell whether %s is a mount point: no device number for %s", path, parent)
	}
	return id.dev != pid.dev, nil
}

// checkDir checks that d's path still leads to the directory and lock file
// Open found (and, with Dir.RequireMount, that it is still a mount point).
// It returns an error wrapping errDirChanged that says what changed, or
// another error when the check itself failed (an I/O error of the disk).
// It does nothing when the FS does not report file identities.
func (s *Store) checkDir(d *disk) error {
	if !d.haveID {
		return nil
	}
	fi, err := s.fs.Stat(d.path)
	switch {
	case notExist(err):
		return dirChanged(d, fmt.Sprintf("the directory was removed (%v)", err))
	case err != nil:
		return fmt.Errorf("disk: check cache dir %s: %w", d.path, err)
	case !fi.IsDir():
		return dirChanged(d, "the path is no longer a directory")
	}
	if id, _ := fileIdentity(fi); id != d.dirID {
		return dirChanged(d, fmt.Sprintf("the path now leads to another directory (%v, was %v): removed and re-created, renamed, or unmounted", id, d.dirID))
	}
	if d.haveLockID {
		lockName := filepath.Join(d.path, lockFileName)
		lfi, err := s.fs.Stat(lockName)
		switch {
		case notExist(err):
			return dirChanged(d, "its lock file was removed, so another process could lock the directory")
		case err != nil:
			return fmt.Errorf("disk: check cache dir %s: %w", d.path, err)
		}
		if id, _ := fileIdentity(lfi); id != d.lockID {
			return dirChanged(d, fmt.Sprintf("its lock file was replaced (%v, was %v), so another process could lock the directory", id, d.lockID))
		}
	}
	if d.requireMount {
		mp, err := s.isMountPoint(d.path, fi)
		if err != nil {
			return fmt.Errorf("disk: check cache dir %s: %w", d.path, err)
		}
		if !mp {
			return dirChanged(d, "it is no longer a mount point (Dir.RequireMount)")
		}
	}
	return nil
}

// checker checks every disk in service every interval until Close, taking
// out of service those whose directory changed.
func (s *Store) checker(interval time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.checkAll()
	}
}

// checkAll checks every disk in service once.
func (s *Store) checkAll() {
	for _, d := range s.disks {
		s.mu.Lock()
		in := d.inService
		s.mu.Unlock()
		if !in {
			continue
		}
		if err := s.checkDir(d); err != nil {
			s.diskFailed(d, err)
			continue
		}
		s.fitBudget(d)
	}
}
