package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var (
	testModTime = time.Date(2024, 5, 6, 7, 8, 9, 500_000_000, time.UTC) // sub-second, as a file's might be
	dateAt      = testModTime.Format(http.TimeFormat)                   // "Mon, 06 May 2024 07:08:09 GMT"
	dateBefore  = testModTime.Add(-time.Second).Format(http.TimeFormat)
	dateAfter   = testModTime.Add(time.Second).Format(http.TimeFormat)
	dateRFC850  = testModTime.Format("Monday, 02-Jan-06 15:04:05 GMT")
	dateANSIC   = testModTime.Format(time.ANSIC)
)

func TestEvaluate(t *testing.T) {
	strong := Validators{ETag: `"abc"`, LastModified: testModTime}
	weak := Validators{ETag: `W/"abc"`, LastModified: testModTime}
	noETag := Validators{LastModified: testModTime}
	noDate := Validators{ETag: `"abc"`}
	none := Validators{}
	const (
		proceed = OutcomeProceed
		notMod  = OutcomeNotModified
		failed  = OutcomePreconditionFailed
	)
	tests := []struct {
		name string
		c    Conditions
		v    Validators
		want Outcome
	}{
		{"no conditions", Conditions{}, strong, proceed},
		{"no conditions, no validators", Conditions{}, none, proceed},

		// If-Match: strong comparison.
		{"If-Match same", Conditions{IfMatch: `"abc"`}, strong, proceed},
		{"If-Match other", Conditions{IfMatch: `"xyz"`}, strong, failed},
		{"If-Match list", Conditions{IfMatch: `"x", "y", "abc"`}, strong, proceed},
		{"If-Match list no space", Conditions{IfMatch: `"x","abc"`}, strong, proceed},
		{"If-Match list whitespace", Conditions{IfMatch: " \t\"x\" ,\t \"abc\" "}, strong, proceed},
		{"If-Match list empty elements", Conditions{IfMatch: `, ,"abc",`}, strong, proceed},
		{"If-Match list without match", Conditions{IfMatch: `"x", "y"`}, strong, failed},
		{"If-Match weak request tag", Conditions{IfMatch: `W/"abc"`}, strong, failed},
		{"If-Match weak stored tag", Conditions{IfMatch: `"abc"`}, weak, failed},
		{"If-Match both weak", Conditions{IfMatch: `W/"abc"`}, weak, failed},
		{"If-Match star", Conditions{IfMatch: `*`}, strong, proceed},
		{"If-Match star weak", Conditions{IfMatch: `*`}, weak, proceed},
		{"If-Match star no ETag", Conditions{IfMatch: `*`}, none, proceed},
		{"If-Match no stored ETag", Conditions{IfMatch: `"abc"`}, noETag, failed},
		{"If-Match unquoted", Conditions{IfMatch: `abc`}, strong, failed},
		{"If-Match garbage before match", Conditions{IfMatch: `x, "abc"`}, strong, failed},
		{"If-Match unterminated", Conditions{IfMatch: `"abc`}, strong, failed},
		{"If-Match empty tag", Conditions{IfMatch: `""`}, Validators{ETag: `""`}, proceed},
		{"If-Match case matters", Conditions{IfMatch: `"ABC"`}, strong, failed},
		{"If-Match w/ lower case is no weak prefix", Conditions{IfMatch: `w/"abc"`}, strong, failed},

		// If-Unmodified-Since.
		{"IUS at", Conditions{IfUnmodifiedSince: dateAt}, strong, proceed},
		{"IUS after", Conditions{IfUnmodifiedSince: dateAfter}, strong, proceed},
		{"IUS before", Conditions{IfUnmodifiedSince: dateBefore}, strong, failed},
		{"IUS RFC 850", Conditions{IfUnmodifiedSince: dateRFC850}, strong, proceed},
		{"IUS ANSI C", Conditions{IfUnmodifiedSince: dateANSIC}, strong, proceed},
		{"IUS bad date", Conditions{IfUnmodifiedSince: "yesterday"}, strong, proceed},
		{"IUS no Last-Modified", Conditions{IfUnmodifiedSince: dateBefore}, noDate, proceed},
		{"IUS ignored with If-Match", Conditions{IfMatch: `"abc"`, IfUnmodifiedSince: dateBefore}, strong, proceed},
		{"IUS ignored with failing If-Match", Conditions{IfMatch: `"x"`, IfUnmodifiedSince: dateAfter}, strong, failed},

		// If-None-Match: weak comparison.
		{"INM same", Conditions{IfNoneMatch: `"abc"`}, strong, notMod},
		{"INM other", Conditions{IfNoneMatch: `"xyz"`}, strong, proceed},
		{"INM weak request tag", Conditions{IfNoneMatch: `W/"abc"`}, strong, notMod},
		{"INM weak stored tag", Conditions{IfNoneMatch: `"abc"`}, weak, notMod},
		{"INM both weak", Conditions{IfNoneMatch: `W/"abc"`}, weak, notMod},
		{"INM list", Conditions{IfNoneMatch: `"x", W/"abc"`}, strong, notMod},
		{"INM list without match", Conditions{IfNoneMatch: `"x", W/"y"`}, strong, proceed},
		{"INM star", Conditions{IfNoneMatch: `*`}, strong, notMod},
		{"INM star no ETag", Conditions{IfNoneMatch: `*`}, none, notMod},
		{"INM no stored ETag", Conditions{IfNoneMatch: `"abc"`}, noETag, proceed},
		{"INM garbage", Conditions{IfNoneMatch: `abc`}, strong, proceed},
		{"INM garbage before match", Conditions{IfNoneMatch: `x, "abc"`}, strong, proceed},
		{"INM match before garbage", Conditions{IfNoneMatch: `"abc", x`}, strong, notMod},

		// If-Modified-Since.
		{"IMS at", Conditions{IfModifiedSince: dateAt}, strong, notMod},
		{"IMS after", Conditions{IfModifiedSince: dateAfter}, strong, notMod},
		{"IMS before", Conditions{IfModifiedSince: dateBefore}, strong, proceed},
		{"IMS RFC 850", Conditions{IfModifiedSince: dateRFC850}, strong, notMod},
		{"IMS ANSI C", Conditions{IfModifiedSince: dateANSIC}, strong, notMod},
		{"IMS bad date", Conditions{IfModifiedSince: "not a date"}, strong, proceed},
		{"IMS ISO date", Conditions{IfModifiedSince: "2024-05-06T07:08:09Z"}, strong, proceed},
		{"IMS no Last-Modified", Conditions{IfModifiedSince: dateAfter}, noDate, proceed},
		{"IMS ignored with INM", Conditions{IfNoneMatch: `"xyz"`, IfModifiedSince: dateAfter}, strong, proceed},
		{"IMS ignored with matching INM", Conditions{IfNoneMatch: `"abc"`, IfModifiedSince: dateBefore}, strong, notMod},

		// Combinations: 412 comes first.
		{"If-Match fails before INM", Conditions{IfMatch: `"x"`, IfNoneMatch: `"abc"`}, strong, failed},
		{"If-Match passes, INM matches", Conditions{IfMatch: `"abc"`, IfNoneMatch: `"abc"`}, strong, notMod},
		{"If-Match passes, INM does not match", Conditions{IfMatch: `"abc"`, IfNoneMatch: `"x"`}, strong, proceed},
		{"IUS fails before IMS", Conditions{IfUnmodifiedSince: dateBefore, IfModifiedSince: dateAfter}, strong, failed},
		{"IUS passes, IMS matches", Conditions{IfUnmodifiedSince: dateAfter, IfModifiedSince: dateAfter}, strong, notMod},
		{"If-Match star, IMS", Conditions{IfMatch: "*", IfModifiedSince: dateAt}, strong, notMod},
		{"all four, proceed", Conditions{IfMatch: `"abc"`, IfUnmodifiedSince: dateBefore, IfNoneMatch: `"x"`, IfModifiedSince: dateAfter}, strong, proceed},
		{"If-Range is not Evaluate's", Conditions{IfRange: `"x"`}, strong, proceed},
	}
	for _, tt := range tests {
		if got := Evaluate(tt.c, tt.v); got != tt.want {
			t.Errorf("%s: Evaluate(%+v, %+v) = %v; want %v", tt.name, tt.c, tt.v, got, tt.want)
		}
		if got := netHTTPOutcome(t, tt.c, tt.v); got != tt.want {
			t.Errorf("%s: net/http says %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestRangeAllowed(t *testing.T) {
	strong := Validators{ETag: `"abc"`, LastModified: testModTime}
	weak := Validators{ETag: `W/"abc"`, LastModified: testModTime}
	noDate := Validators{ETag: `"abc"`}
	tests := []struct {
		ifRange string
		v       Validators
		want    bool
	}{
		{"", strong, true},
		{"", Validators{}, true},
		// Entity-tags: strong comparison only.
		{`"abc"`, strong, true},
		{` "abc" `, strong, true},
		{`"xyz"`, strong, false},
		{`W/"abc"`, strong, false},
		{`"abc"`, weak, false},
		{`W/"abc"`, weak, false},
		{`"abc"`, Validators{LastModified: testModTime}, false},
		{`"abc`, strong, false},
		{`"abc", "abc"`, strong, false},
		{`"abc"x`, strong, false},
		{`*`, strong, false},
		// Dates: equal to the second.
		{dateAt, strong, true},
		{dateRFC850, strong, true},
		{dateANSIC, strong, true},
		{dateBefore, strong, false},
		{dateAfter, strong, false},
		{dateAt, noDate, false},
		{"yesterday", strong, false},
		{"abc", strong, false},
	}
	for _, tt := range tests {
		if got := RangeAllowed(tt.ifRange, tt.v); got != tt.want {
			t.Errorf("RangeAllowed(%q, %+v) = %v; want %v", tt.ifRange, tt.v, got, tt.want)
		}
		if strings.TrimSpace(tt.ifRange) == tt.ifRange && !strings.Contains(tt.ifRange, ",") && !strings.HasSuffix(tt.ifRange, "x") {
			if got := netHTTPRangeAllowed(t, tt.ifRange, tt.v); got != tt.want {
				t.Errorf("If-Range %q, %+v: net/http says %v; want %v", tt.ifRange, tt.v, got, tt.want)
			}
		}
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{
		OutcomeProceed:            "proceed",
		OutcomeNotModified:        "not modified",
		OutcomePreconditionFailed: "precondition failed",
		Outcome(-12):              "Outcome(-12)",
	} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q; want %q", int(o), got, want)
		}
	}
}

func TestConditionalAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	v := Validators{ETag: `"abc"`, LastModified: testModTime}
	c := Conditions{IfNoneMatch: `"x", W/"abc"`, IfMatch: `"abc"`}
	if n := testing.AllocsPerRun(100, func() { Evaluate(c, v) }); n != 0 {
		t.Errorf("Evaluate: %v allocations", n)
	}
	c = Conditions{IfModifiedSince: dateAt, IfUnmodifiedSince: dateAfter}
	if n := testing.AllocsPerRun(100, func() { Evaluate(c, v) }); n != 0 {
		t.Errorf("Evaluate with dates: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { RangeAllowed(`"abc"`, v) }); n != 0 {
		t.Errorf("RangeAllowed: %v allocations", n)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	v := Validators{ETag: `"abc"`, LastModified: testModTime}
	for _, bc := range []struct {
		name string
		c    Conditions
	}{
		{"none", Conditions{}},
		{"If-None-Match", Conditions{IfNoneMatch: `"x", W/"abc"`}},
		{"If-Modified-Since", Conditions{IfModifiedSince: dateAt}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Evaluate(bc.c, v)
			}
		})
	}
}

// FuzzConditions compares Evaluate and RangeAllowed with net/http's
// ServeContent. The deliberate differences, which the comparison skips:
// net/http also trims CR and LF as whitespace, treats a modification time
// of the Unix epoch as unknown, and ignores anything after an If-Range
// entity-tag or leading whitespace before an If-Range date (RangeAllowed
// refuses the former and allows the latter).
func FuzzConditions(f *testing.F) {
	f.Add(`"abc"`, `"abc"`, "", "", dateAt, `"abc"`, int64(1714979289))
	f.Add(`W/"abc"`, "", `W/"abc", "x"`, dateBefore, "", dateAt, int64(1714979289))
	f.Add(`"abc"`, "*", "", dateAfter, dateBefore, `W/"abc"`, int64(1714979290))
	f.Add("", `"x", "abc"`, "*", "", "junk", "", int64(0))
	f.Fuzz(func(t *testing.T, etag, ifMatch, ifNoneMatch, ims, ius, ifRange string, lastMod int64) {
		for _, s := range []string{etag, ifMatch, ifNoneMatch, ims, ius, ifRange} {
			if strings.ContainsAny(s, "\r\n") {
				return
			}
		}
		v := Validators{ETag: etag}
		if lastMod != 0 {
			v.LastModified = time.Unix(lastMod%(1<<40), 0)
		}
		c := Conditions{IfMatch: ifMatch, IfNoneMatch: ifNoneMatch, IfModifiedSince: ims, IfUnmodifiedSince: ius}
		got := Evaluate(c, v)
		if want := netHTTPOutcome(t, c, v); got != want {
			t.Fatalf("Evaluate(%+v, %+v) = %v; net/http says %v", c, v, got, want)
		}
		if ifRange == "" || trimOWS(ifRange) != ifRange {
			return
		}
		if etag, rest := scanETag(ifRange); etag != "" && rest != "" {
			return
		}
		if got, want := RangeAllowed(ifRange, v), netHTTPRangeAllowed(t, ifRange, v); got != want {
			t.Fatalf("RangeAllowed(%q, %+v) = %v; net/http says %v", ifRange, v, got, want)
		}
	})
}

// serveConditional serves a 10-byte representation with validators v with
// http.ServeContent and returns the status code.
func serveConditional(t *testing.T, v Validators, header http.Header) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for k, vv := range header {
		if vv[0] != "" {
			req.Header[k] = vv
		}
	}
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/octet-stream")
	if v.ETag != "" {
		rec.Header().Set("Etag", v.ETag)
	}
	http.ServeContent(rec, req, "", v.LastModified, strings.NewReader("0123456789"))
	return rec.Code
}

// netHTTPOutcome is net/http's verdict on the preconditions c.
func netHTTPOutcome(t *testing.T, c Conditions, v Validators) Outcome {
	t.Helper()
	code := serveConditional(t, v, http.Header{
		"If-Match":            {c.IfMatch},
		"If-None-Match":       {c.IfNoneMatch},
		"If-Modified-Since":   {c.IfModifiedSince},
		"If-Unmodified-Since": {c.IfUnmodifiedSince},
	})
	switch code {
	case http.StatusOK:
		return OutcomeProceed
	case http.StatusNotModified:
		return OutcomeNotModified
	case http.StatusPreconditionFailed:
		return OutcomePreconditionFailed
	}
	t.Fatalf("net/http answered %d", code)
	return 0
}

// netHTTPRangeAllowed is net/http's verdict on If-Range.
func netHTTPRangeAllowed(t *testing.T, ifRange string, v Validators) bool {
	t.Helper()
	code := serveConditional(t, v, http.Header{"Range": {"bytes=0-0"}, "If-Range": {ifRange}})
	switch code {
	case http.StatusPartialContent:
		return true
	case http.StatusOK:
		return false
	}
	t.Fatalf("net/http answered %d", code)
	return false
}
