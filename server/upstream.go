package server

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"edgecache/origin"
)

// loopDetected answers 508 Loop Detected, and reports true, when the
// request's Via names this box (Options.Via): the request went round a
// loop of caches back to here (RFC 9110 §7.6.3). Fetching it would ask
// the next box again, and so on until a timeout.
func (s *Server) loopDetected(ctx *fasthttp.RequestCtx) bool {
	if s.opt.Via == "" {
		return false
	}
	for _, v := range ctx.Request.Header.PeekAll("Via") {
		if viaNames(b2s(v), s.opt.Via) {
			s.warn.Log(slog.LevelWarn, "loop", "request loop detected: the request's Via names this box",
				"via", string(v), "name", s.opt.Via, "path", string(ctx.Path()))
			s.plain(ctx, http.StatusLoopDetected, "loop detected: this request already passed through "+s.opt.Via+
				" (Via: "+string(v)+"); check the upstream lists of the caches named there")
			return true
		}
	}
	return false
}

// viaNames reports whether the Via field value v has an entry received by
// name: entries are "protocol received-by [comment]", comma-separated.
func viaNames(v, name string) bool {
	for len(v) > 0 {
		entry := v
		if i := strings.IndexByte(v, ','); i >= 0 {
			entry, v = v[:i], v[i+1:]
		} else {
			v = ""
		}
		fields := strings.Fields(entry)
		if len(fields) >= 2 && strings.EqualFold(fields[1], name) {
			return true
		}
	}
	return false
}

// unavailable answers 503 with Retry-After, and reports true, when err says
// no upstream could take the fetch: every circuit breaker open, or every
// upstream at its load limit (*origin.UnavailableError).
func (s *Server) unavailable(ctx *fasthttp.RequestCtx, key string, err error) bool {
	var ue *origin.UnavailableError
	if !errors.As(err, &ue) {
		return false
	}
	msg, class := "service unavailable: upstreams overloaded, retry later", "overloaded"
	if errors.Is(err, origin.ErrAllOpen) {
		msg, class = "service unavailable: every upstream is failing (circuit breakers open), retry later", "breakers open"
	}
	secs := max(int64(ue.RetryAfter.Seconds()+0.999), 1)
	ctx.Response.Header.Set("Cache-Status", s.status.originErr)
	ctx.Response.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
	s.warn.Log(slog.LevelWarn, "origin fetch failed: "+class, "origin fetch failed", "key", key,
		"status", http.StatusServiceUnavailable, "err", err)
	s.plain(ctx, http.StatusServiceUnavailable, msg)
	return true
}
