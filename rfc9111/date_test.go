package rfc9111

import (
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", want, true},
		{"Sunday, 06-Nov-94 08:49:37 GMT", want, true},
		{"Sun Nov  6 08:49:37 1994", want, true},
		{"Sun Nov 16 08:49:37 1994", want.AddDate(0, 0, 10), true},
		{"  Sun, 06 Nov 1994 08:49:37 GMT\t", want, true},
		{"Wednesday, 06-Nov-94 08:49:37 GMT", want, true}, // day name checked for syntax only
		{"Mon, 06 Nov 1994 08:49:37 GMT", want, true},
		{"Thu, 29 Feb 2024 00:00:00 GMT", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"Thu, 31 Dec 1998 23:59:60 GMT", time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"Thu, 01 Jan 1970 00:00:00 GMT", time.Unix(0, 0).UTC(), true},
		{"Thursday, 18-Aug-50 02:01:18 GMT", time.Date(2050, 8, 18, 2, 1, 18, 0, time.UTC), true},
		{"Thursday, 18-Aug-77 02:01:18 GMT", time.Date(1977, 8, 18, 2, 1, 18, 0, time.UTC), true},
		{"Thursday, 18-Aug-76 02:01:18 GMT", time.Date(2076, 8, 18, 2, 1, 18, 0, time.UTC), true},

		{"", time.Time{}, false},
		{"0", time.Time{}, false},
		{"-1", time.Time{}, false},
		{"THU, 18 Aug 2050 02:01:18 GMT", time.Time{}, false},
		{"Thu, 18 AUG 2050 02:01:18 GMT", time.Time{}, false},
		{"Thu, 18 Aug 2050 02:01:18 gMT", time.Time{}, false},
		{"Thu, 18 Aug 2050 02:01:18 UTC", time.Time{}, false},
		{"Thu, 18 Aug 2050 02:01:18 +0000", time.Time{}, false},
		{"Thu, 18 Aug 50 02:01:18 GMT", time.Time{}, false},
		{"Thu 18 Aug 2050 02:01:18 GMT", time.Time{}, false},
		{"Thu, 18  Aug  2050 02:01:18 GMT", time.Time{}, false},
		{"Thu, 18-Aug-2050 02:01:18 GMT", time.Time{}, false},
		{"Thu, 18 Aug 2050 02.01.18 GMT", time.Time{}, false},
		{"Thu, 18 Aug 2050 2:01:18 GMT", time.Time{}, false},
		{"Thu, 8 Aug 2050 02:01:18 GMT", time.Time{}, false},
		{"Thu, 30 Feb 2024 00:00:00 GMT", time.Time{}, false},
		{"Thu, 29 Feb 2023 00:00:00 GMT", time.Time{}, false},
		{"Thu, 00 Jan 2024 00:00:00 GMT", time.Time{}, false},
		{"Thu, 01 Jan 2024 24:00:00 GMT", time.Time{}, false},
		{"Thu, 01 Jan 2024 00:60:00 GMT", time.Time{}, false},
		{"Thu, 01 Jan 2024 00:00:61 GMT", time.Time{}, false},
		{"Thu, 01 Foo 2024 00:00:00 GMT", time.Time{}, false},
		{"Xyz, 01 Jan 2024 00:00:00 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49:37 GMT x", time.Time{}, false},
		{"Sun Nov 6 08:49:37 1994", time.Time{}, false},
		{"Sun Nov  6 08:49:37 94", time.Time{}, false},
		{"Sun Nov 06 08:49:37 1994 GMT", time.Time{}, false},
		{"Sun, 06-Nov-94 08:49:37 GMT", time.Time{}, false},
		{"Sunday, 06 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sunday, 06-Nov-1994 08:49:37 GMT", time.Time{}, false},
		{"Funday, 06-Nov-94 08:49:37 GMT", time.Time{}, false},
		{"2024-01-01T00:00:00Z", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseHTTPDate(tt.in, now)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseHTTPDate(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := ParseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT"); !ok {
		t.Error("ParseHTTPDate failed")
	}
}

func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Wednesday, 31-Dec-99 23:59:60 GMT", "", "0",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := parseHTTPDate(s, now)
		if !ok {
			if !tm.IsZero() {
				t.Fatalf("%q: failed parse returned %v", s, tm)
			}
			return
		}
		if tm.Location() != time.UTC || tm.Nanosecond() != 0 {
			t.Fatalf("%q: %v", s, tm)
		}
		// The IMF-fixdate of the result parses back to it, unless a leap
		// second was normalized into the next minute.
		back, ok := parseHTTPDate(tm.Format(http1Format), now)
		if tm.Year() <= 9999 && (!ok || !back.Equal(tm)) {
			t.Fatalf("%q -> %v -> %q -> %v %v", s, tm, tm.Format(http1Format), back, ok)
		}
	})
}

const http1Format = "Mon, 02 Jan 2006 15:04:05 GMT"

func BenchmarkParseHTTPDate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ParseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT")
	}
}
