package server

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"edgecache/cache"
)

// leads records the leads a server sends (Server.testLead).
type leads struct {
	mu sync.Mutex
	n  []int64
}

func (l *leads) add(n int64) {
	l.mu.Lock()
	l.n = append(l.n, n)
	l.mu.Unlock()
}

// take returns the leads sent since the last take.
func (l *leads) take() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.n
	l.n = nil
	return n
}

// A body of leadMin bytes or more sends at most leadBytes first, as its
// lead, whichever path its bytes take: a miss streamed from its fetch, a
// hit held in memory (with the header, in one writev), a hit on disk
// (sendfile); a shorter body sends none. Every byte is the origin's.
func TestLead(t *testing.T) {
	const chunk = 64 << 10
	var got leads
	setup := func(s *Server) { s.testLead = got.add }
	check := func(h *harness, name, path, rng string, lo, n int64, want int) {
		t.Helper()
		var hdr []string
		status := http.StatusOK
		if rng != "" {
			hdr, status = []string{"Range", rng}, http.StatusPartialContent
		}
		resp, body := h.do(http.MethodGet, path, hdr...)
		if resp.StatusCode != status || !bytes.Equal(body, originBytes(path, lo, n)) {
			t.Fatalf("%s: status %d, %d bytes (want %d), equal %v", name, resp.StatusCode, len(body), n, bytes.Equal(body, originBytes(path, lo, n)))
		}
		l := got.take()
		if len(l) != want {
			t.Fatalf("%s (Cache-Status %q): leads %v, want %d", name, resp.Header.Get("Cache-Status"), l, want)
		}
		for _, k := range l {
			if k <= 0 || k > leadBytes {
				t.Fatalf("%s: a lead of %d bytes, want 1..%d", name, k, leadBytes)
			}
		}
	}

	// Memory: a miss, then hits.
	h := newHarness(t, harnessOptions{chunk: chunk, mem: 16 << 20, setup: setup})
	const size = 2228224 // 34 chunks
	const path = "/s/2228224/lead"
	check(h, "miss", path, "", 0, size, 1)
	h.waitHeld(path)
	check(h, "memory hit", path, "", 0, size, 1)
	check(h, "memory hit, range of leadMin", path, fmt.Sprintf("bytes=%d-", size-leadMin), size-leadMin, leadMin, 1)
	check(h, "memory hit, shorter range", path, fmt.Sprintf("bytes=%d-", size-leadMin+1), size-leadMin+1, leadMin-1, 0)

	// Disk: a range that starts in a chunk memory does not hold.
	ds := openTestDisk(t)
	h = newHarness(t, harnessOptions{chunk: chunk, mem: 4 * chunk, cache: cache.Options{Disk: ds}, setup: setup})
	const dpath = "/s/4194304/lead-disk" // 64 chunks
	h.do(http.MethodGet, dpath)
	got.take()
	for i := 0; ds.Stats().Disks[0].Chunks < 64; i++ {
		if i > 2000 {
			t.Fatalf("%d chunks on disk, want 64", ds.Stats().Disks[0].Chunks)
		}
		time.Sleep(5 * time.Millisecond)
	}
	meta, _, err := h.store.Lookup(t.Context(), cache.NewKey(dpath), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 16; i++ {
		if held, _, _ := h.store.Residency(meta, i*chunk, 1); held == 0 {
			lo := i * chunk
			check(h, "disk hit", dpath, fmt.Sprintf("bytes=%d-", lo), lo, 4194304-lo, 1)
			return
		}
	}
	t.Fatal("memory holds each of the first 16 chunks: no range starts on disk")
}
