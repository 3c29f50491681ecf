package disk

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Snapshot file names in a cache dir.
const (
	snapName     = "index.snap"      // written by Close
	snapLoadName = "index.snap.load" // index.snap renamed by Open, deleted after loading
	snapTmpName  = "index.snap.tmp"  // being written by Close
)

// Snapshot layout (integers little-endian; uvarint/varint as encoding/binary):
//
//	magic "ECSNAP01", u32 format version (2; 1 is read too), u32 flags (0)
//	u64 object count, u64 entry count
//	objects: uvarint len + key, uvarint len + version, uvarint len + meta, varint written
//	entries, oldest last use first:
//	  uvarint object number, uvarint chunk index,
//	  uvarint version tag (0: the object's version; else length+1, then the bytes),
//	  uvarint payload length, uvarint header length, varint written,
//	  uvarint last use minus the previous entry's last use (the first: itself),
//	  varint rank generation (0: unranked; version 2 only),
//	  uvarint rank (only when the generation is not 0)
//	u32 CRC-32C of every byte before it
const (
	snapMagic   = "ECSNAP01"
	snapVersion = 2
	snapV1      = 1 // before ranks: entries end with their last use
	snapFixed   = 8 + 4 + 4 + 8 + 8
)

// objRec is an object as loaded from a snapshot or a scan.
type objRec struct {
	key     string
	version string
	meta    []byte
	written int64
}

// rec is an entry as loaded from a snapshot or a scan.
type rec struct {
	obj     int32 // index in loadResult.objs
	hlen    int32
	index   int64
	version string
	plen    int64
	written int64
	lastUse int64
	gen     int64 // Rank.Gen; 0 unranked
	rank    int32
}

// loadResult is one disk's loaded index, entries in the order they are to be
// offered to the policy (least recently used first).
type loadResult struct {
	objs []objRec
	recs []rec
}

// sumWriter passes writes to w and keeps their CRC-32C.
type sumWriter struct {
	w   io.Writer
	crc uint32
}

func (s *sumWriter) Write(p []byte) (int, error) {
	s.crc = crc32.Update(s.crc, castagnoli, p)
	return s.w.Write(p)
}

// snapWriter encodes snapshot fields into a buffered writer, remembering the
// first error.
type snapWriter struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (c *snapWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

func (c *snapWriter) str(s string) {
	c.uvarint(uint64(len(s)))
	if c.err == nil {
		_, c.err = c.w.WriteString(s)
	}
}

func (c *snapWriter) uvarint(v uint64) { c.write(binary.AppendUvarint(c.buf[:0], v)) }
func (c *snapWriter) varint(v int64)   { c.write(binary.AppendVarint(c.buf[:0], v)) }

// writeSnapshot writes the index snapshot of d if d is in service and fully
// loaded. It runs at Close, after every other operation has stopped.
func (s *Store) writeSnapshot(d *disk) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !d.inService || !d.loaded {
		return nil
	}
	var ents []*entry
	for _, e := range s.idx {
		if int(e.disk) == d.i && e.state == stateLive {
			ents = append(ents, e)
		}
	}
	slices.SortFunc(ents, func(a, b *entry) int {
		switch {
		case a.lastUse < b.lastUse:
			return -1
		case a.lastUse > b.lastUse:
			return 1
		}
		return 0
	})
	num := make(map[*object]uint64)
	var objs []*object
	for _, e := range ents {
		if _, ok := num[e.obj]; !ok {
			num[e.obj] = uint64(len(objs))
			objs = append(objs, e.obj)
		}
	}

	tmp := filepath.Join(d.path, snapTmpName)
	f, err := s.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("disk: write snapshot: %w", err)
	}
	sum := &sumWriter{w: f}
	w := &snapWriter{w: bufio.NewWriterSize(sum, 1<<20)}
	var fixed [snapFixed]byte
	copy(fixed[:], snapMagic)
	binary.LittleEndian.PutUint32(fixed[8:], snapVersion)
	binary.LittleEndian.PutUint64(fixed[16:], uint64(len(objs)))
	binary.LittleEndian.PutUint64(fixed[24:], uint64(len(ents)))
	w.write(fixed[:])
	for _, o := range objs {
		w.str(o.key)
		w.str(o.version)
		w.uvarint(uint64(len(o.meta)))
		w.write(o.meta)
		w.varint(o.written)
	}
	var prev int64
	for _, e := range ents {
		w.uvarint(num[e.obj])
		w.uvarint(uint64(e.index))
		if e.version == e.obj.version {
			w.uvarint(0)
		} else {
			w.uvarint(uint64(len(e.version)) + 1)
			if w.err == nil {
				_, w.err = w.w.WriteString(e.version)
			}
		}
		w.uvarint(uint64(e.plen))
		w.uvarint(uint64(e.hlen))
		w.varint(e.written)
		w.uvarint(uint64(e.lastUse - prev))
		prev = e.lastUse
		w.varint(e.gen)
		if e.gen != 0 {
			w.uvarint(uint64(e.rank))
		}
	}
	err = w.err
	if err == nil {
		err = w.w.Flush()
	}
	if err == nil {
		_, err = f.Write(binary.LittleEndian.AppendUint32(nil, sum.crc))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, filepath.Join(d.path, snapName))
	}
	if err == nil {
		err = syncDir(s.fs, d.path)
	}
	if err != nil {
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("disk: write snapshot %s: %w", tmp, err)
	}
	s.log.Info("index snapshot written", "path", d.path, "chunks", len(ents))
	return nil
}

// readSnapshot reads and decodes the snapshot at name.
func (s *Store) readSnapshot(name string) (*loadResult, error) {
	f, fi, err := openRead(s.fs, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		if truncated(err) {
			return nil, fmt.Errorf("disk: snapshot %s: %w: shorter than its size", name, errCorrupt)
		}
		return nil, fmt.Errorf("disk: read snapshot %s: %w", name, err)
	}
	lr, err := decodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("disk: snapshot %s: %w", name, err)
	}
	return lr, nil
}

// snapReader decodes snapshot fields, remembering the first error.
type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: snapshot truncated or malformed", errCorrupt)
	}
	r.b = nil
}

func (r *snapReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) bytes(max int) []byte {
	n := r.uvarint()
	if n > uint64(max) || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// decodeSnapshot decodes a snapshot file's content.
func decodeSnapshot(b []byte) (*loadResult, error) {
	if len(b) < snapFixed+4 || string(b[:8]) != snapMagic {
		return nil, fmt.Errorf("%w: not a snapshot", errCorrupt)
	}
	le := binary.LittleEndian
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), le.Uint32(b[len(b)-4:]); got != want {
		return nil, fmt.Errorf("%w: snapshot checksum %08x, want %08x", errCorrupt, got, want)
	}
	return decodeSnapshotBody(body)
}

// decodeSnapshotBody decodes a snapshot whose checksum was verified (body is
// the file without its trailing CRC). It never trusts the counts: a crafted
// body cannot make it panic or allocate more than a few times its size.
func decodeSnapshotBody(body []byte) (*loadResult, error) {
	le := binary.LittleEndian
	if len(body) < snapFixed || string(body[:8]) != snapMagic {
		return nil, fmt.Errorf("%w: not a snapshot", errCorrupt)
	}
	v := le.Uint32(body[8:])
	if v != snapVersion && v != snapV1 {
		return nil, fmt.Errorf("%w: snapshot format version %d", errCorrupt, v)
	}
	nobj, nent := le.Uint64(body[16:]), le.Uint64(body[24:])
	// Each object takes at least 4 bytes and each entry at least 7.
	if nobj > uint64(len(body))/4 || nent > uint64(len(body))/7 || nobj > 1<<31 {
		return nil, fmt.Errorf("%w: snapshot counts %d/%d do not fit its size", errCorrupt, nobj, nent)
	}
	r := &snapReader{b: body[snapFixed:]}
	lr := &loadResult{objs: make([]objRec, nobj), recs: make([]rec, nent)}
	for i := range lr.objs {
		o := &lr.objs[i]
		key := r.bytes(MaxKeyLen)
		if len(key) == 0 {
			r.fail()
		}
		o.key = string(key)
		o.version = string(r.bytes(MaxVersionLen))
		if m := r.bytes(MaxMetaLen); len(m) > 0 {
			o.meta = append([]byte(nil), m...)
		}
		o.written = r.varint()
		if r.err != nil {
			return nil, r.err
		}
	}
	var last int64
	for i := range lr.recs {
		e := &lr.recs[i]
		on := r.uvarint()
		if on >= nobj {
			r.fail()
			return nil, r.err
		}
		e.obj = int32(on)
		idx := r.uvarint()
		if tag := r.uvarint(); tag == 0 {
			e.version = lr.objs[on].version
		} else if tag-1 <= MaxVersionLen && tag-1 <= uint64(len(r.b)) {
			e.version = string(r.b[:tag-1])
			r.b = r.b[tag-1:]
		} else {
			r.fail()
		}
		plen, hlen := r.uvarint(), r.uvarint()
		e.written = r.varint()
		last += int64(r.uvarint())
		e.lastUse = last
		if v != snapV1 {
			if e.gen = r.varint(); e.gen != 0 {
				rank := r.uvarint()
				if e.gen < 0 || rank > MaxRank {
					r.fail()
				}
				e.rank = int32(rank)
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		if idx > 1<<62 || plen > 1<<62 || hlen < minHeader || hlen > maxHeader {
			return nil, fmt.Errorf("%w: snapshot entry %d out of range", errCorrupt, i)
		}
		e.index, e.plen, e.hlen = int64(idx), int64(plen), int32(hlen)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes in snapshot", errCorrupt, len(r.b))
	}
	return lr, nil
}
