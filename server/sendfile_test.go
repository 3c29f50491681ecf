package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
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
	dir := t.TempDir()
	ds, err := disk.Open(disk.Options{
		Dirs:      []disk.Dir{{Path: dir, Size: 64 << 20}},
		StateFile: filepath.Join(t.TempDir(), "disks.state"),
		ScrubRate: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	<-ds.Ready()
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
