package server

import (
	"cmp"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
)

var testTargetOptions = TargetOptions{MaxPathLength: 64, KeyQueryParams: []string{"token", "v", "a b"}}

// The other ways of keying the query: all of it, all but some, and both
// lists (only the kept ones not ignored).
var (
	testDefaultOptions = TargetOptions{MaxPathLength: 64}
	testIgnoreOptions  = TargetOptions{MaxPathLength: 64, KeyIgnoreQueryParams: []string{"token", "expires", "sig", "a b"}}
	testBothOptions    = TargetOptions{MaxPathLength: 64, KeyQueryParams: []string{"v", "token"}, KeyIgnoreQueryParams: []string{"token"}}
)

func TestNormalizeTarget(t *testing.T) {
	long := "/" + strings.Repeat("a", 63)
	tests := []struct{ raw, want string }{
		// Already canonical.
		{"/", "/"},
		{"/a", "/a"},
		{"/a/b", "/a/b"},
		{"/a/", "/a/"},
		{"/v/title123/seg00042.m4s", "/v/title123/seg00042.m4s"},
		{"/~user/a-b_c.d", "/~user/a-b_c.d"},
		{"/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;="},
		{"/a%20b", "/a%20b"},
		{"/a%25b", "/a%25b"},
		{"/a%3Fb%23c", "/a%3Fb%23c"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/...", "/..."},
		{"/a..b/.c/c./..d", "/a..b/.c/c./..d"},
		{long, long},
		// Empty and "." segments.
		{"//a", "/a"},
		{"//", "/"},
		{"///", "/"},
		{"/a//b", "/a/b"},
		{"/a//", "/a/"},
		{"/a/./b", "/a/b"},
		{"/./a", "/a"},
		{"/.", "/"},
		{"/./", "/"},
		{"/a/.", "/a/"},
		{"/a/./", "/a/"},
		{"/a/%2E", "/a/"},
		{"/%2e/a", "/a"},
		{"/a/.//./b", "/a/b"},
		// Decoding and canonical re-escaping.
		{"/a%62c", "/abc"},
		{"/%41%5a%30%2d%2E%5F%7e", "/AZ0-._~"},
		{"/%21%24%26%27%28%29%2A%2B%2C%3B%3D%3A%40", "/!$&'()*+,;=:@"},
		{"/a%2fb", "/a/b"},
		{"/a%2Fb", "/a/b"},
		{"/a%2F%2Fb", "/a/b"},
		{"/a%2F", "/a/"},
		{"/a%2F.%2Fb", "/a/b"},
		{"/a b", "/a%20b"},
		{"/a%3fb", "/a%3Fb"},
		{"/a%23b", "/a%23b"},
		{"/a%25", "/a%25"},
		{"/a%2525", "/a%2525"},
		{"/caf%c3%a9", "/caf%C3%A9"},
		{"/café", "/caf%C3%A9"},
		{"/a[b]", "/a%5Bb%5D"},
		{`/a"b<c>d^e` + "`f{g}h|", "/a%22b%3Cc%3Ed%5Ee%60f%7Bg%7Dh%7C"},
		{"/\x80\xff", "/%80%FF"},
		{"/a%2e%2e%2eb", "/a...b"},
		{"/%2E%2E%2E", "/..."},
		// Fragments.
		{"/a#frag", "/a"},
		{"/a#", "/a"},
		{"/a?token=1#frag", "/a?token=1"},
		{"/a#frag?token=1", "/a"},
		{"/a#/../b", "/a"},
		// Absolute-form: scheme and authority are discarded.
		{"http://evil.example/x", "/x"},
		{"https://evil.example/x/y", "/x/y"},
		{"HTTP://evil.example:8080/x", "/x"},
		{"HtTpS://user:pw@evil.example/x", "/x"},
		{"http://evil.example", "/"},
		{"http://evil.example?token=1", "/?token=1"},
		{"http://evil.example/?token=1", "/?token=1"},
		{"http://evil.example//x/./y", "/x/y"},
		{"http://evil.example#/x", "/"},
		{"http://evil.example/a%2Fb", "/a/b"},
		// Query parameters.
		{"/a?", "/a"},
		{"/a?x=1", "/a"},
		{"/a?x=1&y=2", "/a"},
		{"/a?token=abc", "/a?token=abc"},
		{"/a?b=2&token=abc&c=3", "/a?token=abc"},
		{"/a?v=2&token=abc", "/a?token=abc&v=2"},
		{"/a?token=abc&v=2", "/a?token=abc&v=2"},
		{"/a?token=b&token=a", "/a?token=a&token=b"},
		{"/a?token=a&token=a", "/a?token=a&token=a"},
		{"/a?v=1&token=b&v=0&token=a", "/a?token=a&token=b&v=0&v=1"},
		{"/a?token", "/a?token="},
		{"/a?token=", "/a?token="},
		{"/a?token=1=2", "/a?token=1%3D2"},
		{"/a?token=a+b", "/a?token=a%20b"},
		{"/a?token=a%20b", "/a?token=a%20b"},
		{"/a?token=a%2bb", "/a?token=a%2Bb"},
		{"/a?token=a%7e%41", "/a?token=a~A"},
		{"/a?token=%2F%3F%26%3D", "/a?token=%2F%3F%26%3D"},
		{"/a?token=/?", "/a?token=%2F%3F"},
		{"/a?token=%00%0A", "/a?token=%00%0A"},
		{"/a?%74oken=x", "/a?token=x"},
		{"/a?a+b=1", "/a?a%20b=1"},
		{"/a?a%20b=1", "/a?a%20b=1"},
		{"/a?x=%zz&token=1", "/a?token=1"},
		{"/a?%zz=1&token=1", "/a?token=1"},
		{"/a?&&token=1&&", "/a?token=1"},
		{"/a?TOKEN=1", "/a"},
		{"/a?tokens=1&toke=2", "/a"},
		{"/a?token=1?v=2", "/a?token=1%3Fv%3D2"},
		{"/a%3Ftoken=1", "/a%3Ftoken=1"},
	}
	for _, tt := range tests {
		got, err := NormalizeTarget(tt.raw, testTargetOptions)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeTarget(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			continue
		}
		if again, err := NormalizeTarget(got, testTargetOptions); err != nil || again != got {
			t.Errorf("NormalizeTarget(%q) = %q, %v; not a fixed point", got, again, err)
		}
	}
}

func TestNormalizeTargetErrors(t *testing.T) {
	tests := []struct {
		raw  string
		want error // besides ErrBadTarget
	}{
		// Forms.
		{"", errTargetEmpty},
		{"#frag", errTargetEmpty},
		{"*", errTargetAsterisk},
		{"evil.example:443", errTargetForm},
		{"a/b", errTargetForm},
		{"%2Fa", errTargetForm},
		{"?token=1", errTargetForm},
		{"ftp://evil.example/x", errTargetForm},
		{"httpx://evil.example/x", errTargetForm},
		{"http:/x", errTargetForm},
		{"http:x", errTargetForm},
		{"/x://y/", nil}, // origin-form; not an error
		{"http:///x", errTargetNoHost},
		{"http://", errTargetNoHost},
		{"http://?x", errTargetNoHost},
		// Dot-dot, however spelled.
		{"/..", errPathDotDot},
		{"/../", errPathDotDot},
		{"/a/..", errPathDotDot},
		{"/a/../b", errPathDotDot},
		{"/a/%2e%2e/b", errPathDotDot},
		{"/a/%2E%2E/b", errPathDotDot},
		{"/a/.%2E/b", errPathDotDot},
		{"/a/%2e./b", errPathDotDot},
		{"/a/..%2Fb", errPathDotDot},
		{"/a%2F..%2Fb", errPathDotDot},
		{"/a%2F..", errPathDotDot},
		{"//..//a", errPathDotDot},
		{"http://evil.example/../etc/passwd", errPathDotDot},
		{"/a/./../b", errPathDotDot},
		// Bad escapes in the path.
		{"/a%zz", errPathEscape},
		{"/a%", errPathEscape},
		{"/a%2", errPathEscape},
		{"/a%g0", errPathEscape},
		{"/a%0g", errPathEscape},
		{"/%%41", errPathEscape},
		{"/a%2?token=1", errPathEscape},
		// Control bytes and backslashes.
		{"/a%00b", errPathControl},
		{"/a\x00b", errPathControl},
		{"/a%0a", errPathControl},
		{"/a%0D%0Ab", errPathControl},
		{"/a\r\nb", errPathControl},
		{"/a\tb", errPathControl},
		{"/a%09b", errPathControl},
		{"/a%1f", errPathControl},
		{"/a%7f", errPathControl},
		{"/a\x7f", errPathControl},
		{`/a\b`, errPathBackslash},
		{"/a%5cb", errPathBackslash},
		{"/a%5C..%5Cb", errPathBackslash},
		// Bad escapes in a kept query parameter.
		{"/a?token=%zz", errQueryParamEscape},
		{"/a?token=%", errQueryParamEscape},
		{"/a?token=%4", errQueryParamEscape},
		{"/a?x=1&v=a%", errQueryParamEscape},
		// Lengths (MaxPathLength is 64).
		{"/" + strings.Repeat("a", 64), errPathTooLong},
		{"http://h/" + strings.Repeat("a", 64), errPathTooLong},
		{"/" + strings.Repeat("%61", 30), errPathTooLong}, // 91 raw bytes, 31 decoded
		{"/" + strings.Repeat("é", 20), errKeyTooLong},    // 41 raw bytes, 121 escaped
		{"/a?token=" + strings.Repeat("b", 60), errKeyTooLong},
		{"/a?token=" + strings.Repeat("+", 20), errKeyTooLong},
	}
	for _, tt := range tests {
		got, err := NormalizeTarget(tt.raw, testTargetOptions)
		if tt.want == nil {
			if err != nil {
				t.Errorf("NormalizeTarget(%q) = %v; want no error", tt.raw, err)
			}
			continue
		}
		if got != "" || !errors.Is(err, ErrBadTarget) || !errors.Is(err, tt.want) {
			t.Errorf("NormalizeTarget(%q) = %q, %v; want %v", tt.raw, got, err, tt.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "bad request target: ") {
			t.Errorf("NormalizeTarget(%q): error %q does not say what is wrong", tt.raw, err)
		}
	}

	// Bad escapes in dropped parameters do not matter.
	if got, err := NormalizeTarget("/a?x=%zz", testTargetOptions); err != nil || got != "/a" {
		t.Errorf("dropped bad escape: %q, %v", got, err)
	}
	// Without KeyQueryParams every parameter is kept, so checked.
	if got, err := NormalizeTarget("/a?token=%zz", TargetOptions{}); !errors.Is(err, errQueryParamEscape) {
		t.Errorf("default: %q, %v", got, err)
	}
	// Zero MaxPathLength: no limit.
	long := "/" + strings.Repeat("a", 100000)
	if got, err := NormalizeTarget(long, TargetOptions{}); err != nil || got != long {
		t.Errorf("no limit: %d bytes, %v", len(got), err)
	}
}

// TestNormalizeTargetQueryModes checks the query part of the key with the
// whole query kept (the default), with an ignore list, with a keep list and
// with both.
func TestNormalizeTargetQueryModes(t *testing.T) {
	tests := []struct {
		name string
		opt  TargetOptions
		raw  string
		want string // "" for an error (errQueryParamEscape)
	}{
		// Default: every parameter, in the order sent, canonically escaped.
		{"default", testDefaultOptions, "/a", "/a"},
		{"default", testDefaultOptions, "/a?", "/a"},
		{"default", testDefaultOptions, "/a?&&", "/a"},
		{"default", testDefaultOptions, "/a?x=1", "/a?x=1"},
		{"default", testDefaultOptions, "/a?x=2", "/a?x=2"},
		{"default", testDefaultOptions, "/a?a=1&b=2", "/a?a=1&b=2"},
		{"default", testDefaultOptions, "/a?b=2&a=1", "/a?b=2&a=1"},
		{"default", testDefaultOptions, "/a?x=2&x=1&x=2", "/a?x=2&x=1&x=2"},
		{"default", testDefaultOptions, "/a?x", "/a?x="},
		{"default", testDefaultOptions, "/a?x&y=", "/a?x=&y="},
		{"default", testDefaultOptions, "/a?x=1&", "/a?x=1"},
		{"default", testDefaultOptions, "/a?&x=1", "/a?x=1"},
		{"default", testDefaultOptions, "/a?x=1&&y=2", "/a?x=1&y=2"},
		{"default", testDefaultOptions, "/a?x=a+b", "/a?x=a%20b"},
		{"default", testDefaultOptions, "/a?x=a%2bb&%79=%7e", "/a?x=a%2Bb&y=~"},
		{"default", testDefaultOptions, "/a?x=/?:@", "/a?x=%2F%3F%3A%40"},
		{"default", testDefaultOptions, "/a?x=1=2", "/a?x=1%3D2"},
		{"default", testDefaultOptions, "/a?cb=1700000000", "/a?cb=1700000000"},
		{"default", testDefaultOptions, "/a?token=abc&expires=9&sig=z", "/a?token=abc&expires=9&sig=z"},
		{"default", testDefaultOptions, "//a/./b?x=1#f", "/a/b?x=1"},
		{"default", testDefaultOptions, "http://h/a?x=1", "/a?x=1"},
		{"default", testDefaultOptions, "/a?x=%zz", ""},
		{"default", testDefaultOptions, "/a?%zz=1", ""},
		{"default", testDefaultOptions, "/a?x=1&y=%4", ""},
		// Ignore list: the others, in the order sent.
		{"ignore", testIgnoreOptions, "/a?x=1", "/a?x=1"},
		{"ignore", testIgnoreOptions, "/a?x=1&token=abc", "/a?x=1"},
		{"ignore", testIgnoreOptions, "/a?x=1&token=def", "/a?x=1"},
		{"ignore", testIgnoreOptions, "/a?token=abc&x=1", "/a?x=1"},
		{"ignore", testIgnoreOptions, "/a?token=abc", "/a"},
		{"ignore", testIgnoreOptions, "/a?token=abc&expires=9&sig=z", "/a"},
		{"ignore", testIgnoreOptions, "/a?b=2&token=abc&a=1&sig=z", "/a?b=2&a=1"},
		{"ignore", testIgnoreOptions, "/a?%74oken=abc&x=1", "/a?x=1"},
		{"ignore", testIgnoreOptions, "/a?a+b=1&a%20b=2&ab=3", "/a?ab=3"},
		{"ignore", testIgnoreOptions, "/a?TOKEN=1&tokens=2", "/a?TOKEN=1&tokens=2"},
		{"ignore", testIgnoreOptions, "/a?x=1&token=%zz", "/a?x=1"},
		{"ignore", testIgnoreOptions, "/a?x=%zz&token=1", ""},
		// Keep list: only those, sorted.
		{"keep", testTargetOptions, "/a?x=1", "/a"},
		{"keep", testTargetOptions, "/a?v=2&token=abc&x=1", "/a?token=abc&v=2"},
		// Both: kept and not ignored.
		{"both", testBothOptions, "/a?v=2&token=abc&x=1", "/a?v=2"},
		{"both", testBothOptions, "/a?token=abc", "/a"},
	}
	for _, tt := range tests {
		got, err := NormalizeTarget(tt.raw, tt.opt)
		if tt.want == "" {
			if got != "" || !errors.Is(err, errQueryParamEscape) {
				t.Errorf("%s: NormalizeTarget(%q) = %q, %v; want %v", tt.name, tt.raw, got, err, errQueryParamEscape)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: NormalizeTarget(%q) = %q, %v; want %q", tt.name, tt.raw, got, err, tt.want)
			continue
		}
		if again, err := NormalizeTarget(got, tt.opt); err != nil || again != got {
			t.Errorf("%s: NormalizeTarget(%q) = %q, %v; not a fixed point", tt.name, got, again, err)
		}
	}
	// The whole key, query included, is bounded.
	if got, err := NormalizeTarget("/a?x="+strings.Repeat("b", 60), testDefaultOptions); !errors.Is(err, errKeyTooLong) {
		t.Errorf("long query: %q, %v", got, err)
	}
}

// TestNormalizeTargetSameKey checks that different spellings of one
// resource give one key, and different resources different keys.
func TestNormalizeTargetSameKey(t *testing.T) {
	same := [][]string{
		{"/abc", "/a%62c", "/%61%62%63", "//abc", "/./abc", "http://x/abc", "/abc?x=1", "/abc#f"},
		{"/a/b", "/a%2fb", "/a%2Fb", "/a//b", "/a/./b", "//a%2F%2Fb"},
		{"/a/", "/a//", "/a/.", "/a%2F", "/a/%2e"},
		{"/a?token=1&v=2", "/a?v=2&token=1", "/a?v=2&x=0&token=%31", "https://h/a?%74oken=1&v=2#x"},
		{"/a?token=x%20y", "/a?token=x+y"},
	}
	different := []string{"/abc", "/a/b", "/a/", "/a", "/a?token=1&v=2", "/a?token=x%20y", "/a?token=x%2By", "/a%3Ftoken=1"}
	for _, group := range same {
		want, err := NormalizeTarget(group[0], testTargetOptions)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range group[1:] {
			if got, err := NormalizeTarget(raw, testTargetOptions); err != nil || got != want {
				t.Errorf("NormalizeTarget(%q) = %q, %v; want %q like %q", raw, got, err, want, group[0])
			}
		}
	}
	seen := map[string]string{}
	for _, raw := range different {
		key, err := NormalizeTarget(raw, testTargetOptions)
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[key]; ok {
			t.Errorf("%q and %q have the same key %q", prev, raw, key)
		}
		seen[key] = raw
	}
}

func TestNormalizeTargetAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	tests := []struct {
		raw    string
		allocs float64
	}{
		{"/v/title123/seg00042.m4s", 0},
		{"/v/title123/seg00042.m4s?x=1&y=2", 0},
		{"/v/title123/seg00042.m4s?token=abc&v=2", 0},
		{"http://h/v/title123/seg00042.m4s", 0},
		{"/", 0},
		{"//", 0},
		{"/v/title%31%32%33/seg00042.m4s", 1},
		{"/v//title123/./seg00042.m4s", 1},
		{"/v/title123/seg00042.m4s?v=2&token=abc", 1},
		{"/v/title123/seg00042.m4s?token=a+b&x=1", 1},
		{"/v/title%31%32%33/seg00042.m4s?v=2&token=abc", 1},
		{"/a/../b", 0},
	}
	for _, tt := range tests {
		n := testing.AllocsPerRun(100, func() {
			NormalizeTarget(tt.raw, testTargetOptions)
		})
		if n > tt.allocs {
			t.Errorf("NormalizeTarget(%q): %v allocations; want at most %v", tt.raw, n, tt.allocs)
		}
	}
	// Without a keep list: a canonical query, or one whose dropped
	// parameters all come after the kept ones, is a substring.
	others := []struct {
		opt    TargetOptions
		raw    string
		allocs float64
	}{
		{testDefaultOptions, "/v/title123/seg00042.m4s", 0},
		{testDefaultOptions, "/v/title123/seg00042.m4s?v=2&quality=hd", 0},
		{testDefaultOptions, "/v/title123/seg00042.m4s?quality=hd&v=2&", 0},
		{testDefaultOptions, "/v/title123/seg00042.m4s?v=a+b", 1},
		{testDefaultOptions, "/v/title%31/seg00042.m4s?v=2&quality=hd", 1},
		{testDefaultOptions, "/v/s.m4s?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k", 1},
		{testDefaultOptions, "/v/s.m4s?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10", 0},
		{testIgnoreOptions, "/v/title123/seg00042.m4s?v=2&token=abc&expires=9&sig=z", 0},
		{testIgnoreOptions, "/v/title123/seg00042.m4s?token=abc&v=2", 1},
	}
	for _, tt := range others {
		n := testing.AllocsPerRun(100, func() {
			NormalizeTarget(tt.raw, tt.opt)
		})
		if n > tt.allocs {
			t.Errorf("NormalizeTarget(%q, %+v): %v allocations; want at most %v", tt.raw, tt.opt, n, tt.allocs)
		}
	}
}

func BenchmarkNormalizeTarget(b *testing.B) {
	for _, raw := range []string{
		"/v/title123/seg00042.m4s",
		"/v/title123/seg00042.m4s?token=abc&v=2",
		"/v/title%31%32%33/seg00042.m4s",
		"http://h/v/title123/seg00042.m4s?v=2&token=abc&x=1",
	} {
		b.Run(raw, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NormalizeTarget(raw, testTargetOptions); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, tc := range []struct {
		name, raw string
		opt       TargetOptions
	}{
		{"default", "/v/title123/seg00042.m4s?v=2&quality=hd", testDefaultOptions},
		{"ignore-tail", "/v/title123/seg00042.m4s?v=2&token=abc&expires=9&sig=z", testIgnoreOptions},
		{"ignore-head", "/v/title123/seg00042.m4s?token=abc&expires=9&sig=z&v=2", testIgnoreOptions},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NormalizeTarget(tc.raw, tc.opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzNormalizeTarget checks, under each way of keying the query, that
// NormalizeTarget never panics, that a key is safe and a fixed point, that
// the path of the key means what the path of the target meant, decoded with
// net/url, and that the query of the key holds the kept parameters of the
// target's, decoded with net/url, in the order sent or sorted.
func FuzzNormalizeTarget(f *testing.F) {
	for _, seed := range []string{
		"/", "/v/title123/seg00042.m4s", "/a/../b", "/a/%2e%2e/b", "/a/.%2E/b", "/a/..%2Fb",
		"/a%2fb", "//a//b/", "/a/.", "/a%zz", "/a%", "/a%00", "/a%5c", "/café",
		"http://evil.example/x", "http://evil.example", "*", "host:443", "/a?token=1&v=2&x=3",
		"/a?v=2&token=a+b%2B", "/a?token=%zz", "/a#/../b", "/a?token=" + strings.Repeat("x", 70),
		"/.%2e", "/%2E", "/a%2F%2E%2E", "/a?b=2&a=1", "/a?x=1&token=abc&sig=z", "/a?sig=z&x=1&&y",
		"/a?%74oken=1&x=%zz", "/a?x=%7e&y=a%2b+b=c", "/a?a+b=1&expires",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, opt := range []TargetOptions{testTargetOptions, testDefaultOptions, testIgnoreOptions, testBothOptions} {
			checkNormalizeTarget(t, raw, opt)
		}
	})
}

func checkNormalizeTarget(t *testing.T, raw string, opt TargetOptions) {
	t.Helper()
	key, err := NormalizeTarget(raw, opt)
	if err != nil {
		if key != "" || !errors.Is(err, ErrBadTarget) {
			t.Fatalf("NormalizeTarget(%q, %+v) = %q, %v", raw, opt, key, err)
		}
	} else {
		if !strings.HasPrefix(key, "/") || len(key) > opt.MaxPathLength {
			t.Fatalf("NormalizeTarget(%q, %+v) = %q", raw, opt, key)
		}
		path, query, hasQuery := strings.Cut(key, "?")
		if hasQuery && query == "" {
			t.Fatalf("NormalizeTarget(%q, %+v) = %q: empty query", raw, opt, key)
		}
		if strings.Contains(path+"/", "/../") || strings.Contains(path+"/", "/./") || strings.Contains(path, "//") {
			t.Fatalf("NormalizeTarget(%q, %+v) = %q: bad segment", raw, opt, key)
		}
		for i := 0; i < len(key); i++ {
			if c := key[i]; c <= ' ' || c >= 0x7f || c == '#' || c == '\\' {
				t.Fatalf("NormalizeTarget(%q, %+v) = %q: byte %#x", raw, opt, key, c)
			}
		}
		if again, err := NormalizeTarget(key, opt); err != nil || again != key {
			t.Fatalf("NormalizeTarget(%q, %+v) = %q, but NormalizeTarget(%q) = %q, %v", raw, opt, key, key, again, err)
		}
	}

	// Only origin-form targets are compared with net/url.
	rawPath, _, _ := strings.Cut(raw, "#")
	rawPath, rawQuery, _ := strings.Cut(rawPath, "?")
	if !strings.HasPrefix(rawPath, "/") {
		return // absolute-form
	}
	wantQuery, queryOK := refKeptQuery(rawQuery, opt)
	if err != nil {
		if errors.Is(err, errQueryParamEscape) && queryOK {
			t.Fatalf("NormalizeTarget(%q, %+v): %v, but net/url decodes every kept parameter", raw, opt, err)
		}
		return
	}
	if !queryOK {
		t.Fatalf("NormalizeTarget(%q, %+v) = %q, but net/url fails on a kept parameter", raw, opt, key)
	}

	// The decoded path of the key is the cleaned decoded raw path.
	path, query, _ := strings.Cut(key, "?")
	want, err := url.PathUnescape(rawPath)
	if err != nil {
		t.Fatalf("NormalizeTarget(%q, %+v) = %q, but net/url: %v", raw, opt, key, err)
	}
	got, err := url.PathUnescape(path)
	if err != nil || got != cleanPath(want) {
		t.Fatalf("NormalizeTarget(%q, %+v) = %q, decoded %q, %v; want decoded %q", raw, opt, key, got, err, cleanPath(want))
	}
	// Its decoded query is the kept parameters.
	if gotQuery, ok := refKeptQuery(query, TargetOptions{}); !ok || !slices.Equal(gotQuery, wantQuery) {
		t.Fatalf("NormalizeTarget(%q, %+v) = %q, decoded query %q; want %q", raw, opt, key, gotQuery, wantQuery)
	}
}

// refKeptQuery returns the kept parameters of the raw query under opt,
// decoded with net/url, as name and value in the order of the key; ok is
// false if one of them does not decode. It is a reference for
// FuzzNormalizeTarget.
func refKeptQuery(query string, opt TargetOptions) (kept [][2]string, ok bool) {
	for pair := range strings.SplitSeq(query, "&") {
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, errName := url.QueryUnescape(rawName)
		if errName == nil && slices.Contains(opt.KeyIgnoreQueryParams, name) ||
			len(opt.KeyQueryParams) > 0 && (errName != nil || !slices.Contains(opt.KeyQueryParams, name)) {
			continue
		}
		value, errValue := url.QueryUnescape(rawValue)
		if errName != nil || errValue != nil {
			return nil, false
		}
		kept = append(kept, [2]string{name, value})
	}
	if len(opt.KeyQueryParams) > 0 {
		// Sorted by encoded name, then encoded value (a space is "%20").
		enc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
		slices.SortStableFunc(kept, func(a, b [2]string) int {
			return cmp.Or(strings.Compare(enc(a[0]), enc(b[0])), strings.Compare(enc(a[1]), enc(b[1])))
		})
	}
	return kept, true
}

// cleanPath collapses empty and "." segments of a decoded path, keeping a
// trailing slash; it is a reference for FuzzNormalizeTarget.
func cleanPath(p string) string {
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		if s != "" && s != "." {
			segs = append(segs, s)
		}
	}
	out := "/" + strings.Join(segs, "/")
	if len(segs) > 0 && (strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.")) {
		out += "/"
	}
	return out
}
