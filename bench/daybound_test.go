package bench

import "testing"

// TestDayBound checks the offline bound on a small day: Belady's MIN
// offloads at least what LRU does (with chunks of one size it fetches the
// fewest), a cache as large as the catalogue misses only first visits and
// so offloads more than a small one, and the same config gives the same
// numbers.
func TestDayBound(t *testing.T) {
	cfg := DefaultDayConfig()
	cfg.Titles, cfg.Releases, cfg.TitleSize, cfg.Players, cfg.Requests = 60, 2, 8<<20, 8, 4
	catalogue := int64(cfg.Titles) * cfg.TitleSize
	small, err := ComputeDayBound(cfg, catalogue/10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if small.ChunkVisits == 0 || small.PeakHour < 0 || small.PeakHour > 23 {
		t.Fatalf("bound %+v: want chunk visits and a peak hour", small)
	}
	for _, p := range [][2]float64{{small.BeladyPeak, small.LRUPeak}, {small.BeladyDay, small.LRUDay}} {
		if p[0] < p[1] || p[0] > 1 {
			t.Errorf("Belady %.3f vs LRU %.3f: Belady must be >= LRU and <= 1 (%+v)", p[0], p[1], small)
		}
	}
	if small.BeladyDay <= small.LRUDay {
		t.Errorf("Belady %.3f not above LRU %.3f over the day: the replay is not evicting by next use", small.BeladyDay, small.LRUDay)
	}
	all, err := ComputeDayBound(cfg, catalogue, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if all.BeladyDay != all.LRUDay || all.LRUDay <= small.LRUDay {
		t.Errorf("a cache of the whole catalogue: Belady %.3f, LRU %.3f (both only miss first visits), small cache LRU %.3f",
			all.BeladyDay, all.LRUDay, small.LRUDay)
	}
	again, _ := ComputeDayBound(cfg, catalogue/10, 1<<20)
	if again != small {
		t.Errorf("not deterministic: %+v then %+v", small, again)
	}
	if _, err := ComputeDayBound(cfg, 1000, 1<<20); err == nil {
		t.Error("a cache smaller than a chunk was accepted")
	}
}
