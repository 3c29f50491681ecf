package bench

import (
	"container/heap"
	"container/list"
	"fmt"
	"math"
)

// DayBound is what a cache that fills on misses could offload of a
// simulated day at best, computed offline from the day's requests (no
// daemon): Belady's MIN, which knows every future request, evicts the
// chunk used furthest ahead and does not keep a chunk never used again.
// With chunks of one size it fetches the fewest chunks any such cache can,
// so no replacement policy does better; only a fill, which fetches before
// the first request, can. LRU is the same replay with LRU, which tracks
// the daemon's default policy (at the README's scale, "bench day --players
// 64 --requests 24", the daemon without fill offloaded 53.7% at the peak
// and this replay's LRU gives 54.2%).
type DayBound struct {
	ChunkSize   int64   `json:"chunk_size"`
	CacheBytes  int64   `json:"cache_bytes"`
	PeakHour    int     `json:"peak_hour"`
	BeladyPeak  float64 `json:"belady_peak_offload"`
	BeladyDay   float64 `json:"belady_day_offload"`
	LRUPeak     float64 `json:"lru_peak_offload"`
	LRUDay      float64 `json:"lru_day_offload"`
	ChunkVisits int     `json:"chunk_visits"` // chunk reads replayed, both days
}

// boundVisit is one chunk read of the replay.
type boundVisit struct {
	key  string // object path and chunk index
	hour int    // 0..23 of day 1; -1 for day 0 (warms the cache, not counted)
}

// ComputeDayBound replays cfg's two days (yesterday warms the cache, today
// is measured, as in RunDay) against a cache of cacheBytes in chunks of
// chunkSize, and returns the offload (1 - origin bytes / bytes served, a
// miss fetching its whole chunk) of Belady's MIN and of LRU, at the peak
// hour and over today. Within an hour the players' requests are replayed
// in turn; RunDay's players run concurrently, so the daemon sees a
// slightly different order.
func ComputeDayBound(cfg DayConfig, cacheBytes, chunkSize int64) (DayBound, error) {
	b := DayBound{ChunkSize: chunkSize, CacheBytes: cacheBytes}
	cfg.Variants = []string{VariantOff} // the fill is not replayed
	if err := cfg.Check(); err != nil {
		return b, err
	}
	if chunkSize <= 0 || cacheBytes < chunkSize {
		return b, fmt.Errorf("bench day: bound: cache of %d bytes, chunks of %d: need chunks > 0 and a cache of one chunk or more", cacheBytes, chunkSize)
	}
	wl, err := NewWorkload(cfg.workloadConfig())
	if err != nil {
		return b, err
	}
	var visits []boundVisit
	var served [24]int64
	cat := newCatalogue(&cfg)
	curve := DayCurve()
	for day := range 2 {
		if day == 1 {
			cat.next(0)
		}
		players := make([]*Player, cfg.Players)
		for i := range players {
			players[i] = wl.PlayerPicking(day*cfg.Players+i, cat.pick)
		}
		for hour := range 24 {
			n := max(1, int(math.Round(float64(cfg.Players)*curve[hour])))
			h := -1
			if day == 1 {
				h = hour
			}
			for range cfg.Requests {
				for _, p := range players[:n] {
					rq := p.Next()
					if rq.Read <= 0 {
						continue
					}
					if h >= 0 {
						served[h] += rq.Read
					}
					for c := rq.Off / chunkSize; c <= (rq.Off+rq.Read-1)/chunkSize; c++ {
						visits = append(visits, boundVisit{key: fmt.Sprintf("%s#%d", rq.Path, c), hour: h})
					}
				}
			}
		}
	}
	b.ChunkVisits = len(visits)
	for h := range served {
		if served[h] > served[b.PeakHour] {
			b.PeakHour = h
		}
	}
	slots := int(cacheBytes / chunkSize)
	offload := func(missed func(i int) bool) (peak, day float64) {
		var origin [24]int64
		for i, v := range visits {
			if missed(i) && v.hour >= 0 {
				origin[v.hour] += chunkSize
			}
		}
		var s, o int64
		for h := range 24 {
			s, o = s+served[h], o+origin[h]
		}
		return 1 - float64(origin[b.PeakHour])/float64(max(1, served[b.PeakHour])), 1 - float64(o)/float64(max(1, s))
	}
	b.BeladyPeak, b.BeladyDay = offload(beladyReplay(visits, slots))
	b.LRUPeak, b.LRUDay = offload(lruReplay(visits, slots))
	return b, nil
}

// lruReplay replays visits through an LRU of slots chunks and returns
// whether each visit missed.
func lruReplay(visits []boundVisit, slots int) func(int) bool {
	miss := make([]bool, len(visits))
	ll := list.New()
	at := map[string]*list.Element{}
	for i, v := range visits {
		if e, ok := at[v.key]; ok {
			ll.MoveToFront(e)
			continue
		}
		miss[i] = true
		if ll.Len() == slots {
			delete(at, ll.Remove(ll.Back()).(string))
		}
		at[v.key] = ll.PushFront(v.key)
	}
	return func(i int) bool { return miss[i] }
}

// beladyReplay replays visits through Belady's MIN with slots chunks: on a
// miss the chunk is kept unless it is never used again or used later than
// every held chunk, else the held chunk used furthest ahead is evicted.
func beladyReplay(visits []boundVisit, slots int) func(int) bool {
	const never = math.MaxInt
	next := make([]int, len(visits))
	last := map[string]int{}
	for i := len(visits) - 1; i >= 0; i-- {
		next[i] = never
		if j, ok := last[visits[i].key]; ok {
			next[i] = j
		}
		last[visits[i].key] = i
	}
	miss := make([]bool, len(visits))
	held := map[string]int{} // key → its next use
	q := &nextUses{}
	for i, v := range visits {
		if _, ok := held[v.key]; ok {
			held[v.key] = next[i]
			heap.Push(q, use{v.key, next[i]})
			continue
		}
		miss[i] = true
		if next[i] == never {
			continue
		}
		if len(held) == slots {
			for { // the furthest next use among the held chunks
				top := (*q)[0]
				if held[top.key] != top.next { // stale
					heap.Pop(q)
					continue
				}
				break
			}
			if (*q)[0].next < next[i] {
				continue // every held chunk is used before this one
			}
			delete(held, heap.Pop(q).(use).key)
		}
		held[v.key] = next[i]
		heap.Push(q, use{v.key, next[i]})
	}
	return func(i int) bool { return miss[i] }
}

// use is a chunk and the index of its next visit.
type use struct {
	key  string
	next int
}

// nextUses is a max-heap of uses by next visit (container/heap).
type nextUses []use

func (q nextUses) Len() int           { return len(q) }
func (q nextUses) Less(i, j int) bool { return q[i].next > q[j].next }
func (q nextUses) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *nextUses) Push(x any)        { *q = append(*q, x.(use)) }
func (q *nextUses) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
