package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Validators are the stored representation's validators (RFC 9110 §8.8).
type Validators struct {
	ETag         string    // strong ("\"x\"") or weak ("W/\"x\""), with the quotes; "" if none
	LastModified time.Time // zero if unknown
}

// Conditions are the request's conditional header field values, "" when a
// field is absent.
type Conditions struct {
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   string
	IfUnmodifiedSince string
	IfRange           string // not used by Evaluate: see RangeAllowed
}

// Outcome is the result of evaluating the preconditions of a GET or HEAD
// request.
type Outcome int

// The outcomes of Evaluate.
const (
	OutcomeProceed            Outcome = iota // the preconditions hold (or there are none): answer normally
	OutcomeNotModified                       // answer 304 Not Modified
	OutcomePreconditionFailed                // answer 412 Precondition Failed
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case OutcomeProceed:
		return "proceed"
	case OutcomeNotModified:
		return "not modified"
	case OutcomePreconditionFailed:
		return "precondition failed"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Evaluate evaluates the preconditions c of a GET or HEAD request against the
// selected representation's validators v, in the order of RFC 9110 §13.2.2:
//
//  1. If-Match, if present: unless one of its entity-tags matches v.ETag by
//     strong comparison, or it is "*" (which matches the existing
//     representation), 412.
//  2. Otherwise If-Unmodified-Since, if a valid HTTP-date and v.LastModified
//     is known: if the representation was modified after it, 412.
//  3. If-None-Match, if present: if one of its entity-tags matches v.ETag by
//     weak comparison, or it is "*", 304.
//  4. Otherwise If-Modified-Since, if a valid HTTP-date and v.LastModified is
//     known: if the representation was not modified after it, 304.
//
// Dates are compared at the granularity of a second, as HTTP-dates are
// written. A header field whose value does not parse (a bad date, a bad
// entity-tag list) counts as a list without match for If-Match and
// If-None-Match, and as absent for the date fields, as in net/http.
func Evaluate(c Conditions, v Validators) Outcome {
	if c.IfMatch != "" {
		if !matchETagList(c.IfMatch, v.ETag, true) {
			return OutcomePreconditionFailed
		}
	} else if t, ok := parseDate(c.IfUnmodifiedSince, v); ok && v.LastModified.Unix() > t.Unix() {
		return OutcomePreconditionFailed
	}
	if c.IfNoneMatch != "" {
		if matchETagList(c.IfNoneMatch, v.ETag, false) {
			return OutcomeNotModified
		}
	} else if t, ok := parseDate(c.IfModifiedSince, v); ok && v.LastModified.Unix() <= t.Unix() {
		return OutcomeNotModified
	}
	return OutcomeProceed
}

// RangeAllowed reports whether the If-Range header field value ifRange
// permits honouring a Range header for the representation with validators v
// (RFC 9110 §13.1.5): without If-Range, yes; with an entity-tag, only if it
// matches v.ETag by strong comparison (so a weak tag never does); with an
// HTTP-date, only if it equals v.LastModified to the second. Anything else,
// including a list or an unparseable value, does not permit it, and the
// whole representation is sent.
func RangeAllowed(ifRange string, v Validators) bool {
	if ifRange == "" {
		return true
	}
	ifRange = trimOWS(ifRange)
	if strings.HasPrefix(ifRange, `"`) || strings.HasPrefix(ifRange, "W/") {
		etag, rest := scanETag(ifRange)
		return etag != "" && rest == "" && strongMatch(etag, v.ETag)
	}
	if v.LastModified.IsZero() {
		return false
	}
	t, err := http.ParseTime(ifRange)
	return err == nil && t.Unix() == v.LastModified.Unix()
}

// parseDate parses the HTTP-date s of an If-Modified-Since or
// If-Unmodified-Since header, reporting ok=false if it is absent or invalid
// or if v has no modification time to compare it with.
func parseDate(s string, v Validators) (time.Time, bool) {
	if s == "" || v.LastModified.IsZero() {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}

// matchETagList reports whether the If-Match or If-None-Match value list
// ("*" or a comma-separated list of entity-tags) matches etag, by strong or
// weak comparison. Scanning stops at the first element that is not an
// entity-tag.
func matchETagList(list, etag string, strong bool) bool {
	for {
		list = trimOWS(list)
		if list == "" {
			return false
		}
		if list[0] == ',' {
			list = list[1:]
			continue
		}
		if list[0] == '*' {
			return true
		}
		var tag string
		if tag, list = scanETag(list); tag == "" {
			return false
		}
		if strong && strongMatch(tag, etag) || !strong && weakMatch(tag, etag) {
			return true
		}
	}
}

// scanETag returns the entity-tag (W/"x" or "x") at the start of s after
// optional whitespace, and the rest of s; etag is "" if there is none. It
// follows scanETag in net/http's fs.go.
func scanETag(s string) (etag, rest string) {
	s = trimOWS(s)
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s[start:]) < 2 || s[start] != '"' {
		return "", ""
	}
	for i := start + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[:i+1], s[i+1:]
		case c == 0x21 || 0x23 <= c && c <= 0x7e || c >= 0x80: // etagc
		default:
			return "", ""
		}
	}
	return "", ""
}

// strongMatch reports whether the entity-tags a and b match by strong
// comparison: both strong and identical.
func strongMatch(a, b string) bool {
	return a == b && a != "" && a[0] == '"'
}

// weakMatch reports whether the entity-tags a and b match by weak comparison:
// identical but for a W/ prefix.
func weakMatch(a, b string) bool {
	return a != "" && strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}
