package rfc9111

import (
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// MaxDelta is the largest delta-seconds value, in seconds: larger values,
// and values too long to represent, are taken as 2^31 (RFC 9111 §1.2.2).
const MaxDelta = 1 << 31

// Delta is the argument of a directive taking delta-seconds (RFC 9111
// §1.2.2), such as max-age.
type Delta struct {
	Seconds int64 // in [0, MaxDelta]
	Set     bool  // the directive is present with a valid argument
}

// Duration returns d as a time.Duration (0 when d is not Set).
func (d Delta) Duration() time.Duration { return time.Duration(d.Seconds) * time.Second }

// Directives are the cache directives of one Cache-Control or
// CDN-Cache-Control field. The zero value is an absent field.
//
// One struct serves requests and responses (RFC 9111 §5.2.1, §5.2.2); the
// request-only directives are MaxStale, MaxStaleAny, MinFresh and
// OnlyIfCached. stale-while-revalidate and stale-if-error are RFC 5861,
// immutable RFC 8246. Unknown directives are ignored (§5.2.3).
type Directives struct {
	MaxAge  Delta // max-age
	SMaxAge Delta // s-maxage

	StaleWhileRevalidate Delta // stale-while-revalidate (RFC 5861 §3)
	StaleIfError         Delta // stale-if-error (RFC 5861 §4)

	MaxStale    Delta // request max-stale with an argument
	MaxStaleAny bool  // request max-stale without an argument
	MinFresh    Delta // request min-fresh

	// NoCache is an unqualified no-cache: the response must be validated
	// before each use (§5.2.2.4). NoCacheFields holds the field names of a
	// qualified no-cache="a, b" (canonical form); it is nil when NoCache is
	// set, as an unqualified no-cache covers the whole response.
	NoCache       bool
	NoCacheFields []string

	// Private is an unqualified private: a shared cache must not store the
	// response (§5.2.2.7). PrivateFields holds the field names of a
	// qualified private="a, b" (canonical form), which a shared cache must
	// not store; it is nil when Private is set.
	Private       bool
	PrivateFields []string

	NoStore         bool // no-store
	Public          bool // public
	MustRevalidate  bool // must-revalidate
	ProxyRevalidate bool // proxy-revalidate
	MustUnderstand  bool // must-understand
	NoTransform     bool // no-transform
	Immutable       bool // immutable
	OnlyIfCached    bool // request only-if-cached

	// Invalid reports that max-age or s-maxage was present with an
	// argument that is not delta-seconds (empty, negative, decimal,
	// quoted garbage, spaces around "=") or was repeated with different
	// arguments. RFC 9111 §4.2.1 lets a cache either use the first
	// occurrence or consider the response stale; this package does the
	// latter, so the origin's shortest intent is never exceeded: an
	// Invalid response has a freshness lifetime of 0 and counts as having
	// explicit freshness (no heuristic applies).
	Invalid bool

	// Targeted reports that the directives come from a targeted field
	// (CDN-Cache-Control, RFC 9213), so Cache-Control and Expires do not
	// apply to the response.
	Targeted bool
}

// Indexes of the delta-seconds directives in ccState.
const (
	dMaxAge = iota
	dSMaxAge
	dSWR
	dSIE
	dMaxStale
	dMinFresh
	nDelta
)

// Per-directive parse state.
const (
	stNone  = iota // not seen
	stValid        // seen, every occurrence with the same valid argument
	stBad          // seen with an invalid argument, or with two arguments
)

type ccState struct {
	st  [nDelta]uint8
	val [nDelta]int64
}

func (s *ccState) delta(i int, v string, hasVal, ok bool) {
	n, valid := int64(0), false
	if ok && hasVal {
		n, valid = parseDelta(v)
	}
	switch {
	case !valid:
		s.st[i] = stBad
	case s.st[i] == stNone:
		s.st[i], s.val[i] = stValid, n
	case s.st[i] == stValid && s.val[i] != n:
		s.st[i] = stBad
	}
}

// ParseCacheControl parses the Cache-Control-syntax field named field
// (normally "Cache-Control") of h. All field lines of the field form one
// comma-separated list (RFC 9110 §5.3); directive names are compared
// case-insensitively; arguments may be tokens or quoted strings (RFC 9111
// §5.2: recipients accept both forms, so max-age="60" is 60).
//
// Choices, where the RFC leaves them open:
//   - max-age and s-maxage: see Directives.Invalid. Other delta-seconds
//     directives (stale-while-revalidate, stale-if-error, max-stale,
//     min-fresh) with an invalid or conflicting argument are ignored, which
//     again is the restrictive reading.
//   - A directive that takes no argument but has one, or is followed by
//     junk ("no-store=1", "no-store x"), still counts when it restricts
//     caching (no-store, no-cache, private, must-revalidate,
//     proxy-revalidate, no-transform, only-if-cached) and is ignored when it
//     widens it (public, immutable, must-understand).
//   - A qualified no-cache or private whose list is empty or holds
//     something that is not a field name counts as unqualified.
//   - An unqualified no-cache or private wins over a qualified one; the
//     lists of several qualified ones are joined.
func ParseCacheControl(h http.Header, field string) Directives {
	var d Directives
	var st ccState
	for _, line := range h.Values(field) {
		l := ccLexer{s: line}
		for {
			name, val, hasVal, quoted, ok, more := l.next()
			if !more {
				break
			}
			if quoted && ok && strings.IndexByte(val, '\\') >= 0 {
				val = unquote(val)
			}
			applyCC(&d, &st, name, val, hasVal, ok)
		}
	}
	for i := range nDelta {
		if st.st[i] == stBad && (i == dMaxAge || i == dSMaxAge) {
			d.Invalid = true
		}
		if st.st[i] != stValid {
			continue
		}
		v := Delta{Seconds: st.val[i], Set: true}
		switch i {
		case dMaxAge:
			d.MaxAge = v
		case dSMaxAge:
			d.SMaxAge = v
		case dSWR:
			d.StaleWhileRevalidate = v
		case dSIE:
			d.StaleIfError = v
		case dMaxStale:
			d.MaxStale = v
		case dMinFresh:
			d.MinFresh = v
		}
	}
	if d.MaxStale.Set {
		d.MaxStaleAny = false
	}
	return d
}

func applyCC(d *Directives, st *ccState, name, val string, hasVal, ok bool) {
	// exact reports a directive without argument and without junk.
	exact := ok && !hasVal
	switch {
	case eqFold(name, "max-age"):
		st.delta(dMaxAge, val, hasVal, ok)
	case eqFold(name, "s-maxage"):
		st.delta(dSMaxAge, val, hasVal, ok)
	case eqFold(name, "stale-while-revalidate"):
		st.delta(dSWR, val, hasVal, ok)
	case eqFold(name, "stale-if-error"):
		st.delta(dSIE, val, hasVal, ok)
	case eqFold(name, "min-fresh"):
		st.delta(dMinFresh, val, hasVal, ok)
	case eqFold(name, "max-stale"):
		if exact {
			d.MaxStaleAny = true
		} else {
			st.delta(dMaxStale, val, hasVal, ok)
		}
	case eqFold(name, "no-store"):
		d.NoStore = true
	case eqFold(name, "no-cache"):
		d.NoCache, d.NoCacheFields = qualify(d.NoCache, d.NoCacheFields, val, ok && hasVal)
	case eqFold(name, "private"):
		d.Private, d.PrivateFields = qualify(d.Private, d.PrivateFields, val, ok && hasVal)
	case eqFold(name, "must-revalidate"):
		d.MustRevalidate = true
	case eqFold(name, "proxy-revalidate"):
		d.ProxyRevalidate = true
	case eqFold(name, "no-transform"):
		d.NoTransform = true
	case eqFold(name, "only-if-cached"):
		d.OnlyIfCached = true
	case eqFold(name, "public"):
		d.Public = d.Public || exact
	case eqFold(name, "immutable"):
		d.Immutable = d.Immutable || exact
	case eqFold(name, "must-understand"):
		d.MustUnderstand = d.MustUnderstand || exact
	}
}

// qualify merges one no-cache or private occurrence into (unqualified,
// fields). list is the argument when there is a well-formed one.
func qualify(unq bool, fields []string, list string, hasList bool) (bool, []string) {
	if unq {
		return true, nil
	}
	if !hasList {
		return true, nil
	}
	names, ok := fieldNames(list, fields)
	if !ok {
		return true, nil
	}
	return false, names
}

// FieldNames returns the field names of the comma-separated list s (as in
// Vary, or a preflight's Access-Control-Request-Headers), in canonical
// form; ok is false when the list is empty or an element is not a token.
func FieldNames(s string) (names []string, ok bool) { return fieldNames(s, nil) }

// fieldNames appends the field names of the comma-separated list s to dst,
// in canonical form. It fails when the list is empty or an element is not
// a token.
func fieldNames(s string, dst []string) ([]string, bool) {
	n := 0
	for len(s) > 0 {
		var el string
		if i := strings.IndexByte(s, ','); i >= 0 {
			el, s = s[:i], s[i+1:]
		} else {
			el, s = s, ""
		}
		el = trimOWS(el)
		if el == "" {
			continue
		}
		if !isToken(el) {
			return nil, false
		}
		dst = append(dst, textproto.CanonicalMIMEHeaderKey(el))
		n++
	}
	return dst, n > 0
}

// parseDelta parses delta-seconds: one or more digits, capped at MaxDelta.
func parseDelta(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < MaxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, MaxDelta), true
}

// ccLexer walks a #cache-directive list (RFC 9111 §5.2):
// token [ "=" ( token / quoted-string ) ], elements separated by commas and
// optional whitespace; empty elements are skipped (RFC 9110 §5.6.1).
type ccLexer struct {
	s string
	i int
}

// next returns the next element. more is false at the end. ok is false for
// a malformed element: then name is what could be read of it (possibly
// empty) and the lexer has skipped to the next top-level comma. For a
// quoted argument val is its content, still escaped.
func (l *ccLexer) next() (name, val string, hasVal, quoted, ok, more bool) {
	s := l.s
	for l.i < len(s) && (s[l.i] == ',' || s[l.i] == ' ' || s[l.i] == '\t') {
		l.i++
	}
	if l.i >= len(s) {
		return "", "", false, false, false, false
	}
	start := l.i
	for l.i < len(s) && isTchar(s[l.i]) {
		l.i++
	}
	name = s[start:l.i]
	ok = name != ""
	if ok && l.i < len(s) && s[l.i] == '=' {
		hasVal = true
		l.i++
		if l.i < len(s) && s[l.i] == '"' {
			quoted = true
			l.i++
			vs := l.i
			closed := false
			for l.i < len(s) {
				c := s[l.i]
				if c == '\\' {
					l.i += 2
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				l.i++
			}
			if !closed {
				l.i = len(s)
				return name, "", hasVal, quoted, false, true
			}
			val = s[vs:l.i]
			l.i++
		} else {
			vs := l.i
			for l.i < len(s) && isTchar(s[l.i]) {
				l.i++
			}
			val = s[vs:l.i]
			ok = val != ""
		}
	}
	for l.i < len(s) && (s[l.i] == ' ' || s[l.i] == '\t') {
		l.i++
	}
	if l.i < len(s) && s[l.i] != ',' {
		ok = false
		l.skip()
	}
	return name, val, hasVal, quoted, ok, true
}

// skip advances to the next comma outside a quoted string.
func (l *ccLexer) skip() {
	s := l.s
	inQ := false
	for ; l.i < len(s); l.i++ {
		switch c := s[l.i]; {
		case inQ && c == '\\':
			l.i++
		case c == '"':
			inQ = !inQ
		case !inQ && c == ',':
			return
		}
	}
}

// unquote removes the backslashes of quoted-pairs (RFC 9110 §5.6.4).
func unquote(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isTchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// ValidFieldName reports whether name is a valid field name: a token (RFC
// 9110 §5.1).
func ValidFieldName(name string) bool { return isToken(name) }

// isToken reports whether s is a token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// eqFold reports whether s equals the lower-case ASCII string lower,
// ignoring ASCII case.
func eqFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// ResponseDirectives returns the directives a shared CDN cache applies to a
// response: those of CDN-Cache-Control when it is present, valid and not
// empty (RFC 9213 §2.2; the result has Targeted set, and Cache-Control and
// Expires must then be ignored), else those of Surrogate-Control when it
// holds a max-age or no-store for every surrogate (see
// ParseSurrogateControl; Targeted too), else those of Cache-Control.
func ResponseDirectives(h http.Header) Directives {
	if d, ok := ParseCDNCacheControl(h); ok {
		return d
	}
	if d, ok := ParseSurrogateControl(h); ok {
		return d
	}
	return ParseCacheControl(h, "Cache-Control")
}

// first returns the first value of the canonical key k in h.
func first(h http.Header, k string) (string, bool) {
	if v := h[k]; len(v) > 0 {
		return v[0], true
	}
	return "", false
}
