package origin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The synthetic content is a counter-mode splitmix64 stream: the 8 bytes at
// word index i (object bytes [8i, 8i+8)) are the little-endian encoding of
// splitmix64(seed ^ (i * wordMul)), where seed is the FNV-1a-64 hash of the
// request path. This is byte-for-byte the scheme of the reference origin in
// peers/origin, so bytes fetched from either can be checked against
// FillContent.

const (
	wordMul   = 0xd1b54a32d192ed03
	golden    = 0x9e3779b97f4a7c15
	mixMul1   = 0xbf58476d1ce4e5b9
	mixMul2   = 0x94d049bb133111eb
	maxObject = 1 << 40 // largest size ParseSize accepts (1 TiB)
)

// seedOf returns the FNV-1a-64 hash of path (inlined: no allocation).
func seedOf(path string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(path); i++ {
		h ^= uint64(path[i])
		h *= prime64
	}
	return h
}

// splitmix64 is the splitmix64 finalizer applied to x + golden.
func splitmix64(x uint64) uint64 {
	x += golden
	x = (x ^ (x >> 30)) * mixMul1
	x = (x ^ (x >> 27)) * mixMul2
	return x ^ (x >> 31)
}

// word returns the content word with index i for seed.
func word(seed, i uint64) uint64 { return splitmix64(seed ^ (i * wordMul)) }

// FillContent fills p with the synthetic bytes of the object at path,
// starting at object offset off. It does not know the object size: bytes
// past the end of an object are simply the continuation of the stream.
// off must not be negative.
func FillContent(path string, off int64, p []byte) {
	fill(seedOf(path), off, p)
}

// fill is FillContent with a precomputed seed.
func fill(seed uint64, off int64, p []byte) {
	if off < 0 {
		panic("origin: FillContent with negative offset " + strconv.FormatInt(off, 10))
	}
	if len(p) == 0 {
		return
	}
	wi := uint64(off) >> 3
	if r := off & 7; r != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], word(seed, wi))
		n := copy(p, b[r:])
		p = p[n:]
		wi++
	}
	// Aligned body: four words per iteration lets the CPU overlap the
	// independent multiply chains.
	m := uint64(wordMul)
	k := wi * m
	for len(p) >= 32 {
		q := p[:32:32]
		binary.LittleEndian.PutUint64(q[0:8], splitmix64(seed^k))
		binary.LittleEndian.PutUint64(q[8:16], splitmix64(seed^(k+m)))
		binary.LittleEndian.PutUint64(q[16:24], splitmix64(seed^(k+2*m)))
		binary.LittleEndian.PutUint64(q[24:32], splitmix64(seed^(k+3*m)))
		k += 4 * m
		p = p[32:]
	}
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p[:8], splitmix64(seed^k))
		k += m
		p = p[8:]
	}
	if len(p) > 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], splitmix64(seed^k))
		copy(p, b[:])
	}
}

// SyntheticETag returns the strong ETag (including the double quotes) that
// the synthetic origin sends for the object at path with the given size.
func SyntheticETag(path string, size int64) string {
	return fmt.Sprintf("\"%016x-%x\"", seedOf(path), size)
}

// ParseSize parses an object size as used in /s/<bytes>/<name> paths: a
// non-negative decimal number of bytes, optionally followed by K, M or G
// (binary units, case-insensitive), e.g. "512", "8M", "4g". Sizes above
// 1 TiB are rejected.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	if num != "" {
		switch num[len(num)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		}
		if mult != 1 {
			num = num[:len(num)-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > maxObject/mult {
		return 0, fmt.Errorf("origin: bad size %q", s)
	}
	return n * mult, nil
}

// sizeFor maps a request path to its object size with the given default
// size for /v/ paths; ok is false for paths that are not objects.
func sizeFor(path string, defSize int64) (int64, bool) {
	switch {
	case strings.HasPrefix(path, "/v/"):
		title, seg, ok := strings.Cut(path[len("/v/"):], "/")
		if !ok || title == "" || strings.Contains(seg, "/") || !strings.HasSuffix(seg, ".m4s") {
			return 0, false
		}
		return defSize, true
	case strings.HasPrefix(path, "/s/"):
		sz, name, ok := strings.Cut(path[len("/s/"):], "/")
		if !ok || name == "" {
			return 0, false
		}
		n, err := ParseSize(sz)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// contentReader is an io.ReadSeeker over the synthetic bytes of one object.
type contentReader struct {
	seed uint64
	size int64
	off  int64
}

// NewContentReader returns an io.ReadSeeker over the size synthetic bytes of
// the object at path. It holds no buffer: bytes are generated on Read.
func NewContentReader(path string, size int64) io.ReadSeeker {
	return &contentReader{seed: seedOf(path), size: size}
}

// Read implements io.Reader.
func (r *contentReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if rem := r.size - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	fill(r.seed, r.off, p)
	r.off += int64(len(p))
	return len(p), nil
}

// Seek implements io.Seeker; seeking past the end is allowed (Read then
// returns io.EOF).
func (r *contentReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("origin: seek: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("origin: seek: negative position")
	}
	r.off = abs
	return abs, nil
}
