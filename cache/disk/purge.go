package disk

// Purge removes every indexed chunk (any version, written or being
// written) of the objects whose key match accepts, and returns the keys
// removed with their chunk and payload byte counts. It scans the index
// once under the store's lock (about 10-20 ns per chunk indexed, so tens of
// milliseconds for millions of chunks, during which Get and Put wait); the
// files are deleted after the lock is released. It is meant for the admin
// purge, not for serving.
func (s *Store) Purge(match func(key string) bool) (removed map[string]PurgedObject) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	matched := map[*object]bool{}
	for key, o := range s.objects {
		if match(key) {
			matched[o] = true
		}
	}
	if len(matched) == 0 {
		s.mu.Unlock()
		return nil
	}
	removed = map[string]PurgedObject{}
	for h, e := range s.idx {
		if !matched[e.obj] {
			continue
		}
		key := e.obj.key
		s.disks[e.disk].pol.Remove(h)
		if s.dropLocked(h, e, true) {
			p := removed[key]
			p.Chunks++
			p.Bytes += e.plen
			removed[key] = p
		}
	}
	ps := s.takePendingLocked()
	s.ops.Add(1)
	s.mu.Unlock()
	s.unlink(ps)
	s.ops.Done()
	return removed
}

// PurgedObject counts what Purge removed of one object.
type PurgedObject struct {
	Chunks int   // chunk files
	Bytes  int64 // payload bytes
}
