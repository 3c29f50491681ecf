package cache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
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

	version    string        // Validator(), computed once
	dver       string        // diskVersion(version, the Store's chunk size): the identity of its chunks on disk
	fields     []Field       // Header flattened and sorted, computed once
	pass       *flight       // NoStore: the flight whose answer told this version, its chunk for this requester
	path       string        // the object's key, what is asked upstream; Key is the variant's when vary is set
	vary       []string      // the request fields the version varies on (VaryNames), nil if none
	fwd        http.Header   // request fields sent upstream with every fetch of this version; nil: none
	initialAge time.Duration // the answer's age when it was received (RFC 9111 §4.2.3 corrected_initial_age)
	memo       *memo         // see Memo; shared by the copies of one version's Meta
	hints      []string      // the Link values of the 103 answers the origin sent before this version's (see EarlyHints)
}

// EarlyHints returns the Link field values of the 103 (Early Hints) answers
// the origin sent before the answer this version was learnt from: a server
// passes them on to the request whose miss fetched it. They are not kept
// on disk. Read-only.
func (m *Meta) EarlyHints() []string { return m.hints }

// memo is what Memo keeps for a version.
type memo struct {
	once sync.Once
	v    any
}

// Memo returns what build returns for this version of the object, calling
// build only the first time: a server keeps there what it derives from the
// version once, such as its rendered answer header. A Meta the Store did
// not make (a test's literal) calls build every time.
func (m *Meta) Memo(build func() any) any {
	if m.memo == nil {
		return build()
	}
	m.memo.once.Do(func() { m.memo.v = build() })
	return m.memo.v
}

// Path returns the object's key: what is asked upstream. It is Key, except
// for a variant of a response that varies on request fields (Vary), whose
// Key also names the variant.
func (m *Meta) Path() string { return m.path }

// Age returns the version's current age at now (RFC 9111 §4.2.3): its age
// when the origin (last) answered for it plus the time since.
func (m *Meta) Age(now time.Time) time.Duration {
	return m.initialAge + max(now.Sub(m.FetchedAt), 0)
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
	names, n := make([]string, 0, len(h)), 0
	for k, vs := range h {
		names, n = append(names, k), n+len(vs)
	}
	m.fields = make([]Field, 0, n) // a new slice, of its exact length: a copy of a Meta must not write into the original's
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

// diskVersion is the identity the chunks of version, cut at chunk bytes,
// have on disk: the version and the chunk size. Chunk i is bytes
// [i·chunk, …) of the object, so a disk written at another chunk size
// (cache.chunk_size changed, or a release before 256 KiB chunks, which did
// not record it) holds other bytes under the same index, and the last chunk
// of an object there can have the very length a chunk has here. Such chunks
// are of another version: never served, and replaced as they are fetched
// again (or evicted).
func diskVersion(version string, chunk int64) string {
	return version + " c=" + strconv.FormatInt(chunk, 10)
}

// versionOf is the version identity of the object an origin answer is
// part of: what metaFrom(...).version would be, without building the Meta.
func versionOf(r *origin.Response) string { return validator(r.Size, r.ETag, r.LastModified) }

// Fresh reports whether the version may be served at now without asking
// the origin.
func (m *Meta) Fresh(now time.Time) bool { return now.Before(m.Expires) }

// metaFrom builds the Meta of an origin answer to a fetch of the object at
// path that sent the request fields req, with the freshness lifetime RFC
// 9111 gives a shared cache (see freshness), less the answer's current age
// (§4.2.3: the request asked at sent, the answer in at now). An answer that varies on request fields (Vary) is the variant
// of the fields req holds: its Key names them, and its later fetches send
// them (and only them). Its chunks are cut at chunk bytes.
func metaFrom(path string, r *origin.Response, sent, now time.Time, defaultTTL time.Duration, req http.Header, chunk int64) *Meta {
	m := &Meta{
		Key:          path,
		path:         path,
		memo:         new(memo),
		Size:         r.Size,
		ETag:         r.ETag,
		LastModified: r.LastModified,
		ContentType:  r.ContentType,
		FetchedAt:    now,
	}
	h := responseHeader(r)
	ttl, noStore := freshness(h, r.Status, now, defaultTTL, req)
	m.initialAge = rfc9111.CurrentAge(h, sent, now, now)
	m.Expires = now.Add(ttl - m.initialAge)
	m.NoStore = noStore
	m.setHeader(rfc9111.StoredHeader(r.Header))
	m.hints = r.EarlyHints
	m.version = m.Validator()
	m.dver = diskVersion(m.version, chunk)
	if names, _ := rfc9111.VaryNames(h); len(names) > 0 {
		m.vary = names
		m.fwd = selecting(names, req)
		m.Key = variantKey(path, names, m.fwd)
	}
	return m
}

// refreshed returns the version m freshened by a 304 answer with header
// h304 to its revalidation asked at sent and answered at now (RFC 9111
// §4.3.4): the stored header
// fields updated by the 304's, freshness and age computed again from them.
// The version, its chunks and its variant are m's.
func (m *Meta) refreshed(h304 http.Header, sent, now time.Time, defaultTTL time.Duration) *Meta {
	n := *m
	n.pass = nil
	n.memo = new(memo) // new header fields
	h := rfc9111.Update304(m.Header, h304)
	if len(h["Date"]) == 0 {
		h.Set("Date", now.UTC().Format(http.TimeFormat)) // the 304's receipt stands for its Date
	}
	ttl, noStore := freshness(h, http.StatusOK, now, defaultTTL, m.fwd)
	n.FetchedAt = now
	n.initialAge = rfc9111.CurrentAge(h, sent, now, now)
	n.Expires = now.Add(ttl - n.initialAge)
	n.NoStore = m.NoStore || noStore
	if ct := h.Get("Content-Type"); ct != "" {
		n.ContentType = ct
	}
	n.setHeader(h)
	return &n
}

// fieldValues is what selecting reads request fields from: an http.Header
// or a client's request (Request).
type fieldValues interface{ Values(name string) []string }

// selecting returns the fields names of a request (its selecting fields for
// a response that varies on names), as an owned header; empty if req is nil.
func selecting(names []string, req fieldValues) http.Header {
	h := make(http.Header, len(names))
	if req == nil {
		return h
	}
	for _, name := range names {
		if v := req.Values(name); len(v) > 0 {
			h[http.CanonicalHeaderKey(name)] = cloneStrings(v)
		}
	}
	return h
}

// cloneStrings copies each string of v (they may view a request buffer).
func cloneStrings(v []string) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = strings.Clone(s)
	}
	return out
}

// variantSep separates an object's key from the variant part of the
// storage key of a variant (see variantKey). Keys never hold it: request
// targets with NUL are refused.
const variantSep = 0

// variantKey is the storage key of the variant of the object at path
// selected by the request fields sel of a response varying on names.
func variantKey(path string, names []string, sel http.Header) string {
	return path + string(rune(variantSep)) + rfc9111.VariantKey(names, sel)
}

// objectKey returns the object's key of a storage key: key itself, or the
// key of the object a variant's storage key belongs to.
func objectKey(key string) string {
	k, _, _ := strings.Cut(key, string(rune(variantSep)))
	return k
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
// §3: no-store, private, Vary: *, a request with Authorization (req) without
// public, s-maxage or must-revalidate, ...). When the origin says nothing about
// freshness and no heuristic applies, the lifetime is defaultTTL (the
// operator's cache.default_ttl); it never overrides what the origin said.
// An invalid freshness directive or Expires makes the answer stale (0).
//
// An answer that sets a cookie (Set-Cookie) is not stored either, as by
// default in nginx, Varnish and Fastly: stored, it would hand the cookie the
// origin set for one client (a session, say) to every client.
func freshness(h http.Header, status int, now time.Time, defaultTTL time.Duration, req http.Header) (ttl time.Duration, noStore bool) {
	if ok, _ := rfc9111.Storable(http.MethodGet, req, status, h, true); !ok || len(h.Values("Set-Cookie")) > 0 {
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

// requestNoStore reports whether a request's Cache-Control has no-store:
// nothing of the answer to it may be stored (RFC 9111 §5.2.1.5).
func requestNoStore(req Request) bool {
	v := req.Values("Cache-Control")
	if len(v) == 0 {
		return false
	}
	return rfc9111.ParseCacheControl(http.Header{"Cache-Control": v}, "Cache-Control").NoStore
}
