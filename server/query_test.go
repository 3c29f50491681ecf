package server

import (
	"bytes"
	"maps"
	"net/http"
	"sync"
	"testing"

	"edgecache/origin"
)

// TestQueryKey checks through the server that the query is part of the key
// as configured: each key is one object, filled by one origin request whose
// target is exactly the key, and every answer has the origin's bytes (the
// synthetic origin's bytes depend on the path only).
func TestQueryKey(t *testing.T) {
	const path, size = "/s/1M/a", 1 << 20
	want := originBytes(path, 0, size)
	type get struct {
		query string // sent after path
		key   string // the object's key, also the origin request's target
	}
	tests := []struct {
		name string
		opt  Options
		gets []get
	}{
		{"default", Options{}, []get{
			{"?x=1", path + "?x=1"},
			{"?x=2", path + "?x=2"},
			{"?x=1", path + "?x=1"},
			{"?x=%31", path + "?x=1"},
			{"?x=1&", path + "?x=1"},
			{"", path},
			{"?a=1&b=2", path + "?a=1&b=2"},
			{"?b=2&a=1", path + "?b=2&a=1"},
			{"?q=a+b", path + "?q=a%20b"},
			{"?q=a%20b", path + "?q=a%20b"},
			{"?x=1&token=abc", path + "?x=1&token=abc"},
		}},
		{"ignore", Options{KeyIgnoreQueryParams: []string{"token", "expires", "sig"}}, []get{
			{"?x=1&token=abc", path + "?x=1"},
			{"?x=1&token=def", path + "?x=1"},
			{"?token=ghi&x=1&expires=9&sig=z", path + "?x=1"},
			{"?x=1", path + "?x=1"},
			{"?x=2&token=abc", path + "?x=2"},
			{"?token=abc", path},
		}},
		{"keep", Options{KeyQueryParams: []string{"v", "quality"}}, []get{
			{"?v=2&quality=hd&x=9", path + "?quality=hd&v=2"},
			{"?quality=hd&v=2", path + "?quality=hd&v=2"},
			{"?v=3&token=abc", path + "?v=3"},
			{"?x=1", path},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syn := origin.NewSynthetic(origin.SyntheticOptions{})
			var mu sync.Mutex
			seen := map[string]int{} // origin request targets
			h := newHarness(t, harnessOptions{server: tt.opt, originHandle: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen[r.RequestURI]++
				mu.Unlock()
				syn.ServeHTTP(w, r)
			})})
			wantSeen := map[string]int{}
			for _, g := range tt.gets {
				status := "edgecache; hit; detail=mem"
				if wantSeen[g.key] == 0 {
					status = "edgecache; fwd=miss; stored"
				}
				resp, body := h.do("GET", path+g.query)
				if resp.StatusCode != 200 || !bytes.Equal(body, want) {
					t.Fatalf("GET %s: status %d, %d bytes; want 200 and the origin's %d", path+g.query, resp.StatusCode, len(body), size)
				}
				if got := resp.Header.Get("Cache-Status"); got != status {
					t.Errorf("GET %s: Cache-Status %q, want %q", path+g.query, got, status)
				}
				wantSeen[g.key] = 1
				h.waitHeld(g.key)
			}
			mu.Lock()
			defer mu.Unlock()
			if !maps.Equal(seen, wantSeen) {
				t.Errorf("origin requests %v, want %v", seen, wantSeen)
			}
		})
	}
}

// BenchmarkHitPathQuery is BenchmarkHitPath's 1 MiB memory hit with a query
// in the target, under each way of keying the query.
func BenchmarkHitPathQuery(b *testing.B) {
	cases := []struct {
		name, path string
		opt        Options
	}{
		{"NONE", "/s/1M/hot.m4s", Options{}},
		{"DEFAULT", "/s/1M/hot.m4s?v=2&quality=hd", Options{}},
		{"KEEP", "/s/1M/hot.m4s?quality=hd&v=2", Options{KeyQueryParams: []string{"v", "quality"}}},
		{"IGNORE", "/s/1M/hot.m4s?v=2&token=abc&expires=9&sig=z", Options{KeyIgnoreQueryParams: []string{"token", "expires", "sig"}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			benchServe(b, tc.opt, tc.path, "", 1<<20, 200)
		})
	}
}
