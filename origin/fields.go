package origin

import (
	"net/http"

	"edgecache/rfc9111"
)

// endToEnd returns a copy of h without its hop-by-hop fields, the fields its
// Connection names (RFC 9110 §7.6.1), and the framing fields of this one
// message, Content-Length and Content-Range, which the cache recomputes for
// each answer it builds from the stored object: the header fields of the
// representation, which a cache stores and sends with every answer.
func endToEnd(h http.Header) http.Header {
	out := rfc9111.EndToEnd(h)
	delete(out, "Content-Length")
	delete(out, "Content-Range")
	return out
}

// controlled are the request fields Fetch sets itself or never sends: the
// request's target and framing, the range, and the connection's own fields.
var controlled = map[string]bool{
	"Host": true, "Range": true, "If-Range": true, "Content-Length": true,
	"Transfer-Encoding": true, "Expect": true, "Connection": true, "Keep-Alive": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Proxy-Authorization": true, "Proxy-Authenticate": true,
}

// notForwarded are client request fields a cache does not pass upstream in
// a fetch it makes on its own behalf, beyond those Fetch controls: the
// client's conditionals and cache directives (the cache answers those
// itself, from what it stores, and validates with its own conditionals).
var notForwarded = map[string]bool{
	"If-Match": true, "If-None-Match": true, "If-Modified-Since": true,
	"If-Unmodified-Since": true, "Cache-Control": true, "Pragma": true,
}

// ForwardedHeader returns the fields of a client's request that a fetch on
// its behalf sends upstream: its end-to-end fields (RFC 9110 §7.6.1: the
// hop-by-hop ones and those Connection names removed), less the ones Fetch
// controls (Host, Range, If-Range, framing) and the client's conditionals
// and Cache-Control/Pragma, which the cache answers itself. The result is
// an owned copy; it is never nil.
func ForwardedHeader(h http.Header) http.Header {
	out := rfc9111.EndToEnd(h)
	for k := range out {
		if controlled[k] || notForwarded[k] {
			delete(out, k)
		}
	}
	return out
}
