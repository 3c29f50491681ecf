//go:build unix

package disk

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Entries someone left among the chunk files that are not regular files
// (a FIFO, an empty or a full directory) neither hang the start-up scan
// nor take the disk out of service: the removable ones are removed, the
// others ignored, and the chunks are served. A FIFO put where an indexed
// chunk's file was makes that chunk a miss, not a Get that waits for ever.
// (A fault-injection review hung the scan, Gets and shutdown with a FIFO,
// and took a disk out of service with a directory.)
func TestStrayEntriesInCacheDir(t *testing.T) {
	dirs, state := mkdirs(t, 1, 64<<20)
	opt := Options{Dirs: dirs, StateFile: state, ScrubRate: -1, OpenFiles: -1}
	s, _ := open(t, opt)
	a, b := ID{Key: "/a", Index: 0}, ID{Key: "/b", Index: 0}
	for _, id := range []ID{a, b} {
		if err := s.Put(id, "v", nil, payload(id, "v", 5000)); err != nil {
			t.Fatal(err)
		}
	}
	pa, pb := s.disks[0].chunkPath(a.Key, 0), s.disks[0].chunkPath(b.Key, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Dir(pa)
	if err := syscall.Mkfifo(filepath.Join(sub, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(sub, "empty"), 0o755)
	os.MkdirAll(filepath.Join(sub, "full", "x"), 0o755)
	os.Remove(filepath.Join(dirs[0].Path, "index.snap")) // a scan reads every entry

	done := make(chan *Store, 1)
	go func() {
		s, _ := open(t, opt)
		done <- s
	}()
	var s2 *Store
	select {
	case s2 = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the start-up scan hangs on a FIFO in a cache dir")
	}
	st := s2.Stats()
	if !st.Disks[0].InService || st.Disks[0].Chunks != 2 {
		t.Fatalf("after the scan: %+v; want the disk in service with its 2 chunks", st.Disks[0])
	}
	if _, err := os.Lstat(filepath.Join(sub, "fifo")); !os.IsNotExist(err) {
		t.Errorf("the FIFO was not removed: %v", err)
	}

	// A FIFO where an indexed chunk's file was: a miss, at once.
	os.Remove(pb)
	if err := syscall.Mkfifo(pb, 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		c, err := s2.Get(b, "v")
		if err == nil {
			c.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err == nil {
			t.Error("a FIFO was served as a chunk")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a Get of a chunk whose file is a FIFO hangs")
	}
	c, err := s2.Get(a, "v")
	if err != nil {
		t.Fatalf("the other chunk: %v", err)
	}
	defer c.Close()
	buf := make([]byte, 5000)
	if _, err := c.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, payload(a, "v", 5000)) {
		t.Fatalf("the other chunk's bytes: %v", err)
	}
	if !s2.Stats().Disks[0].InService {
		t.Error("the disk left service")
	}
}

// hangFS is the OS file system whose writes to files under one dir block
// until release is closed: a disk that hangs (a frozen file system).
type hangFS struct {
	OSFS
	dir     string
	armed   atomic.Bool // once the store is open
	release chan struct{}
}

type hangFile struct {
	File
	release chan struct{}
}

func (f *hangFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || !f.armed.Load() || flag&(os.O_WRONLY|os.O_RDWR) == 0 || !strings.HasPrefix(name, f.dir+"/") {
		return file, err
	}
	return hangFile{file, f.release}, nil
}

func (f hangFile) Write(p []byte) (int, error) {
	<-f.release
	return f.File.Write(p)
}

// A disk whose chunk write does not end within the watchdog's time is
// taken out of service as hanging, and the next Puts go to the other disk;
// the hung write, once it ends, leaves nothing indexed. (A fault-injection
// review froze a disk: it stayed in service, holding writers for ever.)
func TestHangingDiskTakenOutOfService(t *testing.T) {
	dirs, state := mkdirs(t, 2, 64<<20)
	fsys := &hangFS{dir: dirs[0].Path, release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(fsys.release) }) }
	t.Cleanup(release)
	s, lb := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1, FS: fsys, writeHang: 100 * time.Millisecond})
	fsys.armed.Store(true)
	// A chunk placed on the first disk.
	var id ID
	for i := 0; ; i++ {
		id = ID{Key: fmt.Sprintf("/h/%d", i), Index: 0}
		if place(placeHash(id.Key, id.Index), s.live) == s.disks[0] {
			break
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.Put(id, "v", nil, payload(id, "v", 5000)) }()
	for i := 0; s.Stats().Disks[0].InService; i++ {
		if i > 500 {
			t.Fatal("a disk whose write hangs is still in service after 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := s.Stats().Disks[0].Reason; !strings.Contains(r, "the disk hangs") {
		t.Errorf("reason %q", r)
	}
	if lb.count("disk taken out of service") != 1 {
		t.Errorf("log:\n%s", lb.String())
	}
	// The disk is recorded in the state file, which is written after it is
	// out of service: wait for it, or the test's end removes the dir while
	// the watchdog's goroutine writes the file.
	for i := 0; ; i++ {
		st, err := readState(OSFS{}, state)
		if err == nil && len(st.OutOfService) == 1 && st.OutOfService[0].Path == cleanPath(dirs[0].Path) {
			break
		}
		if i > 500 {
			t.Fatalf("the state file does not record the hanging disk after 5 s: %+v, %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The next Puts go to the other disk, and are served.
	other := ID{Key: "/other", Index: 0}
	if err := s.Put(other, "v", nil, payload(other, "v", 5000)); err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(other, "v")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	release()
	<-done
	if _, err := s.Get(id, "v"); err == nil {
		t.Error("the chunk whose write hung is indexed")
	}
}
