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
