package cache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"edgecache/origin"
	"edgecache/rfc9111"
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
func (m *Meta) Validator() string { return validator(m.Size, m.ETag, m.LastModified) }

// validator is the version identity of an object of size bytes with those
// validators; see Meta.Validator.
func validator(size int64, etag string, lastModified time.Time) string {
	v := strconv.FormatInt(size, 10)
	switch {
	case etag != "" && !strings.HasPrefix(etag, "W/"):
		return v + " " + etag
	case !lastModified.IsZero():
		return v + " " + lastModified.UTC().Format(time.RFC3339)
	}
	return v
}

// versionOf is the version identity of the object an origin answer is
// part of: what metaFrom(...).version would be, without building the Meta.
func versionOf(r *origin.Response) string { return validator(r.Size, r.ETag, r.LastModified) }

// Fresh reports whether the version may be served at now without asking
// the origin.
func (m *Meta) Fresh(now time.Time) bool { return now.Before(m.Expires) }

// metaFrom builds the Meta of an origin answer, with the freshness lifetime
// RFC 9111 gives a shared cache (see freshness), less the answer's current
// age (§4.2.3).
func metaFrom(key string, r *origin.Response, now time.Time, defaultTTL time.Duration) *Meta {
	m := &Meta{
		Key:          key,
		Size:         r.Size,
		ETag:         r.ETag,
		LastModified: r.LastModified,
		ContentType:  r.ContentType,
		FetchedAt:    now,
	}
	h := responseHeader(r)
	ttl, noStore := freshness(h, r.Status, now, defaultTTL)
	m.Expires = now.Add(ttl - rfc9111.CurrentAge(h, now, now, now))
	m.NoStore = noStore
	m.setHeader(rfc9111.StoredHeader(r.Header))
	m.version = m.Validator()
	return m
}

// responseHeader returns the header fields of an answer that the caching
// rules read: the answer's own, or, from a Source that fills only the typed
// fields, a header built from them.
func responseHeader(r *origin.Response) http.Header {
	if r.Header != nil {
		return r.Header
	}
	h := http.Header{}
	for name, v := range map[string]string{"Cache-Control": r.CacheControl, "Expires": r.Expires, "Age": r.Age, "Etag": r.ETag} {
		if v != "" {
			h.Set(name, v)
		}
	}
	if !r.Date.IsZero() {
		h.Set("Date", r.Date.UTC().Format(http.TimeFormat))
	}
	if !r.LastModified.IsZero() {
		h.Set("Last-Modified", r.LastModified.UTC().Format(http.TimeFormat))
	}
	return h
}

// freshness returns the freshness lifetime of an answer with header h and
// status for a shared cache (RFC 9111 §4.2.1: CDN-Cache-Control first, then
// s-maxage, max-age, Expires minus Date, then heuristic freshness where
// §4.2.2 allows it), and whether the answer must not be stored (RFC 9111
// §3: no-store, private, Vary: *, ...). When the origin says nothing about
// freshness and no heuristic applies, the lifetime is defaultTTL (the
// operator's cache.default_ttl); it never overrides what the origin said.
// An invalid freshness directive or Expires makes the answer stale (0).
func freshness(h http.Header, status int, now time.Time, defaultTTL time.Duration) (ttl time.Duration, noStore bool) {
	if ok, _ := rfc9111.Storable(http.MethodGet, nil, status, h, true); !ok {
		return 0, true
	}
	lifetime, heuristic := rfc9111.FreshnessLifetime(h, status, now, rfc9111.Options{})
	d := rfc9111.ResponseDirectives(h)
	explicit := d.MaxAge.Set || d.SMaxAge.Set || d.Invalid || d.NoCache || len(h.Values("Expires")) > 0
	if !explicit && !heuristic {
		return defaultTTL, false
	}
	return lifetime, false
}
