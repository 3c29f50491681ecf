package server

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/origin"
)

// Many clients read ranges at different offsets of the same chunks from
// the disk tier at once, over real TCP: the chunks' files are shared (the
// disk store's fd cache) and sent with sendfile(2) from explicit offsets,
// so no reader moves another's offset, and every byte is the origin's.
func TestSendfileSharedFileConcurrent(t *testing.T) {
	const (
		chunk = 64 << 10
		size  = 16 * chunk
		path  = "/s/1M/shared.bin"
	)
	ds := openTestDisk(t)
	// A memory tier of two chunks: nearly every chunk is served from disk.
	h := newHarness(t, harnessOptions{chunk: chunk, mem: 2 * chunk, cache: cache.Options{Disk: ds}})
	get := func(c *http.Client, rng string) ([]byte, int, error) {
		req := h.request("GET", path)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.StatusCode, err
	}
	want := make([]byte, size)
	origin.FillContent(path, 0, want)
	if b, code, err := get(h.client, ""); err != nil || code != 200 || !bytes.Equal(b, want) {
		t.Fatalf("first GET: %d, %v, equal %v", code, err, bytes.Equal(b, want))
	}
	for i := 0; ds.Stats().Disks[0].Chunks < size/chunk; i++ {
		if i > 2000 {
			t.Fatalf("%d chunks on disk, want %d", ds.Stats().Disks[0].Chunks, size/chunk)
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := ds.Stats().OpenFileHits

	const clients, rounds = 12, 24
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			defer c.CloseIdleConnections()
			for i := range rounds {
				// Windows of 1 to 100 KiB at offsets spread over the
				// object: some inside one chunk, some across two.
				off := int64((g*7919 + i*104729) % (size - 1))
				n := min(int64(1+(g*31+i*17)%100)<<10, size-off)
				rng := fmt.Sprintf("bytes=%d-%d", off, off+n-1)
				if i%5 == 0 {
					off, n, rng = 0, size, ""
				}
				b, code, err := get(c, rng)
				if err != nil {
					errs <- fmt.Errorf("%q: %w", rng, err)
					return
				}
				if (rng == "" && code != 200) || (rng != "" && code != 206) || !bytes.Equal(b, want[off:off+n]) {
					errs <- fmt.Errorf("%q: status %d, %d bytes, equal to the origin's %v", rng, code, len(b), bytes.Equal(b, want[off:off+n]))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, cs := ds.Stats(), h.store.Stats()
	if st.OpenFileHits == before || cs.DiskHits == 0 {
		t.Fatalf("open file hits %d (before %d), disk hits %d: the disk tier's shared files were not used", st.OpenFileHits, before, cs.DiskHits)
	}
	if st.Corrupt != 0 || st.ChecksumFailures != 0 || st.IOErrors != 0 {
		t.Fatalf("disk store: %+v", st)
	}
	t.Logf("open file hits %d, disk hits %d, open files %d", st.OpenFileHits-before, cs.DiskHits, st.OpenFiles)
}

// openTestDisk opens a disk tier of 64 MiB in a temporary directory, its
// index loaded, closed when the test ends.
func openTestDisk(t *testing.T) *disk.Store {
	t.Helper()
	ds, _, _ := openTestDisksAt(t, 1, nil, "", nil)
	return ds
}

// testSection is a fileSection over an *os.File.
type testSection struct {
	f        *os.File
	pos, end int64
}

func (s *testSection) Read(p []byte) (int, error) {
	if s.pos >= s.end {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.end-s.pos)]
	n, err := s.f.ReadAt(p, s.pos)
	s.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (s *testSection) SendfileSection() (uintptr, int64, int64) {
	return s.f.Fd(), s.pos, s.end - s.pos
}
func (s *testSection) Sent(n int64) { s.pos += n }

// clientConn.ReadFrom sends a file section from its own offset (the file's
// offset is neither used nor moved), within an io.LimitedReader's bound,
// and stops short without an error where the file ends early.
func TestClientConnSendfile(t *testing.T) {
	data := make([]byte, 3<<20)
	origin.FillContent("/sendfile", 0, data)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ll := listener{Listener: ln, sendBuffer: 64 << 10}
	for _, tc := range []struct {
		name     string
		off, n   int64
		limit    int64 // io.LimitedReader bound; 0: none
		want     int64 // bytes sent
		fallback bool  // a plain reader: the TCPConn's ReadFrom
	}{
		{"middle", 1000, 2 << 20, 0, 2 << 20, false},
		{"limited", 5, 1 << 20, 70_000, 70_000, false},
		{"file ends early", 3<<20 - 100_000, 1 << 20, 0, 100_000, false},
		{"past the end", 4 << 20, 10, 0, 0, false},
		{"not a section", 0, 200_000, 0, 200_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan []byte, 1)
			go func() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					got <- nil
					return
				}
				defer c.Close()
				b, _ := io.ReadAll(c)
				got <- b
			}()
			c, err := ll.Accept()
			if err != nil {
				t.Fatal(err)
			}
			cc, ok := c.(*clientConn)
			if !ok {
				t.Fatalf("accepted a %T", c)
			}
			var r io.Reader = &testSection{f: f, pos: tc.off, end: tc.off + tc.n}
			if tc.fallback {
				r = io.NewSectionReader(f, tc.off, tc.n)
			}
			if tc.limit > 0 {
				r = &io.LimitedReader{R: r, N: tc.limit}
			}
			n, err := cc.ReadFrom(r)
			cc.Close()
			if err != nil || n != tc.want {
				t.Fatalf("ReadFrom: %d bytes, %v; want %d", n, err, tc.want)
			}
			b := <-got
			if start := min(tc.off, int64(len(data))); !bytes.Equal(b, data[start:start+tc.want]) {
				t.Fatalf("the peer got %d bytes, equal to the file's: false", len(b))
			}
			if lr, ok := r.(*io.LimitedReader); ok && lr.N != tc.limit-tc.want {
				t.Fatalf("LimitedReader.N = %d, want %d", lr.N, tc.limit-tc.want)
			}
			if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
				t.Fatalf("the file's offset moved to %d (%v)", pos, err)
			}
		})
	}
}

// Parts of memory chunks read often that the body's WriteTo sends (the
// parts of a multipart answer; a single range goes out with its header,
// copied: TestHeldWritev) go out with sendfile(2) from the arena's memory
// file (cache.Reader.memorySection), from any offset in a chunk, across
// chunk boundaries and to concurrent clients: every byte is the origin's.
func TestMemorySendfileRanges(t *testing.T) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/shmem_enabled"); err == nil && bytes.Contains(b, []byte("[force]")) {
		t.Skip("shmem huge pages forced: the arena is anonymous and memory hits are copied")
	}
	h := newHarness(t, harnessOptions{chunk: 64 << 10, mem: 4 << 20})
	const path, size = "/s/262144/memsend", 262144
	resp, err := h.client.Get(h.base + path)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h.waitHeld(path)
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 7))
			for range 60 {
				n := 33<<10 + rnd.Int64N(60<<10)
				lo := rnd.Int64N(size/2 - n)
				lo2 := size/2 + rnd.Int64N(size/2-n)
				req := h.request(http.MethodGet, path)
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d,%d-%d", lo, lo+n-1, lo2, lo2+n-1))
				resp, err := h.client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusPartialContent {
					errs <- fmt.Errorf("bytes %d-%d,%d-%d: status %d, err %v", lo, lo+n-1, lo2, lo2+n-1, resp.StatusCode, err)
					return
				}
				if got, err := partsOf(resp, body, path, size); err != nil || len(got) != 2 {
					errs <- fmt.Errorf("bytes %d-%d,%d-%d: %d parts, %v", lo, lo+n-1, lo2, lo2+n-1, len(got), err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if st := h.store.Stats(); st.ArenaSentBytes == 0 {
		t.Fatalf("no memory chunk bytes were sent with sendfile: %+v", st)
	} else {
		t.Logf("sent with sendfile: %d bytes", st.ArenaSentBytes)
	}
}
