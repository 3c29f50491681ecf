package rfc9111

import (
	"net/http"
	"time"
)

// maxLifetime caps every lifetime and age this package computes, so that
// far dates cannot overflow (RFC 9111 §1.2.2).
const maxLifetime = MaxDelta * time.Second

// Defaults of Options.
const (
	DefaultHeuristicFraction = 0.1            // RFC 9111 §4.2.2: "a typical setting ... might be 10%"
	DefaultHeuristicMax      = 24 * time.Hour // past a day RFC 7234 required a warning
)

// Options tune FreshnessLifetime. The zero value uses the defaults.
type Options struct {
	// HeuristicFraction is the fraction of the time since Last-Modified
	// used as a heuristic lifetime; 0 means DefaultHeuristicFraction.
	HeuristicFraction float64
	// HeuristicMax bounds a heuristic lifetime; 0 means
	// DefaultHeuristicMax, a negative value turns heuristics off.
	HeuristicMax time.Duration
}

// FreshnessLifetime returns the freshness lifetime of a response in a
// shared cache (RFC 9111 §4.2.1) and whether it is heuristic (§4.2.2).
// responseTime is when the response was received; it stands for a missing
// or invalid Date (RFC 9110 §6.6.1).
//
// The first of these applies:
//  1. CDN-Cache-Control, when valid and not empty (RFC 9213), replaces
//     Cache-Control and Expires; its s-maxage, then its max-age, are used.
//  2. no-cache (unqualified): 0, since the response must be validated
//     before each use (§5.2.2.4); so does an invalid or conflicting max-age
//     or s-maxage (Directives.Invalid, §4.2.1).
//  3. s-maxage, then max-age (§5.3: either makes Expires ignored).
//  4. Expires minus Date (§5.3). An invalid Expires, or several Expires
//     lines that differ, mean already expired: 0. A past Expires gives 0.
//  5. Without explicit freshness, and only for a heuristically cacheable
//     status or a public response (§4.2.2): opts.HeuristicFraction of
//     Date minus Last-Modified, at most opts.HeuristicMax; 0 without a
//     valid Last-Modified, or when it is later than Date.
//
// Lifetimes are capped at 2^31 seconds.
func FreshnessLifetime(respHeader http.Header, status int, responseTime time.Time, opts Options) (lifetime time.Duration, heuristic bool) {
	d := ResponseDirectives(respHeader)
	if d.NoCache || d.Invalid {
		return 0, false
	}
	if d.SMaxAge.Set {
		return d.SMaxAge.Duration(), false
	}
	if d.MaxAge.Set {
		return d.MaxAge.Duration(), false
	}
	date := responseTime
	if v, ok := first(respHeader, "Date"); ok {
		if t, ok := ParseHTTPDate(v); ok {
			date = t
		}
	}
	if exp := respHeader["Expires"]; !d.Targeted && len(exp) > 0 {
		for _, v := range exp[1:] {
			if v != exp[0] {
				return 0, false
			}
		}
		t, ok := ParseHTTPDate(exp[0])
		if !ok {
			return 0, false
		}
		return clampLifetime(t.Sub(date)), false
	}
	if !HeuristicallyCacheable(status) && !d.Public || opts.HeuristicMax < 0 {
		return 0, false
	}
	v, ok := first(respHeader, "Last-Modified")
	if !ok {
		return 0, false
	}
	lm, ok := ParseHTTPDate(v)
	if !ok || lm.After(date) {
		return 0, false
	}
	frac, hmax := opts.HeuristicFraction, opts.HeuristicMax
	if frac <= 0 {
		frac = DefaultHeuristicFraction
	}
	if hmax == 0 {
		hmax = DefaultHeuristicMax
	}
	l := time.Duration(float64(clampLifetime(date.Sub(lm))) * frac)
	return clampLifetime(min(l, hmax)), true
}

func clampLifetime(d time.Duration) time.Duration {
	return min(max(d, 0), maxLifetime)
}

// CurrentAge returns the current age of a stored response (RFC 9111
// §4.2.3) at now: the larger of the apparent age (responseTime minus Date)
// and the Age header plus the response delay (responseTime minus
// requestTime), plus the time it has been resident (now minus
// responseTime). requestTime is when the request that got the response was
// sent.
//
// Age is read as §5.1 says: of a list or several lines only the first
// member counts; a value that is not a non-negative integer is ignored (0);
// a huge one counts as 2^31 seconds. A missing or invalid Date gives an
// apparent age of 0. Negative intervals (clock skew) count as 0.
func CurrentAge(respHeader http.Header, requestTime, responseTime, now time.Time) time.Duration {
	var apparent time.Duration
	if v, ok := first(respHeader, "Date"); ok {
		if date, ok := ParseHTTPDate(v); ok {
			apparent = clampLifetime(responseTime.Sub(date))
		}
	}
	delay := clampLifetime(responseTime.Sub(requestTime))
	corrected := ageValue(respHeader) + delay
	resident := clampLifetime(now.Sub(responseTime))
	return max(apparent, corrected) + resident
}

// ageValue returns the first member of the Age field, or 0 when it is
// missing or invalid (RFC 9111 §5.1).
func ageValue(h http.Header) time.Duration {
	v, ok := first(h, "Age")
	if !ok {
		return 0
	}
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			v = v[:i]
			break
		}
	}
	n, ok := parseDelta(trimOWS(v))
	if !ok {
		return 0
	}
	return time.Duration(n) * time.Second
}

// StaleLimits bound how long past the end of its freshness lifetime a
// response may be served stale. Zero values allow no stale serving.
type StaleLimits struct {
	// MaxWhileRevalidate caps stale-while-revalidate (RFC 5861 §3).
	MaxWhileRevalidate time.Duration
	// MaxIfError caps stale-if-error (RFC 5861 §4).
	MaxIfError time.Duration
	// DefaultIfError is the stale-if-error window used when neither the
	// response nor the request names one: RFC 9111 §4.2.4 lets a cache
	// serve stale when it cannot reach the origin. It is also capped by
	// MaxIfError.
	DefaultIfError time.Duration
}

// StaleWindows returns how long past expiry a stored response may be served
// stale: while it is revalidated in the background (whileRevalidate,
// stale-while-revalidate) and when the origin fails or cannot be reached
// (ifError, stale-if-error). A response whose staleness (current age minus
// freshness lifetime) is s may be served when 0 <= s < window.
//
// Both are 0 when the stored response forbids stale serving (RFC 9111
// §4.2.4): no-cache, must-revalidate, proxy-revalidate, or s-maxage (which
// implies proxy-revalidate in a shared cache, §5.2.2.10), read from
// CDN-Cache-Control when it applies (ResponseDirectives). Otherwise the
// response's stale-while-revalidate and stale-if-error, capped by lim; a
// stale-if-error in the request (RFC 5861 §4) may widen the error window,
// still within lim.MaxIfError.
//
// Other request directives (max-age, min-fresh, max-stale, no-cache) are
// client preferences in RFC 9111 (§5.2.1: "prefers"); this package leaves
// them to the caller, and a CDN usually ignores them so that clients cannot
// bypass the cache.
func StaleWindows(reqHeader, respHeader http.Header, lim StaleLimits) (whileRevalidate, ifError time.Duration) {
	d := ResponseDirectives(respHeader)
	if d.NoCache || d.MustRevalidate || d.ProxyRevalidate || d.SMaxAge.Set {
		return 0, 0
	}
	if d.StaleWhileRevalidate.Set {
		whileRevalidate = min(d.StaleWhileRevalidate.Duration(), lim.MaxWhileRevalidate)
	}
	ifError = lim.DefaultIfError
	if d.StaleIfError.Set {
		ifError = d.StaleIfError.Duration()
	}
	if len(reqHeader["Cache-Control"]) > 0 {
		if r := ParseCacheControl(reqHeader, "Cache-Control"); r.StaleIfError.Set {
			ifError = max(ifError, r.StaleIfError.Duration())
		}
	}
	return max(whileRevalidate, 0), max(min(ifError, lim.MaxIfError), 0)
}
