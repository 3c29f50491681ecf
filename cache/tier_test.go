package cache

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"edgecache/cache/disk"
)

// openDisk opens a one-directory disk store under dir and waits for its index.
func openDisk(t *testing.T, dir string, budget int64) *disk.Store {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "d1"), 0o755); err != nil {
		t.Fatal(err)
	}
	ds, err := disk.Open(disk.Options{
		Dirs:      []disk.Dir{{Path: filepath.Join(dir, "d1"), Size: budget}},
		StateFile: filepath.Join(dir, "disks.state"),
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ds.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("disk index never loaded")
	}
	return ds
}

// fetchToDisk reads each of keys whole through s, checks the bytes against
// the origin's, closes s (which waits for the disk writes) and checks that
// wantWrites chunks were written to disk.
func fetchToDisk(t *testing.T, s *Store, sizes map[string]int64, keys []string, wantWrites int64) {
	t.Helper()
	for _, key := range keys {
		if got := readRange(t, s, key, 0, -1); !bytes.Equal(got, content(key, 0, sizes[key])) {
			t.Fatalf("%s: bytes differ from the origin's", key)
		}
	}
	s.Close()
	if st := s.Stats(); st.DiskWrites != wantWrites {
		t.Fatalf("disk writes %d, want %d", st.DiskWrites, wantWrites)
	}
}

// Chunks fetched through a Store land on disk; a new Store over the
// reopened disk serves them byte-exact without asking the origin, first from
// disk, then (after the second hit) from memory.
func TestDiskTierSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	size := int64(5*testChunk + 777)
	sizes := map[string]int64{"/movie": size, "/small": 100}

	src := newFake(sizes)
	ds := openDisk(t, dir, 64*testChunk)
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	fetchToDisk(t, s, sizes, []string{"/movie", "/small"}, 7) // 6 chunks of /movie, 1 of /small
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}

	dead := newFake(nil)
	dead.fail = func(key string, off int64) error { return errors.New("origin must not be asked") }
	ds = openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	s = mustNew(t, dead, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	defer s.Close()
	for round := 0; round < 2; round++ {
		for _, tc := range []struct {
			key    string
			off, n int64
		}{{"/movie", 0, -1}, {"/movie", testChunk - 10, 20}, {"/movie", size - 5, 5}, {"/small", 0, -1}} {
			n := tc.n
			if n < 0 {
				n = sizes[tc.key] - tc.off
			}
			meta, st, err := s.Lookup(context.Background(), NewKey(tc.key), tc.off, nil)
			if err != nil || st != Hit {
				t.Fatalf("round %d: Lookup(%s): %v, status %v", round, tc.key, err, st)
			}
			r := s.NewReader(meta, tc.off, n)
			var buf bytes.Buffer
			if _, err := r.WriteTo(&buf); err != nil {
				t.Fatalf("round %d: %s: %v", round, tc.key, err)
			}
			r.Close()
			if !bytes.Equal(buf.Bytes(), content(tc.key, tc.off, n)) {
				t.Fatalf("round %d: %s [%d,+%d) differs from the origin's bytes", round, tc.key, tc.off, n)
			}
		}
	}
	if n := dead.calls.Load(); n != 0 {
		t.Fatalf("origin asked %d times after the restart", n)
	}
	st := s.Stats()
	if st.DiskHits == 0 || st.Promotions == 0 {
		t.Fatalf("disk hits %d, promotions %d: want both > 0", st.DiskHits, st.Promotions)
	}
	meta, _, _ := s.Lookup(context.Background(), NewKey("/movie"), 0, nil)
	if inMem, onDisk, total := s.Residency(meta, 0, size); inMem+onDisk != total || inMem == 0 {
		t.Fatalf("residency mem %d disk %d of %d", inMem, onDisk, total)
	}
}

// A chunk damaged on disk is never served: the Store refetches it.
func TestDiskTierCorruptChunkRefetched(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int64{"/c": 3 * testChunk}
	ds := openDisk(t, dir, 64*testChunk)
	s := mustNew(t, newFake(sizes), Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	readRange(t, s, "/c", 0, -1)
	s.Close()
	ds.Close()

	// Flip one payload byte near the end of every chunk file.
	var files []string
	filepath.Walk(filepath.Join(dir, "d1"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && filepath.Base(filepath.Dir(filepath.Dir(p))) == "chunks" {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 3 {
		t.Fatalf("found %d chunk files, want 3", len(files))
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-100] ^= 0xff
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	src := newFake(sizes)
	ds = openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	s = mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	defer s.Close()
	if got := readRange(t, s, "/c", 0, -1); !bytes.Equal(got, content("/c", 0, sizes["/c"])) {
		t.Fatal("served bytes differ from the origin's after corruption")
	}
	// Each corrupt chunk refetched once (consecutive ones may share a span
	// fetch), nothing else.
	if n, b := src.calls.Load(), src.bytes.Load(); n < 1 || n > 3 || b != sizes["/c"] {
		t.Fatalf("origin asked %d times for %d bytes, want 1-3 times for %d (each corrupt chunk refetched)", n, b, sizes["/c"])
	}
}

// faultFS is the OS file system with writes under the cache dir d1 that
// fail with EIO once armed (the state file, outside it, stays writable).
type faultFS struct {
	disk.OSFS
	armed atomic.Bool
}

type faultFile struct {
	disk.File
	fs *faultFS
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (disk.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(name, string(filepath.Separator)+"d1"+string(filepath.Separator)) {
		return file, nil
	}
	return faultFile{file, f}, nil
}

func (f faultFile) Write(p []byte) (int, error) {
	if f.fs.armed.Load() {
		return 0, &os.PathError{Op: "write", Path: "chunk", Err: syscall.EIO}
	}
	return f.File.Write(p)
}

// A disk that starts failing is taken out of service; the Store keeps
// serving every byte correctly from memory and the origin.
func TestDiskTierFaultKeepsServing(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "d1"), 0o755)
	fsys := &faultFS{}
	ds, err := disk.Open(disk.Options{
		Dirs:      []disk.Dir{{Path: filepath.Join(dir, "d1"), Size: 64 * testChunk}},
		StateFile: filepath.Join(dir, "disks.state"),
		FS:        fsys,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	<-ds.Ready()
	sizes := map[string]int64{"/a": 3 * testChunk, "/b": 4*testChunk + 5}
	src := newFake(sizes)
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 2 * testChunk, Disk: ds})
	defer s.Close()
	if got := readRange(t, s, "/a", 0, -1); !bytes.Equal(got, content("/a", 0, sizes["/a"])) {
		t.Fatal("/a differs")
	}
	fsys.armed.Store(true)
	for round := 0; round < 3; round++ {
		for key, size := range sizes {
			if got := readRange(t, s, key, 0, -1); !bytes.Equal(got, content(key, 0, size)) {
				t.Fatalf("round %d: %s differs from the origin's bytes", round, key)
			}
		}
	}
	var out bool
	for i := 0; i < 200 && !out; i++ {
		st := ds.Stats()
		out = len(st.Disks) == 1 && !st.Disks[0].InService
		time.Sleep(10 * time.Millisecond)
	}
	if !out {
		t.Fatal("the failing disk is still in service")
	}
	// The state file is written just after the disk leaves service.
	var state []byte
	for i := 0; i < 200; i++ {
		if state, err = os.ReadFile(filepath.Join(dir, "disks.state")); err == nil && bytes.Contains(state, []byte("d1")) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || !bytes.Contains(state, []byte("d1")) {
		t.Fatalf("state file does not record the disk: %q, %v", state, err)
	}
}

// The CRC-32C a fetch computes as the bytes arrive (flight.sum) is what the
// disk tier writes in each chunk's header: every chunk written from
// fetches, span fetches and a fetch resumed after a broken body reads back
// verified and byte-exact.
func TestDiskChunksSummedByTheFetch(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int64{"/span": 6*testChunk + 123, "/broken": 2 * testChunk}
	src := newFake(sizes)
	src.breakAt = 1000 // the first fetch (of /broken, read first): resumed from there
	ds := openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	fetchToDisk(t, s, sizes, []string{"/broken", "/span"}, 9)
	resumed := false
	for _, l := range src.log {
		resumed = resumed || strings.HasPrefix(l, "/broken 1000 ")
	}
	if !resumed {
		t.Fatalf("no fetch resumed /broken at byte 1000: %v", src.log)
	}
	for key, size := range sizes {
		meta := s.diskObject(key)
		if meta == nil {
			t.Fatalf("%s: not on disk", key)
		}
		for i := int64(0); i*testChunk < size; i++ {
			c, err := ds.Get(disk.ID{Key: key, Index: i}, meta.dver)
			if err != nil {
				t.Fatalf("%s chunk %d: %v", key, i, err)
			}
			dst := make([]byte, c.Len())
			err = c.ReadAllVerified(dst)
			c.Close()
			if err != nil {
				t.Fatalf("%s chunk %d: %v", key, i, err)
			}
			if !bytes.Equal(dst, content(key, i*testChunk, c.Len())) {
				t.Fatalf("%s chunk %d: bytes differ from the origin's", key, i)
			}
		}
	}
	if n := ds.Stats().ChecksumFailures; n != 0 {
		t.Fatalf("checksum failures: %d", n)
	}
}

// A flight sums its chunk as the bytes arrive only where the chunk may go
// to a disk tier: with one and a storable answer, checksum is the payload's
// CRC-32C, read in any number of pieces; without a disk tier, or for an
// answer that may not be stored, it is nil (the disk write computes it, if
// there is one).
func TestFlightChecksum(t *testing.T) {
	ds := openDisk(t, t.TempDir(), 64*testChunk)
	defer ds.Close()
	withDisk := mustNew(t, newFake(nil), Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	defer withDisk.Close()
	memOnly := mustNew(t, newFake(nil), Options{ChunkSize: testChunk, Memory: 16 * testChunk})
	defer memOnly.Close()
	data := content("/sum", 0, testChunk)
	for _, tc := range []struct {
		name    string
		s       *Store
		noStore bool
		want    bool
	}{{"disk tier", withDisk, false, true}, {"no disk tier", memOnly, false, false}, {"no-store answer", withDisk, true, false}} {
		f := newFlight(chunkID{"/sum", 0}, "/sum", nil)
		f.start(tc.s, &Meta{Key: "/sum", Size: testChunk, NoStore: tc.noStore}, testChunk)
		if err := f.fill(iotest.HalfReader(bytes.NewReader(data))); err != nil {
			t.Fatalf("%s: fill: %v", tc.name, err)
		}
		sum := f.checksum()
		switch {
		case !tc.want && sum != nil:
			t.Errorf("%s: a checksum nobody needs was computed", tc.name)
		case tc.want && (sum == nil || *sum != crc32.Checksum(data, castagnoli)):
			t.Errorf("%s: checksum %v, want the payload's CRC-32C %#x", tc.name, sum, crc32.Checksum(data, castagnoli))
		}
		f.drop()
	}
}

// A disk written at another chunk size is never read at this one: chunk 1
// of an object of 128 KiB + 64 KiB cut at 128 KiB is its bytes [128 KiB,
// 192 KiB), 64 KiB long, the very length chunk 1 (bytes [64 KiB, 128 KiB))
// has at 64 KiB. After cache.chunk_size changes, the object is fetched
// again and its new chunks are written and served from disk.
func TestDiskWrittenAtAnotherChunkSize(t *testing.T) {
	dir := t.TempDir()
	size := int64(3 * testChunk)
	sizes := map[string]int64{"/movie": size}

	ds := openDisk(t, dir, 64*testChunk)
	s := mustNew(t, newFake(sizes), Options{ChunkSize: 2 * testChunk, Memory: 16 * testChunk, Disk: ds})
	fetchToDisk(t, s, sizes, []string{"/movie"}, 2)
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}

	for round, fromOrigin := range []bool{true, false} { // at the new size: the origin, then the disk
		src := newFake(sizes)
		ds = openDisk(t, dir, 64*testChunk)
		s = mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
		for _, r := range [][2]int64{{testChunk, testChunk}, {0, size}} {
			if got := readRange(t, s, "/movie", r[0], r[1]); !bytes.Equal(got, content("/movie", r[0], r[1])) {
				t.Fatalf("round %d: [%d,+%d) differs from the origin's bytes", round, r[0], r[1])
			}
		}
		s.Close()
		if n := src.calls.Load(); (n > 0) != fromOrigin {
			t.Fatalf("round %d: origin asked %d times; want it asked: %v", round, n, fromOrigin)
		}
		if err := ds.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A version read back from disk is fetched with the fields it varies on and
// nothing else, whatever a release before kept with it (a private
// request's credentials).
func TestDecodedMetaForwardsOnlyVaryFields(t *testing.T) {
	const chunk = 1 << 20
	for _, tc := range []struct {
		name string
		vary []string
		fwd  http.Header
		want http.Header
	}{
		{"no vary", nil, http.Header{"Authorization": {"Bearer FOO"}, "X-Secret": {"s"}}, nil},
		{"vary", []string{"Accept-Language"}, http.Header{"Accept-Language": {"fr"}, "Authorization": {"Bearer FOO"}},
			http.Header{"Accept-Language": {"fr"}}},
		{"vary on authorization", []string{"Authorization"}, http.Header{"Authorization": {"Bearer FOO"}, "Cookie": {"c"}},
			http.Header{"Authorization": {"Bearer FOO"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Meta{Key: "/k", Size: 10, ETag: `"e"`, path: "/k", vary: tc.vary, fwd: tc.fwd, memo: new(memo)}
			m.version = m.Validator()
			got, err := decodeMeta("/k", diskVersion(m.version, chunk), encodeMeta(m), chunk)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.fwd, tc.want) {
				t.Errorf("fwd %v, want %v", got.fwd, tc.want)
			}
		})
	}
}
