package rfc9111

import "net/http"

// Reasons Storable gives for a response it refuses. They are tokens, fit
// for logs and for the detail parameter of Cache-Status (RFC 9211 §2.8).
const (
	ReasonMethod         = "method"           // request method other than GET or HEAD
	ReasonStatus         = "status"           // non-final status, 304, or not an HTTP status
	ReasonRequestNoStore = "request-no-store" // request Cache-Control: no-store (§5.2.1.5)
	ReasonNoStore        = "no-store"         // response no-store (§5.2.2.5)
	ReasonMustUnderstand = "must-understand"  // must-understand with a status the cache does not know (§5.2.2.3)
	ReasonPrivate        = "private"          // unqualified private, shared cache (§5.2.2.7)
	ReasonAuthorization  = "authorization"    // request Authorization without public, s-maxage or must-revalidate (§3.5)
	ReasonVaryStar       = "vary-star"        // Vary: * or a malformed Vary (§4.1)
	ReasonNoFreshness    = "no-freshness"     // no explicit freshness, not public, status not heuristically cacheable
)

// Storable reports whether a cache may store the response to a request, per
// RFC 9111 §3, and if not, why (one of the Reason constants).
//
// shared selects the rules of a shared cache: private, Authorization
// (§3.5) and s-maxage apply, and a valid CDN-Cache-Control replaces
// Cache-Control and Expires (RFC 9213; see ResponseDirectives). A private
// cache (shared false) reads Cache-Control only.
//
// Choices:
//   - Methods: GET and HEAD are the ones understood.
//   - Status: any final status 200-599 other than 304 may be stored when the
//     rest allows it (§3 requires understanding only for 206, 304 and
//     must-understand). 206 is taken as understood (the cache combines
//     ranges, §3.4); 304 is not stored: it updates a stored response
//     (§4.3.4).
//   - must-understand: with a status registered in RFC 9110 §15 the
//     response's no-store is ignored (§5.2.2.3); with any other status the
//     response is not stored.
//   - A qualified private="f" does not prevent storing: the named fields
//     must be left out (see StoredHeader).
//   - Vary: * is never stored, nor is a Vary that is not a list of field
//     names (see VaryNames).
//   - Explicit freshness is public, Expires (any value; an invalid one means
//     already expired), max-age, s-maxage (shared), CDN-Cache-Control
//     max-age or s-maxage (shared), or an invalid max-age or s-maxage (see
//     Directives.Invalid); otherwise the status must be heuristically
//     cacheable (RFC 9110 §15.1: 200, 203, 204, 206, 300, 301, 308, 404,
//     405, 410, 414, 501). A storable response can still have a freshness
//     lifetime of 0: FreshnessLifetime tells.
//
// Request Cache-Control: no-store prevents storing (§5.2.1.5); other
// request directives do not matter here.
func Storable(reqMethod string, reqHeader http.Header, status int, respHeader http.Header, shared bool) (ok bool, why string) {
	if reqMethod != http.MethodGet && reqMethod != http.MethodHead {
		return false, ReasonMethod
	}
	if status < 200 || status > 599 || status == http.StatusNotModified {
		return false, ReasonStatus
	}
	if len(reqHeader["Cache-Control"]) > 0 && ParseCacheControl(reqHeader, "Cache-Control").NoStore {
		return false, ReasonRequestNoStore
	}
	var d Directives
	if shared {
		d = ResponseDirectives(respHeader)
	} else {
		d = ParseCacheControl(respHeader, "Cache-Control")
	}
	if d.MustUnderstand && !understood(status) {
		return false, ReasonMustUnderstand
	}
	if d.NoStore && !d.MustUnderstand {
		return false, ReasonNoStore
	}
	if shared && d.Private {
		return false, ReasonPrivate
	}
	if shared && len(reqHeader["Authorization"]) > 0 && !d.Public && !d.SMaxAge.Set && !d.MustRevalidate {
		return false, ReasonAuthorization
	}
	if varyStar(respHeader) {
		return false, ReasonVaryStar
	}
	switch {
	case d.Public, d.MaxAge.Set, d.Invalid, HeuristicallyCacheable(status):
	case shared && d.SMaxAge.Set:
	case !shared && (d.Private || d.PrivateFields != nil):
	case !d.Targeted && len(respHeader["Expires"]) > 0:
	default:
		return false, ReasonNoFreshness
	}
	return true, ""
}

// HeuristicallyCacheable reports whether status is cacheable by default
// (RFC 9110 §15.1): such a response may be stored and given a heuristic
// freshness lifetime without explicit freshness.
func HeuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understood reports whether status is a final status registered by RFC
// 9110 §15, whose caching requirements the cache knows (§5.2.2.3).
func understood(status int) bool {
	switch {
	case status >= 200 && status <= 206,
		status >= 300 && status <= 305, status == 307, status == 308,
		status >= 400 && status <= 417, status == 421, status == 422, status == 426,
		status >= 500 && status <= 505:
		return true
	}
	return false
}
