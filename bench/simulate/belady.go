package simulate

import "context"

// heapEntry is a resident object in Belady's heap: its id and the index of
// its next request.
type heapEntry struct {
	next uint32
	id   uint32
}

// nextHeap is an indexed max-heap of resident objects keyed by next use:
// pos[id] is the object's index in h plus one, 0 if not resident.
type nextHeap struct {
	h   []heapEntry
	pos []uint32
}

func (q *nextHeap) less(i, j int) bool {
	// Max-heap on next use; ties (only between objects never used again)
	// broken by id so that runs are deterministic.
	if q.h[i].next != q.h[j].next {
		return q.h[i].next > q.h[j].next
	}
	return q.h[i].id > q.h[j].id
}

func (q *nextHeap) swap(i, j int) {
	q.h[i], q.h[j] = q.h[j], q.h[i]
	q.pos[q.h[i].id] = uint32(i + 1)
	q.pos[q.h[j].id] = uint32(j + 1)
}

func (q *nextHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *nextHeap) down(i int) {
	n := len(q.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && q.less(r, l) {
			c = r
		}
		if !q.less(c, i) {
			return
		}
		q.swap(i, c)
		i = c
	}
}

// push adds a non-resident id.
func (q *nextHeap) push(id, next uint32) {
	q.h = append(q.h, heapEntry{next: next, id: id})
	i := len(q.h) - 1
	q.pos[id] = uint32(i + 1)
	q.up(i)
}

// update sets the next use of a resident id.
func (q *nextHeap) update(id, next uint32) {
	i := int(q.pos[id] - 1)
	old := q.h[i].next
	q.h[i].next = next
	if next > old {
		q.up(i)
	} else {
		q.down(i)
	}
}

// pop removes and returns the id whose next use is furthest.
func (q *nextHeap) pop() uint32 {
	top := q.h[0].id
	last := len(q.h) - 1
	q.swap(0, last)
	q.h = q.h[:last]
	q.pos[top] = 0
	if last > 0 {
		q.down(0)
	}
	return top
}

// runBelady replays t against Belady's policy with capacity bytes and
// returns hits and hit bytes; seen, if not nil, is told each request's
// outcome in order. It checks ctx every few thousand requests.
func runBelady(ctx context.Context, t *Trace, capacity int64, seen func(i int, hit bool)) (hits, hitBytes int64, err error) {
	q := nextHeap{pos: make([]uint32, t.distinct)}
	size := make([]int64, t.distinct) // size of each resident object
	var used int64
	for i, id := range t.ids {
		if i&checkEvery == 0 && ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		s, next := t.sizes[i], t.next[i]
		if seen != nil {
			seen(i, q.pos[id] != 0)
		}
		if q.pos[id] != 0 { // hit
			hits++
			hitBytes += s
			q.update(id, next)
			continue
		}
		if next == never || s > capacity {
			continue // bypass: no later hit to win, or cannot fit
		}
		size[id] = s
		used += s
		q.push(id, next)
		for used > capacity {
			v := q.pop() // may be id itself: then it bypasses the cache
			used -= size[v]
		}
	}
	return hits, hitBytes, nil
}
