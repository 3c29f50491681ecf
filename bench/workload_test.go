package bench

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"edgecache/origin"
)

func TestWorkloadDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	seq := func(cfg Config, player, n int) []Request {
		w, err := NewWorkload(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := w.Player(player)
		out := make([]Request, n)
		for i := range out {
			out[i] = p.Next()
		}
		return out
	}
	a, b := seq(cfg, 3, 5000), seq(cfg, 3, 5000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed and player gave different sequences")
	}
	if reflect.DeepEqual(a, seq(cfg, 4, 5000)) {
		t.Error("players 3 and 4 gave the same sequence")
	}
	cfg2 := cfg
	cfg2.Seed++
	if reflect.DeepEqual(a, seq(cfg2, 3, 5000)) {
		t.Error("seeds 1 and 2 gave the same sequence")
	}
}

func TestWorkloadRequests(t *testing.T) {
	for _, scheme := range []string{PathsS, PathsV} {
		t.Run(scheme, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Paths = scheme
			cfg.Titles = 50
			cfg.TitleSize = 16 << 20
			cfg.SegmentSize = 2 << 20
			cfg.ObjectSize = 1 << 20
			w, err := NewWorkload(cfg)
			if err != nil {
				t.Fatal(err)
			}
			syn := origin.NewSynthetic(origin.SyntheticOptions{DefaultSize: cfg.ObjectSize})
			lo, hi := cfg.SegmentSize/2, cfg.SegmentSize*3/2
			var open, abandoned, whole, short, ranged int
			const n = 20000
			for p := range 4 {
				pl := w.Player(p)
				for range n / 4 {
					rq := pl.Next()
					size, ok := syn.SizeOf(rq.Path)
					if !ok || size != rq.Size {
						t.Fatalf("%v: origin size %d ok=%v, request says %d", rq, size, ok, rq.Size)
					}
					if rq.Title < 1 || rq.Title > cfg.Titles || !strings.Contains(rq.Path, "bench-t") {
						t.Fatalf("%v: title %d", rq, rq.Title)
					}
					if rq.Off < 0 || rq.Len < 1 || rq.Off+rq.Len > rq.Size {
						t.Fatalf("%v: range [%d,+%d) outside the object of %d", rq, rq.Off, rq.Len, rq.Size)
					}
					if rq.Read < 1 || rq.Read > rq.Len {
						t.Fatalf("%v: reads %d of %d", rq, rq.Read, rq.Len)
					}
					switch {
					case rq.OpenEnded:
						open++
						if rq.Len != rq.Size-rq.Off || rq.RangeHeader() != "bytes="+itoa(rq.Off)+"-" {
							t.Fatalf("%v: open-ended with Len %d", rq, rq.Len)
						}
						if rq.Abandons() {
							abandoned++
							if rq.Read > hi {
								t.Fatalf("%v: partial read of %d > %d", rq, rq.Read, hi)
							}
						}
					case rq.Whole:
						whole++
						if scheme != PathsV || rq.Off != 0 || rq.Len != rq.Size || rq.RangeHeader() != "" {
							t.Fatalf("%v: bad whole GET", rq)
						}
					default:
						ranged++
						if rq.Len > hi {
							t.Fatalf("%v: range of %d bytes > %d", rq, rq.Len, hi)
						}
						// Shorter than lo only where the range reaches the end of the object.
						if rq.Len < lo {
							if rq.Off+rq.Len != rq.Size {
								t.Fatalf("%v: range of %d bytes < %d not at the end of the object", rq, rq.Len, lo)
							}
							short++
						}
						if rq.RangeHeader() != "bytes="+itoa(rq.Off)+"-"+itoa(rq.Off+rq.Len-1) {
							t.Fatalf("%v: Range header %q", rq, rq.RangeHeader())
						}
					}
				}
			}
			// About 2% open-ended, nearly all abandoned.
			if open < n/100 || open > n*3/100 || abandoned < open*9/10 {
				t.Errorf("%d open-ended (%d abandoned) of %d", open, abandoned, n)
			}
			if scheme == PathsV && whole < n/2 {
				t.Errorf("only %d of %d requests were whole-segment GETs", whole, n)
			}
			if scheme == PathsS && (whole != 0 || ranged < n*9/10) {
				t.Errorf("%d whole GETs, %d ranges of %d requests", whole, ranged, n)
			}
			t.Logf("%d ranges (%d short), %d whole, %d open-ended", ranged, short, whole, open)
		})
	}
}

func TestWorkloadSequential(t *testing.T) {
	// Without seeks, jumps, abandons or open-ended requests a player walks
	// each title from 0 to its end in consecutive ranges.
	cfg := DefaultConfig()
	cfg.SeekStart, cfg.Jump, cfg.Abandon, cfg.OpenEnded = 0, 0, 0, 0
	cfg.TitleSize = 10 << 20
	w, err := NewWorkload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := w.Player(0)
	var next int64
	titles := 0
	for range 1000 {
		rq := p.Next()
		if rq.Off != next {
			t.Fatalf("%v: offset %d, want %d", rq, rq.Off, next)
		}
		next = rq.Off + rq.Len
		if next == rq.Size {
			next = 0
			titles++
		}
	}
	if titles < 100 {
		t.Errorf("only %d titles finished in 1000 requests", titles)
	}
}

func TestNewWorkloadErrors(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"titles":  func(c *Config) { c.Titles = 0 },
		"size":    func(c *Config) { c.TitleSize = 0 },
		"segment": func(c *Config) { c.SegmentSize = 1 },
		"paths":   func(c *Config) { c.Paths = "x" },
		"zipf":    func(c *Config) { c.Zipf = -1 },
		"seek":    func(c *Config) { c.SeekStart = 1.5 },
		"object":  func(c *Config) { c.Paths = PathsV; c.ObjectSize = 0 },
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if _, err := NewWorkload(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSizeToken(t *testing.T) {
	for n, want := range map[int64]string{1: "1", 1500: "1500", 1024: "1K", 3 << 20: "3M", 64 << 20: "64M", 4 << 30: "4G", 1536 << 10: "1536K"} {
		if got := SizeToken(n); got != want {
			t.Errorf("SizeToken(%d) = %q, want %q", n, got, want)
		}
		if back, err := origin.ParseSize(SizeToken(n)); err != nil || back != n {
			t.Errorf("origin.ParseSize(%q) = %d, %v", SizeToken(n), back, err)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
