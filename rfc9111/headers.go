package rfc9111

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopByHop are the connection-specific fields of RFC 9110 §7.6.1, plus
// Proxy-Connection (a non-standard alias of Connection still sent by some
// clients) and Trailer, which describes the framing of one message.
var hopByHop = [...]string{
	"Connection",
	"Keep-Alive",
	"Proxy-Connection",
	"Te",
	"Transfer-Encoding",
	"Upgrade",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Trailer",
}

// EndToEnd returns a copy of h without its hop-by-hop fields (Connection,
// Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade,
// Proxy-Authenticate, Proxy-Authorization, Trailer) and without the fields
// that Connection names (RFC 9110 §7.6.1; RFC 9111 §3.1). The values
// slices are copied too.
func EndToEnd(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	for _, line := range h["Connection"] {
		for name := range strings.SplitSeq(line, ",") {
			if name = trimOWS(name); name != "" {
				delete(out, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	for _, k := range hopByHop {
		delete(out, k)
	}
	return out
}

// StoredHeader returns the header fields a shared cache stores for a
// response: EndToEnd(respHeader) without the fields named by a qualified
// private (RFC 9111 §5.2.2.7: a shared cache must not store them) or by a
// qualified no-cache (§5.2.2.4: the response may then be reused without
// validation only without those fields, so they are not kept at all). The
// directives are read as ResponseDirectives does.
func StoredHeader(respHeader http.Header) http.Header {
	out := EndToEnd(respHeader)
	d := ResponseDirectives(respHeader)
	for _, k := range d.PrivateFields {
		delete(out, k)
	}
	for _, k := range d.NoCacheFields {
		delete(out, k)
	}
	return out
}

// Update304 returns the header of a stored response freshened by a 304
// (Not Modified) response to a revalidation (RFC 9111 §4.3.4, §3.2): the
// stored fields, with each field present in the 304 replaced by the 304's
// value, except
//   - hop-by-hop fields and those named by the 304's Connection (§3.1);
//   - Content-Length, which describes the 304 itself (§3.2), and
//     Content-Encoding and Content-Range, which describe the stored bytes
//     and cannot change without them (§3.2: "header fields that the cache's
//     stored response depends upon").
//
// Age is removed unless the 304 carries one, and Date is removed unless
// the 304 carries one: the stored response's age starts again from the
// 304 (§4.2.3), with the time the 304 was received standing for a missing
// Date. Fields named by a qualified private or no-cache of the updated
// header are left out, as in StoredHeader. Neither argument is modified.
func Update304(stored, notModified http.Header) http.Header {
	out := make(http.Header, len(stored)+len(notModified))
	for k, v := range stored {
		out[k] = append([]string(nil), v...)
	}
	delete(out, "Age")
	delete(out, "Date")
	for k, v := range EndToEnd(notModified) {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Range":
			continue
		}
		out[k] = v
	}
	return StoredHeader(out)
}
