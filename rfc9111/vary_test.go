package rfc9111

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestVaryNames(t *testing.T) {
	tests := []struct {
		lines []string
		names []string
		star  bool
	}{
		{nil, nil, false},
		{[]string{""}, nil, false},
		{[]string{"Accept-Encoding"}, []string{"accept-encoding"}, false},
		{[]string{"Foo, Bar", "baz", "FOO"}, []string{"bar", "baz", "foo"}, false},
		{[]string{" , Foo ,, "}, []string{"foo"}, false},
		{[]string{"*"}, nil, true},
		{[]string{"*, *"}, nil, true},
		{[]string{"*", "*"}, nil, true},
		{[]string{", *"}, nil, true},
		{[]string{"", "*"}, nil, true},
		{[]string{"*, Foo"}, nil, true},
		{[]string{"Foo, *"}, nil, true},
		{[]string{"Foo", "*"}, nil, true},
		{[]string{"a b"}, nil, true},
		{[]string{`"foo"`}, nil, true},
	}
	for _, tt := range tests {
		h := http.Header{"Vary": tt.lines}
		names, star := VaryNames(h)
		if !reflect.DeepEqual(names, tt.names) || star != tt.star {
			t.Errorf("VaryNames(%q) = %q, %v; want %q, %v", tt.lines, names, star, tt.names, tt.star)
		}
		if varyStar(h) != tt.star {
			t.Errorf("varyStar(%q) = %v", tt.lines, !tt.star)
		}
	}
}

func TestVariantKey(t *testing.T) {
	key := func(names []string, kv ...string) string { return VariantKey(names, hdr(kv...)) }
	foo := []string{"foo"}
	ae := []string{"accept-encoding"}
	al := []string{"accept-language"}
	same := []struct {
		names []string
		a, b  []string
	}{
		{foo, []string{"Foo", "1"}, []string{"Foo", "1"}},
		{foo, []string{"Foo", "1,2"}, []string{"Foo", " 1, 2 "}},
		{foo, []string{"Foo", "1, 2"}, []string{"Foo", "1", "Foo", "2"}},
		{foo, []string{"Foo", "a  b"}, []string{"Foo", "a\tb"}},
		{foo, nil, []string{"Other", "x"}},
		{ae, []string{"Accept-Encoding", "gzip, br"}, []string{"Accept-Encoding", "BR,GZIP"}},
		{ae, []string{"Accept-Encoding", "gzip, br"}, []string{"Accept-Encoding", "br;q=0.5, gzip;q=1.0, zstd;q=0"}},
		{ae, []string{"Accept-Encoding", "gzip"}, []string{"Accept-Encoding", "x-gzip", "Accept-Encoding", "gzip"}},
		{ae, []string{"Accept-Encoding", "gzip, deflate"}, []string{"Accept-Encoding", "deflate", "Accept-Encoding", "gzip;Q=0.9"}},
		{ae, []string{"Accept-Encoding", ""}, []string{"Accept-Encoding", "gzip;q=0"}},
		{al, []string{"Accept-Language", "en, de"}, []string{"Accept-Language", "de, en"}},
		{al, []string{"Accept-Language", "en-US;q=0.50, de"}, []string{"Accept-Language", "DE, en-us;q=0.5, fr;q=0"}},
		{[]string{"accept-encoding", "foo"}, []string{"Accept-Encoding", "br", "Foo", "x"}, []string{"Foo", "x", "Accept-Encoding", "br"}},
	}
	for _, tt := range same {
		if a, b := key(tt.names, tt.a...), key(tt.names, tt.b...); a != b {
			t.Errorf("%q vs %q: keys differ: %q, %q", tt.a, tt.b, a, b)
		}
	}
	differ := []struct {
		names []string
		a, b  []string
	}{
		{foo, []string{"Foo", "1"}, []string{"Foo", "2"}},
		{foo, nil, []string{"Foo", ""}},
		{foo, []string{"Foo", "a b"}, []string{"Foo", "ab"}},
		{foo, []string{"Foo", `"a  b"`}, []string{"Foo", `"a b"`}},
		{foo, []string{"Foo", "a,,b"}, []string{"Foo", "a,b"}},
		{foo, []string{"Foo", "A"}, []string{"Foo", "a"}},
		{[]string{"bar", "baz"}, []string{"Bar", "1"}, []string{"Baz", "1"}},
		{foo, []string{"Foo", "a\nfoo=b"}, []string{"Foo", "a", "Foo", "b"}},
		{foo, []string{"Foo", `a\`}, []string{"Foo", `a\\`}},
		{ae, []string{"Accept-Encoding", "gzip"}, []string{"Accept-Encoding", "gzip, br"}},
		{ae, nil, []string{"Accept-Encoding", ""}},
		{ae, []string{"Accept-Encoding", "gzip;q=abc"}, []string{"Accept-Encoding", "gzip"}},
		{al, []string{"Accept-Language", "en;q=0.5, de"}, []string{"Accept-Language", "en, de;q=0.5"}},
		{al, []string{"Accept-Language", "en"}, []string{"Accept-Language", "en-us"}},
	}
	for _, tt := range differ {
		if a, b := key(tt.names, tt.a...), key(tt.names, tt.b...); a == b {
			t.Errorf("%q vs %q: same key %q", tt.a, tt.b, a)
		}
	}
	// The form itself, for the readers of logs.
	got := key([]string{"accept-encoding", "accept-language", "foo", "x"},
		"Accept-Encoding", "gzip, br, identity;q=0", "Accept-Language", "en;q=0.8, de", "Foo", " a ,b ")
	want := "accept-encoding=br,gzip\naccept-language=de,en;q=0.8\nfoo=a,b\nx"
	if got != want {
		t.Errorf("VariantKey = %q, want %q", got, want)
	}
	if got := VariantKey(nil, hdr("Foo", "1")); got != "" {
		t.Errorf("no names: %q", got)
	}
}

func FuzzVariantKey(f *testing.F) {
	f.Add("gzip, br;q=0.5", "en, de;q=0", "1, 2")
	f.Add("x-gzip;q=1.000", "en-US;q=0.001", `"a,  b" , c`)
	f.Add("", "", "")
	f.Add("a;q=2", "*;q=0.5", `\"`)
	names := []string{"accept-encoding", "accept-language", "foo"}
	f.Fuzz(func(t *testing.T, ae, al, foo string) {
		h := http.Header{"Accept-Encoding": {ae}, "Accept-Language": {al}, "Foo": {foo}}
		k := VariantKey(names, h)
		if k != VariantKey(names, h) {
			t.Fatal("not deterministic")
		}
		if strings.Count(k, "\n") != len(names)-1 {
			t.Fatalf("key %q has a bad number of lines", k)
		}
		// Present, even empty, differs from missing.
		for _, n := range names {
			h2 := h.Clone()
			h2.Del(n)
			if VariantKey(names, h2) == k {
				t.Fatalf("missing %s gives the same key %q", n, k)
			}
		}
		// Surrounding whitespace and a repeated line of Accept-Encoding do not matter.
		h3 := http.Header{"Accept-Encoding": {" " + ae + "\t", ae}, "Accept-Language": {al}, "Foo": {" " + foo + " "}}
		if !isToken(trimOWS(ae)) {
			h3["Accept-Encoding"] = []string{" " + ae + "\t"}
		}
		if k3 := VariantKey(names, h3); k3 != k && !strings.ContainsAny(foo+ae, "\"") {
			t.Fatalf("whitespace changed the key:\n%q\n%q", k, k3)
		}
	})
}

func BenchmarkVariantKey(b *testing.B) {
	names := []string{"accept-encoding", "origin"}
	h := hdr("Accept-Encoding", "gzip, deflate, br, zstd", "Origin", "https://example.com")
	b.ReportAllocs()
	for b.Loop() {
		VariantKey(names, h)
	}
}
