package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgecache/cache"
)

// A memory hit goes out with its header in one writev(2) per run of chunks
// held in memory (safeBody.WriteTo, clientConn.hold): every byte is the
// origin's, for ranges inside a chunk, across chunk boundaries, past the
// chunks a Reader pins, and for answers pipelined behind one another.
func TestHeldWritev(t *testing.T) {
	h := newHarness(t, harnessOptions{chunk: 64 << 10, mem: 16 << 20})
	const path, size = "/s/2097152/held", 2097152 // 32 chunks: twice what a Reader pins
	h.do(http.MethodGet, path)
	h.waitHeld(path)
	for _, c := range []struct {
		rng    string // Range field, "" for none
		lo, n  int64
		status int
	}{
		{"", 0, size, http.StatusOK},
		{"bytes=0-0", 0, 1, http.StatusPartialContent},
		{"bytes=100-9000", 100, 8901, http.StatusPartialContent},
		{"bytes=60000-160000", 60000, 100001, http.StatusPartialContent},
		{"bytes=65536-131071", 65536, 65536, http.StatusPartialContent},
		{"bytes=1000-", 1000, size - 1000, http.StatusPartialContent},
		{"bytes=-70000", size - 70000, 70000, http.StatusPartialContent},
	} {
		var hdr []string
		if c.rng != "" {
			hdr = []string{"Range", c.rng}
		}
		resp, body := h.do(http.MethodGet, path, hdr...)
		if resp.StatusCode != c.status || int64(len(body)) != c.n || !bytes.Equal(body, originBytes(path, c.lo, c.n)) {
			t.Fatalf("%q: status %d, %d bytes (want %d, %d), equal %v", c.rng, resp.StatusCode, len(body), c.status, c.n, bytes.Equal(body, originBytes(path, c.lo, c.n)))
		}
		if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "detail=mem") {
			t.Fatalf("%q: Cache-Status %q, want a memory hit", c.rng, cs)
		}
	}

	// Pipelined: the answers before a held header wait in fasthttp's write
	// buffer and are held with it; they must still come first, whole.
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	reqs := []struct {
		method, rng string
		lo, n       int64
	}{
		{"GET", "bytes=0-99", 0, 100},
		{"GET", "bytes=10-300009", 10, 300000},
		{"HEAD", "bytes=5-70004", 5, 70000},
		{"GET", "bytes=70000-170000", 70000, 100001},
		{"GET", "", 0, size},
		{"GET", "bytes=1-2", 1, 2},
	}
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: x\r\n", r.method, path)
		if r.rng != "" {
			fmt.Fprintf(&b, "Range: %s\r\n", r.rng)
		}
		b.WriteString("\r\n")
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i, r := range reqs {
		resp, err := http.ReadResponse(br, &http.Request{Method: r.method})
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if r.method == "HEAD" {
			if len(body) != 0 || resp.ContentLength != r.n {
				t.Fatalf("answer %d (HEAD): %d bytes, Content-Length %d", i, len(body), resp.ContentLength)
			}
			continue
		}
		if int64(len(body)) != r.n || !bytes.Equal(body, originBytes(path, r.lo, r.n)) {
			t.Fatalf("answer %d (%s): %d bytes, want %d, equal %v", i, r.rng, len(body), r.n, bytes.Equal(body, originBytes(path, r.lo, r.n)))
		}
	}
}

// A memory hit across two chunks costs one write system call, the header
// and both chunks' parts in one writev(2), where it cost three (the write
// buffer's header block topped up with body bytes, the rest of the first
// chunk, the second chunk's part). Counted from /proc/self/io's syscw,
// less the client's write of each request. Both parts are smaller than
// what the memory tier sends with sendfile(2) once a chunk is read often
// (cache.Reader.Held): a part that large goes out with a sendfile of its
// own after the header.
func TestHeldWritevSyscalls(t *testing.T) {
	if _, err := syscw(); err != nil {
		t.Skip("no /proc/self/io:", err)
	}
	h := newHarness(t, harnessOptions{chunk: 64 << 10, mem: 16 << 20})
	const path = "/s/1048576/calls"
	h.do(http.MethodGet, path)
	h.waitHeld(path)
	const n, lo, length = 40, 40000, 50000 // bytes 40000-89999: chunks 0 and 1, under 32 KiB of each
	rng := fmt.Sprintf("bytes=%d-%d", lo, lo+length-1)
	h.do(http.MethodGet, path, "Range", rng) // the connection, open
	before, _ := syscw()
	for range n {
		resp, body := h.do(http.MethodGet, path, "Range", rng)
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, originBytes(path, lo, length)) {
			t.Fatalf("status %d, %d bytes, equal %v", resp.StatusCode, len(body), bytes.Equal(body, originBytes(path, lo, length)))
		}
	}
	after, _ := syscw()
	calls := after - before - n // less the client's write of each request
	if calls > n+n/4 {
		t.Fatalf("%d write system calls for %d answers, want about one each", calls, n)
	}
	t.Logf("%d write system calls for %d answers", calls, n)
}

// syscw returns the process's write system calls so far.
func syscw() (int64, error) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscw: "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/self/io: no syscw")
}

// Holding a header and sending it with the body's bytes allocates nothing.
func TestHeldWritevAllocs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	c := &clientConn{TCPConn: tc.(*net.TCPConn)}
	header, body := make([]byte, 300), make([]byte, 100<<10)
	send := func() {
		c.hold()
		if _, err := c.Write(header); err != nil {
			t.Fatal(err)
		}
		c.bufs = append(c.bufs[:0], body[:50<<10], body[50<<10:])
		if n, err := c.writeHeld(); err != nil || n != int64(len(body)) {
			t.Fatalf("writeHeld: %d, %v", n, err)
		}
	}
	send()
	if n := testing.AllocsPerRun(100, send); n != 0 {
		t.Fatalf("%v allocations per answer", n)
	}
}

// A hit whose chunks are partly in memory, partly on disk: the header and
// the chunks memory holds at the range's start go out in one writev(2),
// the disk chunks after them with sendfile(2); a range starting on disk
// sends the header alone first. Every byte is the origin's.
func TestHeldWritevMemoryAndDisk(t *testing.T) {
	const chunk, size, path = 64 << 10, 16 * 64 << 10, "/s/1048576/mixed"
	ds := openTestDisk(t)
	h := newHarness(t, harnessOptions{chunk: chunk, mem: 4 * chunk, cache: cache.Options{Disk: ds}})
	h.do(http.MethodGet, path)
	for i := 0; ds.Stats().Disks[0].Chunks < size/chunk; i++ {
		if i > 2000 {
			t.Fatalf("%d chunks on disk, want %d", ds.Stats().Disks[0].Chunks, size/chunk)
		}
		time.Sleep(5 * time.Millisecond)
	}
	meta, _, err := h.store.Lookup(t.Context(), cache.NewKey(path), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var memFirst, diskFirst int // answers whose range starts in memory and goes on to disk, and the reverse
	for round := range 3 {
		for i := int64(0); i < size/chunk; i++ {
			lo := i*chunk + int64(round)*1000
			n := min(3*chunk+5000, size-lo)
			first, _, _ := h.store.Residency(meta, lo, 1)
			held, onDisk, total := h.store.Residency(meta, lo, n)
			switch {
			case first == 1 && held < total && held+onDisk == total:
				memFirst++
			case first == 0 && held > 0:
				diskFirst++
			}
			resp, body := h.do(http.MethodGet, path, "Range", fmt.Sprintf("bytes=%d-%d", lo, lo+n-1))
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, originBytes(path, lo, n)) {
				t.Fatalf("bytes %d-%d: status %d, %d bytes, equal %v", lo, lo+n-1, resp.StatusCode, len(body), bytes.Equal(body, originBytes(path, lo, n)))
			}
		}
	}
	t.Logf("answers starting in memory and going on to disk: %d; the reverse: %d", memFirst, diskFirst)
	if memFirst == 0 || diskFirst == 0 {
		t.Fatalf("no answer mixed memory and disk both ways (%d, %d): the test did not test them", memFirst, diskFirst)
	}
}
