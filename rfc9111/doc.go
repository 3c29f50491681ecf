// Package rfc9111 holds the HTTP caching rules a shared cache applies, as
// pure functions over header fields: whether a response may be stored
// (RFC 9111 §3), its freshness lifetime (§4.2.1, §4.2.2) and current age
// (§4.2.3), how long a stale response may still be served (RFC 5861), how
// request headers select a stored variant (§4.1), and which header fields
// are stored and how a 304 updates them (§3.1, §3.2, §4.3.4).
//
// It parses the fields these rules read: Cache-Control (§5.2), the targeted
// CDN-Cache-Control (RFC 9213), HTTP-dates (RFC 9110 §5.6.7), Age (§5.1),
// Expires (§5.3) and Vary (RFC 9110 §12.5.5).
//
// The package does no I/O and keeps no state. Header maps are read, never
// modified; the functions that return a header return a new map. Header
// keys are expected in canonical form, as net/http and net/textproto
// produce them.
//
// Where the RFCs leave a choice, the package takes the one that cannot make
// a response fresher than the origin meant (RFC 9111 §4.2.1: "the most
// restrictive directive should be honored"); each exported name documents
// the choices it makes.
package rfc9111
