package origin

import (
	"fmt"
	"testing"
)

// FuzzParseContentRange checks the parser of an origin's Content-Range on
// any field value: it never panics; what it accepts is a range inside the
// object (0 <= a <= b < size) and reads back the same from its canonical
// form; and the canonical form of any such range is accepted.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{
		"bytes 0-99/100", "bytes 5-5/6", "bytes 0-0/1", "bytes 1-0/5", "bytes 0-99/*",
		"bytes */100", "bytes 0-99/99", "bytes  0-9/10 ", "bytes -1-5/10", "bytes 9223372036854775806-9223372036854775806/9223372036854775807",
		"bytes 99999999999999999999-1/2", "items 0-1/2", "bytes 0-1/2/3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, b, size, ok := parseContentRange(s)
		if !ok {
			return
		}
		if a < 0 || a > b || b >= size {
			t.Fatalf("%q: accepted %d-%d/%d", s, a, b, size)
		}
		canon := fmt.Sprintf("bytes %d-%d/%d", a, b, size)
		a2, b2, size2, ok2 := parseContentRange(canon)
		if !ok2 || a2 != a || b2 != b || size2 != size {
			t.Fatalf("%q: canonical %q read back as %d-%d/%d, %v", s, canon, a2, b2, size2, ok2)
		}
	})
}

// The parser's verdicts on the forms origins send, and on broken ones.
func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in         string
		a, b, size int64
		ok         bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 42-42/43", 42, 42, 43, true},
		{"bytes  0-9/10 ", 0, 9, 10, true}, // spaces around the range
		{"bytes 0-99/*", 0, 0, 0, false},   // unknown size: not stored as a range of a sized object
		{"bytes */100", 0, 0, 0, false},    // unsatisfied
		{"bytes 0-100/100", 0, 0, 0, false},
		{"bytes 5-4/10", 0, 0, 0, false},
		{"bytes -1-5/10", 0, 0, 0, false},
		{"bytes +1-5/10", 0, 0, 0, false},
		{"bytes 0-1/2/3", 0, 0, 0, false},
		{"bytes 99999999999999999999-1/2", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		a, b, size, ok := parseContentRange(tc.in)
		if a != tc.a || b != tc.b || size != tc.size || ok != tc.ok {
			t.Errorf("%q: %d-%d/%d %v, want %d-%d/%d %v", tc.in, a, b, size, ok, tc.a, tc.b, tc.size, tc.ok)
		}
	}
}
