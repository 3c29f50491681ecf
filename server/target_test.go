package server

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

var testTargetOptions = TargetOptions{MaxPathLength: 64, KeyQueryParams: []string{"token", "v", "a b"}}

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
	// Without KeyQueryParams the query is not even looked at.
	if got, err := NormalizeTarget("/a?token=%zz", TargetOptions{}); err != nil || got != "/a" {
		t.Errorf("no kept params: %q, %v", got, err)
	}
	// Zero MaxPathLength: no limit.
	long := "/" + strings.Repeat("a", 100000)
	if got, err := NormalizeTarget(long, TargetOptions{}); err != nil || got != long {
		t.Errorf("no limit: %d bytes, %v", len(got), err)
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
}

// FuzzNormalizeTarget checks that NormalizeTarget never panics, that a key
// is safe and a fixed point, and that the path of the key means what the
// path of the target meant, decoded with net/url.
func FuzzNormalizeTarget(f *testing.F) {
	for _, seed := range []string{
		"/", "/v/title123/seg00042.m4s", "/a/../b", "/a/%2e%2e/b", "/a/.%2E/b", "/a/..%2Fb",
		"/a%2fb", "//a//b/", "/a/.", "/a%zz", "/a%", "/a%00", "/a%5c", "/café",
		"http://evil.example/x", "http://evil.example", "*", "host:443", "/a?token=1&v=2&x=3",
		"/a?v=2&token=a+b%2B", "/a?token=%zz", "/a#/../b", "/a?token=" + strings.Repeat("x", 70),
		"/.%2e", "/%2E", "/a%2F%2E%2E",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		key, err := NormalizeTarget(raw, testTargetOptions)
		if err != nil {
			if key != "" || !errors.Is(err, ErrBadTarget) {
				t.Fatalf("NormalizeTarget(%q) = %q, %v", raw, key, err)
			}
			return
		}
		if !strings.HasPrefix(key, "/") || len(key) > testTargetOptions.MaxPathLength {
			t.Fatalf("NormalizeTarget(%q) = %q", raw, key)
		}
		path, query, hasQuery := strings.Cut(key, "?")
		if hasQuery && query == "" {
			t.Fatalf("NormalizeTarget(%q) = %q: empty query", raw, key)
		}
		if strings.Contains(path+"/", "/../") || strings.Contains(path+"/", "/./") || strings.Contains(path, "//") {
			t.Fatalf("NormalizeTarget(%q) = %q: bad segment", raw, key)
		}
		for i := 0; i < len(key); i++ {
			if c := key[i]; c <= ' ' || c >= 0x7f || c == '#' || c == '\\' {
				t.Fatalf("NormalizeTarget(%q) = %q: byte %#x", raw, key, c)
			}
		}
		if again, err := NormalizeTarget(key, testTargetOptions); err != nil || again != key {
			t.Fatalf("NormalizeTarget(%q) = %q, but NormalizeTarget(%q) = %q, %v", raw, key, key, again, err)
		}

		// The decoded path of the key is the cleaned decoded raw path.
		rawPath := raw
		if i := strings.IndexAny(rawPath, "?#"); i >= 0 {
			rawPath = rawPath[:i]
		}
		if !strings.HasPrefix(rawPath, "/") {
			return // absolute-form
		}
		want, err := url.PathUnescape(rawPath)
		if err != nil {
			t.Fatalf("NormalizeTarget(%q) = %q, but net/url: %v", raw, key, err)
		}
		got, err := url.PathUnescape(path)
		if err != nil || got != cleanPath(want) {
			t.Fatalf("NormalizeTarget(%q) = %q, decoded %q, %v; want decoded %q", raw, key, got, err, cleanPath(want))
		}
	})
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
