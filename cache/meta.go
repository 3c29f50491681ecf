package cache

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"edgecache/origin"
)

// Meta describes one version of an object. A *Meta handed out by a Store is
// never modified; a refresh or a new version replaces it.
type Meta struct {
	Key          string
	Size         int64
	ETag         string // as the origin sent it, quotes included; "" if none
	LastModified time.Time
	ContentType  string
	FetchedAt    time.Time // when the origin last confirmed this version
	Expires      time.Time // fresh until then
	NoStore      bool      // the origin forbids storing it (no-store, private)
	// Header holds the origin's end-to-end header fields of this version as
	// received (hop-by-hop and framing fields removed). Read-only.
	Header map[string][]string

	version string  // Validator(), computed once
	fields  []Field // Header flattened and sorted, computed once
	pass    *flight // NoStore: the flight whose answer told this version, its chunk for this requester
}

// Field is one header field line of a stored version.
type Field struct{ Name, Value string }

// Fields returns the version's header fields, one per field line, sorted by
// name (lines of one field in the order received). The slice is shared:
// it must not be modified.
func (m *Meta) Fields() []Field { return m.fields }

// setHeader records h as the version's header fields.
func (m *Meta) setHeader(h map[string][]string) {
	m.Header = h
	m.fields = m.fields[:0]
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range h[k] {
			m.fields = append(m.fields, Field{k, v})
		}
	}
}

// Validator is the version identity chunks are checked against: the strong
// ETag, else Last-Modified, plus the size (two versions of different sizes are
// never the same version).
func (m *Meta) Validator() string {
	v := strconv.FormatInt(m.Size, 10)
	switch {
	case m.ETag != "" && !strings.HasPrefix(m.ETag, "W/"):
		return v + " " + m.ETag
	case !m.LastModified.IsZero():
		return v + " " + m.LastModified.UTC().Format(time.RFC3339)
	}
	return v
}

// Fresh reports whether the version may be served at now without asking
// the origin.
func (m *Meta) Fresh(now time.Time) bool { return now.Before(m.Expires) }

// metaFrom builds the Meta of an origin answer, with the freshness lifetime
// RFC 9111 gives a shared cache: s-maxage, else max-age, else Expires minus
// Date, else defaultTTL. no-cache means "revalidate every time"; no-store and
// private mean "never store".
func metaFrom(key string, r *origin.Response, now time.Time, defaultTTL time.Duration) *Meta {
	m := &Meta{
		Key:          key,
		Size:         r.Size,
		ETag:         r.ETag,
		LastModified: r.LastModified,
		ContentType:  r.ContentType,
		FetchedAt:    now,
	}
	ttl, noStore := freshness(r.CacheControl, r.Expires, r.Date, defaultTTL)
	if age, err := strconv.ParseInt(strings.TrimSpace(r.Age), 10, 64); err == nil && age > 0 {
		ttl -= time.Duration(age) * time.Second
	}
	m.Expires = now.Add(ttl)
	m.NoStore = noStore
	m.setHeader(r.Header)
	m.version = m.Validator()
	return m
}

// freshness returns the freshness lifetime from Cache-Control and Expires.
func freshness(cc, expires string, date time.Time, defaultTTL time.Duration) (ttl time.Duration, noStore bool) {
	maxAge, sMaxAge := int64(-1), int64(-1)
	noCache := false
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "no-store", "private":
			noStore = true
		case "no-cache":
			noCache = true
		case "max-age":
			if n, err := strconv.ParseInt(val, 10, 64); err == nil && n >= 0 {
				maxAge = n
			}
		case "s-maxage":
			if n, err := strconv.ParseInt(val, 10, 64); err == nil && n >= 0 {
				sMaxAge = n
			}
		}
	}
	switch {
	case noStore || noCache:
		return 0, noStore
	case sMaxAge >= 0:
		return secs(sMaxAge), false
	case maxAge >= 0:
		return secs(maxAge), false
	case expires != "":
		t, err := time.Parse(time.RFC1123, expires)
		if err != nil {
			return 0, false // an invalid Expires means "already expired" (RFC 9111 §5.3)
		}
		if date.IsZero() {
			date = time.Now()
		}
		return t.Sub(date), false
	}
	return defaultTTL, false
}

func secs(n int64) time.Duration {
	const maxSecs = int64(100 * 365 * 24 * 3600)
	return time.Duration(min(n, maxSecs)) * time.Second
}
