package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Defaults of Options.
const (
	DefaultConnectTimeout   = 3 * time.Second
	DefaultFirstByteTimeout = 15 * time.Second
	DefaultIdleTimeout      = 15 * time.Second
	DefaultMaxConnsPerHost  = 512

	maxDrain = 64 << 10 // error bodies up to this size are drained for reuse
)

// ErrInconsistent is wrapped by Fetch errors for answers that do not match
// the request (wrong Content-Range, missing length, ...).
var ErrInconsistent = errors.New("inconsistent origin response")

// Options configures a Client. Zero values select the defaults.
type Options struct {
	ConnectTimeout   time.Duration // dial timeout (default 3s)
	FirstByteTimeout time.Duration // request sent → response headers (default 15s); Transport.ResponseHeaderTimeout
	IdleTimeout      time.Duration // longest gap between two body reads that deliver bytes (default 15s)
	MaxConnsPerHost  int           // default 512; also MaxIdleConnsPerHost
}

// Client fetches byte ranges of objects from one origin over net/http. It
// is safe for concurrent use.
type Client struct {
	base   string // scheme://host[/prefix], no trailing slash
	host   string
	scheme string
	opt    Options
	tr     *http.Transport
	hc     *http.Client
	// unsized is the budget of the answers without Content-Length being
	// read whole (readUnsized), MaxUnsizedBuffered bytes.
	unsized *semaphore.Weighted
}

// Response is a validated origin answer to Fetch. The caller must close
// Body.
type Response struct {
	Status       int       // 200 or 206
	Offset       int64     // object offset of Body's first byte (0 for 200)
	Length       int64     // bytes Body delivers
	Size         int64     // total object size (from Content-Range on 206, Content-Length on 200)
	ETag         string    // ETag header, verbatim
	LastModified time.Time // zero if absent/unparseable
	ContentType  string    // Content-Type header
	CacheControl string    // Cache-Control header
	Expires      string    // Expires header
	Age          string    // Age header
	Date         time.Time // zero if absent/unparseable
	// Header holds the answer's end-to-end fields as received: its
	// hop-by-hop fields, those its Connection field names, and the framing
	// fields Content-Length and Content-Range (but on a 200, where it
	// frames nothing) removed. It is the caller's.
	Header http.Header
	// EarlyHints are the Link field values of the 103 (Early Hints)
	// answers the origin sent before this one, in order, at most
	// MaxEarlyHints.
	EarlyHints []string
	// Body delivers exactly Length bytes, then io.EOF. A body that ends
	// early yields an error wrapping io.ErrUnexpectedEOF; a stall longer
	// than Options.IdleTimeout yields a *TimeoutError.
	Body io.ReadCloser
}

// MaxEarlyHints bounds the Link values of 103 answers a Response keeps.
const MaxEarlyHints = 32

// MaxStatusBody is the largest body of an answer other than 200, 206 and
// 416 that Fetch keeps (in StatusError.Body) to pass on to the client: error
// pages, redirects. A larger one is an error of its own.
const MaxStatusBody = 1 << 20

// errStatusBodyTooLarge is the error of a status answer whose body is longer
// than MaxStatusBody.
var errStatusBodyTooLarge = fmt.Errorf("longer than %d bytes", MaxStatusBody)

// readBounded reads r to its end, at most max bytes.
func readBounded(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errStatusBodyTooLarge
	}
	return b, nil
}

// StatusError is returned by Fetch for answers other than 200 and 206.
type StatusError struct {
	Code int    // HTTP status code
	Path string // requested path
	// Size is the object size from "Content-Range: bytes */N" on a 416,
	// -1 if unknown.
	Size int64
	// Header holds the answer's end-to-end header fields (ETag,
	// Last-Modified, Content-Type, Cache-Control, Location, ...), as in
	// Response.Header; for a 416, all of its fields (Content-Range too).
	Header http.Header
	// Body is the answer's body (at most MaxStatusBody bytes), to pass on;
	// nil for a 416.
	Body []byte
}

// Error implements error: "origin <path>: status <code> <text>".
func (e *StatusError) Error() string {
	return fmt.Sprintf("origin %s: status %d %s", e.Path, e.Code, http.StatusText(e.Code))
}

// StatusCode returns the HTTP status code.
func (e *StatusError) StatusCode() int { return e.Code }

// Timeout phases of a TimeoutError.
const (
	PhaseConnect   = "connect"
	PhaseFirstByte = "first byte"
	PhaseIdle      = "idle"
)

// TimeoutError reports that a fetch exceeded one of the Options timeouts.
// Its Timeout method returns true.
type TimeoutError struct {
	Phase string        // PhaseConnect, PhaseFirstByte or PhaseIdle
	Path  string        // requested path
	After time.Duration // the timeout that expired
	Bytes int64         // body bytes delivered before an idle timeout
	Err   error         // underlying transport error, if any
}

// Error implements error; the message names the phase and the path.
func (e *TimeoutError) Error() string {
	switch e.Phase {
	case PhaseIdle:
		return fmt.Sprintf("origin idle timeout (no data for %v) fetching %s after %d bytes", e.After, e.Path, e.Bytes)
	default:
		return fmt.Sprintf("origin %s timeout after %v fetching %s", e.Phase, e.After, e.Path)
	}
}

// Timeout reports true: the error is a timeout.
func (e *TimeoutError) Timeout() bool { return true }

// Unwrap returns the underlying transport error, if any.
func (e *TimeoutError) Unwrap() error { return e.Err }

// errConnectTimeout marks dial errors caused by Options.ConnectTimeout.
type errConnectTimeout struct{ err error }

func (e *errConnectTimeout) Error() string { return "connect timeout: " + e.err.Error() }
func (e *errConnectTimeout) Unwrap() error { return e.err }
func (e *errConnectTimeout) Timeout() bool { return true }

// BaseURLError says why an origin base URL was refused.
type BaseURLError struct {
	URL    string // the URL as given
	Reason string // what is wrong with it
}

// Error implements error: the URL, quoted, and the reason.
func (e *BaseURLError) Error() string { return fmt.Sprintf("%q: %s", e.URL, e.Reason) }

// ParseBaseURL parses and checks an origin's base URL: http or https, a
// host, an optional path prefix, and no user info, query or fragment. It is
// the one check of an origin URL: NewClient and the configuration's
// validation (edgecache config check) both use it, so they accept exactly
// the same URLs. Its errors are *BaseURLError.
func ParseBaseURL(base string) (*url.URL, error) {
	bad := func(reason string) (*url.URL, error) {
		return nil, &BaseURLError{URL: base, Reason: reason}
	}
	u, err := url.Parse(base)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("not a URL: " + err.Error())
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("want an http:// or https:// URL")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return bad("no host")
	case u.User != nil:
		return bad("user info is not supported (credentials do not belong in the origin URL)")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("a query is not allowed")
	case u.Fragment != "" || strings.Contains(base, "#"):
		return bad("a fragment is not allowed")
	}
	return u, nil
}

// NewClient returns a Client for the origin at base, e.g.
// "http://127.0.0.1:8081" or "https://origin.example/prefix". base must be
// an http or https URL with a host and may carry a path prefix, but no
// query, fragment or user info.
func NewClient(base string, opt Options) (*Client, error) {
	u, err := ParseBaseURL(base)
	if err != nil {
		return nil, fmt.Errorf("origin: bad base URL %w", err)
	}
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = DefaultConnectTimeout
	}
	if opt.FirstByteTimeout <= 0 {
		opt.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = DefaultIdleTimeout
	}
	if opt.MaxConnsPerHost <= 0 {
		opt.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	c := &Client{
		base:    u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		host:    u.Host,
		scheme:  u.Scheme,
		opt:     opt,
		unsized: semaphore.NewWeighted(MaxUnsizedBuffered),
	}
	dialer := &net.Dialer{Timeout: opt.ConnectTimeout, KeepAlive: 30 * time.Second}
	c.tr = &http.Transport{
		Proxy:                  nil,
		DialContext:            connectTimeoutDial(dialer.DialContext, opt.ConnectTimeout),
		TLSHandshakeTimeout:    opt.ConnectTimeout,
		DisableCompression:     true,
		MaxConnsPerHost:        opt.MaxConnsPerHost,
		MaxIdleConnsPerHost:    opt.MaxConnsPerHost,
		MaxIdleConns:           opt.MaxConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  opt.FirstByteTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c.hc = &http.Client{
		Transport: c.tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // redirects surface as StatusError
		},
	}
	return c, nil
}

// dialFunc is the signature of net.Dialer.DialContext.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// connectTimeoutDial bounds dial by timeout and marks the errors caused by
// that bound, so Fetch can tell a connect timeout from a caller deadline.
func connectTimeoutDial(dial dialFunc, timeout time.Duration) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, err := dial(dctx, network, addr)
		if err != nil && ctx.Err() == nil && errors.Is(dctx.Err(), context.DeadlineExceeded) {
			return nil, &errConnectTimeout{err}
		}
		return conn, err
	}
}

// Close closes idle connections. In-flight fetches are not interrupted.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// Fetch asks for bytes [off, off+n) of the object at path and validates
// the answer. path is an already-escaped absolute path, optionally with a
// "?query"; it is appended to the base URL verbatim. n < 0 asks for the
// whole object (no Range header) when off is 0, and for the bytes from off
// to the end ("Range: bytes=off-") otherwise. An origin that ignores the range and
// answers 200 is accepted (Response.Offset is then 0).
//
// h holds request header fields to send along: a client's fields forwarded
// (Vary's selecting fields, Authorization), conditionals of a revalidation
// (If-None-Match, If-Modified-Since: a 304 answer is a *StatusError). Fetch
// sets Range itself and ignores the fields it controls (Host, Range,
// If-Range and the hop-by-hop fields, see ForwardedHeader). With h nil it
// sends "Accept-Encoding: identity"; otherwise Accept-Encoding is h's (or
// absent), as the client's own is part of what a Vary response is selected
// by. h is not modified.
//
// Errors: *StatusError for statuses other than 200/206; *TimeoutError for
// connect and first-byte timeouts; errors wrapping ErrInconsistent for
// answers that do not match the request; otherwise the transport error,
// wrapped, or the cause of ctx if ctx ended.
func (c *Client) Fetch(ctx context.Context, path string, off, n int64, h http.Header) (*Response, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("origin %s: path must be absolute", path)
	}
	if strings.Contains(path, "#") {
		return nil, fmt.Errorf("origin %s: path must not contain a fragment", path)
	}
	// Any range whose last byte is representable is a valid request: an
	// offset past the object's end gets the origin's 416, which tells the
	// size (a cold Range far past the end must become our 416, not a 502).
	if off < 0 || n == 0 || (n > 0 && off-1 > math.MaxInt64-n) {
		return nil, fmt.Errorf("origin %s: invalid range off=%d n=%d", path, off, n)
	}

	fctx, cancel := context.WithCancelCause(ctx)
	// The Link values of 103 (Early Hints) answers, passed on to the
	// client whose miss this is (RFC 9110 §15.2: a proxy forwards 1xx).
	// The transport calls the hook before Do returns the final answer.
	var hints []string
	tctx := httptrace.WithClientTrace(fctx, &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if code == http.StatusEarlyHints {
			for _, v := range h.Values("Link") {
				if len(hints) < MaxEarlyHints {
					hints = append(hints, v)
				}
			}
		}
		return nil
	}})
	req, err := http.NewRequestWithContext(tctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("origin %s: %w", path, err)
	}
	// The base ends in its host or a path prefix and path starts with "/",
	// so the host cannot change; check anyway.
	if req.URL.Host != c.host || req.URL.Scheme != c.scheme || req.URL.User != nil {
		cancel(nil)
		return nil, fmt.Errorf("origin %s: path changes the origin URL", path)
	}
	for k, v := range h {
		if !controlled[k] {
			req.Header[k] = v
		}
	}
	if len(h["User-Agent"]) == 0 {
		req.Header.Set("User-Agent", "edgecache")
	}
	if h == nil {
		req.Header.Set("Accept-Encoding", "identity")
	}
	switch {
	case n > 0:
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10))
	case off > 0:
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		cancel(nil)
		return nil, c.transportError(ctx, path, err)
	}

	r, err := c.validate(path, off, n, resp)
	if err == errUnsized {
		r, err = c.readUnsized(ctx, fctx, cancel, path, resp)
		cancel(nil)
		if r != nil {
			r.EarlyHints = hints
		}
		return r, err
	}
	if err != nil {
		// Bound the read: a stalled error body must not hang Fetch.
		t := time.AfterFunc(c.opt.IdleTimeout, func() { cancel(errIdleFired) })
		var se *StatusError
		if errors.As(err, &se) && se.Code != http.StatusRequestedRangeNotSatisfiable {
			// The answer is passed on to the client: keep its body.
			se.Body, err = readBounded(resp.Body, MaxStatusBody)
			switch {
			case err != nil && errors.Is(context.Cause(fctx), errIdleFired) && ctx.Err() == nil:
				err = &TimeoutError{Phase: PhaseIdle, Path: path, After: c.opt.IdleTimeout, Err: err}
			case err != nil:
				err = fmt.Errorf("origin %s: status %d: body: %w", path, se.Code, err)
			default:
				err = se
			}
			resp.Body.Close()
		} else {
			drainClose(resp)
		}
		t.Stop()
		cancel(nil)
		return nil, err
	}
	b := &body{
		rc:     resp.Body,
		ctx:    ctx,
		fctx:   fctx,
		cancel: cancel,
		path:   path,
		want:   r.Length,
		idle:   c.opt.IdleTimeout,
	}
	b.timer = time.AfterFunc(b.idle, func() { cancel(errIdleFired) })
	b.timer.Stop() // armed by Read
	r.Body = b
	r.EarlyHints = hints
	return r, nil
}

// MaxUnsizedBody is the largest 200 answer without Content-Length (chunked
// or ended by closing the connection) that Fetch accepts: it reads such an
// answer whole before returning it, to learn its size. A longer one is an
// error wrapping ErrInconsistent.
const MaxUnsizedBody = 32 << 20

// MaxUnsizedBuffered bounds the bytes of answers without Content-Length one
// Client holds at once, read or being read, until their bodies are closed:
// without it, 24 clients asking for distinct objects of an origin that
// sends every answer chunked made the daemon hold 24 × 32 MiB (an abuse
// review: 1.6 GiB resident against a 762 MiB plan). A read that finds the
// budget spent waits for it, within the same idle timeout as its body,
// then fails (errUnsizedBudget; not the upstream's fault).
const MaxUnsizedBuffered = 2 * MaxUnsizedBody

// unsizedStep is what an unsized read takes of the budget first; it then
// takes as much again each time its buffer is full.
const unsizedStep = 64 << 10

// errUnsized is validate's word for a 200 answer without Content-Length.
var errUnsized = errors.New("no Content-Length")

// errUnsizedBudget is the error of an unsized read that found no room in
// MaxUnsizedBuffered within the idle timeout.
var errUnsizedBudget = errors.New("too many answers without Content-Length being read at once")

// readUnsized reads the whole body of a 200 answer without Content-Length
// (at most MaxUnsizedBody bytes, each within the idle timeout of the ones
// before, in the Client's
// budget of MaxUnsizedBuffered bytes) and returns it as a Response of that
// size, whose Close gives its bytes back to the budget.
func (c *Client) readUnsized(ctx, fctx context.Context, cancel context.CancelCauseFunc, path string, resp *http.Response) (*Response, error) {
	t := time.AfterFunc(c.opt.IdleTimeout, func() { cancel(errIdleFired) })
	defer t.Stop()
	defer resp.Body.Close()
	var (
		b     []byte
		taken int64
		err   error
	)
	for err == nil && int64(len(b)) <= MaxUnsizedBody {
		if int64(len(b)) == taken {
			// The buffer doubles (from unsizedStep), so that the bytes
			// are copied O(1) times each; the budget is charged its size.
			more := min(max(taken, unsizedStep), MaxUnsizedBody+unsizedStep-taken)
			if aerr := c.unsized.Acquire(fctx, more); aerr != nil {
				c.unsized.Release(taken)
				if ctx.Err() != nil {
					return nil, fmt.Errorf("origin %s: reading a body without Content-Length: %w", path, ctx.Err())
				}
				return nil, fmt.Errorf("origin %s: %w (%d MiB)", path, errUnsizedBudget, MaxUnsizedBuffered>>20)
			}
			taken += more
			b = slices.Grow(b, int(taken)-len(b))
		}
		var n int
		n, err = resp.Body.Read(b[len(b):taken])
		b = b[:len(b)+n]
		if n > 0 {
			t.Reset(c.opt.IdleTimeout) // idle: from the last bytes, not from the start
		}
	}
	if err == io.EOF {
		err = nil
	}
	switch {
	case err != nil && errors.Is(context.Cause(fctx), errIdleFired) && ctx.Err() == nil:
		err = &TimeoutError{Phase: PhaseIdle, Path: path, After: c.opt.IdleTimeout, Bytes: int64(len(b)), Err: err}
	case err != nil:
		err = fmt.Errorf("origin %s: reading a body without Content-Length: %w", path, err)
	case len(b) > MaxUnsizedBody:
		err = fmt.Errorf("origin %s: answered 200 without Content-Length and more than %d bytes: %w", path, MaxUnsizedBody, ErrInconsistent)
	}
	if err != nil {
		c.unsized.Release(taken)
		return nil, err
	}
	r := &Response{Status: http.StatusOK, Length: int64(len(b)), Size: int64(len(b)),
		Body: &unsizedBody{Reader: bytes.NewReader(b), release: func() { c.unsized.Release(taken) }}}
	r.setFields(resp.Header)
	return r, nil
}

// unsizedBody is the body of an answer read whole by readUnsized: its
// Close gives the bytes back to the Client's budget.
type unsizedBody struct {
	*bytes.Reader
	once    sync.Once
	release func()
}

// Close implements io.Closer.
func (b *unsizedBody) Close() error {
	b.once.Do(b.release)
	return nil
}

// transportError classifies an error of http.Client.Do.
func (c *Client) transportError(ctx context.Context, path string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the URL; we name the path
	}
	if ctx.Err() != nil {
		return fmt.Errorf("origin %s: %w", path, context.Cause(ctx))
	}
	var ct *errConnectTimeout
	if errors.As(err, &ct) {
		return &TimeoutError{Phase: PhaseConnect, Path: path, After: c.opt.ConnectTimeout, Err: ct.err}
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		if strings.Contains(err.Error(), "TLS handshake timeout") {
			return &TimeoutError{Phase: PhaseConnect, Path: path, After: c.opt.ConnectTimeout, Err: err}
		}
		return &TimeoutError{Phase: PhaseFirstByte, Path: path, After: c.opt.FirstByteTimeout, Err: err}
	}
	return fmt.Errorf("origin %s: %w", path, err)
}

// validate checks resp against the request for [off, off+n) and builds the
// Response (without Body).
func (c *Client) validate(path string, off, n int64, resp *http.Response) (*Response, error) {
	h := resp.Header
	asked := "whole object"
	switch {
	case n > 0:
		asked = fmt.Sprintf("bytes %d-%d", off, off+n-1)
	case off > 0:
		asked = fmt.Sprintf("bytes %d-", off)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("origin %s: asked %s, got %d: %s: %w",
			path, asked, resp.StatusCode, fmt.Sprintf(format, args...), ErrInconsistent)
	}
	r := &Response{Status: resp.StatusCode}
	switch resp.StatusCode {
	case http.StatusOK:
		if resp.ContentLength < 0 {
			// A body of unannounced length (chunked, or ended by closing
			// the connection): valid HTTP, as a compressing origin sends it.
			// Sizes are the cache's unit, so it is read whole first, if it is
			// small enough (MaxUnsizedBody).
			return nil, errUnsized
		}
		r.Offset, r.Length, r.Size = 0, resp.ContentLength, resp.ContentLength
	case http.StatusPartialContent:
		cr := h.Get("Content-Range")
		a, b, size, ok := parseContentRange(cr)
		if !ok {
			return nil, bad("bad Content-Range %q", cr)
		}
		// Any range that holds the first byte asked for is a usable
		// answer: an origin may send a larger range, or a shorter one
		// (the caller asks again for the rest). Offset and Length say what
		// it sent.
		if a > off || b < off {
			return nil, bad("Content-Range %q does not hold byte %d", cr, off)
		}
		if resp.ContentLength >= 0 && resp.ContentLength != b-a+1 {
			return nil, bad("Content-Length %d with Content-Range %q", resp.ContentLength, cr)
		}
		r.Offset, r.Length, r.Size = a, b-a+1, size
	case http.StatusRequestedRangeNotSatisfiable:
		size := int64(-1)
		if cr := h.Get("Content-Range"); strings.HasPrefix(cr, "bytes */") {
			if v, err := strconv.ParseInt(cr[len("bytes */"):], 10, 64); err == nil && v >= 0 {
				size = v
			}
		}
		return nil, &StatusError{Code: resp.StatusCode, Path: path, Size: size, Header: h.Clone()}
	default:
		return nil, &StatusError{Code: resp.StatusCode, Path: path, Size: -1, Header: endToEnd(h)}
	}
	r.setFields(h)
	return r, nil
}

// setFields fills r's header fields from the answer's header h.
func (r *Response) setFields(h http.Header) {
	r.Header = endToEnd(h)
	if cr := h.Values("Content-Range"); r.Status == http.StatusOK && len(cr) > 0 {
		// On a 200 it frames nothing: a field of the representation's,
		// stored and sent with it like any other (RFC 9111 §3.1).
		r.Header["Content-Range"] = append([]string(nil), cr...)
	}
	r.ETag = h.Get("ETag")
	r.ContentType = h.Get("Content-Type")
	r.CacheControl = h.Get("Cache-Control")
	r.Expires = h.Get("Expires")
	r.Age = h.Get("Age")
	if v := h.Get("Last-Modified"); v != "" {
		r.LastModified, _ = http.ParseTime(v)
	}
	if v := h.Get("Date"); v != "" {
		r.Date, _ = http.ParseTime(v)
	}
}

// parseContentRange parses "bytes a-b/size" with a <= b < size.
func parseContentRange(s string) (a, b, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, sz, found := strings.Cut(strings.TrimSpace(rest), "/")
	if !found {
		return 0, 0, 0, false
	}
	as, bs, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err error
	if a, err = parseDigits(as); err != nil {
		return 0, 0, 0, false
	}
	if b, err = parseDigits(bs); err != nil {
		return 0, 0, 0, false
	}
	if size, err = parseDigits(sz); err != nil {
		return 0, 0, 0, false
	}
	if a > b || b >= size {
		return 0, 0, 0, false
	}
	return a, b, size, true
}

// parseDigits parses a non-empty string of ASCII digits.
func parseDigits(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a number")
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// drainClose reads a small remaining body so the connection can be reused,
// then closes it.
func drainClose(resp *http.Response) {
	if resp.ContentLength <= maxDrain {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain+1)
	}
	_ = resp.Body.Close()
}

// body wraps a response body: it delivers exactly want bytes, reports
// short bodies as io.ErrUnexpectedEOF and enforces the idle timeout.
//
// The idle timer is armed while a Read waits for the origin and stopped
// when a Read delivers bytes, so time the caller spends between Reads
// (e.g. writing to a slow client) is not charged to the origin. When it
// fires, the fetch context is cancelled, which aborts the blocked Read.
//
// Read must not be called concurrently with itself; Close may be called
// concurrently with Read to abort it.
type body struct {
	rc     io.ReadCloser
	ctx    context.Context // caller's context
	fctx   context.Context // per-fetch context, cancelled by the idle timer
	cancel context.CancelCauseFunc
	path   string
	want   int64
	got    int64
	idle   time.Duration
	timer  *time.Timer // idle timer, created stopped
	eof    bool        // underlying body reported io.EOF
	err    error       // sticky error
	closed atomic.Bool
}

// errIdleFired is the cancellation cause set by the idle timer.
var errIdleFired = errors.New("origin idle timer fired")

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.closed.Load() {
		return 0, fmt.Errorf("origin %s: read after close", b.path)
	}
	if b.got >= b.want {
		return 0, b.finish()
	}
	if len(p) == 0 {
		return 0, nil
	}
	if rem := b.want - b.got; int64(len(p)) > rem {
		p = p[:rem]
	}
	b.arm()
	n, err := b.rc.Read(p)
	if n > 0 {
		b.got += int64(n)
		b.timer.Stop()
	}
	switch {
	case err == nil:
	case err == io.EOF:
		b.eof = true
		if b.got < b.want {
			b.timer.Stop()
			b.err = b.short(io.ErrUnexpectedEOF)
		} else {
			err = nil // reported by the next Read via finish
		}
	default:
		b.timer.Stop()
		b.err = b.readError(err)
	}
	if b.err != nil {
		return n, b.err
	}
	return n, nil
}

// arm starts (or restarts) the idle timer.
func (b *body) arm() { b.timer.Reset(b.idle) }

// finish is called once want bytes were delivered. It checks that the
// origin has nothing more to send (so the connection is reused) and sets
// io.EOF as the sticky result.
func (b *body) finish() error {
	if !b.eof {
		var one [1]byte
		b.arm()
		n, err := b.rc.Read(one[:])
		b.timer.Stop()
		switch {
		case n > 0:
			b.err = fmt.Errorf("origin %s: body longer than the %d bytes announced: %w", b.path, b.want, ErrInconsistent)
			return b.err
		case err == nil, err == io.EOF:
		default:
			b.err = b.readError(err)
			return b.err
		}
	}
	b.err = io.EOF
	return b.err
}

// short returns the error for a body that ended early.
func (b *body) short(err error) error {
	return fmt.Errorf("origin %s: body ended after %d of %d bytes: %w", b.path, b.got, b.want, err)
}

// readError classifies an error of the underlying body.
func (b *body) readError(err error) error {
	if errors.Is(context.Cause(b.fctx), errIdleFired) && b.ctx.Err() == nil {
		return &TimeoutError{Phase: PhaseIdle, Path: b.path, After: b.idle, Bytes: b.got}
	}
	if b.ctx.Err() != nil {
		return fmt.Errorf("origin %s: after %d of %d bytes: %w", b.path, b.got, b.want, context.Cause(b.ctx))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return b.short(err)
	}
	return fmt.Errorf("origin %s: reading body after %d of %d bytes: %w", b.path, b.got, b.want, err)
}

// Close stops the idle timer, closes the underlying body and releases the
// fetch context.
func (b *body) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
