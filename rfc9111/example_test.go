package rfc9111_test

import (
	"fmt"
	"net/http"
	"time"

	"edgecache/rfc9111"
)

// A shared cache deciding about an origin answer, then about a later hit.
func Example() {
	sent := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	received := sent.Add(100 * time.Millisecond)
	req := http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}}
	resp := http.Header{
		"Date":              {"Fri, 01 May 2026 11:59:50 GMT"},
		"Cache-Control":     {"max-age=60, stale-while-revalidate=30"},
		"Cdn-Cache-Control": {"max-age=600"},
		"Vary":              {"Accept-Encoding"},
		"Connection":        {"close"},
	}

	ok, why := rfc9111.Storable(http.MethodGet, req, 200, resp, true)
	fmt.Printf("storable: %v %q\n", ok, why)

	names, _ := rfc9111.VaryNames(resp)
	fmt.Printf("variant: %q\n", rfc9111.VariantKey(names, req))
	fmt.Println("stored fields:", len(rfc9111.StoredHeader(resp)))

	lifetime, heuristic := rfc9111.FreshnessLifetime(resp, 200, received, rfc9111.Options{})
	now := received.Add(5 * time.Minute)
	age := rfc9111.CurrentAge(resp, sent, received, now)
	fmt.Println("lifetime:", lifetime, heuristic, "age:", age.Round(time.Second), "fresh:", lifetime > age)

	// CDN-Cache-Control replaces Cache-Control, so its
	// stale-while-revalidate does not apply here.
	swr, sie := rfc9111.StaleWindows(nil, resp, rfc9111.StaleLimits{MaxWhileRevalidate: time.Minute, MaxIfError: time.Hour})
	fmt.Println("stale windows:", swr, sie)
	// Output:
	// storable: true ""
	// variant: "accept-encoding=br,gzip"
	// stored fields: 4
	// lifetime: 10m0s false age: 5m10s fresh: true
	// stale windows: 0s 0s
}
