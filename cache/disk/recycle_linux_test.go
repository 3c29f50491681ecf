package disk

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// Bytes a chunk's file handed to a TCP socket with sendfile(2) are still
// the chunk's when the peer reads them after the chunk was closed, evicted
// and its file recycled for other chunks: the socket holds references to
// the file's pages until the peer has the bytes, so a recycled file must get
// new pages (O_TRUNC), not have its old ones overwritten.
func TestRecycleKeepsBytesInFlight(t *testing.T) {
	const chunk = 64 << 10
	dirs, state := mkdirs(t, 1, 8*(chunk+blockSize))
	fsys := &createFS{}
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, FS: fsys, OpenFiles: -1})
	sent := ID{Key: "/sent", Index: 0}
	want := payload(sent, "v", chunk)
	if err := s.Put(sent, "v", nil, want); err != nil {
		t.Fatal(err)
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
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	// The client reads nothing yet: the bytes wait in the sockets' buffers.
	sock, err := server.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()

	c, err := s.Get(sent, "v")
	if err != nil {
		t.Fatal(err)
	}
	f, off := c.Section(0, chunk)
	for n := 0; n < chunk; {
		m, err := syscall.Sendfile(int(sock.Fd()), int(f.Fd()), &off, chunk-n)
		if err != nil {
			t.Fatalf("sendfile after %d bytes: %v", n, err)
		}
		n += m
	}
	c.Close()

	evictRecycling(t, s, fsys, sent, chunk, 16)
	got := make([]byte, chunk)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the peer read other bytes than the chunk sent: its file's pages were overwritten after sendfile")
	}
}
