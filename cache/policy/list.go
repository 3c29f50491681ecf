package policy

// entry is one key known to a policy: resident, or a ghost (history only).
// It sits on exactly one of its policy's lists, named by where.
type entry struct {
	prev, next *entry
	key        uint64
	size       int64
	where      uint8 // which list of the policy holds the entry; 0 for none
	freq       uint8 // S3-FIFO access counter
}

// list is an intrusive circular doubly linked list of entries with a
// sentinel, counting its entries and their bytes. The front is the most
// recently inserted (MRU) end, the back the oldest (LRU) end. A list must not
// be copied after init.
type list struct {
	root  entry
	len   int
	bytes int64
}

func (l *list) init() {
	l.root.next = &l.root
	l.root.prev = &l.root
}

// pushFront inserts e at the front and records that it is on list where.
func (l *list) pushFront(e *entry, where uint8) {
	e.where = where
	e.prev = &l.root
	e.next = l.root.next
	e.prev.next = e
	e.next.prev = e
	l.len++
	l.bytes += e.size
}

// remove unlinks e, which must be on l.
func (l *list) remove(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	e.where = 0
	l.len--
	l.bytes -= e.size
}

// moveToFront moves e, which must be on l, to the front.
func (l *list) moveToFront(e *entry) {
	if l.root.next == e {
		return
	}
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev = &l.root
	e.next = l.root.next
	e.prev.next = e
	e.next.prev = e
}

// back returns the oldest entry, or nil if l is empty.
func (l *list) back() *entry {
	if l.len == 0 {
		return nil
	}
	return l.root.prev
}

// before returns the entry in front of e (the next younger one), or nil when e
// is the front.
func (l *list) before(e *entry) *entry {
	if e.prev == &l.root {
		return nil
	}
	return e.prev
}

// maxFree bounds the entries an index keeps for reuse, so that a burst of
// Remove calls does not pin memory forever.
const maxFree = 1024

// index maps keys to their entries and recycles released entries, so that a
// steady stream of evictions and insertions does not allocate.
type index struct {
	m     map[uint64]*entry
	free  *entry // singly linked through next
	nfree int
}

func newIndex() index {
	return index{m: make(map[uint64]*entry)}
}

func (x *index) get(key uint64) *entry {
	return x.m[key]
}

// insert creates the entry for key, which must not be present.
func (x *index) insert(key uint64, size int64) *entry {
	e := x.free
	if e != nil {
		x.free = e.next
		x.nfree--
		*e = entry{}
	} else {
		e = new(entry)
	}
	e.key = key
	e.size = size
	x.m[key] = e
	return e
}

// release forgets e, which must already be off every list.
func (x *index) release(e *entry) {
	delete(x.m, e.key)
	if x.nfree < maxFree {
		*e = entry{next: x.free}
		x.free = e
		x.nfree++
	}
}

// evict releases e, which must already be off every list, and reports it to
// onEvict.
func (x *index) evict(e *entry, onEvict Evicted) {
	key, size := e.key, e.size
	x.release(e)
	if onEvict != nil {
		onEvict(key, size)
	}
}
