package disk

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"path/filepath"

	"github.com/dchest/siphash"
)

// seedFileName is the file in a cache dir holding its file-name key.
const seedFileName = "seed"

// seedFileLen is the seed file's size: 32 lowercase hex digits (the 128-bit
// SipHash key, k0 then k1, big-endian) and a newline.
const seedFileLen = 33

// nameHash is the 64-bit hash naming key's chunk files in d: SipHash-2-4
// keyed with d's secret seed, so that nobody who does not know the seed can
// craft keys whose files collide (the newest write would replace the file).
func (d *disk) nameHash(key string) uint64 {
	return siphash.Hash(d.k0, d.k1, []byte(key))
}

// chunkPath returns the path of chunk index of key in d.
func (d *disk) chunkPath(key string, index int64) string {
	return d.chunks + "/" + chunkName(d.nameHash(key), index)
}

// keyHandle is the part of a chunk's handle that depends on its key: a
// keyed hash (hash/maphash) with the store's random seed, made anew at every
// Open (handles are never persisted: the index is rebuilt from keys), so
// that nobody can craft keys whose handles collide (a colliding Put would
// replace the other chunk's index entry).
func (s *Store) keyHandle(key string) uint64 {
	return maphash.String(s.hseed, key)
}

// handleOf returns the handle of chunk index of key.
func (s *Store) handleOf(key string, index int64) uint64 {
	return handle(s.keyHandle(key), index)
}

// readSeed sets d's file-name key from its seed file, or makes a new random
// one and writes the file (atomically) when it is missing or damaged. It
// reports whether the seed is new: the dir's chunk files, if any, were then
// named by an earlier release (or an unreadable seed) and must be migrated
// or dropped by a scan.
func (s *Store) readSeed(d *disk) (fresh bool, err error) {
	name := filepath.Join(d.path, seedFileName)
	f, err := s.fs.Open(name)
	switch {
	case err == nil:
		var b [seedFileLen + 1]byte
		n, rerr := io.ReadFull(f, b[:])
		f.Close()
		if rerr != nil && !truncated(rerr) {
			return false, fmt.Errorf("disk: read seed file %s: %w", name, rerr)
		}
		if k, ok := parseSeed(b[:n]); ok {
			d.k0, d.k1 = binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(k[8:])
			return false, nil
		}
		s.log.Warn("seed file damaged, replaced by a new one: the dir's chunk files will be dropped", "path", name)
	case !notExist(err):
		return false, fmt.Errorf("disk: read seed file %s: %w", name, err)
	}
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return false, fmt.Errorf("disk: make seed for %s: %w", d.path, err)
	}
	b := make([]byte, 0, seedFileLen)
	b = hex.AppendEncode(b, k[:])
	b = append(b, '\n')
	tmp := name + ".tmp"
	if err := writeFileSync(s.fs, tmp, b); err != nil {
		return false, fmt.Errorf("disk: write seed file: %w", err)
	}
	if err := s.fs.Rename(tmp, name); err != nil {
		_ = s.fs.Remove(tmp)
		return false, fmt.Errorf("disk: write seed file: %w", err)
	}
	if err := syncDir(s.fs, d.path); err != nil {
		return false, fmt.Errorf("disk: write seed file: %w", err)
	}
	d.k0, d.k1 = binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(k[8:])
	return true, nil
}

// parseSeed parses a seed file's content.
func parseSeed(b []byte) (k [16]byte, ok bool) {
	if len(b) != seedFileLen || b[seedFileLen-1] != '\n' {
		return k, false
	}
	for _, c := range b[:seedFileLen-1] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return k, false
		}
	}
	_, err := hex.Decode(k[:], b[:seedFileLen-1])
	return k, err == nil
}

// errLegacyName marks a chunk file of a dir without a seed file (written by
// a release that named files by an unseeded FNV-1a hash) that scan renames
// to its seeded name.
var errLegacyName = errors.New("chunk file named by a previous release")
