package disk

// Touch records a use of chunk id of the given version with the eviction
// policy, as a Get does, without opening its file, and reports whether the
// index holds it. A fill calls it for the files it finds held, so that
// what it writes next evicts what the manifest does not name before what
// it does.
func (s *Store) Touch(id ID, version string) bool {
	h := s.handleOf(id.Key, id.Index)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.idx[h]
	if s.closed || e == nil || e.state != stateLive || e.index != id.Index || e.obj.key != id.Key || e.version != version {
		return false
	}
	d := s.disks[e.disk]
	d.pol.Get(h)
	e.lastUse = s.now()
	d.used(e)
	return true
}
