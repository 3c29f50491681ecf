package cache

import "hash/maphash"

// hitWindow is the disk tier's promotion window: the last n chunks hit
// once on disk, in the order of those hits. A chunk hit again while in the
// window leaves it (take reports true: promote it); a chunk hit for the
// first time enters it, and the oldest entry falls out. Entries are 64-bit
// hashes of chunk ids in a ring, with a map from hash to ring slot, so a
// hit allocates nothing once the map has grown to the window (the LRU list
// it replaces allocated an element per first hit). Two chunks whose hashes
// collide (2^-64) share an entry: at worst one is promoted a hit early. A
// chunk that leaves on its second hit keeps its slot until the ring comes
// round to it, so the window spans n first hits, as many distinct disk hits
// as the memory tier holds chunks. It is not safe for concurrent use.
type hitWindow struct {
	seed maphash.Seed
	ring []uint64 // hashes in hit order from next on; 0: free
	next int      // the oldest slot, overwritten by the next first hit
	pos  map[uint64]int32
}

// newHitWindow returns an empty window of n (at least 1) chunks.
func newHitWindow(n int) *hitWindow {
	n = max(n, 1)
	return &hitWindow{seed: maphash.MakeSeed(), ring: make([]uint64, n), pos: make(map[uint64]int32, n)}
}

// take records a disk hit on id and reports whether it is the chunk's
// second within the window (it then leaves the window).
func (w *hitWindow) take(id chunkID) bool {
	h := max(id.hash(w.seed), 1) // 0 marks a free slot
	if i, ok := w.pos[h]; ok {
		delete(w.pos, h)
		w.ring[i] = 0
		return true
	}
	if old := w.ring[w.next]; old != 0 {
		delete(w.pos, old)
	}
	w.ring[w.next] = h
	w.pos[h] = int32(w.next)
	w.next = (w.next + 1) % len(w.ring)
	return false
}
