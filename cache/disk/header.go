package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Chunk file header layout (all integers little-endian):
//
//	off  size  field
//	  0     8  magic "ECCHUNK1"
//	  8     2  format version (1)
//	 10     2  flags (0, or flagRanked)
//	 12     4  header length in bytes, this table through the trailing CRC
//	 16     8  chunk index (>= 0)
//	 24     8  payload length (>= 0)
//	 32     8  written: Unix nanoseconds when the chunk was stored
//	 40     4  CRC-32C (Castagnoli) of the payload
//	 44     4  key length K (1..64 KiB)
//	 48     4  version length V (0..4 KiB)
//	 52     4  meta length M (0..64 KiB)
//	 56     K  key
//	      V  version (the object's validator)
//	      M  meta (opaque bytes of the caller)
//	      8  with flagRanked only: rank generation (> 0)
//	      4  with flagRanked only: rank (>= 0)
//	      4  CRC-32C of every header byte before it
//
// A chunk stored by PutRanked has flagRanked set and its Rank after the
// meta; a plain Put writes flags 0 and no rank fields, byte for byte the
// format of releases before ranks (which refuse a ranked file as damaged).
// The payload follows the header immediately.
const (
	headerMagic   = "ECCHUNK1"
	formatVersion = 1
	fixedHeader   = 56
	minHeader     = fixedHeader + 1 + 4 // one key byte and the header CRC

	// MaxKeyLen, MaxVersionLen and MaxMetaLen bound what Put accepts.
	MaxKeyLen     = 64 << 10
	MaxVersionLen = 4 << 10
	MaxMetaLen    = 64 << 10

	maxHeader = fixedHeader + MaxKeyLen + MaxVersionLen + MaxMetaLen + rankFields + 4

	flagRanked = 1  // the header holds a Rank
	rankFields = 12 // bytes of a Rank in a header
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a chunk file whose content is not a valid chunk (bad
// magic, bad checksum, wrong length, truncated). Such a file is deleted; it
// does not take its disk out of service.
var errCorrupt = errors.New("corrupt chunk file")

// errNotRegular is the error of a file the store would read that is not a
// regular file (a directory, a FIFO, a device someone left in a cache
// dir): damaged, not a fault of the disk.
var errNotRegular = fmt.Errorf("%w: not a regular file", errCorrupt)

// header is a decoded chunk header. key, version and meta alias the buffer
// it was decoded from.
type header struct {
	key     []byte
	version []byte
	meta    []byte
	index   int64
	plen    int64
	written int64
	crc     uint32 // of the payload
	hlen    int    // total header length
	rank    Rank   // zero when unranked
}

// headerLen returns the encoded length of a header with these field lengths.
func headerLen(klen, vlen, mlen int) int { return fixedHeader + klen + vlen + mlen + 4 }

// appendHeader appends the encoded header of an unranked chunk to dst.
func appendHeader(dst []byte, key, version string, meta []byte, index, plen, written int64, crc uint32) []byte {
	return appendRankedHeader(dst, key, version, meta, index, plen, written, crc, Rank{})
}

// appendRankedHeader appends the encoded header to dst, with rank unless it
// is the zero Rank.
func appendRankedHeader(dst []byte, key, version string, meta []byte, index, plen, written int64, crc uint32, rank Rank) []byte {
	n := headerLen(len(key), len(version), len(meta))
	flags := uint16(0)
	if rank.Ranked() {
		n += rankFields
		flags = flagRanked
	}
	start := len(dst)
	dst = append(dst, headerMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, formatVersion)
	dst = binary.LittleEndian.AppendUint16(dst, flags)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(index))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(plen))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(written))
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(key)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(version)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(meta)))
	dst = append(dst, key...)
	dst = append(dst, version...)
	dst = append(dst, meta...)
	if rank.Ranked() {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(rank.Gen))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(rank.Rank))
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// headerSize checks the fixed prefix of a header (at least 16 bytes of b)
// and returns the total header length it announces.
func headerSize(b []byte) (int, error) {
	if len(b) < 16 {
		return 0, fmt.Errorf("%w: %d bytes, shorter than a header", errCorrupt, len(b))
	}
	if string(b[:8]) != headerMagic {
		return 0, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != formatVersion {
		return 0, fmt.Errorf("%w: unknown format version %d", errCorrupt, v)
	}
	if f := binary.LittleEndian.Uint16(b[10:]); f&^flagRanked != 0 {
		return 0, fmt.Errorf("%w: unknown flags %#x", errCorrupt, f)
	}
	n := binary.LittleEndian.Uint32(b[12:])
	if n < minHeader || n > maxHeader {
		return 0, fmt.Errorf("%w: header length %d out of range", errCorrupt, n)
	}
	return int(n), nil
}

// decodeHeader decodes and verifies the header at the start of b, which must
// hold all of it (see headerSize). It never accepts a header whose CRC does
// not match.
func decodeHeader(b []byte) (header, error) {
	n, err := headerSize(b)
	if err != nil {
		return header{}, err
	}
	if len(b) < n {
		return header{}, fmt.Errorf("%w: header of %d bytes truncated to %d", errCorrupt, n, len(b))
	}
	b = b[:n]
	le := binary.LittleEndian
	if got, want := crc32.Checksum(b[:n-4], castagnoli), le.Uint32(b[n-4:]); got != want {
		return header{}, fmt.Errorf("%w: header checksum %08x, want %08x", errCorrupt, got, want)
	}
	h := header{
		index:   int64(le.Uint64(b[16:])),
		plen:    int64(le.Uint64(b[24:])),
		written: int64(le.Uint64(b[32:])),
		crc:     le.Uint32(b[40:]),
		hlen:    n,
	}
	klen, vlen, mlen := int64(le.Uint32(b[44:])), int64(le.Uint32(b[48:])), int64(le.Uint32(b[52:]))
	var rlen int64
	if le.Uint16(b[10:])&flagRanked != 0 {
		rlen = rankFields
	}
	switch {
	case klen < 1 || klen > MaxKeyLen || vlen > MaxVersionLen || mlen > MaxMetaLen:
		return header{}, fmt.Errorf("%w: field lengths %d/%d/%d out of range", errCorrupt, klen, vlen, mlen)
	case fixedHeader+klen+vlen+mlen+rlen+4 != int64(n):
		return header{}, fmt.Errorf("%w: field lengths do not add up to the header length", errCorrupt)
	case h.index < 0 || h.plen < 0:
		return header{}, fmt.Errorf("%w: negative index or payload length", errCorrupt)
	}
	p := int64(fixedHeader)
	h.key = b[p : p+klen : p+klen]
	p += klen
	h.version = b[p : p+vlen : p+vlen]
	p += vlen
	h.meta = b[p : p+mlen : p+mlen]
	p += mlen
	if rlen > 0 {
		h.rank = Rank{Gen: int64(le.Uint64(b[p:])), Rank: int(le.Uint32(b[p+8:]))}
		if !h.rank.Ranked() || h.rank.Rank > MaxRank {
			return header{}, fmt.Errorf("%w: rank %+v out of range", errCorrupt, h.rank)
		}
	}
	return h, nil
}
