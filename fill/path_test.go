package fill_test

import (
	"testing"

	"edgecache/fill"
	"edgecache/server"
)

// FuzzCheckPath checks that every path fill.CheckPath accepts is a cache
// key as the server normalizes it with default options (a fixed point), so
// that a manifest never names a file under a key players cannot reach.
func FuzzCheckPath(f *testing.F) {
	for _, p := range []string{"/", "/v/t1/0001.m4s", "/a/", "/a%20b", "/%C3%A9", "/a:b@c!$&'()*+,;=-._~", "/a%25", "/a%7E", "/a//b", "/a/./b"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if fill.CheckPath(p) != nil {
			return
		}
		key, err := server.NormalizeTarget(p, server.TargetOptions{MaxPathLength: fill.MaxPathLength})
		if err != nil || key != p {
			t.Fatalf("CheckPath accepts %q, the server normalizes it to %q, %v", p, key, err)
		}
	})
}
