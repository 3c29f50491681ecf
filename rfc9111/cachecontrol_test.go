package rfc9111

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func set(n int64) Delta { return Delta{Seconds: n, Set: true} }

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  Directives
	}{
		{"empty", nil, Directives{}},
		{"max-age", []string{"max-age=60"}, Directives{MaxAge: set(60)}},
		{"case", []string{"MaX-AgE=60, No-StOrE"}, Directives{MaxAge: set(60), NoStore: true}},
		{"quoted", []string{`max-age="60"`}, Directives{MaxAge: set(60)}},
		{"quoted escaped digits", []string{`max-age="6\0"`}, Directives{MaxAge: set(60)}},
		{"leading zeros", []string{"max-age=003600"}, Directives{MaxAge: set(3600)}},
		{"zero", []string{"max-age=0"}, Directives{MaxAge: set(0)}},
		{"empty value", []string{"max-age="}, Directives{Invalid: true}},
		{"no value", []string{"max-age"}, Directives{Invalid: true}},
		{"negative", []string{"max-age=-1"}, Directives{Invalid: true}},
		{"decimal", []string{"max-age=1.5"}, Directives{Invalid: true}},
		{"decimal zero", []string{"max-age=3600.0"}, Directives{Invalid: true}},
		{"leading alpha", []string{"max-age=a100"}, Directives{Invalid: true}},
		{"trailing alpha", []string{"max-age=100a"}, Directives{Invalid: true}},
		{"single quotes", []string{"max-age='3600'"}, Directives{Invalid: true}},
		{"quoted garbage", []string{`max-age="x"`}, Directives{Invalid: true}},
		{"space before =", []string{"max-age =100"}, Directives{Invalid: true}},
		{"space after =", []string{"max-age= 100"}, Directives{Invalid: true}},
		{"unterminated quote", []string{`max-age="100`}, Directives{Invalid: true}},
		{"2^31", []string{"max-age=2147483648"}, Directives{MaxAge: set(MaxDelta)}},
		{"huge", []string{"max-age=99999999999999999999999999"}, Directives{MaxAge: set(MaxDelta)}},
		{"2^31-1", []string{"max-age=2147483647"}, Directives{MaxAge: set(MaxDelta - 1)}},
		{"duplicate same", []string{"max-age=60, max-age=60"}, Directives{MaxAge: set(60)}},
		{"duplicate conflicting", []string{"max-age=1800, max-age=1"}, Directives{Invalid: true}},
		{"duplicate conflicting lines", []string{"max-age=1", "max-age=1800"}, Directives{Invalid: true}},
		{"duplicate one invalid", []string{"max-age=60, max-age=x"}, Directives{Invalid: true}},
		{"s-maxage invalid", []string{"s-maxage=x, max-age=60"}, Directives{MaxAge: set(60), Invalid: true}},
		{"lines are one list", []string{"max-age=60", "no-store", "s-maxage=10"},
			Directives{MaxAge: set(60), SMaxAge: set(10), NoStore: true}},
		{"empty elements", []string{" , ,max-age=5,, ,"}, Directives{MaxAge: set(5)}},
		{"quoted max-age in extension", []string{`extension="max-age=100", max-age=1`}, Directives{MaxAge: set(1)}},
		{"quoted max-age in extension rev", []string{`max-age=1, extension="max-age=100, no-store"`}, Directives{MaxAge: set(1)}},
		{"quoted comma escape", []string{`ext="a\",max-age=9", max-age=2`}, Directives{MaxAge: set(2)}},
		{"extension", []string{"foobar, max-age=3600"}, Directives{MaxAge: set(3600)}},
		{"junk element", []string{"&&&, max-age=3"}, Directives{MaxAge: set(3)}},
		{"no-cache", []string{"no-cache"}, Directives{NoCache: true}},
		{"no-cache fields", []string{`no-cache="set-cookie, x-foo"`},
			Directives{NoCacheFields: []string{"Set-Cookie", "X-Foo"}}},
		{"no-cache token form", []string{`no-cache=a`}, Directives{NoCacheFields: []string{"A"}}},
		{"no-cache fields joined", []string{`no-cache="a"`, `no-cache="b"`},
			Directives{NoCacheFields: []string{"A", "B"}}},
		{"no-cache unqualified wins", []string{`no-cache="a", no-cache`}, Directives{NoCache: true}},
		{"no-cache unqualified wins first", []string{`no-cache, no-cache="a"`}, Directives{NoCache: true}},
		{"no-cache empty list", []string{`no-cache=""`}, Directives{NoCache: true}},
		{"no-cache bad list", []string{`no-cache="a b"`}, Directives{NoCache: true}},
		{"no-cache junk", []string{`no-cache junk`}, Directives{NoCache: true}},
		{"private", []string{"private"}, Directives{Private: true}},
		{"private fields", []string{`private="Authorization-Info"`},
			Directives{PrivateFields: []string{"Authorization-Info"}}},
		{"no-store with value", []string{"no-store=1"}, Directives{NoStore: true}},
		{"public", []string{"public"}, Directives{Public: true}},
		{"public with value ignored", []string{"public=yes"}, Directives{}},
		{"must-understand", []string{"must-understand, no-store"}, Directives{MustUnderstand: true, NoStore: true}},
		{"flags", []string{"must-revalidate, proxy-revalidate, no-transform, immutable, only-if-cached"},
			Directives{MustRevalidate: true, ProxyRevalidate: true, NoTransform: true, Immutable: true, OnlyIfCached: true}},
		{"stale", []string{"stale-while-revalidate=30, stale-if-error=600"},
			Directives{StaleWhileRevalidate: set(30), StaleIfError: set(600)}},
		{"stale invalid ignored", []string{"stale-while-revalidate=x, stale-if-error"}, Directives{}},
		{"stale conflicting ignored", []string{"stale-if-error=1, stale-if-error=2"}, Directives{}},
		{"max-stale any", []string{"max-stale"}, Directives{MaxStaleAny: true}},
		{"max-stale value", []string{"max-stale=10"}, Directives{MaxStale: set(10)}},
		{"min-fresh", []string{"min-fresh=10"}, Directives{MinFresh: set(10)}},
		{"tabs", []string{"\tmax-age=5\t,\tpublic\t"}, Directives{MaxAge: set(5), Public: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tt.lines {
				h.Add("Cache-Control", l)
			}
			got := ParseCacheControl(h, "Cache-Control")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCacheControl(%q)\n got %+v\nwant %+v", tt.lines, got, tt.want)
			}
		})
	}
}

func TestParseCacheControlOtherField(t *testing.T) {
	h := hdr("Surrogate-Control", "max-age=7")
	if got := ParseCacheControl(h, "surrogate-control"); got.MaxAge != set(7) {
		t.Errorf("got %+v", got)
	}
}

func TestParseCDNCacheControl(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  Directives
		ok    bool
	}{
		{"absent", nil, Directives{}, false},
		{"empty", []string{""}, Directives{}, false},
		{"spaces", []string{"   "}, Directives{}, false},
		{"max-age", []string{"max-age=60"}, Directives{MaxAge: set(60), Targeted: true}, true},
		{"no-store", []string{"no-store"}, Directives{NoStore: true, Targeted: true}, true},
		{"private", []string{"private"}, Directives{Private: true, Targeted: true}, true},
		{"two lines", []string{"max-age=60", "no-cache"}, Directives{MaxAge: set(60), NoCache: true, Targeted: true}, true},
		{"extension", []string{"foobar, max-age=3600"}, Directives{MaxAge: set(3600), Targeted: true}, true},
		{"unknown only", []string{"none"}, Directives{Targeted: true}, true},
		{"upper case key invalid", []string{"MaX-aGe=3600"}, Directives{}, false},
		{"junk member invalid", []string{"max-age=10000, &&&&&"}, Directives{}, false},
		{"trailing comma invalid", []string{"max-age=1,"}, Directives{}, false},
		{"space before = invalid", []string{"max-age =100"}, Directives{}, false},
		{"space after = invalid", []string{"max-age= 100"}, Directives{}, false},
		{"string max-age ignored", []string{`max-age="10000"`}, Directives{Targeted: true}, true},
		{"decimal max-age ignored", []string{`max-age=1.5`}, Directives{Targeted: true}, true},
		{"negative max-age ignored", []string{`max-age=-1`}, Directives{Targeted: true}, true},
		{"huge max-age", []string{`max-age=99999999999`}, Directives{MaxAge: set(MaxDelta), Targeted: true}, true},
		{"16 digits invalid", []string{`max-age=9999999999999999`}, Directives{}, false},
		{"last wins", []string{"max-age=1, max-age=100"}, Directives{MaxAge: set(100), Targeted: true}, true},
		{"last wins unset", []string{`max-age=1, max-age="x"`}, Directives{Targeted: true}, true},
		{"params ignored", []string{`max-age=5;a=1;b, public;x="y"`}, Directives{MaxAge: set(5), Public: true, Targeted: true}, true},
		{"false", []string{"no-store=?0, public=?0"}, Directives{Targeted: true}, true},
		{"true", []string{"no-store=?1, public=?1"}, Directives{NoStore: true, Public: true, Targeted: true}, true},
		{"public token ignored", []string{"public=yes"}, Directives{Targeted: true}, true},
		{"no-store token counts", []string{"no-store=yes"}, Directives{NoStore: true, Targeted: true}, true},
		{"private string", []string{`private="set-cookie, x-a"`},
			Directives{PrivateFields: []string{"Set-Cookie", "X-A"}, Targeted: true}, true},
		{"no-cache inner list", []string{`no-cache=(set-cookie "x-a")`},
			Directives{NoCacheFields: []string{"Set-Cookie", "X-A"}, Targeted: true}, true},
		{"no-cache empty inner list", []string{`no-cache=()`}, Directives{NoCache: true, Targeted: true}, true},
		{"no-cache integer", []string{`no-cache=1`}, Directives{NoCache: true, Targeted: true}, true},
		{"other types", []string{`a=:aGVsbG8=:, b=@1659578233, c=%"caf%c3%a9", d=?1, e=tok/en:x, f=-1.25`},
			Directives{Targeted: true}, true},
		{"bad bytes", []string{`a=:a!:`}, Directives{}, false},
		{"bad display", []string{`a=%"A%C3"`}, Directives{}, false},
		{"bad string", []string{"a=\"\x01\""}, Directives{}, false},
		{"bad escape", []string{`a="\x"`}, Directives{}, false},
		{"unclosed inner", []string{`a=(b c`}, Directives{}, false},
		{"decimal no frac", []string{`a=1.`}, Directives{}, false},
		{"decimal long frac", []string{`a=1.2345`}, Directives{}, false},
		{"ows", []string{"max-age=5 ,\tpublic"}, Directives{MaxAge: set(5), Public: true, Targeted: true}, true},
		{"swr", []string{"stale-while-revalidate=5, stale-if-error=9, s-maxage=3"},
			Directives{StaleWhileRevalidate: set(5), StaleIfError: set(9), SMaxAge: set(3), Targeted: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tt.lines {
				h.Add("CDN-Cache-Control", l)
			}
			got, ok := ParseCDNCacheControl(h)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCDNCacheControl(%q)\n got %+v, %v\nwant %+v, %v", tt.lines, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestResponseDirectives(t *testing.T) {
	h := hdr("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=10000")
	if d := ResponseDirectives(h); d.NoStore || d.MaxAge != set(10000) || !d.Targeted {
		t.Errorf("CDN-Cache-Control must replace Cache-Control: %+v", d)
	}
	h = hdr("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=10000, &&&")
	if d := ResponseDirectives(h); !d.NoStore || d.Targeted {
		t.Errorf("invalid CDN-Cache-Control must be ignored: %+v", d)
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{
		"max-age=60", `no-cache="a, b"`, `private="x\"y"`, "max-age=1, max-age=2", `a="`, `"`, `\`,
		"s-maxage=99999999999999999999", "stale-while-revalidate=1", "no-store=?1", "a=(b c);d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{"Cache-Control": {s}, "Cdn-Cache-Control": {s}}
		d := ParseCacheControl(h, "Cache-Control")
		for _, v := range []Delta{d.MaxAge, d.SMaxAge, d.StaleWhileRevalidate, d.StaleIfError, d.MaxStale, d.MinFresh} {
			if v.Seconds < 0 || v.Seconds > MaxDelta || !v.Set && v.Seconds != 0 {
				t.Fatalf("%q: bad delta %+v", s, v)
			}
		}
		if d.Invalid && (d.MaxAge.Set && d.SMaxAge.Set) {
			t.Fatalf("%q: invalid with both set: %+v", s, d)
		}
		if d.NoCache && d.NoCacheFields != nil || d.Private && d.PrivateFields != nil {
			t.Fatalf("%q: qualified and unqualified: %+v", s, d)
		}
		// Repeating a list gives the same directives.
		h2 := http.Header{"Cache-Control": {s, s}}
		d2 := ParseCacheControl(h2, "Cache-Control")
		d2.NoCacheFields, d2.PrivateFields = d.NoCacheFields, d.PrivateFields
		if !reflect.DeepEqual(d, d2) && !strings.ContainsAny(s, `"\`) {
			t.Fatalf("%q: repeated list differs:\n%+v\n%+v", s, d, d2)
		}
		if c, ok := ParseCDNCacheControl(h); ok {
			if !c.Targeted || c.Invalid {
				t.Fatalf("%q: %+v", s, c)
			}
		}
		sc, ok := ParseSurrogateControl(http.Header{"Surrogate-Control": {s}})
		if ok != sc.Targeted || ok != (sc.MaxAge.Set || sc.NoStore) || sc.MaxAge.Seconds < 0 || sc.MaxAge.Seconds > MaxDelta {
			t.Fatalf("Surrogate-Control %q: %v %+v", s, ok, sc)
		}
	})
}

// Surrogate-Control's untargeted max-age and no-store replace
// Cache-Control and Expires (the cache-tests suite's surrogate tests);
// CDN-Cache-Control comes first; directives targeted at a device token,
// and malformed ones, are not used.
func TestSurrogateControl(t *testing.T) {
	for _, tc := range []struct {
		name      string
		h         http.Header
		ok        bool
		maxAge    int64 // -1: not set
		noStore   bool
		fromCDNCC bool
	}{
		{"max-age", hdr("Surrogate-Control", "max-age=3600"), true, 3600, false, false},
		{"case", hdr("Surrogate-Control", "MaX-aGe=3600"), true, 3600, false, false},
		{"extension", hdr("Surrogate-Control", "foobar, max-age=3600"), true, 3600, false, false},
		{"stale extension", hdr("Surrogate-Control", "max-age=60+30"), true, 60, false, false},
		{"huge", hdr("Surrogate-Control", "max-age=99999999999"), true, MaxDelta, false, false},
		{"zero", hdr("Surrogate-Control", "max-age=0"), true, 0, false, false},
		{"no-store", hdr("Surrogate-Control", "no-store", "Cache-Control", "max-age=10000"), true, -1, true, false},
		{"no-store-remote", hdr("Surrogate-Control", "no-store-remote"), true, -1, true, false},
		{"short over long", hdr("Surrogate-Control", "max-age=1", "Cache-Control", "max-age=3600"), true, 1, false, false},
		{"over cc no-store", hdr("Surrogate-Control", "max-age=10000", "Cache-Control", "no-store"), true, 10000, false, false},
		{"targeted elsewhere", hdr("Surrogate-Control", "max-age=3600;not-for-you"), false, -1, false, false},
		{"space before =", hdr("Surrogate-Control", "max-age =100"), false, -1, false, false},
		{"space after =", hdr("Surrogate-Control", "max-age= 100"), false, -1, false, false},
		{"content only", hdr("Surrogate-Control", `content="ESI/1.0"`), false, -1, false, false},
		{"CDN-Cache-Control first", hdr("Surrogate-Control", "max-age=10", "Cdn-Cache-Control", "max-age=20"), true, 20, false, true},
	} {
		d := ResponseDirectives(tc.h)
		_, ok := ParseSurrogateControl(tc.h)
		if ok != tc.ok && !tc.fromCDNCC {
			t.Errorf("%s: ok %v, want %v", tc.name, ok, tc.ok)
		}
		if !tc.ok {
			if d.Targeted {
				t.Errorf("%s: %+v: want Cache-Control's directives", tc.name, d)
			}
			continue
		}
		if !d.Targeted || d.NoStore != tc.noStore || d.MaxAge.Set != (tc.maxAge >= 0) || tc.maxAge >= 0 && d.MaxAge.Seconds != tc.maxAge {
			t.Errorf("%s: %+v, want max-age %d, no-store %v", tc.name, d, tc.maxAge, tc.noStore)
		}
	}
}

func BenchmarkParseCacheControl(b *testing.B) {
	h := hdr("Cache-Control", "public, max-age=3600, s-maxage=600, stale-while-revalidate=30, stale-if-error=600")
	b.ReportAllocs()
	for b.Loop() {
		ParseCacheControl(h, "Cache-Control")
	}
}

func BenchmarkParseCDNCacheControl(b *testing.B) {
	h := hdr("CDN-Cache-Control", "max-age=3600, stale-while-revalidate=30")
	b.ReportAllocs()
	for b.Loop() {
		ParseCDNCacheControl(h)
	}
}
