package disk

import (
	"math"
	"strconv"
)

// keyHash is the 64-bit FNV-1a hash of a key, unseeded: the input of
// placement (placeHash), and the file names of releases before seed files
// (which the scan renames).
func keyHash(key string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime
	}
	return h
}

// mix64 is the SplitMix64 finalizer: a bijection on uint64 with good
// avalanche, so that nearby inputs give unrelated outputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// handle mixes the hash kh of a key with a chunk index. With a keyed kh
// (Store.keyHandle) it is a chunk's 64-bit identity: the index key (one
// entry per handle, the newest write wins) and the policy key; with keyHash
// it is the placement hash.
func handle(kh uint64, index int64) uint64 {
	return mix64(kh + uint64(index)*0x9e3779b97f4a7c15)
}

// score is the weighted rendezvous (highest random weight) score of chunk h
// on a disk with seed and weight: weight / -ln(u) with u uniform in (0,1)
// from (h, seed). The disk with the highest score holds the chunk. A disk's
// expected share is proportional to its weight, and removing a disk moves
// only the chunks it held, each to the disk with the next highest score.
func score(h, seed uint64, weight float64) float64 {
	u := (float64(mix64(h^seed)>>11) + 0.5) / (1 << 53)
	return weight / -math.Log(u)
}

// place returns the disk among ds with the highest score for h, or nil when
// ds is empty.
func place(h uint64, ds []*disk) *disk {
	var best *disk
	bestScore := -1.0
	for _, d := range ds {
		if s := score(h, d.seed, d.weight); s > bestScore {
			best, bestScore = d, s
		}
	}
	return best
}

// chunkName returns the file name of chunk index of the key with hash kh,
// relative to a disk's chunks directory: "<2 hex>/<16 hex>-<index>", the
// two-digit directory being the first two digits of the hash.
func chunkName(kh uint64, index int64) string {
	const digits = "0123456789abcdef"
	var b [3 + 16 + 1 + 20]byte
	for i := 0; i < 16; i++ {
		b[3+i] = digits[kh>>(60-4*uint(i))&0xf]
	}
	b[0], b[1], b[2] = b[3], b[4], '/'
	b[19] = '-'
	return string(strconv.AppendInt(b[:20], index, 10))
}

// parseChunkName parses the base name "<16 hex>-<index>" of a chunk file,
// as chunkName writes it (lower-case digits, the index without leading
// zeros): another spelling of the same chunk is not the file a read opens.
func parseChunkName(name string) (kh uint64, index int64, ok bool) {
	if len(name) < 18 || name[16] != '-' {
		return 0, 0, false
	}
	for _, c := range []byte(name[:16]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return 0, 0, false
		}
	}
	kh, err := strconv.ParseUint(name[:16], 16, 64)
	if err != nil {
		return 0, 0, false
	}
	index, err = strconv.ParseInt(name[17:], 10, 64)
	if err != nil || index < 0 || strconv.FormatInt(index, 10) != name[17:] {
		return 0, 0, false
	}
	return kh, index, true
}

// placeHash is the input of a chunk's placement: a fixed (unseeded) hash of
// its key and index, so that a chunk goes to the same disk across restarts.
func placeHash(key string, index int64) uint64 {
	return handle(keyHash(key), index)
}
