package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRange(t *testing.T) {
	const maxI = math.MaxInt64
	type br = ByteRange
	tests := []struct {
		header string
		size   int64
		want   []ByteRange // nil with err == nil is impossible
		err    error
	}{
		// The three forms.
		{"bytes=0-0", 10, []br{{0, 1}}, nil},
		{"bytes=0-9", 10, []br{{0, 10}}, nil},
		{"bytes=2-5", 10, []br{{2, 4}}, nil},
		{"bytes=9-9", 10, []br{{9, 1}}, nil},
		{"bytes=3-", 10, []br{{3, 7}}, nil},
		{"bytes=0-", 10, []br{{0, 10}}, nil},
		{"bytes=9-", 10, []br{{9, 1}}, nil},
		{"bytes=-1", 10, []br{{9, 1}}, nil},
		{"bytes=-3", 10, []br{{7, 3}}, nil},
		{"bytes=-10", 10, []br{{0, 10}}, nil},
		{"bytes=007-008", 10, []br{{7, 2}}, nil},
		// Clamping and suffix longer than the object.
		{"bytes=5-100", 10, []br{{5, 5}}, nil},
		{"bytes=0-9223372036854775807", 10, []br{{0, 10}}, nil},
		{"bytes=-11", 10, []br{{0, 10}}, nil},
		{"bytes=-9223372036854775807", 10, []br{{0, 10}}, nil},
		// Unsatisfiable.
		{"bytes=10-", 10, nil, ErrUnsatisfiable},
		{"bytes=10-10", 10, nil, ErrUnsatisfiable},
		{"bytes=11-20", 10, nil, ErrUnsatisfiable},
		{"bytes=-0", 10, nil, ErrUnsatisfiable},
		{"bytes=9223372036854775807-", 10, nil, ErrUnsatisfiable},
		// Size 0: nothing is satisfiable.
		{"bytes=0-", 0, nil, ErrUnsatisfiable},
		{"bytes=0-0", 0, nil, ErrUnsatisfiable},
		{"bytes=-1", 0, nil, ErrUnsatisfiable},
		{"bytes=-0", 0, nil, ErrUnsatisfiable},
		// Huge sizes.
		{"bytes=0-", maxI, []br{{0, maxI}}, nil},
		{"bytes=-5", maxI, []br{{maxI - 5, 5}}, nil},
		{"bytes=9223372036854775806-", maxI, []br{{maxI - 1, 1}}, nil},
		{"bytes=0-9223372036854775807", maxI, []br{{0, maxI}}, nil},
		// Multiple ranges, in the client's order, not merged.
		{"bytes=0-1,4-5", 10, []br{{0, 2}, {4, 2}}, nil},
		{"bytes=4-5,0-1", 10, []br{{4, 2}, {0, 2}}, nil},
		{"bytes=0-4,2-6,-2", 10, []br{{0, 5}, {2, 5}, {8, 2}}, nil},
		{"bytes=0-0,0-0", 10, []br{{0, 1}, {0, 1}}, nil},
		{"bytes=0-,0-", 10, []br{{0, 10}, {0, 10}}, nil},
		// Mixed satisfiable and unsatisfiable: the latter are dropped.
		{"bytes=20-30,0-1", 10, []br{{0, 2}}, nil},
		{"bytes=0-1,10-,-0,5-", 10, []br{{0, 2}, {5, 5}}, nil},
		{"bytes=10-,20-", 10, nil, ErrUnsatisfiable},
		{"bytes=-0,-0", 10, nil, ErrUnsatisfiable},
		// Whitespace around commas and empty elements.
		{"bytes=0-1, 4-5", 10, []br{{0, 2}, {4, 2}}, nil},
		{"bytes=0-1 ,4-5", 10, []br{{0, 2}, {4, 2}}, nil},
		{"bytes=0-1 \t, \t4-5", 10, []br{{0, 2}, {4, 2}}, nil},
		{"bytes= 0-1", 10, []br{{0, 2}}, nil},
		{"bytes=0-1 ", 10, []br{{0, 2}}, nil},
		{"bytes=0-1,,2-3", 10, []br{{0, 2}, {2, 2}}, nil},
		{"bytes=,0-1", 10, []br{{0, 2}}, nil},
		{"bytes=0-1,", 10, []br{{0, 2}}, nil},
		{"bytes=0-1, ,2-3", 10, []br{{0, 2}, {2, 2}}, nil},
		{"bytes=,,0-1,,", 10, []br{{0, 2}}, nil},
		// The unit is case-insensitive.
		{"Bytes=0-1", 10, []br{{0, 2}}, nil},
		{"BYTES=0-1", 10, []br{{0, 2}}, nil},
		// Invalid syntax.
		{"", 10, nil, ErrInvalidRange},
		{"bytes", 10, nil, ErrInvalidRange},
		{"bytes=", 10, nil, ErrInvalidRange},
		{"bytes= ", 10, nil, ErrInvalidRange},
		{"bytes=,", 10, nil, ErrInvalidRange},
		{"bytes=,,", 10, nil, ErrInvalidRange},
		{"bytes=5-2", 10, nil, ErrInvalidRange},
		{"bytes=-", 10, nil, ErrInvalidRange},
		{"bytes=x-", 10, nil, ErrInvalidRange},
		{"bytes=-x", 10, nil, ErrInvalidRange},
		{"bytes=1-x", 10, nil, ErrInvalidRange},
		{"bytes=1x-2", 10, nil, ErrInvalidRange},
		{"bytes=1", 10, nil, ErrInvalidRange},
		{"bytes=1-2-3", 10, nil, ErrInvalidRange},
		{"bytes=--1", 10, nil, ErrInvalidRange},
		{"bytes=-1-", 10, nil, ErrInvalidRange},
		{"bytes=+1-2", 10, nil, ErrInvalidRange},
		{"bytes=1-+2", 10, nil, ErrInvalidRange},
		{"bytes=-+2", 10, nil, ErrInvalidRange},
		{"bytes=0x1-2", 10, nil, ErrInvalidRange},
		{"bytes=1 - 2", 10, nil, ErrInvalidRange},
		{"bytes=1 -2", 10, nil, ErrInvalidRange},
		{"bytes=1- 2", 10, nil, ErrInvalidRange},
		{"bytes=- 2", 10, nil, ErrInvalidRange},
		{"bytes=0-1;2-3", 10, nil, ErrInvalidRange},
		{"bytes=0-1,5-2", 10, nil, ErrInvalidRange},   // one bad spec spoils the header
		{"bytes=0-1,20-10", 10, nil, ErrInvalidRange}, // even when unsatisfiable anyway
		{"bytes=0-1,x", 10, nil, ErrInvalidRange},
		{"bytes =0-1", 10, nil, ErrInvalidRange},
		{" bytes=0-1", 10, nil, ErrInvalidRange},
		{"bytes:0-1", 10, nil, ErrInvalidRange},
		{"items=0-1", 10, nil, ErrInvalidRange},
		{"byte=0-1", 10, nil, ErrInvalidRange},
		{"bytesx=0-1", 10, nil, ErrInvalidRange},
		{"bytes=\u0660-1", 10, nil, ErrInvalidRange}, // Arabic-Indic zero is no DIGIT
		// Past int64: saturated, so past any end.
		{"bytes=9223372036854775808-", 10, nil, ErrUnsatisfiable},
		{"bytes=0-9223372036854775808", 10, []br{{0, 10}}, nil},
		{"bytes=-9223372036854775808", 10, []br{{0, 10}}, nil},
		{"bytes=99999999999999999999-", 10, nil, ErrUnsatisfiable},
		{"bytes=0-99999999999999999999999999999", 10, []br{{0, 10}}, nil},
		// The limit on the number of specs.
		{"bytes=0-0,1-1,2-2,3-3", 10, []br{{0, 1}, {1, 1}, {2, 1}, {3, 1}}, nil},
		{"bytes=0-0,1-1,2-2,3-3,,", 10, []br{{0, 1}, {1, 1}, {2, 1}, {3, 1}}, nil},
		{"bytes=0-0,1-1,2-2,3-3,4-4", 10, nil, ErrTooManyRanges},
		{"bytes=0-0,1-1,2-2,3-3,x", 10, nil, ErrTooManyRanges},
	}
	for _, tt := range tests {
		got, err := parseAndResolve(tt.header, tt.size, 4)
		if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
			t.Errorf("%q size %d: got %v, %v; want %v, %v", tt.header, tt.size, got, err, tt.want, tt.err)
		}
	}
}

// parseAndResolve is ParseRangeSpecs followed by Resolve, as a server does.
func parseAndResolve(header string, size int64, maxSpecs int) ([]ByteRange, error) {
	var specBuf [4]RangeSpec
	specs, err := ParseRangeSpecs(specBuf[:0], header, maxSpecs)
	if err != nil {
		if len(specs) != 0 {
			return nil, fmt.Errorf("ParseRangeSpecs returned %v with error %w", specs, err)
		}
		return nil, err
	}
	var rangeBuf [4]ByteRange
	ranges, err := Resolve(rangeBuf[:0], specs, size)
	if err != nil {
		if len(ranges) != 0 {
			return nil, fmt.Errorf("Resolve returned %v with error %w", ranges, err)
		}
		return nil, err
	}
	return ranges, nil
}

func TestParseRangeSpecs(t *testing.T) {
	tests := []struct {
		header string
		want   []RangeSpec
	}{
		{"bytes=0-499", []RangeSpec{{0, 499}}},
		{"bytes=500-", []RangeSpec{{500, -1}}},
		{"bytes=-500", []RangeSpec{{-1, 500}}},
		{"bytes=-0", []RangeSpec{{-1, 0}}},
		{"bytes=0-0,-1", []RangeSpec{{0, 0}, {-1, 1}}},
		{"bytes=500-600, 601-999", []RangeSpec{{500, 600}, {601, 999}}},
		{"bytes=9223372036854775807-", []RangeSpec{{math.MaxInt64, -1}}},
		// Positions past int64 saturate.
		{"bytes=99999999999999999999-", []RangeSpec{{math.MaxInt64, -1}}},
		{"bytes=0-18446744073709551615", []RangeSpec{{0, math.MaxInt64}}},
		{"bytes=-99999999999999999999", []RangeSpec{{-1, math.MaxInt64}}},
	}
	for _, tt := range tests {
		got, err := ParseRangeSpecs(nil, tt.header, 0)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseRangeSpecs(%q) = %v, %v; want %v", tt.header, got, err, tt.want)
		}
	}

	// Appends to dst, and leaves it alone on error.
	dst := []RangeSpec{{1, 2}}
	got, err := ParseRangeSpecs(dst, "bytes=3-4", 0)
	if err != nil || !slices.Equal(got, []RangeSpec{{1, 2}, {3, 4}}) {
		t.Errorf("append: got %v, %v", got, err)
	}
	got, err = ParseRangeSpecs(dst, "bytes=3-4,x", 0)
	if err != ErrInvalidRange || !slices.Equal(got, dst) {
		t.Errorf("append with error: got %v, %v", got, err)
	}
	got, err = ParseRangeSpecs(dst, "bytes=3-4,5-6", 1)
	if err != ErrTooManyRanges || !slices.Equal(got, dst) {
		t.Errorf("append with too many: got %v, %v", got, err)
	}

	// No limit.
	many := "bytes=" + strings.Repeat("0-0,", 1000)
	if got, err := ParseRangeSpecs(nil, many, 0); err != nil || len(got) != 1000 {
		t.Errorf("1000 specs without limit: got %d, %v", len(got), err)
	}
	if _, err := ParseRangeSpecs(nil, many, 999); err != ErrTooManyRanges {
		t.Errorf("1000 specs with limit 999: got %v", err)
	}
}

func TestResolve(t *testing.T) {
	// Appends to dst, and leaves it alone on error.
	dst := []ByteRange{{100, 1}}
	got, err := Resolve(dst, []RangeSpec{{0, 1}}, 10)
	if err != nil || !slices.Equal(got, []ByteRange{{100, 1}, {0, 2}}) {
		t.Errorf("append: got %v, %v", got, err)
	}
	got, err = Resolve(dst, []RangeSpec{{10, 11}}, 10)
	if err != ErrUnsatisfiable || !slices.Equal(got, dst) {
		t.Errorf("append with error: got %v, %v", got, err)
	}
	// Malformed specs that ParseRangeSpecs never returns are dropped.
	for _, s := range []RangeSpec{{5, 2}, {-1, -1}, {-5, -3}} {
		if got, err := Resolve(nil, []RangeSpec{s}, 10); err != ErrUnsatisfiable {
			t.Errorf("Resolve(%v) = %v, %v; want ErrUnsatisfiable", s, got, err)
		}
	}
	// No specs, negative size.
	if _, err := Resolve(nil, nil, 10); err != ErrUnsatisfiable {
		t.Errorf("Resolve(nil) = %v", err)
	}
	if _, err := Resolve(nil, []RangeSpec{{0, -1}, {-1, 5}}, -1); err != ErrUnsatisfiable {
		t.Errorf("Resolve(size -1) = %v", err)
	}
}

func TestFirstByte(t *testing.T) {
	tests := []struct {
		specs []RangeSpec
		off   int64
		ok    bool
	}{
		{nil, 0, false},
		{[]RangeSpec{{5, 9}}, 5, true},
		{[]RangeSpec{{5, -1}}, 5, true},
		{[]RangeSpec{{-1, 5}}, 0, false},
		{[]RangeSpec{{7, 9}, {3, -1}, {5, 6}}, 3, true},
		{[]RangeSpec{{7, 9}, {-1, 1}}, 0, false},
		{[]RangeSpec{{0, 0}}, 0, true},
	}
	for _, tt := range tests {
		off, ok := FirstByte(tt.specs)
		if off != tt.off || ok != tt.ok {
			t.Errorf("FirstByte(%v) = %d, %v; want %d, %v", tt.specs, off, ok, tt.off, tt.ok)
		}
	}
}

func TestSumLength(t *testing.T) {
	if n := SumLength(nil); n != 0 {
		t.Errorf("SumLength(nil) = %d", n)
	}
	if n := SumLength([]ByteRange{{0, 2}, {5, 3}}); n != 5 {
		t.Errorf("SumLength = %d; want 5", n)
	}
	if n := SumLength([]ByteRange{{0, math.MaxInt64}, {0, math.MaxInt64}}); n != math.MaxInt64 {
		t.Errorf("SumLength saturating = %d", n)
	}
}

func TestRangeAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	for _, h := range []string{"bytes=0-", "bytes=100-1999", "bytes=-500", "bytes=0-1,5-9,-3"} {
		var specBuf [4]RangeSpec
		var rangeBuf [4]ByteRange
		n := testing.AllocsPerRun(100, func() {
			specs, err := ParseRangeSpecs(specBuf[:0], h, 16)
			if err != nil {
				t.Fatal(err)
			}
			FirstByte(specs)
			if _, err := Resolve(rangeBuf[:0], specs, 1e6); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%q: %v allocations; want 0", h, n)
		}
	}
}

func BenchmarkParseRange(b *testing.B) {
	for _, h := range []string{"bytes=0-", "bytes=1048576-2097151", "bytes=0-1,5-9,-3"} {
		b.Run(h, func(b *testing.B) {
			b.ReportAllocs()
			var specBuf [4]RangeSpec
			var rangeBuf [4]ByteRange
			for b.Loop() {
				specs, err := ParseRangeSpecs(specBuf[:0], h, 16)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := FirstByte(specs); !ok && len(specs) == 1 {
					b.Fatal("no first byte")
				}
				if _, err := Resolve(rangeBuf[:0], specs, 1<<30); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzRange checks the invariants of ParseRangeSpecs and Resolve and compares
// them with net/http's ServeContent on an object of the same size.
//
// Deliberate differences from net/http, which the comparison allows for:
//   - A syntactically invalid header is ignored (200, RFC 9110 §14.2);
//     net/http answers 416. So net/http's 416 may be our ErrInvalidRange.
//   - net/http is more lenient: it accepts signs ("+5"), whitespace inside a
//     spec ("0 - 5"), CR and LF as whitespace, and does not look at the
//     last-pos of a spec whose first-pos is past the end. Where we reject
//     such a header as invalid, net/http may serve 206 or 200.
//   - The unit "bytes" is case-insensitive here (RFC 9110 §14.1), not in
//     net/http, which answers 416 for "Bytes=0-1".
//   - A suffix range of 0 bytes ("-0"), or any suffix range of an empty
//     object, is unsatisfiable here; net/http serves it as an empty part.
//   - For an empty object net/http answers 200 to an unsatisfiable range;
//     Resolve says ErrUnsatisfiable.
//   - ParseRangeSpecs limits the number of specs; net/http does not.
func FuzzRange(f *testing.F) {
	for _, seed := range []struct {
		h    string
		size int64
	}{
		{"bytes=0-0", 10},
		{"bytes=0-", 0},
		{"bytes=-5", 3},
		{"bytes=-0", 10},
		{"bytes=5-2", 10},
		{"bytes=0-1,5-9,-3", 10},
		{"bytes=0-1,,2-3", 100},
		{"bytes= 0-1 , 4-5 ", 10},
		{"bytes=0-9,0-9", 10},
		{"bytes=0-4,5-9,0-0", 10},
		{"bytes=20-,0-1", 10},
		{"bytes=20-x,0-1", 10},
		{"bytes=0 - 1", 10},
		{"bytes=+0-1", 10},
		{"bytes=0--0", 10},
		{"BYtes=-0,-0,-0,-0", 10},
		{"Bytes=0-1", 10},
		{"bytes=9223372036854775807-", math.MaxInt64},
		{"bytes=-9223372036854775807", 1},
		{"bytes=99999999999999999999-", 10},
		{"items=0-1", 10},
		{"bytes=", 10},
		{"", 10},
	} {
		f.Add(seed.h, seed.size)
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		// Invariants, on any size.
		specs, err := ParseRangeSpecs(nil, header, 0)
		if err != nil && err != ErrInvalidRange {
			t.Fatalf("ParseRangeSpecs(%q): unexpected error %v", header, err)
		}
		if err == nil && len(specs) == 0 {
			t.Fatalf("ParseRangeSpecs(%q): no specs and no error", header)
		}
		for _, s := range specs {
			if s.First < 0 && s.Last < 0 || s.First < -1 || s.Last < -1 || s.First >= 0 && s.Last >= 0 && s.Last < s.First {
				t.Fatalf("ParseRangeSpecs(%q): bad spec %v", header, s)
			}
		}
		limited, lerr := ParseRangeSpecs(nil, header, 3)
		switch {
		case err == nil && len(specs) > 3:
			if lerr != ErrTooManyRanges || len(limited) != 0 {
				t.Fatalf("ParseRangeSpecs(%q, 3) = %v, %v; want ErrTooManyRanges", header, limited, lerr)
			}
		case lerr == ErrTooManyRanges:
			if err != ErrInvalidRange {
				t.Fatalf("ParseRangeSpecs(%q, 3) = ErrTooManyRanges but unlimited %v, %v", header, specs, err)
			}
		case lerr != err || !slices.Equal(limited, specs):
			t.Fatalf("ParseRangeSpecs(%q, 3) = %v, %v; unlimited %v, %v", header, limited, lerr, specs, err)
		}
		if err != nil {
			specs = nil
		}
		if size >= 0 && err == nil {
			ranges, rerr := Resolve(nil, specs, size)
			if rerr != nil && (rerr != ErrUnsatisfiable || len(ranges) != 0) {
				t.Fatalf("Resolve(%v, %d) = %v, %v", specs, size, ranges, rerr)
			}
			if rerr == nil && len(ranges) == 0 {
				t.Fatalf("Resolve(%v, %d): no ranges and no error", specs, size)
			}
			for _, r := range ranges {
				if r.Start < 0 || r.Length <= 0 || r.Start >= size || r.Length > size-r.Start {
					t.Fatalf("Resolve(%v, %d): range %v outside the object", specs, size, r)
				}
			}
			if off, ok := FirstByte(specs); ok {
				for _, r := range ranges {
					if r.Start < off {
						t.Fatalf("FirstByte(%v) = %d but range %v starts before", specs, off, r)
					}
				}
			}
		}

		// Differential comparison with net/http, on a small object.
		if size < 0 {
			size = -(size + 1)
		}
		size %= 4096
		ours, oerr := []ByteRange(nil), err
		if err == nil {
			ours, oerr = Resolve(nil, specs, size)
		}
		code, theirs := netHTTPServeRange(t, header, size)
		nonEmpty := slices.DeleteFunc(slices.Clone(theirs), func(r ByteRange) bool { return r.Length == 0 })
		mismatch := func() {
			t.Helper()
			t.Fatalf("%q size %d: ours %v, %v; net/http %d %v", header, size, ours, oerr, code, theirs)
		}
		switch code {
		case http.StatusPartialContent:
			switch {
			case oerr == nil:
				if !slices.Equal(ours, nonEmpty) {
					mismatch()
				}
			case oerr == ErrUnsatisfiable:
				if len(nonEmpty) != 0 {
					mismatch()
				}
			case !netHTTPLenient(header, size):
				mismatch()
			}
		case http.StatusRequestedRangeNotSatisfiable:
			if oerr == nil && strings.HasPrefix(header, "bytes=") {
				mismatch()
			}
		case http.StatusOK:
			switch {
			case oerr == nil:
				if SumLength(ours) <= size {
					mismatch()
				}
			case oerr == ErrUnsatisfiable:
				if size != 0 {
					mismatch()
				}
			}
		default:
			mismatch()
		}
	})
}

// netHTTPLenient reports whether net/http's parseRange might accept header
// where ParseRangeSpecs rejects it as invalid.
func netHTTPLenient(header string, size int64) bool {
	if strings.ContainsAny(header, "+\r\n") {
		return true
	}
	for elem := range strings.SplitSeq(strings.TrimPrefix(header, "bytes="), ",") {
		elem = strings.Trim(elem, " \t")
		first, last, ok := strings.Cut(elem, "-")
		if !ok {
			continue
		}
		if strings.TrimSpace(first) != first || strings.TrimSpace(last) != last || strings.HasPrefix(last, "-") {
			return true // whitespace inside, or "0--0"
		}
		if n, err := strconv.ParseInt(first, 10, 64); err == nil && n >= size {
			return true // net/http skips the rest of the spec
		}
	}
	return false
}

// netHTTPServeRange serves an object of size bytes with http.ServeContent and the
// Range header, and returns the status code and the ranges served.
func netHTTPServeRange(t *testing.T, header string, size int64) (int, []ByteRange) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Range", header)
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/octet-stream")
	content := bytes.NewReader(make([]byte, size))
	http.ServeContent(rec, req, "", time.Time{}, content)
	res := rec.Result()
	switch res.StatusCode {
	case http.StatusPartialContent:
	default:
		return res.StatusCode, nil
	}
	mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("net/http Content-Type: %v", err)
	}
	if mt != "multipart/byteranges" {
		r := netHTTPContentRange(t, res.Header.Get("Content-Range"), size)
		return res.StatusCode, []ByteRange{r}
	}
	var ranges []ByteRange
	mr := multipart.NewReader(res.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("net/http multipart body: %v", err)
		}
		ranges = append(ranges, netHTTPContentRange(t, p.Header.Get("Content-Range"), size))
	}
	if len(ranges) < 2 {
		t.Fatalf("net/http multipart body with %d parts", len(ranges))
	}
	return res.StatusCode, ranges
}

// netHTTPContentRange parses "bytes first-last/size", where net/http writes
// last = first-1 for an empty range.
func netHTTPContentRange(t *testing.T, cr string, size int64) ByteRange {
	t.Helper()
	var first, last, total int64
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &total); err != nil || total != size {
		t.Fatalf("net/http Content-Range %q: %v", cr, err)
	}
	return ByteRange{Start: first, Length: last - first + 1}
}
