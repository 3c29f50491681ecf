package bench

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"edgecache/fill"
)

// TestCatalogueReleases checks the releases the nightly manifest is given:
// the day's new titles, every file of each, and views adding up to the
// day's share of views for new titles, hottest release first.
func TestCatalogueReleases(t *testing.T) {
	cfg := DefaultDayConfig()
	cfg.Titles, cfg.Releases, cfg.TitleSize, cfg.ObjectSize = 40, 3, 8<<20, 2<<20
	wl, err := NewWorkload(cfg.workloadConfig())
	if err != nil {
		t.Fatal(err)
	}
	cat := newCatalogue(&cfg)
	cat.next(0)
	const dayBytes = 100 * (8 << 20) // 100 whole titles watched
	rels := cat.releases(wl, dayBytes)
	if len(rels) != 3 {
		t.Fatalf("%d releases", len(rels))
	}
	var sum float64
	for i, r := range rels {
		if want := "bench-t" + strconv.Itoa(cat.fresh[i]); r.Key != want {
			t.Errorf("release %d: %s, want %s", i, r.Key, want)
		}
		if len(r.Paths) != 4 || !strings.HasPrefix(r.Paths[3], "/v/"+r.Key+"/3.m4s") {
			t.Errorf("release %s: paths %v", r.Key, r.Paths)
		}
		for _, p := range r.Paths {
			if err := fill.CheckPath(p); err != nil {
				t.Error(err)
			}
		}
		if i > 0 && r.Views >= rels[i-1].Views {
			t.Errorf("release %d: %v views, not fewer than the one before (%v)", i, r.Views, rels[i-1].Views)
		}
		sum += r.Views
	}
	if want := 100 * cfg.Churn; math.Abs(sum-want) > 1e-9 {
		t.Errorf("views add up to %v, want %v", sum, want)
	}
	cfg.Releases = 0
	cfg.Churn = 0
	if rels := newCatalogue(&cfg).releases(wl, dayBytes); len(rels) != 0 {
		t.Errorf("no releases configured: %v", rels)
	}
}
