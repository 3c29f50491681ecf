//go:build linux

package cache

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"edgecache/cache/disk/disktest"
)

// Bytes damaged in place through the file system while the daemon runs,
// after their chunks were written (and so trusted), never go out in a
// file section, which a server sends with sendfile(2) and never checks:
// the disk store sees each file's modification time moved off its stamp,
// verifies it, drops it, and the chunk is fetched again.
func TestDiskDamagedInPlaceNotSent(t *testing.T) {
	s, src, ds, dir, meta := onDiskOnly(t)
	damaged := 0 // /c's 3 chunks, and those of /other's 8 written by now
	for _, f := range disktest.ChunkFiles(filepath.Join(dir, "d1")) {
		if strings.Contains(filepath.Base(f), "-") {
			disktest.FlipByte(t, f, 100)
			damaged++
		}
	}
	if damaged < 3 {
		t.Fatalf("%d chunk files damaged, want at least /c's 3", damaged)
	}
	before := src.calls.Load()
	w := &sectionCounter{} // reads each section as sendfile would send it
	r := s.NewReader(meta, 0, meta.Size)
	_, err := r.WriteTo(w)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), content("/c", 0, meta.Size)) {
		t.Fatalf("sent bytes differ from the origin's (%d file sections)", w.sections)
	}
	st := ds.Stats()
	if st.ChecksumFailures != 3 {
		t.Errorf("disk ChecksumFailures %d, want 3 (/c's chunks)", st.ChecksumFailures)
	}
	if st.Restamped != 0 {
		t.Errorf("Restamped %d: damaged files counted as intact", st.Restamped)
	}
	if src.calls.Load() == before {
		t.Error("the damaged chunks were not fetched again")
	}
}
