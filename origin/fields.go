package origin

import (
	"net/http"
	"strings"
)

// hopByHop are the fields that describe one connection, not the
// representation (RFC 9110 §7.6.1), plus the framing fields of this one
// message (its length and range), which the cache recomputes for each
// answer it builds from the stored object.
var hopByHop = map[string]bool{
	"Connection":          true,
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Te":                  true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Trailer":             true,
	"Content-Length":      true,
	"Content-Range":       true,
}

// endToEnd returns a copy of h without its hop-by-hop and framing fields and
// without the fields its Connection header names: the header fields of the
// representation, which a cache stores and sends with every answer it
// builds from it.
func endToEnd(h http.Header) http.Header {
	var named map[string]bool
	for _, line := range h["Connection"] {
		for _, name := range strings.Split(line, ",") {
			if name = strings.TrimSpace(name); name != "" {
				if named == nil {
					named = make(map[string]bool)
				}
				named[http.CanonicalHeaderKey(name)] = true
			}
		}
	}
	out := make(http.Header, len(h))
	for k, vs := range h {
		if hopByHop[k] || named[k] {
			continue
		}
		out[k] = append([]string(nil), vs...)
	}
	return out
}
