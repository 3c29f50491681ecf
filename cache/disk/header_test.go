package disk

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		key, version string
		meta         []byte
		index, plen  int64
	}{
		{"/k", "", nil, 0, 0},
		{"/v/title/seg-1.m4s?q=1", `"etag-123"`, []byte(`{"size":123}`), 7, 1 << 20},
		{string(make([]byte, MaxKeyLen)), string(make([]byte, MaxVersionLen)), make([]byte, MaxMetaLen), 1 << 40, 1 << 50},
	} {
		b := appendHeader([]byte("prefix"), tc.key, tc.version, tc.meta, tc.index, tc.plen, 42, 0xdeadbeef)[6:]
		if len(b) != headerLen(len(tc.key), len(tc.version), len(tc.meta)) {
			t.Fatalf("encoded %d bytes, headerLen says %d", len(b), headerLen(len(tc.key), len(tc.version), len(tc.meta)))
		}
		n, err := headerSize(b[:16])
		if err != nil || n != len(b) {
			t.Fatalf("headerSize = %d, %v", n, err)
		}
		h, err := decodeHeader(append(b, "payload"...))
		if err != nil {
			t.Fatal(err)
		}
		if string(h.key) != tc.key || string(h.version) != tc.version || !bytes.Equal(h.meta, tc.meta) ||
			h.index != tc.index || h.plen != tc.plen || h.written != 42 || h.crc != 0xdeadbeef || h.hlen != len(b) {
			t.Fatalf("decoded %+v", h)
		}
		// Any single flipped bit is rejected.
		for i := 0; i < len(b); i += 1 + len(b)/200 {
			c := bytes.Clone(b)
			c[i] ^= 1
			if _, err := decodeHeader(c); err == nil {
				t.Fatalf("header with byte %d flipped accepted", i)
			}
		}
		if _, err := decodeHeader(b[:len(b)-1]); err == nil {
			t.Fatal("truncated header accepted")
		}
	}
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(appendHeader(nil, "/k", "v", []byte("m"), 1, 2, 3, 4))
	f.Add(appendHeader(nil, "/video/seg.m4s", "", nil, 0, 1<<20, 0, 0))
	f.Add([]byte(headerMagic))
	f.Add(make([]byte, 100))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			return
		}
		n := h.hlen
		if n > len(b) || n < minHeader {
			t.Fatalf("accepted header length %d of %d bytes", n, len(b))
		}
		if crc32.Checksum(b[:n-4], castagnoli) != binary.LittleEndian.Uint32(b[n-4:]) {
			t.Fatal("accepted a header whose checksum does not match")
		}
		if re := appendHeader(nil, string(h.key), string(h.version), h.meta, h.index, h.plen, h.written, h.crc); !bytes.Equal(re, b[:n]) {
			t.Fatal("re-encoding the decoded header gives other bytes")
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	dirs, state := mkdirs(f, 1, 1<<20)
	log, _ := newLog(f)
	s, err := Open(Options{Dirs: dirs, StateFile: state, Logger: log})
	if err != nil {
		f.Fatal(err)
	}
	<-s.Ready()
	for i := 0; i < 5; i++ {
		s.Put(ID{Key: "/k", Index: int64(i)}, "v", []byte("meta"), []byte("payload"))
	}
	s.Put(ID{Key: "/k2", Index: 3}, "v2", nil, nil)
	s.Close()
	snap, err := os.ReadFile(filepath.Join(dirs[0].Path, snapName))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := decodeSnapshot(snap); err != nil {
		f.Fatal(err)
	}
	f.Add(snap[:len(snap)-4])
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		lr, err := decodeSnapshotBody(b)
		if err != nil {
			return
		}
		for _, r := range lr.recs {
			if int(r.obj) >= len(lr.objs) || r.index < 0 || r.plen < 0 || r.hlen < minHeader {
				t.Fatalf("bad record accepted: %+v", r)
			}
		}
	})
}
