package rfc9111

import (
	"net/http"
	"testing"
)

func TestStorable(t *testing.T) {
	tests := []struct {
		name   string
		method string
		req    http.Header
		status int
		resp   http.Header
		shared bool
		want   string // "" for storable
	}{
		{"200 plain", "GET", nil, 200, nil, true, ""},
		{"HEAD", "HEAD", nil, 200, nil, true, ""},
		{"POST", "POST", nil, 200, hdr("Cache-Control", "max-age=60"), true, ReasonMethod},
		{"101", "GET", nil, 101, hdr("Cache-Control", "max-age=60"), true, ReasonStatus},
		{"304", "GET", nil, 304, hdr("Cache-Control", "max-age=60"), true, ReasonStatus},
		{"600", "GET", nil, 600, hdr("Cache-Control", "max-age=60"), true, ReasonStatus},
		{"206", "GET", nil, 206, nil, true, ""},
		{"302 bare", "GET", nil, 302, nil, true, ReasonNoFreshness},
		{"307 bare", "GET", nil, 307, nil, true, ReasonNoFreshness},
		{"500 bare", "GET", nil, 500, nil, true, ReasonNoFreshness},
		{"403 bare", "GET", nil, 403, hdr("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"), true, ReasonNoFreshness},
		{"302 max-age", "GET", nil, 302, hdr("Cache-Control", "max-age=60"), true, ""},
		{"599 max-age", "GET", nil, 599, hdr("Cache-Control", "max-age=60"), true, ""},
		{"299 s-maxage", "GET", nil, 299, hdr("Cache-Control", "s-maxage=60"), true, ""},
		{"s-maxage private cache", "GET", nil, 302, hdr("Cache-Control", "s-maxage=60"), false, ReasonNoFreshness},
		{"302 expires", "GET", nil, 302, hdr("Expires", "Sun, 06 Nov 1994 08:49:37 GMT"), true, ""},
		{"302 expires 0", "GET", nil, 302, hdr("Expires", "0"), true, ""},
		{"302 public", "GET", nil, 302, hdr("Cache-Control", "public"), true, ""},
		{"302 invalid max-age", "GET", nil, 302, hdr("Cache-Control", "max-age=x"), true, ""},
		{"302 cdn max-age", "GET", nil, 302, hdr("CDN-Cache-Control", "max-age=60"), true, ""},
		{"302 cdn replaces expires", "GET", nil, 302,
			hdr("CDN-Cache-Control", "no-transform", "Expires", "Sun, 06 Nov 1994 08:49:37 GMT"), true, ReasonNoFreshness},
		{"302 cdn ignored by private cache", "GET", nil, 302, hdr("CDN-Cache-Control", "max-age=60"), false, ReasonNoFreshness},
		{"no-store", "GET", nil, 200, hdr("Cache-Control", "max-age=60, no-store"), true, ReasonNoStore},
		{"no-store case", "GET", nil, 200, hdr("Cache-Control", "No-StOrE"), true, ReasonNoStore},
		{"no-store second line", "GET", nil, 200, hdr("Cache-Control", "max-age=60", "Cache-Control", "no-store"), true, ReasonNoStore},
		{"request no-store", "GET", hdr("Cache-Control", "no-store"), 200, hdr("Cache-Control", "max-age=60"), true, ReasonRequestNoStore},
		{"request no-cache", "GET", hdr("Cache-Control", "no-cache"), 200, hdr("Cache-Control", "max-age=60"), true, ""},
		{"cdn no-store", "GET", nil, 200, hdr("Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"), true, ReasonNoStore},
		{"cdn max-age over cc no-store", "GET", nil, 200, hdr("Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60"), true, ""},
		{"invalid cdn falls back", "GET", nil, 200, hdr("Cache-Control", "no-store", "CDN-Cache-Control", `max-age=60, &&`), true, ReasonNoStore},
		{"must-understand no-store 200", "GET", nil, 200, hdr("Cache-Control", "must-understand, no-store, max-age=60"), true, ""},
		{"must-understand no-store 299", "GET", nil, 299, hdr("Cache-Control", "must-understand, no-store, max-age=60"), true, ReasonMustUnderstand},
		{"must-understand 299", "GET", nil, 299, hdr("Cache-Control", "must-understand, max-age=60"), true, ReasonMustUnderstand},
		{"private shared", "GET", nil, 200, hdr("Cache-Control", "private, max-age=3600"), true, ReasonPrivate},
		{"private private cache", "GET", nil, 200, hdr("Cache-Control", "private, max-age=3600"), false, ""},
		{"private only private cache", "GET", nil, 302, hdr("Cache-Control", "private"), false, ""},
		{"private qualified", "GET", nil, 200, hdr("Cache-Control", `private="set-cookie", max-age=60`), true, ""},
		{"cdn private", "GET", nil, 200, hdr("CDN-Cache-Control", "private", "Cache-Control", "max-age=10000"), true, ReasonPrivate},
		{"auth", "GET", hdr("Authorization", "FOO"), 200, hdr("Expires", "Sun, 06 Nov 2094 08:49:37 GMT"), true, ReasonAuthorization},
		{"auth public", "GET", hdr("Authorization", "FOO"), 200, hdr("Cache-Control", "max-age=3600, public"), true, ""},
		{"auth must-revalidate", "GET", hdr("Authorization", "FOO"), 200, hdr("Cache-Control", "max-age=3600, must-revalidate"), true, ""},
		{"auth s-maxage", "GET", hdr("Authorization", "FOO"), 200, hdr("Cache-Control", "s-maxage=3600"), true, ""},
		{"auth invalid s-maxage", "GET", hdr("Authorization", "FOO"), 200, hdr("Cache-Control", "s-maxage=x"), true, ReasonAuthorization},
		{"auth private cache", "GET", hdr("Authorization", "FOO"), 200, nil, false, ""},
		{"vary star", "GET", nil, 200, hdr("Vary", "*", "Cache-Control", "max-age=60"), true, ReasonVaryStar},
		{"vary foo star", "GET", nil, 200, hdr("Vary", "Foo, *"), true, ReasonVaryStar},
		{"vary star second line", "GET", nil, 200, hdr("Vary", "", "Vary", "*"), true, ReasonVaryStar},
		{"vary malformed", "GET", nil, 200, hdr("Vary", "a b"), true, ReasonVaryStar},
		{"vary", "GET", nil, 200, hdr("Vary", "Accept-Encoding"), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req == nil {
				tt.req = http.Header{}
			}
			if tt.resp == nil {
				tt.resp = http.Header{}
			}
			ok, why := Storable(tt.method, tt.req, tt.status, tt.resp, tt.shared)
			if ok != (tt.want == "") || why != tt.want {
				t.Errorf("Storable = %v, %q; want %q", ok, why, tt.want)
			}
		})
	}
}

func TestHeuristicallyCacheable(t *testing.T) {
	yes := map[int]bool{200: true, 203: true, 204: true, 206: true, 300: true, 301: true, 308: true,
		404: true, 405: true, 410: true, 414: true, 501: true}
	for s := 100; s < 600; s++ {
		if HeuristicallyCacheable(s) != yes[s] {
			t.Errorf("HeuristicallyCacheable(%d) = %v", s, !yes[s])
		}
	}
}
