package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"edgecache/cache/disk/disktest"
)

// readerFromBuffer is a writer with ReadFrom that is not a TCP connection
// (it reads the file section it is handed), as bytes.Buffer is.
type readerFromBuffer struct{ bytes.Buffer }

// Chunk files truncated behind the disk store's back while their files are
// open (held by a Reader's pins, and in the store's fd cache) never give
// wrong bytes: the Reader holding them stops short with
// io.ErrUnexpectedEOF, the store drops them, and the next read fetches
// them again and serves the origin's bytes.
func TestDiskFileTruncatedWhileOpen(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int64{"/c": 3 * testChunk, "/other": 8 * testChunk}
	src := newFake(sizes)
	ds := openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 4 * testChunk, Disk: ds})
	defer s.Close()
	readRange(t, s, "/c", 0, -1)
	for i := 0; len(disktest.ChunkFiles(filepath.Join(dir, "d1"))) < 3; i++ {
		if i > 1000 {
			t.Fatal("chunks never reached the disk")
		}
		time.Sleep(5 * time.Millisecond)
	}
	readRange(t, s, "/other", 0, -1) // /c is on disk only now
	meta, _, err := s.Lookup(context.Background(), NewKey("/c"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(meta, 0, meta.Size)
	if _, d, _ := r.Pin(PinChunks); d != 3 {
		t.Fatalf("%d chunks pinned on disk, want 3", d)
	}
	if st := ds.Stats(); st.OpenFiles < 3 {
		t.Fatalf("%d files in the fd cache, want at least /c's 3", st.OpenFiles)
	}
	for _, f := range disktest.ChunkFiles(filepath.Join(dir, "d1")) {
		if fi, err := os.Stat(f); err == nil && fi.Size() > testChunk/2 && bytes.Contains([]byte(f), []byte("-")) {
			os.Truncate(f, fi.Size()-testChunk/2)
		}
	}
	var w readerFromBuffer
	_, err = r.WriteTo(&w)
	r.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read of truncated chunk files: %v, want io.ErrUnexpectedEOF", err)
	}
	want := content("/c", 0, meta.Size)
	if got := w.Bytes(); len(got) >= len(want) || !bytes.Equal(got, want[:len(got)]) {
		t.Fatalf("%d bytes read before the error, equal to the origin's: %v", len(got), bytes.Equal(got, want[:min(len(got), len(want))]))
	}
	// Whatever the store has not dropped yet (the Suspect), a Get's fstat
	// finds: the next read is the origin's bytes.
	if got := readRange(t, s, "/c", 0, -1); !bytes.Equal(got, want) {
		t.Fatal("bytes differ from the origin's after the truncation")
	}
	if st := ds.Stats(); st.Corrupt == 0 || st.IOErrors != 0 {
		t.Fatalf("disk store: corrupt %d, I/O errors %d", st.Corrupt, st.IOErrors)
	}
}
