package server

import (
	"cmp"
	"errors"
	"math"
	"slices"
)

// RangeSpec is one syntactic byte-range-spec (RFC 9110 §14.1.2) with First
// and Last as written. First < 0 means a suffix range of the last Last bytes
// ("-N"); Last < 0 means an open-ended range from First to the end ("N-").
// Both are never negative in a spec returned by ParseRangeSpecs.
type RangeSpec struct{ First, Last int64 }

// ByteRange is a satisfiable range of bytes [Start, Start+Length) of an
// object.
type ByteRange struct{ Start, Length int64 }

// Errors returned by ParseRangeSpecs and Resolve.
var (
	// ErrInvalidRange reports a syntactically invalid Range header. RFC 9110
	// §14.2 says to ignore such a header: the caller serves the whole
	// object with 200. (net/http answers 416 instead; this package
	// deliberately follows the RFC.)
	ErrInvalidRange = errors.New("invalid range")
	// ErrUnsatisfiable reports that no range in a valid Range header
	// overlaps the object: the caller answers 416 with
	// "Content-Range: bytes */size".
	ErrUnsatisfiable = errors.New("range not satisfiable")
	// ErrTooManyRanges reports a Range header with more specs than the
	// caller allows: the caller ignores it and serves the whole object
	// with 200, as RFC 9110 §14.2 permits.
	ErrTooManyRanges = errors.New("too many ranges")
)

// ParseRangeSpecs parses the Range header value header, appending the specs
// to dst (so a caller can pass a slice of a stack array) and returning the
// extended slice; on error it returns dst unchanged.
//
// Only the "bytes" unit (compared case-insensitively, RFC 9110 §14.1) is
// understood: any other unit, or any spec that is not first-pos "-"
// [last-pos] or "-" suffix-length with decimal digits only, is
// ErrInvalidRange. So are "bytes=5-2", "bytes=-", "bytes=x-", signs, numbers
// that overflow an int64, whitespace inside a spec and a header with no spec
// at all. Whitespace (SP, HTAB) around the commas of the list and empty list
// elements ("bytes=0-1,,2-3") are tolerated, as RFC 9110 §5.6.1 allows.
//
// At most maxSpecs specs are parsed (maxSpecs <= 0 means no limit); if the
// header holds more, ParseRangeSpecs returns ErrTooManyRanges without looking
// at the rest of it.
func ParseRangeSpecs(dst []RangeSpec, header string, maxSpecs int) ([]RangeSpec, error) {
	const unit = "bytes="
	if len(header) < len(unit) || !asciiEqualFold(header[:len(unit)], unit) {
		return dst, ErrInvalidRange
	}
	orig := len(dst)
	s := header[len(unit):]
	n := 0
	for len(s) > 0 {
		// Split off the next list element.
		var elem string
		elem, s = s, ""
		for i := 0; i < len(elem); i++ {
			if elem[i] == ',' {
				elem, s = elem[:i], elem[i+1:]
				break
			}
		}
		elem = trimOWS(elem)
		if elem == "" {
			continue // empty list element
		}
		if maxSpecs > 0 && n == maxSpecs {
			return dst[:orig], ErrTooManyRanges
		}
		spec, ok := parseRangeSpec(elem)
		if !ok {
			return dst[:orig], ErrInvalidRange
		}
		dst = append(dst, spec)
		n++
	}
	if n == 0 {
		return dst[:orig], ErrInvalidRange
	}
	return dst, nil
}

// parseRangeSpec parses one trimmed, non-empty byte-range-spec.
func parseRangeSpec(s string) (RangeSpec, bool) {
	if s[0] == '-' {
		last, ok := parseDigits(s[1:])
		if !ok {
			return RangeSpec{}, false
		}
		return RangeSpec{First: -1, Last: last}, true
	}
	i := 0
	for i < len(s) && s[i] != '-' {
		i++
	}
	if i == len(s) {
		return RangeSpec{}, false // no "-"
	}
	first, ok := parseDigits(s[:i])
	if !ok {
		return RangeSpec{}, false
	}
	if i+1 == len(s) {
		return RangeSpec{First: first, Last: -1}, true
	}
	last, ok := parseDigits(s[i+1:])
	if !ok || last < first {
		return RangeSpec{}, false
	}
	return RangeSpec{First: first, Last: last}, true
}

// parseDigits parses 1*DIGIT as a non-negative int64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64 // saturate: no representation is that long, so a last-pos clamps and a first-pos is past the end
			continue
		}
		n = n*10 + d
	}
	return n, true
}

// trimOWS removes leading and trailing optional whitespace (SP, HTAB).
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// asciiEqualFold reports whether s equals the lower-case ASCII string lower,
// ignoring ASCII case.
func asciiEqualFold(s, lower string) bool {
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

// FirstByte returns the object offset of the first byte that specs ask for,
// for use before the object's size is known: the smallest First among the
// specs. It returns ok=false if any spec is a suffix range (whose position
// depends on the size) or if specs is empty.
func FirstByte(specs []RangeSpec) (off int64, ok bool) {
	if len(specs) == 0 {
		return 0, false
	}
	off = math.MaxInt64
	for _, s := range specs {
		if s.First < 0 {
			return 0, false
		}
		off = min(off, s.First)
	}
	return off, true
}

// Resolve turns specs into the satisfiable ranges of an object of size bytes,
// appending them to dst in the order the client asked for (overlapping or
// adjacent ranges are not merged here: see Coalesce) and returning the
// extended slice.
//
// A spec is unsatisfiable, and dropped, if First >= size or if it is a
// suffix range of 0 bytes (so with size 0 every spec is); Last is clamped to
// size-1, and a suffix longer than the object means the whole object. A
// malformed spec (Last < First, or both negative) is dropped too. If no spec
// is satisfiable, Resolve returns dst unchanged and ErrUnsatisfiable.
func Resolve(dst []ByteRange, specs []RangeSpec, size int64) ([]ByteRange, error) {
	orig := len(dst)
	for _, s := range specs {
		var r ByteRange
		switch {
		case s.First < 0: // suffix
			if s.Last <= 0 || size <= 0 {
				continue
			}
			r.Length = min(s.Last, size)
			r.Start = size - r.Length
		case s.First >= size:
			continue
		case s.Last < 0: // open-ended
			r.Start, r.Length = s.First, size-s.First
		case s.Last < s.First:
			continue
		default:
			r.Start, r.Length = s.First, min(s.Last, size-1)-s.First+1
		}
		dst = append(dst, r)
	}
	if len(dst) == orig {
		return dst, ErrUnsatisfiable
	}
	return dst, nil
}

// SumLength returns the total length of ranges, saturating at
// math.MaxInt64 rather than overflowing.
func SumLength(r []ByteRange) int64 {
	var n int64
	for _, x := range r {
		if x.Length > math.MaxInt64-n {
			return math.MaxInt64
		}
		n += x.Length
	}
	return n
}

// CoalesceGap is the widest gap between two ranges that the server closes
// by sending the bytes between them: less than the overhead of one more
// multipart part (a boundary line, Content-Type and Content-Range: about
// 100 bytes), so coalescing never makes an answer longer.
const CoalesceGap = 80

// Coalesce merges ranges that overlap or are separated by at most gap bytes,
// as RFC 9110 §14.2 allows a server to (a cache should: every separate part
// may cost an origin fetch), in place, and returns the shortened slice. The
// result covers exactly the bytes of ranges plus the gaps closed, its ranges
// are disjoint and more than gap bytes apart, and each stands where the
// first of the ranges merged into it stood, so parts that were not merged
// keep the client's order (RFC 9110 §15.3.7.2).
func Coalesce(ranges []ByteRange, gap int64) []ByteRange {
	if len(ranges) < 2 {
		return ranges
	}
	// Positions sorted by start (then position); a stack array for the
	// usual handful of ranges.
	var posBuf [16]int
	pos := posBuf[:0]
	for i := range ranges {
		pos = append(pos, i)
	}
	slices.SortFunc(pos, func(a, b int) int {
		return cmp.Or(cmp.Compare(ranges[a].Start, ranges[b].Start), cmp.Compare(a, b))
	})
	type group struct {
		start, end int64 // [start, end)
		first      int   // smallest position merged into it
	}
	var groupBuf [16]group
	groups := groupBuf[:0]
	for _, p := range pos {
		r := ranges[p]
		if g := len(groups) - 1; g >= 0 && r.Start-groups[g].end <= gap {
			groups[g].end = max(groups[g].end, r.Start+r.Length)
			groups[g].first = min(groups[g].first, p)
			continue
		}
		groups = append(groups, group{r.Start, r.Start + r.Length, p})
	}
	if len(groups) == len(ranges) {
		return ranges
	}
	slices.SortFunc(groups, func(a, b group) int { return cmp.Compare(a.first, b.first) })
	for i, g := range groups {
		ranges[i] = ByteRange{Start: g.start, Length: g.end - g.start}
	}
	return ranges[:len(groups)]
}
