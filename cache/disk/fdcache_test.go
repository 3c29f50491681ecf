package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"edgecache/cache/disk/disktest"
)

// getOpen gets id and returns the Chunk with its shared open file.
func getOpen(t *testing.T, s *Store, id ID, version string) (*Chunk, *ofile) {
	t.Helper()
	c, err := s.Get(id, version)
	if err != nil {
		t.Fatalf("Get(%v): %v", id, err)
	}
	return c, c.of
}

// closed reports whether of's file has been closed.
func closed(of *ofile) bool {
	_, err := of.osf.ReadAt(make([]byte, 1), 0)
	return errors.Is(err, os.ErrClosed)
}

// A second Get of a chunk reuses the file the first one opened, and reads
// nothing but an fstat; the file outlives its Chunks while cached.
func TestFDCacheReuse(t *testing.T) {
	dirs, state := mkdirs(t, 1, 16<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state})
	ids := fill(t, s, 2, 10_000)
	c1, of1 := getOpen(t, s, ids[0], "etag-1")
	c2, of2 := getOpen(t, s, ids[0], "etag-1")
	if of1 != of2 {
		t.Fatal("the second Get opened another file")
	}
	if of1.osf == nil {
		t.Fatal("no OS file")
	}
	if !bytes.Equal(readAll(t, c1), payload(ids[0], "etag-1", 10_000)) || !bytes.Equal(readAll(t, c2), payload(ids[0], "etag-1", 10_000)) {
		t.Fatal("wrong bytes")
	}
	c1.Close()
	c1.Close() // idempotent
	c2.Close()
	if closed(of1) {
		t.Fatal("a cached file was closed with its last Chunk")
	}
	if got := of1.refs.Load(); got != 1 {
		t.Fatalf("refs %d after the Chunks closed, want 1 (the cache's)", got)
	}
	c3, _ := getOpen(t, s, ids[1], "etag-1")
	c3.Close()
	st := s.Stats()
	if st.OpenFiles != 2 || st.OpenFileHits != 1 || st.Hits != 3 {
		t.Fatalf("OpenFiles %d, OpenFileHits %d, Hits %d; want 2, 1, 3", st.OpenFiles, st.OpenFileHits, st.Hits)
	}
	// A closed Chunk reads nothing (its descriptor may be reused).
	if _, err := c1.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
	s.Close()
	if !closed(of1) {
		t.Fatal("Close left a cached file open")
	}
}

// The cache holds at most OpenFiles files, closing the least recently used
// (after their last user); a negative OpenFiles disables it.
func TestFDCacheBound(t *testing.T) {
	for _, tc := range []struct{ opt, want int }{{3, 3}, {1, 1}, {-1, 0}} {
		t.Run(fmt.Sprint(tc.opt), func(t *testing.T) {
			dirs, state := mkdirs(t, 1, 16<<20)
			s, _ := open(t, Options{Dirs: dirs, StateFile: state, OpenFiles: tc.opt})
			ids := fill(t, s, 8, 1000)
			held, _ := getOpen(t, s, ids[0], "etag-1") // in use while pushed out
			var ofs []*ofile
			for _, id := range ids {
				c, of := getOpen(t, s, id, "etag-1")
				ofs = append(ofs, of)
				c.Close()
				if n := s.Stats().OpenFiles; n > tc.want {
					t.Fatalf("%d files cached, bound %d", n, tc.want)
				}
			}
			if n := s.Stats().OpenFiles; n != tc.want {
				t.Fatalf("%d files cached, want %d", n, tc.want)
			}
			heldOF := held.of
			for i, of := range ofs {
				cached := i >= len(ofs)-tc.want
				inUse := of == heldOF
				if closed(of) != (!cached && !inUse) {
					t.Fatalf("file %d: closed %v, cached %v, in use %v", i, closed(of), cached, inUse)
				}
			}
			if !bytes.Equal(readAll(t, held), payload(ids[0], "etag-1", 1000)) {
				t.Fatal("a Chunk's file pushed out of the cache gave wrong bytes")
			}
			held.Close()
			if !closed(heldOF) {
				t.Fatal("a file pushed out of the cache stayed open after its last user")
			}
		})
	}
}

func TestOpenFilesDefault(t *testing.T) {
	for _, tc := range []struct {
		n    int
		lim  uint64
		want int
	}{
		{0, 0, DefaultOpenFiles}, {0, 1 << 20, DefaultOpenFiles}, {0, 1024, 256}, {100, 1024, 100}, {1000, 1024, 256}, {-1, 1 << 20, 0},
	} {
		if got := openFiles(tc.n, tc.lim); got != tc.want {
			t.Errorf("openFiles(%d, %d) = %d, want %d", tc.n, tc.lim, got, tc.want)
		}
	}
}

// A cached file leaves the cache when its chunk leaves the index, and is
// closed after its last user, who still reads the right bytes.
func TestFDCacheClosedAfterLastUser(t *testing.T) {
	const size = 20_000
	for _, tc := range []struct {
		name string
		drop func(t *testing.T, s *Store, dirs []Dir, id ID)
	}{
		{"remove", func(t *testing.T, s *Store, _ []Dir, id ID) { s.Remove(id) }},
		{"purge", func(t *testing.T, s *Store, _ []Dir, id ID) {
			s.Purge(func(k string) bool { return k == id.Key })
		}},
		{"evict", func(t *testing.T, s *Store, _ []Dir, id ID) {
			// Fill the 1 MiB budget with other chunks: LRU evicts the victim.
			for i := 0; i < 60; i++ {
				o := ID{Key: fmt.Sprintf("/filler/%d", i)}
				if err := s.Put(o, "etag-1", nil, payload(o, "etag-1", size)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"rewrite", func(t *testing.T, s *Store, _ []Dir, id ID) {
			if err := s.Put(id, "etag-2", nil, payload(id, "etag-2", size)); err != nil {
				t.Fatal(err)
			}
		}},
		{"disk failure", func(t *testing.T, s *Store, _ []Dir, _ ID) {
			s.diskFailed(s.disks[0], fmt.Errorf("test: %w", os.ErrPermission))
		}},
		{"corrupt", func(t *testing.T, s *Store, dirs []Dir, id ID) {
			// Damaged in place below the file system (the open file's
			// stamp still holds), then read by a copy: the mismatch drops it.
			disktest.RotByte(t, chunkFile(t, dirs, id), 2)
			c, err := s.Get(id, "etag-1")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.ReadAllVerified(make([]byte, size)); !errors.Is(err, ErrChecksum) {
				t.Fatalf("ReadAllVerified of a damaged chunk: %v", err)
			}
		}},
		{"close", func(t *testing.T, s *Store, _ []Dir, _ ID) { s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs, state := mkdirs(t, 1, 1<<20)
			s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1})
			ids := fill(t, s, 2, size)
			id := ids[0]
			c, of := getOpen(t, s, id, "etag-1")
			want := readAll(t, c)
			tc.drop(t, s, dirs, id)
			s.mu.Lock()
			cachedNow := of.e != nil
			s.mu.Unlock()
			if cachedNow {
				t.Fatal("the file is still cached")
			}
			if closed(of) {
				t.Fatal("the file was closed under its user")
			}
			if tc.name != "corrupt" && !bytes.Equal(readAll(t, c), want) {
				t.Fatal("the user read other bytes")
			}
			c.Close()
			if !closed(of) {
				t.Fatal("the file is open after its last user closed it")
			}
			if tc.name == "rewrite" {
				mustMiss(t, s, id, "etag-1")
				mustGet(t, s, id, "etag-2", payload(id, "etag-2", size))
			} else if tc.name != "close" {
				mustMiss(t, s, id, "etag-1")
			}
		})
	}
}

// Damage to the file of a cached chunk behind the store's back never yields
// wrong bytes: the next Get finds the file changed (fstat) and misses.
func TestFDCacheDamage(t *testing.T) {
	const size = 30_000
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		corrupt bool // counted in Corrupt (a vanished or replaced file is too: the chunk is lost)
	}{
		{"truncate", func(t *testing.T, p string) { os.Truncate(p, 100) }, true},
		{"truncate payload", func(t *testing.T, p string) { fi, _ := os.Stat(p); os.Truncate(p, fi.Size()-1) }, true},
		{"extend", func(t *testing.T, p string) {
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("junk"))
			f.Close()
		}, true},
		{"delete", func(t *testing.T, p string) { os.Remove(p) }, true},
		{"replace", func(t *testing.T, p string) {
			// A copy of the same bytes renamed over it: another inode.
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p+".new", b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs, state := mkdirs(t, 1, 16<<20)
			s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1})
			ids := fill(t, s, 4, size)
			id := ids[1]
			mustGet(t, s, id, "etag-1", payload(id, "etag-1", size)) // caches the file
			held, _ := getOpen(t, s, id, "etag-1")
			tc.damage(t, chunkFile(t, dirs, id))
			mustMiss(t, s, id, "etag-1")
			mustMiss(t, s, id, "etag-1")
			st := s.Stats()
			if tc.corrupt && st.Corrupt != 1 || !tc.corrupt && st.Corrupt != 0 || st.IOErrors != 0 {
				t.Fatalf("corrupt %d, I/O errors %d", st.Corrupt, st.IOErrors)
			}
			// The Chunk held across the damage reads right bytes or an error.
			b := make([]byte, size)
			n, err := held.ReadAt(b, 0)
			if err == nil || err == io.EOF {
				if !bytes.Equal(b[:n], payload(id, "etag-1", size)[:n]) {
					t.Fatal("a held Chunk read wrong bytes")
				}
			} else if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("held ReadAt: %v", err)
			}
			held.Close()
			// The chunk can be stored again and is served right.
			if err := s.Put(id, "etag-1", nil, payload(id, "etag-1", size)); err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, id, "etag-1", payload(id, "etag-1", size))
			for _, o := range []ID{ids[0], ids[2], ids[3]} {
				mustGet(t, s, o, "etag-1", payload(o, "etag-1", size))
			}
			if !s.Stats().Disks[0].InService {
				t.Fatal("the damage took the disk out of service")
			}
		})
	}
}

// Concurrent Gets and evictions of the same chunks: every read gives the
// chunk's bytes, and no file stays open beyond the bound.
func TestFDCacheConcurrent(t *testing.T) {
	const size = 8000
	dirs, state := mkdirs(t, 1, 1<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, OpenFiles: 4, ScrubRate: -1})
	ids := fill(t, s, 16, size)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 1000)
			for i := 0; i < 300; i++ {
				id := ids[(i*7+g)%len(ids)]
				if g == 0 && i%10 == 0 {
					s.Remove(id)
					if err := s.Put(id, "etag-1", nil, payload(id, "etag-1", size)); err != nil {
						errs <- err
						return
					}
					continue
				}
				c, err := s.Get(id, "etag-1")
				if err != nil {
					continue // removed meanwhile
				}
				off := int64(i*131) % (size - 1000)
				n, err := c.ReadAt(b, off)
				c.Close()
				if n != len(b) || err != nil {
					errs <- fmt.Errorf("ReadAt: %d, %v", n, err)
					return
				}
				if !bytes.Equal(b, payload(id, "etag-1", size)[off:off+1000]) {
					errs <- fmt.Errorf("wrong bytes for %v at %d", id, off)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := s.Stats().OpenFiles; n > 4 {
		t.Fatalf("%d files cached, bound 4", n)
	}
}
