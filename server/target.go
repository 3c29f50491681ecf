package server

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// TargetOptions configure NormalizeTarget.
type TargetOptions struct {
	// MaxPathLength bounds both the raw path of the request-target (before
	// percent-decoding) and the whole cache key NormalizeTarget returns, in
	// bytes; anything longer is an error. Zero or less means no limit.
	MaxPathLength int
	// KeyQueryParams, if not empty, names the only query parameters that
	// are part of the cache key (compared case-sensitively after
	// percent-decoding); all others are dropped, and the kept ones are
	// sorted. Empty: every parameter is part of the key, in the order sent.
	KeyQueryParams []string
	// KeyIgnoreQueryParams names query parameters that are not part of the
	// cache key (compared like KeyQueryParams), e.g. the per-user tokens of
	// signed URLs. The others keep the order they were sent in. Since the
	// origin request is built from the key, the origin does not see them
	// either. A parameter named in both lists is dropped.
	KeyIgnoreQueryParams []string
}

// ErrBadTarget is wrapped by every error of NormalizeTarget; the wrapping
// error says what is wrong without quoting the request.
var ErrBadTarget = errors.New("bad request target")

// The errors of NormalizeTarget, made once so that refusing a request does
// not allocate.
var (
	errTargetEmpty      = badTarget("empty")
	errTargetAsterisk   = badTarget(`asterisk-form ("*") is not supported`)
	errTargetForm       = badTarget(`must be a path starting with "/" or an absolute http(s) URL`)
	errTargetNoHost     = badTarget("absolute URL without a host")
	errPathTooLong      = badTarget("path too long")
	errKeyTooLong       = badTarget("normalized target too long")
	errPathEscape       = badTarget("invalid percent-encoding in path")
	errPathControl      = badTarget("control character in path")
	errPathBackslash    = badTarget("backslash in path")
	errPathDotDot       = badTarget(`".." segment in path`)
	errQueryParamEscape = badTarget("invalid percent-encoding in a query parameter")
)

// badTarget returns an error wrapping ErrBadTarget that says what is wrong.
func badTarget(what string) error { return fmt.Errorf("%w: %s", ErrBadTarget, what) }

// NormalizeTarget turns a raw HTTP request-target into the canonical cache
// key, which is also exactly the path and query sent upstream: an escaped
// absolute path, plus "?" and the kept query parameters if there are any.
//
// The target is in origin-form ("/a/b?x=1") or absolute-form
// ("http://host/a/b?x=1", http or https only), whose scheme and authority are
// discarded: the cache is not an open proxy. Asterisk-form, authority-form
// and anything else are errors. A "#fragment" is dropped.
//
// The path is percent-decoded once (a bad escape is an error) and must not
// then hold a control byte (below 0x20, or 0x7f) or a backslash. It is split
// on "/" after decoding, so that an encoded slash ("%2F") is a separator like
// any other: empty segments collapse ("//a" is "/a"), "." segments are
// removed and a ".." segment is an error, however it is spelled ("%2e%2e",
// ".%2E", "..%2F"). A trailing slash, or a trailing "." segment, is kept as
// a trailing slash ("/a/" differs from "/a"). Each segment is re-escaped
// canonically: unreserved characters, sub-delims, ":" and "@" as they are,
// every other byte as %XX with upper-case hex. So all spellings of one path
// give one key ("/a%62c" is "/abc", "/a%2fb" is "/a/b").
//
// The query is split on "&" into name=value pairs, each percent-decoded with
// "+" meaning a space (as in HTML forms and url.ParseQuery); empty pairs are
// dropped. A parameter is kept unless its name is in opt.KeyIgnoreQueryParams
// or opt.KeyQueryParams is not empty and does not name it. Each kept one is
// re-encoded with only the unreserved characters as they are (so a space is
// "%20" and a plus "%2B"), as "name=value" even if the "=" was missing; an
// invalid escape in a kept parameter is an error, in a dropped one it is
// ignored. Without kept parameters the key has no "?".
//
// The kept parameters keep the order they were sent in ("?a=1&b=2" and
// "?b=2&a=1" are two keys): to an origin the order may matter, and the cache
// does not know that it does not. Only with opt.KeyQueryParams, where the
// operator has named the parameters that matter, are they sorted by encoded
// name, then encoded value, so that every order gives one key.
//
// The result is a fixed point: NormalizeTarget(key, opt) returns key. When
// the target is already canonical, or only has dropped parameters after its
// canonical kept ones (a signed URL's token at the end), NormalizeTarget
// returns a substring of it and does not allocate; otherwise it allocates the
// key once.
func NormalizeTarget(raw string, opt TargetOptions) (string, error) {
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	if raw == "" {
		return "", errTargetEmpty
	}
	target := raw
	if raw[0] != '/' {
		if raw == "*" {
			return "", errTargetAsterisk
		}
		var err error
		if target, err = absolutePath(raw); err != nil {
			return "", err
		}
	}
	path, query, hasQuery := strings.Cut(target, "?")
	if opt.MaxPathLength > 0 && len(path) > opt.MaxPathLength {
		return "", errPathTooLong
	}

	// Look at the query: how many parameters are kept, and whether they
	// are query[:canonEnd] as it is. With a keep list, they are sorted, so
	// gathered in pairs.
	var pairBuf [8]queryPair
	pairs := pairBuf[:0]
	kept, canonEnd := 0, -1
	if hasQuery {
		var err error
		if pairs, kept, canonEnd, err = scanQuery(pairs, query, &opt); err != nil {
			return "", err
		}
	}

	if isCanonicalPath(path) && (kept == 0 || canonEnd >= 0) {
		key := path
		if kept > 0 {
			key = target[:len(path)+1+canonEnd]
		}
		if opt.MaxPathLength > 0 && len(key) > opt.MaxPathLength {
			return "", errKeyTooLong
		}
		return key, nil
	}

	var buf [256]byte
	out, err := appendPath(buf[:0], path)
	if err != nil {
		return "", err
	}
	switch {
	case kept == 0:
	case canonEnd >= 0:
		out = append(append(out, '?'), query[:canonEnd]...)
	case len(opt.KeyQueryParams) > 0:
		out = appendQuery(append(out, '?'), pairs)
	default:
		out = appendQueryInOrder(append(out, '?'), query, &opt)
	}
	if opt.MaxPathLength > 0 && len(out) > opt.MaxPathLength {
		return "", errKeyTooLong
	}
	if len(out) == 1 {
		return "/", nil
	}
	return string(out), nil
}

// absolutePath returns the path and query of an absolute-form http or https
// request-target, "" for an empty path.
func absolutePath(raw string) (string, error) {
	i := strings.Index(raw, "://")
	if i < 0 || !asciiEqualFold(raw[:i], "http") && !asciiEqualFold(raw[:i], "https") {
		return "", errTargetForm
	}
	rest := raw[i+len("://"):]
	j := strings.IndexAny(rest, "/?")
	if j < 0 {
		j = len(rest)
	}
	if j == 0 {
		return "", errTargetNoHost
	}
	return rest[j:], nil
}

// keepPathByte reports whether c stands for itself in a canonical path
// segment: unreserved, sub-delims, ":" and "@" (RFC 3986 pchar).
func keepPathByte(c byte) bool { return byteClass[c]&classPath != 0 }

// keepQueryByte reports whether c stands for itself in a canonical query
// parameter: the unreserved characters of RFC 3986.
func keepQueryByte(c byte) bool { return byteClass[c]&classQuery != 0 }

const (
	classPath  = 1 << iota // keepPathByte
	classQuery             // keepQueryByte
)

// byteClass classifies bytes for keepPathByte and keepQueryByte.
var byteClass = func() (t [256]uint8) {
	for c := range 256 {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", byte(c)) >= 0 {
			t[c] = classPath | classQuery
		} else if strings.IndexByte("!$&'()*+,;=:@", byte(c)) >= 0 {
			t[c] = classPath
		}
	}
	return t
}()

// badPathByte reports whether c may not appear in a decoded path.
func badPathByte(c byte) bool { return c < 0x20 || c == 0x7f || c == '\\' }

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeAt decodes the byte at s[i], a percent-escape if s[i] is '%', and
// returns it with the index of the next one.
func decodeAt(s string, i int) (c byte, next int, ok bool) {
	if s[i] != '%' {
		return s[i], i + 1, true
	}
	if i+2 >= len(s) {
		return 0, 0, false
	}
	hi, ok1 := unhex(s[i+1])
	lo, ok2 := unhex(s[i+2])
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return hi<<4 | lo, i + 3, true
}

const upperHex = "0123456789ABCDEF"

// isCanonicalPath reports whether appendPath would return p itself.
func isCanonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	seg := 1 // start of the current segment
	for i := 1; i < len(p); {
		c := p[i]
		switch {
		case c == '/':
			if s := p[seg:i]; s == "" || s == "." || s == ".." {
				return false
			}
			i++
			seg = i
		case c == '%':
			// Only an upper-case escape of a byte that must be escaped, and
			// is allowed, is canonical.
			if i+2 >= len(p) || !isUpperHex(p[i+1]) || !isUpperHex(p[i+2]) {
				return false
			}
			d, _, _ := decodeAt(p, i)
			if keepPathByte(d) || d == '/' || badPathByte(d) {
				return false
			}
			i += 3
		case keepPathByte(c):
			i++
		default:
			return false
		}
	}
	s := p[seg:]
	return s != "." && s != ".."
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// appendPath appends the canonical form of the raw path p, which starts with
// "/" or is empty, to dst.
func appendPath(dst []byte, p string) ([]byte, error) {
	segOut := len(dst) // where the current segment's "/" is in dst
	dst = append(dst, '/')
	segLen, dots := 0, 0 // decoded length of the current segment, and how many of it are '.'
	for i := 0; i < len(p); {
		c, next, ok := decodeAt(p, i)
		if !ok {
			return nil, errPathEscape
		}
		i = next
		switch {
		case c == '/':
			if dots == segLen && segLen <= 2 {
				if segLen == 2 {
					return nil, errPathDotDot
				}
				dst = dst[:segOut] // empty or "." segment
			}
			segOut = len(dst)
			dst = append(dst, '/')
			segLen, dots = 0, 0
			continue
		case badPathByte(c):
			if c == '\\' {
				return nil, errPathBackslash
			}
			return nil, errPathControl
		case c == '.':
			dots++
		}
		segLen++
		if keepPathByte(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	if dots == segLen && segLen <= 2 {
		if segLen == 2 {
			return nil, errPathDotDot
		}
		// An empty or "." last segment: a trailing slash.
		dst = append(dst[:segOut], '/')
	}
	return dst, nil
}

// queryPair is a kept query parameter: its raw name and value, and the
// offsets of their canonical forms in appendQuery's buffer.
type queryPair struct {
	name, value    string
	ns, ne, vs, ve int
}

// keptQueryParam reports whether the query parameter with the raw name is
// part of the key under opt.
func keptQueryParam(name string, opt *TargetOptions) bool {
	if len(opt.KeyQueryParams) > 0 && !namedIn(name, opt.KeyQueryParams) {
		return false
	}
	return !namedIn(name, opt.KeyIgnoreQueryParams)
}

// namedIn reports whether the raw query component name, decoded, is in
// names.
func namedIn(name string, names []string) bool {
	for _, n := range names {
		if decodedEqual(name, n) {
			return true
		}
	}
	return false
}

// scanQuery checks the kept parameters of the raw query under opt and
// returns how many there are; with a keep list (opt.KeyQueryParams), it
// also appends them to pairs. canonEnd is the length of the prefix of query
// that is exactly the canonical form of the kept parameters (the rest holds
// only dropped or empty pairs), or -1 if there is none.
func scanQuery(pairs []queryPair, query string, opt *TargetOptions) (_ []queryPair, kept, canonEnd int, err error) {
	sorted := len(opt.KeyQueryParams) > 0
	canon, dropped := true, false // dropped: a dropped or empty pair was seen
	var prevName, prevValue string
	for off := 0; off < len(query); {
		pair, _, _ := strings.Cut(query[off:], "&")
		start := off
		off += len(pair) + 1
		name, value, hasEq := strings.Cut(pair, "=")
		if pair == "" || !keptQueryParam(name, opt) {
			dropped = true
			continue
		}
		// A name on the keep list has decoded already.
		if !sorted && !validQueryEscapes(name) || !validQueryEscapes(value) {
			return nil, 0, 0, errQueryParamEscape
		}
		if dropped || !hasEq || !isCanonicalQuery(name) || !isCanonicalQuery(value) {
			canon = false
		}
		// Canonical, so the raw forms are the encoded ones.
		if canon && sorted && kept > 0 && (name < prevName || name == prevName && value < prevValue) {
			canon = false
		}
		if sorted {
			pairs = append(pairs, queryPair{name: name, value: value})
		}
		prevName, prevValue = name, value
		kept++
		canonEnd = start + len(pair)
	}
	if !canon {
		canonEnd = -1
	}
	return pairs, kept, canonEnd, nil
}

// appendQueryInOrder appends the canonical form of the kept parameters of
// the raw query, which scanQuery accepted, to dst, in the order they are in.
func appendQueryInOrder(dst []byte, query string, opt *TargetOptions) []byte {
	first := true
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		name, value, _ := strings.Cut(pair, "=")
		if pair == "" || !keptQueryParam(name, opt) {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = appendQueryComponent(dst, name)
		dst = append(dst, '=')
		dst = appendQueryComponent(dst, value)
	}
	return dst
}

// decodedEqual reports whether the query component raw, percent-decoded with
// "+" as a space, equals s.
func decodedEqual(raw, s string) bool {
	j := 0
	for i := 0; i < len(raw); j++ {
		c, next, ok := decodeQueryAt(raw, i)
		if !ok || j >= len(s) || c != s[j] {
			return false
		}
		i = next
	}
	return j == len(s)
}

// decodeQueryAt is decodeAt for a query component, where "+" is a space.
func decodeQueryAt(s string, i int) (c byte, next int, ok bool) {
	if s[i] == '+' {
		return ' ', i + 1, true
	}
	return decodeAt(s, i)
}

func validQueryEscapes(s string) bool {
	for i := 0; i < len(s); {
		_, next, ok := decodeAt(s, i)
		if !ok {
			return false
		}
		i = next
	}
	return true
}

// isCanonicalQuery reports whether appendQueryComponent would append s
// itself.
func isCanonicalQuery(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
				return false
			}
			if d, _, _ := decodeAt(s, i); keepQueryByte(d) {
				return false
			}
			i += 2
		} else if !keepQueryByte(c) {
			return false
		}
	}
	return true
}

// appendQueryComponent appends the canonical form of the valid raw query
// component s to dst.
func appendQueryComponent(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c, next, _ := decodeQueryAt(s, i)
		i = next
		if keepQueryByte(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// appendQuery appends the canonical form of the kept parameters pairs to dst,
// sorted by encoded name, then encoded value.
func appendQuery(dst []byte, pairs []queryPair) []byte {
	var buf [256]byte
	enc := buf[:0]
	for i := range pairs {
		p := &pairs[i]
		p.ns = len(enc)
		enc = appendQueryComponent(enc, p.name)
		p.ne, p.vs = len(enc), len(enc)
		enc = appendQueryComponent(enc, p.value)
		p.ve = len(enc)
	}
	slices.SortFunc(pairs, func(a, b queryPair) int {
		if c := bytes.Compare(enc[a.ns:a.ne], enc[b.ns:b.ne]); c != 0 {
			return c
		}
		return bytes.Compare(enc[a.vs:a.ve], enc[b.vs:b.ve])
	})
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, enc[p.ns:p.ne]...)
		dst = append(dst, '=')
		dst = append(dst, enc[p.vs:p.ve]...)
	}
	return dst
}
