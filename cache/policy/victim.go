package policy

// Victimer is implemented by the policies that can name the entry they
// would evict next. A caller keeping bytes of the same budget outside the
// policy (the disk tier's ranked chunks) uses it to weigh that entry's
// recency, which it tracks itself, against its own entries' before it
// decides what to drop. It is optional: LRU implements it.
type Victimer interface {
	// Victim returns the key Trim would evict first, without evicting it
	// or recording a use; ok is false when no entry is resident.
	Victim() (key uint64, ok bool)
}

var _ Victimer = (*LRU)(nil)

// Victim returns the least recently used key (see Victimer).
func (p *LRU) Victim() (key uint64, ok bool) {
	key, _, ok = p.lru.GetOldest()
	return key, ok
}
