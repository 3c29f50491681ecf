package cache

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

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
	s, _, ds, dir, meta := onDiskOnly(t)
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
	_, err := r.WriteTo(&w)
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
