package disk

import "path/filepath"

// Has reports whether the index holds chunk id of the given version, without
// opening or verifying its file: a cheap residency check for Cache-Status.
func (s *Store) Has(id ID, version string) bool {
	h := s.handleOf(id.Key, id.Index)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.idx[h]
	return e != nil && e.state == stateLive && e.index == id.Index && e.obj.key == id.Key && e.version == version
}

// DefaultStateFile is the state file used when Options.StateFile is empty:
// edgecache-disks.state in the parent directory of the first cache dir.
func DefaultStateFile(firstDir string) string {
	return filepath.Join(filepath.Dir(cleanPath(firstDir)), "edgecache-disks.state")
}
