//go:build linux

package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"
)

// sendfileConn is a TCP connection whose ReadFrom sends a file section
// (the Reader's fileSection) with sendfile(2), as the server's
// connections do, and counts the sections it sent.
type sendfileConn struct {
	*net.TCPConn
	sections int
}

func (c *sendfileConn) ReadFrom(r io.Reader) (int64, error) {
	sec, ok := r.(interface {
		SendfileSection() (fd uintptr, off, n int64)
		Sent(n int64)
	})
	if !ok {
		return io.Copy(c.TCPConn, r)
	}
	c.sections++
	fd, off, n := sec.SendfileSection()
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var sent int64
	var serr error
	err = raw.Write(func(out uintptr) bool {
		for sent < n {
			m, err := syscall.Sendfile(int(out), int(fd), &off, int(n-sent))
			if m > 0 {
				sent += int64(m)
			}
			switch {
			case errors.Is(err, syscall.EAGAIN):
				return false
			case err != nil:
				serr = err
				return true
			case m == 0:
				return true
			}
		}
		return true
	})
	sec.Sent(sent)
	return sent, errors.Join(err, serr)
}

// sectionCounter is a buffer whose ReadFrom counts the file sections it
// is handed (and reads them).
type sectionCounter struct {
	bytes.Buffer
	sections int
}

func (w *sectionCounter) ReadFrom(r io.Reader) (int64, error) {
	if _, ok := r.(interface {
		SendfileSection() (uintptr, int64, int64)
	}); ok {
		w.sections++
	}
	return w.Buffer.ReadFrom(r)
}

// sendingStore returns a store of testChunk chunks over src, with mem bytes
// of memory in an arena file, that sends memory chunks from it with
// sendfile: closed when the test ends.
func sendingStore(t *testing.T, src Source, mem int64) *Store {
	t.Helper()
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: mem, FetchMemory: 2 * testChunk})
	t.Cleanup(func() { s.Close() })
	if s.arena.file == nil {
		t.Fatal("no arena file (see the warning logged)")
	}
	s.sendMin = 8 << 10 // the test's chunks are small
	return s
}

// TestMemorySendfileOutlivesRelease sends an object's memory chunks with
// sendfile to a client that reads nothing yet, so the chunks' pages sit
// in the socket queues; then evicts them and fills the arena with other
// objects (released memory poisoned, see TestMain). The client must still
// read the object's own bytes: the arena took the sent pages out of its
// file rather than write over them. Without dropPages it reads the other
// objects' bytes or the poison.
func TestMemorySendfileOutlivesRelease(t *testing.T) {
	size := int64(4 * testChunk)
	sizes := map[string]int64{"/sent": size}
	for i := range 8 {
		sizes["/other"+string(rune('a'+i))] = size
	}
	s := sendingStore(t, newFake(sizes), 4*testChunk)
	readRange(t, s, "/sent", 0, size)
	for inFlight(s) > 0 {
		time.Sleep(time.Millisecond)
	}
	// The first memorySendfileAfter whole reads of a chunk from memory copy
	// it; the next ones send it (see Reader.memorySection). Some chunks were
	// read from memory by the miss already (read ahead, they landed first):
	// start afresh.
	for i := range s.mem.shards {
		sh := &s.mem.shards[i]
		sh.mu.Lock()
		for _, e := range sh.chunks {
			e.c.copied.Store(0)
		}
		sh.mu.Unlock()
	}
	for i := range memorySendfileAfter + 2 {
		want := 0
		if i >= memorySendfileAfter {
			want = 4
		}
		w := &sectionCounter{}
		meta, _, err := s.Lookup(context.Background(), NewKey("/sent"), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := s.NewReader(meta, 0, size)
		if _, err := r.WriteTo(w); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if w.sections != want || !bytes.Equal(w.Bytes(), content("/sent", 0, size)) {
			t.Fatalf("read %d from memory: %d sections (want %d), bytes equal %v", i+1, w.sections, want, bytes.Equal(w.Bytes(), content("/sent", 0, size)))
		}
	}
	for inFlight(s) > 0 {
		time.Sleep(time.Millisecond)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	conn := &sendfileConn{TCPConn: sc.(*net.TCPConn)}
	if err := conn.SetWriteBuffer(int(4 * size)); err != nil { // room for every byte: sendfile returns with all of them queued
		t.Fatal(err)
	}

	meta, _, err := s.Lookup(context.Background(), NewKey("/sent"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(meta, 0, size)
	if mem, _, total := r.Pin(PinChunks); mem != total {
		t.Fatalf("%d of %d chunks in memory", mem, total)
	}
	if err := conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := r.WriteTo(conn); n != size || err != nil {
		t.Fatalf("WriteTo: %d bytes, %v", n, err)
	}
	r.Close()
	if conn.sections != 4 {
		t.Fatalf("%d sections sent with sendfile, want 4", conn.sections)
	}

	for i := range 8 { // evict the sent chunks and write other bytes where they were
		k := "/other" + string(rune('a'+i))
		if got := readRange(t, s, k, 0, size); !bytes.Equal(got, content(k, 0, size)) {
			t.Fatalf("%s: other bytes", k)
		}
	}
	if s.mem.contains(chunkID{"/sent", 0}, meta.version) {
		t.Fatal("the sent chunks were not evicted; the test proves nothing")
	}

	got := make([]byte, size)
	if err := client.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if want := content("/sent", 0, size); !bytes.Equal(got, want) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		t.Fatalf("the client read other bytes than the object's from byte %d on (%#x, want %#x)", i, got[i], want[i])
	}
	if st := s.Stats(); st.ArenaDropped < 4 || st.ArenaLostBytes != 0 {
		t.Fatalf("arena dropped %d sent chunks (want 4), lost %d bytes", st.ArenaDropped, st.ArenaLostBytes)
	}
}

// TestArenaDropFailure: a sent chunk whose pages cannot be taken out of
// the file (here the file is closed) is never handed out again, and no
// chunk is sent from the file afterwards.
func TestArenaDropFailure(t *testing.T) {
	a, err := newArena(2*testChunk, testChunk, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if a.file == nil {
		t.Fatal("no arena file (see the warning logged)")
	}
	c := a.alloc(testChunk, "v")
	c.sent.Store(true)
	a.file.Close()
	c.unref()
	if a.lost.Load() != testChunk || !a.noSend.Load() || a.used.Load() != 0 {
		t.Fatalf("lost %d bytes, noSend %v, used %d", a.lost.Load(), a.noSend.Load(), a.used.Load())
	}
	c1, c2 := a.alloc(testChunk, "v"), a.alloc(testChunk, "v")
	if c1.a == nil || c2.a != nil {
		t.Fatalf("after a lost slot: first chunk in the arena %v, second %v (want true, false)", c1.a != nil, c2.a != nil)
	}
	r := &Reader{cc: c1, cur: c1.data, idx: 0, end: testChunk, s: &Store{chunk: testChunk, sendMin: 1}}
	c1.copied.Store(memorySendfileAfter * testChunk)
	if _, ok := r.memorySection(); ok {
		t.Fatal("a chunk is sent from the file after dropping pages failed")
	}
}

// TestHeldLeavesShortHotRanges: of a range of at most memorySendfileRange
// bytes, Held stops at a memory chunk WriteTo sends from the arena's file
// (a part of at least sendMin bytes of a chunk read often enough), and
// WriteTo sends it and the rest as file sections; a longer range's chunks
// are all held, to be copied in one writev. Either way the bytes are the
// origin's.
func TestHeldLeavesShortHotRanges(t *testing.T) {
	size := int64(12 * testChunk) // more than memorySendfileRange
	s := sendingStore(t, newFake(map[string]int64{"/hot": size}), 64*testChunk)
	readRange(t, s, "/hot", 0, size)
	meta, _, err := s.Lookup(context.Background(), NewKey("/hot"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if held, _, _ := s.Residency(meta, 0, size); held == 12 {
			break
		}
		if i > 500 {
			t.Fatal("the object's chunks never all landed in memory")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range s.mem.shards { // every chunk read often enough to be sent
		sh := &s.mem.shards[i]
		sh.mu.Lock()
		for _, e := range sh.chunks {
			e.c.copied.Store(memorySendfileAfter * int64(len(e.c.data)))
		}
		sh.mu.Unlock()
	}
	for _, tc := range []struct {
		name     string
		off, n   int64
		held     int64 // bytes Held returns
		sections int   // file sections WriteTo hands out after them
	}{
		// 10 bytes of chunk 0 (too few to send), then chunks 1 and 2 sent
		{"short", testChunk - 10, 2 * testChunk, 10, 2},
		{"short, from a chunk's start", 0, memorySendfileRange, 0, memorySendfileRange / testChunk},
		{"long", 0, size, size, 0},
		{"long, inside the object", 10, memorySendfileRange + 1, memorySendfileRange + 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.NewReader(meta, tc.off, tc.n)
			defer r.Close()
			if mem, _, total := r.Pin(PinChunks); mem != total {
				t.Fatalf("%d of %d chunks in memory", mem, total)
			}
			got := bytes.Join(r.Held(nil, 1<<30), nil)
			if int64(len(got)) != tc.held {
				t.Fatalf("Held: %d bytes, want %d", len(got), tc.held)
			}
			r.Discard(int64(len(got)))
			w := &sectionCounter{}
			if _, err := r.WriteTo(w); err != nil {
				t.Fatal(err)
			}
			if w.sections != tc.sections {
				t.Fatalf("WriteTo handed out %d file sections, want %d", w.sections, tc.sections)
			}
			if !bytes.Equal(append(got, w.Bytes()...), content("/hot", tc.off, tc.n)) {
				t.Fatal("bytes differ from the origin's")
			}
		})
	}
}
