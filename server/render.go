package server

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"edgecache/cache"
)

// rendered is a version's answer header fields, rendered once per version
// (cache.Meta.Memo) and copied into each answer: a hit then costs one copy
// of a few prepared fields instead of a normalized Set per field.
type rendered struct {
	// full is the header of a 200 or 206 answer without the per-answer
	// fields (Age, Cache-Status, Content-Length, Content-Range): Date,
	// Accept-Ranges, ETag, Last-Modified, Content-Type and the stored
	// end-to-end fields.
	full fasthttp.ResponseHeader
	// notModified is that of a 304: Date, the validators and the fields
	// RFC 9110 §15.4.5 asks for. It is parsed from nm the first time a 304
	// is sent (see notModified): most versions never are, and a cold
	// object's first answer need not pay for a second header parse. It is
	// allocated then too: a header is 376 bytes before its fields, and
	// every version served keeps its rendered header.
	notModified *fasthttp.ResponseHeader
	nmOnce      sync.Once
	nm          []byte
}

// IndexEntryBytes is the heap an object the cache has served once costs
// while its version is in the object index: the version (its header
// fields), its rendered answer header, the index's and the memory tier's
// entries. The daemon's memory plan allows this much per index entry;
// TestHeapPerObject fails if an object costs more. Measured 4.2 KB at
// first, 4.5-4.65 KB since versions carry their Early Hints and a
// 200's Content-Range (the first run in a process, the others less).
const IndexEntryBytes = 5120

// notModified returns r's 304 header fields, parsing them the first time.
func (s *Server) notModified(r *rendered, meta *cache.Meta) *fasthttp.ResponseHeader {
	r.nmOnce.Do(func() {
		h := new(fasthttp.ResponseHeader)
		if err := s.parse(h, r.nm); err != nil {
			s.log.Error("cannot render a 304 header; answering without the origin's fields", "key", meta.Key, "err", err)
		}
		r.notModified, r.nm = h, nil
	})
	return r.notModified
}

// render returns meta's rendered header fields, building them the first
// time.
func (s *Server) render(meta *cache.Meta) *rendered {
	return meta.Memo(func() any { return s.build(meta) }).(*rendered)
}

// build renders meta's answer header fields. Date is the origin's (RFC 9111
// §4: a cache does not change it; Age says how long the cache held the
// answer), or the time the answer was received if the origin sent none.
func (s *Server) build(meta *cache.Meta) *rendered {
	date := meta.FetchedAt
	if v := meta.Header["Date"]; len(v) > 0 {
		if t, err := http.ParseTime(v[0]); err == nil {
			date = t
		}
	}
	field := func(b []byte, name, value string) []byte {
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, value...)
		return append(b, "\r\n"...)
	}
	var common []byte
	common = field(common, "Date", date.UTC().Format(http.TimeFormat))
	if meta.ETag != "" {
		common = field(common, "ETag", meta.ETag)
	}
	if !meta.LastModified.IsZero() {
		common = field(common, "Last-Modified", meta.LastModified.UTC().Format(http.TimeFormat))
	}
	full := append([]byte("HTTP/1.1 200 OK\r\n"), common...)
	full = field(full, "Accept-Ranges", "bytes")
	if meta.ContentType != "" {
		full = field(full, "Content-Type", meta.ContentType)
	}
	nm := append([]byte("HTTP/1.1 304 Not Modified\r\n"), common...)
	for _, f := range meta.Fields() {
		switch f.Name {
		// A Content-Range is an origin's field on a 200, where it frames
		// nothing: sent with the version's 200s; a 206 and a 416 set
		// their own, a multipart answer has none.
		case "Accept-Ranges", "Age", "Cache-Status", "Content-Type", "Date", "Etag", "Last-Modified", "Server",
			"Content-Length", "Transfer-Encoding", "Connection":
			continue // the server's own, or set from the Meta
		case "Cache-Control", "Expires", "Vary", "Content-Location":
			nm = field(nm, f.Name, f.Value)
		}
		full = field(full, f.Name, f.Value)
	}
	r := &rendered{nm: bytes.Clone(append(nm, "\r\n"...))} // its exact length: kept with the version
	if err := s.parse(&r.full, append(full, "\r\n"...)); err != nil {
		s.log.Error("cannot render an answer header; answering without the origin's fields", "key", meta.Key, "err", err)
	}
	return r
}

// parse reads the header block b into h, made from the Server's
// prototype so that the Date in b is the one sent.
func (s *Server) parse(h *fasthttp.ResponseHeader, b []byte) error {
	s.proto.CopyTo(h)
	h.DisableNormalizing()
	if err := h.Read(bufio.NewReaderSize(bytes.NewReader(b), len(b))); err != nil { // all of b at once: no 4 KiB default buffer
		return err
	}
	// The block's status line is not the answer's: each answer sets its
	// status, and its reason phrase must be that status's, not the block's
	// (a 206 went out as "206 OK").
	h.SetProtocol(nil)
	h.SetStatusMessage(nil)
	// The block has no Content-Length (each answer sets its own), which a
	// parsed answer takes to mean "read until the connection closes".
	h.ResetConnectionClose()
	h.SetContentLength(0)
	return nil
}

// setAge sets the Age of an answer from meta at now.
func setAge(h *fasthttp.ResponseHeader, meta *cache.Meta, now time.Time) {
	var buf [20]byte
	h.SetBytesV("Age", strconv.AppendInt(buf[:0], max(int64(meta.Age(now)/time.Second), 0), 10))
}

// headerPrototype returns an empty response header that sends the Date
// field it is given instead of the server's clock. fasthttp manages Date
// itself and has no setter for that: only a server with NoDefaultDate
// hands its handler such a header. So one request is served, in memory, by
// a throwaway server with NoDefaultDate, whose handler copies its response
// header; copies of that (CopyTo) keep the setting.
func headerPrototype(name string) (*fasthttp.ResponseHeader, error) {
	ln := fasthttputil.NewInmemoryListener()
	defer ln.Close()
	proto := &fasthttp.ResponseHeader{}
	fs := &fasthttp.Server{
		Name:                 name,
		NoDefaultDate:        true,
		NoDefaultContentType: true, // an answer without one has none: the origin's, or nothing
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.DisableNormalizing()
			ctx.Response.Header.CopyTo(proto)
		},
	}
	done := make(chan error, 1)
	go func() { done <- fs.Serve(ln) }()
	c, err := ln.Dial()
	if err != nil {
		return nil, fmt.Errorf("header prototype: %w", err)
	}
	defer c.Close()
	if err := readOne(c); err != nil {
		return nil, fmt.Errorf("header prototype: %w", err)
	}
	ln.Close()
	<-done
	return proto, nil
}

// readOne sends one request on c and reads its answer's header.
func readOne(c net.Conn) error {
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: prototype\r\n\r\n")); err != nil {
		return err
	}
	var resp fasthttp.ResponseHeader
	return resp.Read(bufio.NewReader(c))
}
