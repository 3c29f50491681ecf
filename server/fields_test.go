package server

import (
	"bytes"
	"net/http"
	"testing"
)

// Issue #9 §1: the origin's end-to-end header fields reach the client on a
// miss, a hit, a range and a 304; hop-by-hop fields and those the origin's
// Connection names do not.
func TestEndToEndFields(t *testing.T) {
	var h *harness
	h = newHarness(t, harnessOptions{originHandle: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Disposition", `attachment; filename="a.m4s"`)
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Expose-Headers", "X-Custom")
		hd.Add("X-Custom", "one")
		hd.Add("X-Custom", "two")
		hd.Set("Vary", "Origin")
		hd.Set("Connection", "X-Hop")
		hd.Set("X-Hop", "secret")
		hd.Set("Keep-Alive", "timeout=5")
		h.syn.ServeHTTP(w, r)
	})})
	const path = "/s/3M/fields.m4s"
	check := func(name string, resp *http.Response, all bool) {
		t.Helper()
		want := map[string][]string{
			"Cache-Control":                 {"public, max-age=86400"}, // the synthetic origin's
			"Content-Disposition":           {`attachment; filename="a.m4s"`},
			"Access-Control-Allow-Origin":   {"*"},
			"Access-Control-Expose-Headers": {"X-Custom"},
			"X-Custom":                      {"one", "two"},
			"Vary":                          {"Origin"},
		}
		for k, v := range want {
			if !all && k != "Cache-Control" && k != "Vary" {
				if got := resp.Header.Values(k); len(got) != 0 {
					t.Errorf("%s: %s: %q on a 304", name, k, got)
				}
				continue
			}
			if got := resp.Header.Values(k); len(got) != len(v) || (len(v) > 0 && got[0] != v[0]) || (len(v) > 1 && got[1] != v[1]) {
				t.Errorf("%s: %s: %q, want %q", name, k, got, v)
			}
		}
		for _, k := range []string{"X-Hop", "Keep-Alive"} {
			if v := resp.Header.Get(k); v != "" {
				t.Errorf("%s: hop-by-hop %s: %q passed on", name, k, v)
			}
		}
	}
	resp, body := h.do("GET", path)
	if !bytes.Equal(body, originBytes(path, 0, 3<<20)) {
		t.Fatal("miss: bytes differ from the origin's")
	}
	check("miss", resp, true)
	h.waitHeld(path)
	resp, body = h.do("GET", path)
	if !bytes.Equal(body, originBytes(path, 0, 3<<20)) {
		t.Fatal("hit: bytes differ from the origin's")
	}
	check("hit", resp, true)
	resp, body = h.do("GET", path, "Range", "bytes=100-199")
	if resp.StatusCode != 206 || !bytes.Equal(body, originBytes(path, 100, 100)) {
		t.Fatalf("range: status %d or bytes differ", resp.StatusCode)
	}
	check("range", resp, true)
	resp, _ = h.do("GET", path, "If-None-Match", resp.Header.Get("ETag"))
	if resp.StatusCode != 304 {
		t.Fatalf("conditional: status %d, want 304", resp.StatusCode)
	}
	check("304", resp, false)
}

// Issue #9 §7: a response with Content-Encoding is stored and served as it
// is; a range of it is a range of the encoded bytes.
func TestContentEncodingStoredAsIs(t *testing.T) {
	var h *harness
	h = newHarness(t, harnessOptions{originHandle: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Vary", "Accept-Encoding")
		h.syn.ServeHTTP(w, r)
	})})
	const path = "/s/2M/encoded.js"
	for _, rg := range []struct{ off, n int64 }{{0, 2 << 20}, {1<<20 - 5, 10}} {
		hdr := []string{}
		if rg.off > 0 {
			hdr = []string{"Range", "bytes=1048571-1048580"}
		}
		resp, body := h.do("GET", path, hdr...)
		if resp.StatusCode/100 != 2 || !bytes.Equal(body, originBytes(path, rg.off, rg.n)) {
			t.Fatalf("[%d,+%d): status %d, bytes differ from the origin's", rg.off, rg.n, resp.StatusCode)
		}
		if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
			t.Fatalf("Content-Encoding %q, want gzip", ce)
		}
	}
}
