package popularity

import (
	"math"
	"strings"
	"testing"

	"edgecache/fill"
)

// FuzzParseReleases checks the releases file parser on any text: it never
// panics, and what it accepts is usable by the ranking: one release per
// key, a key without spaces, views finite and > 0, every path a manifest
// path, and a path key with no paths after it.
func FuzzParseReleases(f *testing.F) {
	for _, s := range []string{
		"# tomorrow\n/v/new-film/0.m4s 120\n\nnew-show\t80 /v/new-show/0.m4s /v/new-show/1.m4s\nold-film 2.5\n",
		"a 1e308\na 1e308\n",
		"a NaN\n", "a -1\n", "/v/x 1 /v/y\n", "a 1 ../x\n", "a 0x1p3\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rels, err := ParseReleases(strings.NewReader(in), "fuzz")
		if err != nil {
			if !strings.Contains(err.Error(), "releases fuzz") {
				t.Fatalf("error does not name the source: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range rels {
			if r.Key == "" || strings.ContainsAny(r.Key, " \t\r\n") || seen[r.Key] {
				t.Fatalf("%q: key %q (seen before: %v)", in, r.Key, seen[r.Key])
			}
			seen[r.Key] = true
			if !(r.Views > 0) || math.IsInf(r.Views, 0) {
				t.Fatalf("%q: %s: views %v", in, r.Key, r.Views)
			}
			if strings.HasPrefix(r.Key, "/") && len(r.Paths) > 0 {
				t.Fatalf("%q: path key %s with paths %v", in, r.Key, r.Paths)
			}
			for _, p := range r.Paths {
				if err := fill.CheckPath(p); err != nil {
					t.Fatalf("%q: %s: path %q: %v", in, r.Key, p, err)
				}
			}
		}
	})
}
