package origin

import (
	"net/http"
	"testing"
)

// TestForwardedHeader checks which of a client's fields a fetch on its
// behalf sends upstream.
func TestForwardedHeader(t *testing.T) {
	tests := []struct {
		name string
		fwd  bool
	}{
		{"Accept-Encoding", true},
		{"User-Agent", true},
		{"X-Player-Session", true},
		{"Range", false},
		{"If-None-Match", false},
		{"Cache-Control", false},
		{"Cookie", false},
		{"X-Forwarded-Host", false},
		{"X-Forwarded-Ssl", false},
		{"Front-End-Https", false},
		{"X-Original-Uri", false},
		{"X-Original-Method", false},
		{"Connection", false},
		// An underscore spelling is the same variable to CGI, PHP, WSGI
		// and Rack origins.
		{"X_Forwarded_Host", false},
		{"X_Original_URL", false},
		{"My_Field", false},
		// Not field names: net/http would refuse to send them (a 502).
		{"X Y", false},
		{"X:Y", false},
		{"Bad\x01", false},
		{"", false},
	}
	h := http.Header{}
	for _, tt := range tests {
		h[tt.name] = []string{"v"}
	}
	h["Connection"] = []string{"X-Player-Hop"}
	h["X-Player-Hop"] = []string{"v"}
	got := ForwardedHeader(h)
	for _, tt := range tests {
		if _, ok := got[tt.name]; ok != tt.fwd {
			t.Errorf("%q forwarded: %v, want %v", tt.name, ok, tt.fwd)
		}
	}
	if _, ok := got["X-Player-Hop"]; ok {
		t.Error("a field Connection names was forwarded")
	}
	if len(h) != len(tests)+1 {
		t.Errorf("ForwardedHeader changed its argument: %v", h)
	}
}
