package rfc9111

import (
	"net/http"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// at formats t0+d seconds as an IMF-fixdate.
func at(d int) string { return t0.Add(time.Duration(d) * time.Second).Format(http.TimeFormat) }

func TestFreshnessLifetime(t *testing.T) {
	sec := func(n int64) time.Duration { return time.Duration(n) * time.Second }
	tests := []struct {
		name      string
		status    int
		resp      http.Header
		opts      Options
		want      time.Duration
		heuristic bool
	}{
		{"none", 200, hdr(), Options{}, 0, false},
		{"max-age", 200, hdr("Cache-Control", "max-age=60"), Options{}, sec(60), false},
		{"max-age 0", 200, hdr("Cache-Control", "max-age=0"), Options{}, 0, false},
		{"max-age quoted", 200, hdr("Cache-Control", `max-age="3600"`), Options{}, sec(3600), false},
		{"max-age huge", 200, hdr("Cache-Control", "max-age=99999999999"), Options{}, sec(MaxDelta), false},
		{"max-age invalid", 200, hdr("Cache-Control", "max-age=1.5", "Last-Modified", at(-100000), "Date", at(0)), Options{}, 0, false},
		{"max-age negative", 200, hdr("Cache-Control", "max-age=-1", "Expires", at(100)), Options{}, 0, false},
		{"max-age empty", 200, hdr("Cache-Control", "max-age="), Options{}, 0, false},
		{"max-age conflicting", 200, hdr("Cache-Control", "max-age=1800", "Cache-Control", "max-age=1"), Options{}, 0, false},
		{"s-maxage over longer max-age", 200, hdr("Cache-Control", "max-age=3600, s-maxage=1"), Options{}, sec(1), false},
		{"s-maxage over shorter max-age", 200, hdr("Cache-Control", "max-age=1", "Cache-Control", "s-maxage=3600"), Options{}, sec(3600), false},
		{"max-age over expires", 200, hdr("Cache-Control", "max-age=3600", "Expires", at(-10000), "Date", at(0)), Options{}, sec(3600), false},
		{"max-age over invalid expires", 200, hdr("Cache-Control", "max-age=3600", "Expires", "0"), Options{}, sec(3600), false},
		{"max-age 0 over future expires", 200, hdr("Cache-Control", "max-age=0", "Expires", at(10000), "Date", at(0)), Options{}, 0, false},
		{"no-cache", 200, hdr("Cache-Control", "max-age=10000, no-cache", "Expires", at(10000)), Options{}, 0, false},
		{"no-cache qualified", 200, hdr("Cache-Control", `max-age=100, no-cache="a"`), Options{}, sec(100), false},
		{"expires", 200, hdr("Expires", at(300), "Date", at(0)), Options{}, sec(300), false},
		{"expires date missing", 200, hdr("Expires", at(300)), Options{}, sec(300), false},
		{"expires date invalid", 200, hdr("Expires", at(300), "Date", "yesterday"), Options{}, sec(300), false},
		{"expires date from origin", 200, hdr("Expires", at(300), "Date", at(-100)), Options{}, sec(400), false},
		{"expires past", 200, hdr("Expires", at(-300), "Date", at(0), "Last-Modified", at(-100000)), Options{}, 0, false},
		{"expires 0", 200, hdr("Expires", "0", "Last-Modified", at(-100000)), Options{}, 0, false},
		{"expires lower case", 200, hdr("Expires", "THU, 18 Aug 2050 02:01:18 GMT"), Options{}, 0, false},
		{"expires same twice", 200, hdr("Expires", at(300), "Expires", at(300)), Options{}, sec(300), false},
		{"expires conflicting", 200, hdr("Expires", at(300), "Expires", at(600)), Options{}, 0, false},
		{"expires far", 200, hdr("Expires", "Fri, 31 Dec 9999 23:59:59 GMT"), Options{}, sec(MaxDelta), false},
		{"cdn max-age", 200, hdr("CDN-Cache-Control", "max-age=3600"), Options{}, sec(3600), false},
		{"cdn long over short cc", 200, hdr("Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age=3600"), Options{}, sec(3600), false},
		{"cdn short over long cc", 200, hdr("Cache-Control", "max-age=3600", "CDN-Cache-Control", "max-age=1"), Options{}, sec(1), false},
		{"cdn over past expires", 200, hdr("CDN-Cache-Control", "max-age=3600", "Expires", at(-10000), "Date", at(0)), Options{}, sec(3600), false},
		{"cdn 0 over future expires", 200, hdr("CDN-Cache-Control", "max-age=0", "Expires", at(10000), "Date", at(0)), Options{}, 0, false},
		{"cdn no-cache over cc", 200, hdr("CDN-Cache-Control", "no-cache", "Cache-Control", "max-age=10000"), Options{}, 0, false},
		{"cdn s-maxage", 200, hdr("CDN-Cache-Control", "max-age=10, s-maxage=20"), Options{}, sec(20), false},
		{"cdn without max-age ignores cc and expires", 200,
			hdr("CDN-Cache-Control", "public", "Cache-Control", "max-age=60", "Expires", at(60)), Options{}, 0, false},
		{"cdn invalid falls back", 200, hdr("CDN-Cache-Control", "max-age=10, &&", "Cache-Control", "max-age=60"), Options{}, sec(60), false},
		{"cdn string max-age", 200, hdr("CDN-Cache-Control", `max-age="10000"`, "Cache-Control", "max-age=60"), Options{}, 0, false},
		{"heuristic", 200, hdr("Last-Modified", at(-1000), "Date", at(0)), Options{}, sec(100), true},
		{"heuristic no date", 200, hdr("Last-Modified", at(-1000)), Options{}, sec(100), true},
		{"heuristic fraction", 404, hdr("Last-Modified", at(-1000), "Date", at(0)), Options{HeuristicFraction: 0.5}, sec(500), true},
		{"heuristic bounded", 200, hdr("Last-Modified", at(-100*86400), "Date", at(0)), Options{}, DefaultHeuristicMax, true},
		{"heuristic bound", 200, hdr("Last-Modified", at(-100000), "Date", at(0)), Options{HeuristicMax: time.Minute}, time.Minute, true},
		{"heuristic off", 200, hdr("Last-Modified", at(-100000), "Date", at(0)), Options{HeuristicMax: -1}, 0, false},
		{"heuristic future lm", 200, hdr("Last-Modified", at(100), "Date", at(0)), Options{}, 0, false},
		{"heuristic invalid lm", 200, hdr("Last-Modified", "yesterday", "Date", at(0)), Options{}, 0, false},
		{"heuristic 302", 302, hdr("Last-Modified", at(-1000), "Date", at(0)), Options{}, 0, false},
		{"heuristic 307", 307, hdr("Last-Modified", at(-1000), "Date", at(0)), Options{}, 0, false},
		{"heuristic 503", 503, hdr("Last-Modified", at(-1000), "Date", at(0)), Options{}, 0, false},
		{"heuristic 599 public", 599, hdr("Last-Modified", at(-1000), "Date", at(0), "Cache-Control", "public"), Options{}, sec(100), true},
		{"heuristic 599", 599, hdr("Last-Modified", at(-1000), "Date", at(0)), Options{}, 0, false},
		{"heuristic 410", 410, hdr("Last-Modified", at(-1000), "Date", at(0)), Options{}, sec(100), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, h := FreshnessLifetime(tt.resp, tt.status, t0, tt.opts)
			if got != tt.want || h != tt.heuristic {
				t.Errorf("FreshnessLifetime = %v, %v; want %v, %v", got, h, tt.want, tt.heuristic)
			}
		})
	}
}

func TestCurrentAge(t *testing.T) {
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	req, resp := t0.Add(-2*time.Second), t0 // 2s response delay
	tests := []struct {
		name string
		h    http.Header
		now  time.Time
		want time.Duration
	}{
		{"no headers", hdr(), t0, sec(2)},
		{"resident", hdr(), t0.Add(10 * time.Second), sec(12)},
		{"date apparent", hdr("Date", at(-100)), t0, sec(100)},
		{"date in future", hdr("Date", at(100)), t0, sec(2)},
		{"age", hdr("Date", at(0), "Age", "15"), t0, sec(17)},
		{"age over apparent", hdr("Date", at(-10), "Age", "50"), t0.Add(time.Second), sec(53)},
		{"apparent over age", hdr("Date", at(-100), "Age", "50"), t0, sec(100)},
		{"age list first", hdr("Age", "0,7200"), t0, sec(2)},
		{"age list first big", hdr("Age", "7200, 0"), t0, sec(7202)},
		{"age lines first", hdr("Age", "0", "Age", "7200"), t0, sec(2)},
		{"age invalid", hdr("Age", "abc"), t0, sec(2)},
		{"age negative", hdr("Age", "-7200"), t0, sec(2)},
		{"age float", hdr("Age", "7200.0"), t0, sec(2)},
		{"age empty", hdr("Age", ""), t0, sec(2)},
		{"age huge", hdr("Age", "999999999999999"), t0, sec(MaxDelta + 2)},
		{"now before response", hdr(), t0.Add(-time.Hour), sec(2)},
	}
	for _, tt := range tests {
		if got := CurrentAge(tt.h, req, resp, tt.now); got != tt.want {
			t.Errorf("%s: CurrentAge = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Request after response (clock trouble): no negative delay.
	if got := CurrentAge(hdr(), t0.Add(time.Second), t0, t0); got != 0 {
		t.Errorf("negative delay: %v", got)
	}
}

func TestStaleWindows(t *testing.T) {
	lim := StaleLimits{MaxWhileRevalidate: time.Minute, MaxIfError: time.Hour, DefaultIfError: 10 * time.Second}
	tests := []struct {
		name     string
		req      http.Header
		resp     http.Header
		lim      StaleLimits
		swr, sie time.Duration
	}{
		{"none", hdr(), hdr("Cache-Control", "max-age=2"), lim, 0, 10 * time.Second},
		{"none no default", hdr(), hdr("Cache-Control", "max-age=2"), StaleLimits{MaxIfError: time.Hour}, 0, 0},
		{"both", hdr(), hdr("Cache-Control", "max-age=2, stale-while-revalidate=30, stale-if-error=60"), lim, 30 * time.Second, time.Minute},
		{"capped", hdr(), hdr("Cache-Control", "max-age=2, stale-while-revalidate=3000, stale-if-error=86400"), lim, time.Minute, time.Hour},
		{"zero limits", hdr(), hdr("Cache-Control", "stale-while-revalidate=30, stale-if-error=60"), StaleLimits{}, 0, 0},
		{"sie 0 beats default", hdr(), hdr("Cache-Control", "stale-if-error=0"), lim, 0, 0},
		{"request sie", hdr("Cache-Control", "stale-if-error=120"), hdr("Cache-Control", "max-age=2"), lim, 0, 2 * time.Minute},
		{"request sie capped", hdr("Cache-Control", "stale-if-error=99999"), hdr("Cache-Control", "max-age=2"), lim, 0, time.Hour},
		{"must-revalidate", hdr(), hdr("Cache-Control", "max-age=2, must-revalidate, stale-while-revalidate=30, stale-if-error=60"), lim, 0, 0},
		{"proxy-revalidate", hdr(), hdr("Cache-Control", "max-age=2, proxy-revalidate, stale-if-error=60"), lim, 0, 0},
		{"no-cache", hdr(), hdr("Cache-Control", "max-age=2, no-cache, stale-if-error=60"), lim, 0, 0},
		{"s-maxage", hdr(), hdr("Cache-Control", "s-maxage=2, stale-while-revalidate=30"), lim, 0, 0},
		{"forbidden beats request", hdr("Cache-Control", "stale-if-error=120"), hdr("Cache-Control", "must-revalidate"), lim, 0, 0},
		{"cdn replaces", hdr(), hdr("Cache-Control", "must-revalidate", "CDN-Cache-Control", "max-age=2, stale-while-revalidate=5"), lim, 5 * time.Second, 10 * time.Second},
		{"cdn forbids", hdr(), hdr("Cache-Control", "stale-if-error=60", "CDN-Cache-Control", "max-age=2, must-revalidate"), lim, 0, 0},
	}
	for _, tt := range tests {
		swr, sie := StaleWindows(tt.req, tt.resp, tt.lim)
		if swr != tt.swr || sie != tt.sie {
			t.Errorf("%s: StaleWindows = %v, %v; want %v, %v", tt.name, swr, sie, tt.swr, tt.sie)
		}
	}
}

func BenchmarkFreshnessLifetime(b *testing.B) {
	cases := []struct {
		name string
		h    http.Header
	}{
		{"max-age", hdr("Cache-Control", "public, max-age=3600", "Date", at(0))},
		{"expires", hdr("Expires", at(600), "Date", at(0))},
		{"heuristic", hdr("Last-Modified", at(-86400), "Date", at(0))},
		{"cdn", hdr("CDN-Cache-Control", "max-age=3600", "Cache-Control", "max-age=60")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				FreshnessLifetime(c.h, 200, t0, Options{})
			}
		})
	}
}

func BenchmarkCurrentAge(b *testing.B) {
	h := hdr("Date", at(-10), "Age", "30")
	b.ReportAllocs()
	for b.Loop() {
		CurrentAge(h, t0, t0, t0.Add(time.Minute))
	}
}
