// Package policy implements byte-budgeted cache replacement policies over
// uint64 keys: LRU, 2Q, ARC, S3-FIFO and W-TinyLFU.
//
// A policy decides which keys are resident; it holds no values. Callers hash
// their own keys to uint64 and give every entry a size in bytes (> 0). The
// sum of the sizes of the resident entries (Bytes) never exceeds the byte
// budget (Capacity) when a method returns. Policies that keep history (ghost
// keys of evicted entries, frequency sketches) bound it relative to the
// capacity; history does not count toward Bytes.
//
// The protocol is the one of a cache in front of a slow store:
//
//	if !p.Get(key) {        // miss
//		fetch the object
//		p.Add(key, size)    // admit it, or not
//	}
//
// Get records the access (hit or miss, for the policies that track
// frequency); Add offers the key after a miss. A policy may also name the
// entry it would evict next (Victimizer: LRU and ARC do). Entries dropped to make
// room are reported through the Evicted callback given at construction;
// Remove drops a key without calling it.
//
// Policies are not safe for concurrent use: callers serialize all calls
// (including Len, Bytes and Capacity) with their own lock. The Evicted
// callback runs while the policy is in the middle of an operation and must not
// call back into the policy.
//
// Every operation is O(1) amortized (beyond the evictions it causes), with
// one exception: TinyLFU compares a candidate with each victim it would
// displace, so admitting an entry costs O(number of entries it would evict)
// even if it is then rejected. Entries sit on intrusive doubly linked lists
// indexed by a map, and entry structs released by evictions are reused, so a
// steady stream of Get and Add does not allocate.
package policy

import (
	"fmt"
	"strings"
)

// Evicted is called for every entry a policy drops to make room (not for Remove).
type Evicted func(key uint64, size int64)

// Policy is a byte-budgeted cache replacement policy over uint64 keys.
type Policy interface {
	// Name returns the policy's name as accepted by New ("lru", "2q", ...).
	Name() string
	// Get reports whether key is resident and, if so, records the hit.
	Get(key uint64) bool
	// Add offers key of size bytes after a miss (Get returned false). The policy
	// admits it (evicting others through the Evicted callback until it fits) or
	// rejects it, and reports whether key is now resident. Adding a resident key
	// updates its size. An entry larger than the capacity is always rejected.
	//
	// A size <= 0 is rejected like an oversize one. When Add rejects a key that
	// was resident (its new size is not acceptable), the key is dropped without
	// calling Evicted, as by Remove.
	Add(key uint64, size int64) bool
	// Remove drops key if resident, without calling Evicted.
	Remove(key uint64)
	// Len returns the number of resident entries; Bytes their total size.
	Len() int
	// Bytes returns the total size of the resident entries.
	Bytes() int64
	// Capacity returns the byte budget.
	Capacity() int64
	// Trim evicts entries, in the policy's eviction order and through the
	// Evicted callback, until Bytes() <= target (a negative target counts
	// as 0). The capacity does not change.
	Trim(target int64)
}

// Victimizer is implemented by a policy that can name the entry its next
// eviction would drop (LRU: the least recently used), for a caller that
// decides for itself whether an entry is worth that victim.
type Victimizer interface {
	// Victim returns the key the next eviction would drop, without
	// recording an access; ok is false when nothing is resident.
	Victim() (key uint64, ok bool)
}

// The policies implement Policy.
var (
	_ Policy = (*LRU)(nil)
	_ Policy = (*TwoQ)(nil)
	_ Policy = (*ARC)(nil)
	_ Policy = (*S3FIFO)(nil)
	_ Policy = (*TinyLFU)(nil)

	_ Victimizer = (*LRU)(nil)
	_ Victimizer = (*ARC)(nil)
)

// Names lists the policies New knows, in a stable order: lru, 2q, arc, s3fifo, tinylfu.
func Names() []string {
	return []string{"lru", "2q", "arc", "s3fifo", "tinylfu"}
}

// New returns the named policy with the given byte capacity (> 0). onEvict may be nil.
func New(name string, capacity int64, onEvict Evicted) (Policy, error) {
	var mk func(int64, Evicted) Policy
	switch name {
	case "lru":
		mk = func(c int64, f Evicted) Policy { return NewLRU(c, f) }
	case "2q":
		mk = func(c int64, f Evicted) Policy { return New2Q(c, f) }
	case "arc":
		mk = func(c int64, f Evicted) Policy { return NewARC(c, f) }
	case "s3fifo":
		mk = func(c int64, f Evicted) Policy { return NewS3FIFO(c, f) }
	case "tinylfu":
		mk = func(c int64, f Evicted) Policy { return NewTinyLFU(c, f) }
	default:
		return nil, fmt.Errorf("policy: unknown policy %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	if capacity <= 0 {
		return nil, fmt.Errorf("policy: %s: capacity must be > 0 bytes, got %d", name, capacity)
	}
	return mk(capacity, onEvict), nil
}

// checkCapacity panics when a constructor is given a capacity New would
// refuse; the exported constructors document that they panic.
func checkCapacity(name string, capacity int64) {
	if capacity <= 0 {
		panic(fmt.Sprintf("policy: %s: capacity must be > 0 bytes, got %d", name, capacity))
	}
}

// acceptable reports whether an entry of size bytes may be resident in a
// cache of capacity bytes.
func acceptable(size, capacity int64) bool {
	return size > 0 && size <= capacity
}
