// Package server is edgecache's HTTP front: the content listener (fasthttp)
// that answers GET and HEAD from the cache.
//
// It owns everything HTTP: methods, request-target normalization into cache
// keys, Range and If-Range (RFC 9110 §14), conditional requests (§13),
// multipart/byteranges, status codes, and the Age and Cache-Status (RFC 9211)
// headers. It knows nothing of files, chunks or upstream URLs: bytes come
// from a cache.Store.
package server
