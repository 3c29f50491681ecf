package origin

import (
	"net/http"
	"strings"

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
// itself, from what it stores, and validates with its own conditionals);
// and the fields that make an origin answer about another host, path or
// method than the cache key's, or for one client: an answer to them would
// be stored under the key and served to everyone (web cache poisoning:
// a reflected X-Forwarded-Host, an X-Original-URL's 404, an
// X-HTTP-Method-Override's 405, a page built for a Cookie). The later
// fetches of an object's chunks send none of the client's fields anyway.
var notForwarded = map[string]bool{
	"If-Match": true, "If-None-Match": true, "If-Modified-Since": true,
	"If-Unmodified-Since": true, "Cache-Control": true, "Pragma": true,

	"Cookie": true, "Forwarded": true, "X-Forwarded-Host": true, "X-Forwarded-Server": true,
	"X-Forwarded-Proto": true, "X-Forwarded-Scheme": true, "X-Forwarded-Port": true,
	"X-Forwarded-Prefix": true, "X-Host": true, "X-Original-Host": true,
	"X-Original-Url": true, "X-Rewrite-Url": true, "X-Http-Method-Override": true,
	"X-Http-Method": true, "X-Method-Override": true,
	// Other spellings of the scheme, path and method that frameworks and
	// proxies read (an abuse review found each passed through).
	"X-Forwarded-Ssl": true, "Front-End-Https": true, "X-Url-Scheme": true,
	"X-Forwarded-Protocol": true, "X-Forwarded-Path": true, "X-Forwarded-Uri": true,
	"X-Original-Uri": true, "X-Override-Url": true, "X-Original-Method": true,
	"X-Proxy-Url": true,
}

// forwardable reports whether a client's field called name may be sent
// upstream at all: a valid field name (RFC 9110 §5.1: a token; net/http
// refuses to send others, and the fetch failed with 502) without an
// underscore. CGI, PHP, WSGI and Rack origins read X_Forwarded_Host as
// the same variable as X-Forwarded-Host, so an underscore spelling would
// pass every name notForwarded lists; nginx drops such fields by default
// (underscores_in_headers off, ignore_invalid_headers on), and so does
// this.
func forwardable(name string) bool {
	return rfc9111.ValidFieldName(name) && strings.IndexByte(name, '_') < 0
}

// ForwardedHeader returns the fields of a client's request that a fetch on
// its behalf sends upstream: its end-to-end fields (RFC 9110 §7.6.1: the
// hop-by-hop ones and those Connection names removed), less the ones Fetch
// controls (Host, Range, If-Range, framing), the client's conditionals
// and Cache-Control/Pragma, which the cache answers itself, and the fields
// notForwarded names against cache poisoning (Cookie, Forwarded,
// X-Forwarded-Host, X-Original-URL, X-HTTP-Method-Override, ...) and
// fields whose name is not valid or has an underscore (forwardable). The
// result is an owned copy; it is never nil.
func ForwardedHeader(h http.Header) http.Header {
	out := rfc9111.EndToEnd(h)
	for k := range out {
		if controlled[k] || notForwarded[k] || !forwardable(k) {
			delete(out, k)
		}
	}
	return out
}
