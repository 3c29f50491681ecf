package disk

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// createFS is the OS file system counting the files created in tmp/ and
// the recycled ones opened there to be overwritten.
type createFS struct {
	OSFS
	mu               sync.Mutex
	created, reopens int
}

func (f *createFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if strings.Contains(name, "/tmp/") {
		f.mu.Lock()
		if flag&os.O_CREATE != 0 {
			f.created++
		} else {
			f.reopens++
		}
		f.mu.Unlock()
	}
	return f.OSFS.OpenFile(name, flag, perm)
}

func (f *createFS) counts() (created, reopens int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created, f.reopens
}

// A full disk stores new chunks in the files of the chunks it evicts, not
// in new files; chunks longer and shorter than the recycled file read back
// byte for byte, live and after a clean or crashed restart; at most
// spareMax recycled files wait in tmp/.
func TestRecycledFiles(t *testing.T) {
	const chunk = 64 << 10
	dirs, state := mkdirs(t, 1, 32*(chunk+blockSize))
	fsys := &createFS{}
	opt := Options{Dirs: dirs, StateFile: state, FS: fsys}
	s, _ := open(t, opt)
	sizes := []int{chunk, 1000, chunk - 1, 3 * chunk / 2, 1}
	var ids []ID
	for i := range 400 {
		id := ID{Key: fmt.Sprintf("/r/%d", i), Index: 0}
		if err := s.Put(id, "v", nil, payload(id, "v", sizes[i%len(sizes)])); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	created, reopens := fsys.counts()
	if created > 100 || reopens < 300 || s.Stats().Recycled != int64(reopens) {
		t.Errorf("400 Puts on a disk holding about 32: %d files created, %d recycled (Stats.Recycled %d)", created, reopens, s.Stats().Recycled)
	}
	tmp, _ := os.ReadDir(filepath.Join(dirs[0].Path, "tmp"))
	if len(tmp) > spareMax {
		t.Errorf("%d files in tmp/, at most %d", len(tmp), spareMax)
	}
	check := func(s *Store) {
		t.Helper()
		held := 0
		for i, id := range ids {
			c, err := s.Get(id, "v")
			if err != nil {
				continue // evicted
			}
			held++
			if got := readAll(t, c); !bytes.Equal(got, payload(id, "v", sizes[i%len(sizes)])) {
				t.Errorf("%v: %d bytes read differ from the %d stored", id, len(got), sizes[i%len(sizes)])
			}
			c.Close()
		}
		if held < 10 {
			t.Errorf("only %d chunks held", held)
		}
	}
	check(s)
	for _, clean := range []bool{true, false} {
		s.shutdown(clean)
		s, _ = open(t, opt)
		check(s)
	}
}

// A chunk file that a reader opened is not recycled when its chunk is
// evicted: the reader still reads the evicted chunk's bytes to the end,
// whether the fd cache holds the file or not.
func TestRecycleSparesOpenFiles(t *testing.T) {
	for _, openFiles := range []int{0, -1} {
		t.Run(fmt.Sprintf("open_files=%d", openFiles), func(t *testing.T) {
			const chunk = 64 << 10
			dirs, state := mkdirs(t, 1, 8*(chunk+blockSize))
			fsys := &createFS{}
			s, _ := open(t, Options{Dirs: dirs, StateFile: state, FS: fsys, OpenFiles: openFiles})
			held := ID{Key: "/held", Index: 0}
			want := payload(held, "v", chunk)
			if err := s.Put(held, "v", nil, want); err != nil {
				t.Fatal(err)
			}
			c, err := s.Get(held, "v")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			evictRecycling(t, s, fsys, held, chunk, 64)
			if got := readAll(t, c); !bytes.Equal(got, want) {
				t.Fatal("an open chunk's bytes changed after its eviction: its file was recycled")
			}
			f, off := c.Section(0, chunk)
			got := make([]byte, chunk)
			if _, err := f.ReadAt(got, off); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Section of the evicted chunk: %v, bytes equal %v", err, bytes.Equal(got, want))
			}
		})
	}
}

// evictRecycling evicts chunk gone from s by putting n chunks of size bytes
// that would reuse its file were it recycled, and checks that gone was
// evicted and that files were recycled (else the caller's test shows
// nothing).
func evictRecycling(t *testing.T, s *Store, fsys *createFS, gone ID, size, n int) {
	t.Helper()
	for i := range n {
		id := ID{Key: fmt.Sprintf("/other/%d", i), Index: 0}
		if err := s.Put(id, "v", nil, payload(id, "v", size)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Has(gone, "v") {
		t.Fatalf("%v was not evicted", gone)
	}
	if _, reopens := fsys.counts(); reopens == 0 {
		t.Fatal("no file was recycled: the test shows nothing")
	}
}

// pauseFS is createFS whose Open of a path ending in pause blocks once: it
// closes opening and waits for resume.
type pauseFS struct {
	createFS
	pmu     sync.Mutex
	pause   string
	opening chan struct{}
	resume  chan struct{}
}

func (f *pauseFS) Open(name string) (File, error) {
	f.pmu.Lock()
	hit := f.pause != "" && strings.HasSuffix(name, f.pause)
	if hit {
		f.pause = ""
	}
	f.pmu.Unlock()
	if hit {
		close(f.opening)
		<-f.resume
	}
	return f.createFS.Open(name)
}

// A Get that looked its entry up, then opened the chunk's path after the
// chunk was stored again (a new entry, a new file at the path), must not
// hand out the new file: it would be counted as a user of the old entry
// only, and the new entry's eviction would recycle the file under it (a
// reader of another chunk's bytes). Found by a concurrency review: it
// failed before Get checked, after the open, that its entry was still the
// indexed one.
func TestGetDoesNotHoldAReplacedFile(t *testing.T) {
	for _, openFiles := range []int{0, -1} {
		t.Run(fmt.Sprintf("open_files=%d", openFiles), func(t *testing.T) {
			const chunk = 64 << 10
			dirs, state := mkdirs(t, 1, 8*(chunk+blockSize))
			fsys := &pauseFS{opening: make(chan struct{}), resume: make(chan struct{})}
			s, _ := open(t, Options{Dirs: dirs, StateFile: state, FS: fsys, OpenFiles: openFiles, ScrubRate: -1})
			x := ID{Key: "/x", Index: 0}
			want := payload(x, "v", chunk)
			if err := s.Put(x, "v", nil, want); err != nil {
				t.Fatal(err)
			}
			fsys.pmu.Lock()
			fsys.pause = strings.TrimPrefix(s.disks[0].chunkPath(x.Key, x.Index), s.disks[0].path)
			fsys.pmu.Unlock()
			type res struct {
				c   *Chunk
				err error
			}
			got := make(chan res)
			go func() { c, err := s.Get(x, "v"); got <- res{c, err} }()
			<-fsys.opening // the reader has looked its entry up and is opening the path
			// The chunk is stored again: a new entry, a new file at the path.
			if err := s.Put(x, "v", nil, want); err != nil {
				t.Fatal(err)
			}
			close(fsys.resume)
			r := <-got
			if r.err != nil {
				return // a miss: the reader holds nothing
			}
			defer r.c.Close()
			evictRecycling(t, s, &fsys.createFS, x, chunk, 64) // the new entry has no users
			b := make([]byte, chunk)
			if n, err := r.c.ReadAt(b, 0); n != chunk || !bytes.Equal(b, want) {
				t.Fatalf("the reader read %d bytes (%v), equal to its chunk's: %v: the file was recycled under it", n, err, bytes.Equal(b, want))
			}
		})
	}
}
