package cache

import (
	"context"
	"fmt"
	"io"

	"edgecache/origin"
)

// ChunkSize returns the size of the chunks the Store cuts objects into.
func (s *Store) ChunkSize() int64 { return s.chunk }

// Direct returns bytes [off, off+n) of meta's version fetched from the
// Store's Source as one exact range request, bypassing the tiers: nothing is
// stored, no flight is started or joined. It is for bytes a caller needs once
// and that are not worth whole chunks, such as the scattered small parts of a
// multi-range request, whose chunks would cost the origin far more than the
// bytes asked for.
//
// The answer is checked against meta before Direct returns: its offset,
// length and object size must be the ones asked for (else an error wrapping
// origin.ErrInconsistent), and its version must be meta's (else an error
// wrapping ErrVersionChanged: the origin changed the object, and a response
// under way must be aborted rather than mix versions). Origin failures come
// back as the origin package's errors, as from Lookup.
//
// An origin that ignores the Range header (200 with the whole object) or
// answers with another range than asked is not read: its answer is dropped
// and the bytes are read through the cache instead (a Reader, which stores whole chunks as they stream
// past), so such an origin costs a chunk, not the whole object, per call.
//
// The bytes received are counted in Stats.OriginBytes as they are read. The
// caller must close the returned reader; closing it early abandons the fetch.
func (s *Store) Direct(ctx context.Context, meta *Meta, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n <= 0 || off > meta.Size-n {
		return nil, fmt.Errorf("direct range [%d,+%d) outside %s (%d bytes)", off, n, meta.Key, meta.Size)
	}
	resp, err := s.src.Fetch(ctx, meta.path, off, n, meta.fwd)
	if err != nil {
		return nil, err
	}
	if v := versionOf(resp); v != meta.version {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: origin answered version %q, want %q: %w", meta.Key, v, meta.version, ErrVersionChanged)
	}
	if resp.Offset != off || resp.Length != n {
		// The whole object, or another range: go through the chunks.
		resp.Body.Close()
		return s.NewReader(meta, off, n), nil
	}
	if resp.Offset != off || resp.Length != n || resp.Size != meta.Size {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: asked bytes %d-%d/%d, origin answered %d bytes from %d of %d: %w",
			meta.Key, off, off+n-1, meta.Size, resp.Length, resp.Offset, resp.Size, origin.ErrInconsistent)
	}
	return &directBody{s: s, body: resp.Body, left: n}, nil
}

// directBody delivers a Direct answer's bytes, counting them as origin
// bytes, and reports a body that ends early as io.ErrUnexpectedEOF.
type directBody struct {
	s    *Store
	body io.ReadCloser
	left int64
}

// Read implements io.Reader.
func (d *directBody) Read(p []byte) (int, error) {
	if d.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n, err := d.body.Read(p)
	d.left -= int64(n)
	d.s.originBytes.Add(int64(n))
	switch {
	case err == io.EOF && d.left > 0:
		return n, fmt.Errorf("direct fetch: body ended %d bytes short: %w", d.left, io.ErrUnexpectedEOF)
	case err == io.EOF:
		return n, nil // the next Read says io.EOF
	}
	return n, err
}

// Close implements io.Closer.
func (d *directBody) Close() error { return d.body.Close() }
