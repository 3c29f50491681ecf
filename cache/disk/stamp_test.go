package disk

import (
	"os"
	"testing"
	"time"
)

func TestStamped(t *testing.T) {
	const w = 1_700_000_000_987_654_321
	for _, tc := range []struct {
		grain, mtime int64
		want         bool
	}{
		{0, 5, true}, // not stamped: always
		{1, w, true},
		{1, w + 1, false},
		{1e3, w - 321, true}, // microseconds kept
		{1e3, w + 1000, false},
		{1e9, w - 987_654_321, true}, // whole seconds kept
		{1e9, w + 1e9, false},
		{2e9, w - 987_654_321 + 1e9, true}, // two seconds (FAT)
		{2e9, w + 2e9, false},
	} {
		d := &disk{grain: tc.grain}
		if got := d.stamped(tc.mtime, w); got != tc.want {
			t.Errorf("grain %d: stamped(%d, %d) = %v, want %v", tc.grain, tc.mtime, int64(w), got, tc.want)
		}
	}
}

// The store learns its dir's time precision, and a chunk file it writes
// carries its write time.
func TestStampOnWrite(t *testing.T) {
	dirs, state := mkdirs(t, 1, 16<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1})
	if g := s.disks[0].grain; g <= 0 || g > 2e9 {
		t.Skipf("the temp dir's file system keeps no settable modification times (grain %d)", g)
	}
	ids := fill(t, s, 2, 10_000)
	for _, id := range ids {
		fi, err := os.Stat(chunkFile(t, dirs, id))
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		written := s.idx[s.handleOf(id.Key, id.Index)].written
		s.mu.Unlock()
		if !s.disks[0].stamped(fi.ModTime().UnixNano(), written) {
			t.Errorf("%s: modification time %v, want the write's %v", id.Key, fi.ModTime(), time.Unix(0, written))
		}
	}
}

// A chunk file whose modification time moved (touched, not damaged) is
// verified again, served, counted, logged and stamped again: the next
// Gets trust it as before. Both ways a Get finds a file: from the fd
// cache, and by opening it.
func TestStampTouched(t *testing.T) {
	for _, openFiles := range []int{0, -1} { // the default fd cache; none
		dirs, state := mkdirs(t, 1, 16<<20)
		s, lb := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1, OpenFiles: openFiles})
		if s.disks[0].grain == 0 {
			t.Skip("the temp dir's file system keeps no settable modification times")
		}
		const size = 30_000
		id := fill(t, s, 1, size)[0]
		want := payload(id, "etag-1", size)
		mustGet(t, s, id, "etag-1", want) // in the fd cache now, if there is one
		path := chunkFile(t, dirs, id)
		fi, _ := os.Stat(path)
		stamp := fi.ModTime()
		if err := os.Chtimes(path, time.Time{}, stamp.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			mustGet(t, s, id, "etag-1", want)
		}
		if n := s.Stats().Restamped; n != 1 {
			t.Errorf("OpenFiles %d: Restamped %d, want 1", openFiles, n)
		}
		if n := lb.count("chunk file modified"); n != 1 {
			t.Errorf("OpenFiles %d: %d WARN lines for the touched file, want 1", openFiles, n)
		}
		if fi, _ := os.Stat(path); !fi.ModTime().Equal(stamp) {
			t.Errorf("OpenFiles %d: modification time %v after the Get, want the stamp %v again", openFiles, fi.ModTime(), stamp)
		}
	}
}

// A chunk file without its stamp when the store loads it (written by a
// version of the daemon that did not stamp, or touched while the daemon
// was down) is verified by its first Get, as every chunk after a load is,
// then stamped without a warning.
func TestStampAfterLoad(t *testing.T) {
	for _, snapshot := range []bool{true, false} {
		dirs, state := mkdirs(t, 1, 16<<20)
		opt := Options{Dirs: dirs, StateFile: state, ScrubRate: -1}
		s, _ := open(t, opt)
		if s.disks[0].grain == 0 {
			t.Skip("the temp dir's file system keeps no settable modification times")
		}
		const size = 30_000
		ids := fill(t, s, 3, size)
		path := chunkFile(t, dirs, ids[1])
		fi, _ := os.Stat(path)
		stamp := fi.ModTime()
		s.shutdown(snapshot)
		if err := os.Chtimes(path, time.Time{}, time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		s, lb := open(t, opt)
		for range 3 {
			for _, id := range ids {
				mustGet(t, s, id, "etag-1", payload(id, "etag-1", size))
			}
		}
		st := s.Stats()
		if st.Restamped != 0 || st.ChecksumFailures != 0 || lb.count("chunk file modified") != 0 {
			t.Errorf("snapshot %v: Restamped %d, ChecksumFailures %d, %d WARN lines; want none", snapshot,
				st.Restamped, st.ChecksumFailures, lb.count("chunk file modified"))
		}
		if fi, _ := os.Stat(path); !fi.ModTime().Equal(stamp) {
			t.Errorf("snapshot %v: modification time %v after the first Get, want the stamp %v", snapshot, fi.ModTime(), stamp)
		}
	}
}
