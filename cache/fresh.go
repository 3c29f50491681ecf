package cache

// Fresh returns the version the index holds for the object at key view if
// it is fresh for req (nil: arriving now) and does not vary on request
// fields: the answer Lookup would give as a Hit, found without copying the
// key. view may be a view of a request buffer (a fasthttp request's URI):
// Fresh only looks it up and keeps nothing of it; the Meta it returns, and
// its Key, are owned by the Store. When it reports false (unknown, stale,
// varying, a remembered status answer) the caller makes an owned Key
// (NewKey) and asks Lookup or LookupRange, which may keep it.
func (s *Store) Fresh(view string, req Request) (*Meta, bool) {
	e, ok := s.objs.get(view)
	if !ok || e.vary != nil || e.meta == nil || !e.meta.Fresh(s.now(req)) {
		return nil, false
	}
	return e.meta, true
}
