package bench

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"edgecache/bench/simulate"
)

// DayBound is what a cache that fills on misses could offload of a
// simulated day at best, computed offline from the day's requests (no
// daemon) with package simulate's replays, those of "edgecache bench
// simulate": Belady's MIN, which knows every future request, evicts the
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
	tb := simulate.NewBuilder("bench day")
	var hours []int8 // per chunk read: its hour of day 1, -1 on day 0 (warms the cache, not counted)
	var sizes []int64
	var served [24]int64
	var key []byte
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
			h := int8(-1)
			if day == 1 {
				h = int8(hour)
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
						key = strconv.AppendInt(append(append(key[:0], rq.Path...), '#'), c, 10)
						size := min(chunkSize, rq.Size-c*chunkSize) // a miss fetches the whole chunk
						if err := tb.Add(key, size); err != nil {
							return b, fmt.Errorf("bench day: bound: %w", err)
						}
						hours, sizes = append(hours, h), append(sizes, size)
					}
				}
			}
		}
	}
	b.ChunkVisits = len(hours)
	for h := range served {
		if served[h] > served[b.PeakHour] {
			b.PeakHour = h
		}
	}
	t := tb.Trace()
	offload := func(name string) (peak, day float64, err error) {
		var origin [24]int64
		err = simulate.Replay(context.Background(), t, name, cacheBytes, func(i int, hit bool) {
			if !hit && hours[i] >= 0 {
				origin[hours[i]] += sizes[i]
			}
		})
		var s, o int64
		for h := range 24 {
			s, o = s+served[h], o+origin[h]
		}
		return 1 - float64(origin[b.PeakHour])/float64(max(1, served[b.PeakHour])), 1 - float64(o)/float64(max(1, s)), err
	}
	if b.BeladyPeak, b.BeladyDay, err = offload(simulate.Belady); err != nil {
		return b, fmt.Errorf("bench day: bound: %w", err)
	}
	if b.LRUPeak, b.LRUDay, err = offload("lru"); err != nil {
		return b, fmt.Errorf("bench day: bound: %w", err)
	}
	return b, nil
}
