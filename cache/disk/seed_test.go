package disk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeedPersists(t *testing.T) {
	const size = 5000
	dirs, state := mkdirs(t, 2, 16<<20)
	opt := Options{Dirs: dirs, StateFile: state, ScrubRate: -1}
	s, _ := open(t, opt)
	ids := fill(t, s, 8, size)
	seeds := make([]string, len(dirs))
	for i, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d.Path, seedFileName))
		if _, ok := parseSeed(b); err != nil || !ok {
			t.Fatalf("seed file of %s: %q, %v", d.Path, b, err)
		}
		seeds[i] = string(b)
	}
	if seeds[0] == seeds[1] {
		t.Error("two dirs got the same seed")
	}
	for _, id := range ids {
		p := chunkFile(t, dirs, id)
		if filepath.Base(p) == filepath.Base(chunkName(keyHash(id.Key), id.Index)) {
			t.Errorf("%s: file named by the unseeded hash", p)
		}
	}
	for _, how := range []string{"snapshot", "scan"} {
		s.Close()
		if how == "scan" {
			for _, d := range dirs {
				os.Remove(filepath.Join(d.Path, snapName))
			}
		}
		var lb *logBuf
		s, lb = open(t, opt)
		if n := lb.count("from=" + how); n != len(dirs) {
			t.Fatalf("%d dirs loaded from %s, want %d", n, how, len(dirs))
		}
		checkAll(t, s, ids, size)
		for i, d := range dirs {
			if b, _ := os.ReadFile(filepath.Join(d.Path, seedFileName)); string(b) != seeds[i] {
				t.Errorf("%s: seed changed across a restart", d.Path)
			}
		}
		if st := s.Stats(); st.Corrupt != 0 || st.ChecksumFailures != 0 {
			t.Errorf("stats: %+v", st)
		}
	}
}

// TestLegacyDir opens dirs as a previous release left them: chunk files
// named by the unseeded FNV-1a hash, no seed file, and an index snapshot;
// and dirs whose seed file was damaged.
func TestLegacyDir(t *testing.T) {
	const size = 5000
	for _, seed := range []string{"missing", "damaged"} {
		t.Run(seed, func(t *testing.T) {
			dirs, state := mkdirs(t, 2, 16<<20)
			opt := Options{Dirs: dirs, StateFile: state, ScrubRate: -1}
			s, _ := open(t, opt)
			ids := fill(t, s, 12, size)
			s.Close()
			for _, id := range ids {
				if seed == "damaged" {
					break
				}
				p := chunkFile(t, dirs, id)
				chunks := filepath.Dir(filepath.Dir(p))
				if err := os.Rename(p, filepath.Join(chunks, chunkName(keyHash(id.Key), id.Index))); err != nil {
					t.Fatal(err)
				}
			}
			// One legacy file is damaged.
			damaged := filepath.Join(dirs[0].Path, "chunks", "00", "0000000000000000-1")
			os.WriteFile(damaged, []byte("ECCHUNK1 not quite"), 0o644)
			for _, d := range dirs {
				p := filepath.Join(d.Path, seedFileName)
				if seed == "missing" {
					os.Remove(p)
				} else {
					os.WriteFile(p, []byte("not a seed\n"), 0o644)
				}
				if !fileExists(filepath.Join(d.Path, snapName)) {
					t.Fatal("no snapshot to discard")
				}
			}

			s, lb := open(t, opt)
			if n := lb.count("from=scan"); n != len(dirs) {
				t.Errorf("%d dirs scanned, want %d (the snapshots must be discarded)", n, len(dirs))
			}
			if fileExists(damaged) {
				t.Error("damaged legacy file left")
			}
			for _, d := range dirs {
				b, _ := os.ReadFile(filepath.Join(d.Path, seedFileName))
				if _, ok := parseSeed(b); !ok {
					t.Errorf("%s: no valid seed written: %q", d.Path, b)
				}
			}
			st := s.Stats()
			switch seed {
			case "missing":
				// Migrated: every chunk is found under its seeded name.
				checkAll(t, s, ids, size)
				if n := lb.count("chunk files of a previous release renamed"); n != len(dirs) {
					t.Errorf("%d INFO lines for the migration, want one per dir", n)
				}
				for _, id := range ids {
					chunkFile(t, dirs, id)
				}
				if st.Corrupt != 1 {
					t.Errorf("corrupt = %d, want 1 (the damaged file)", st.Corrupt)
				}
			case "damaged":
				// A lost seed: the files, named with it, cannot be told from
				// damaged ones and are dropped; nothing is served.
				for _, id := range ids {
					mustMiss(t, s, id, "etag-1")
				}
				if st.Corrupt != int64(len(ids))+1 {
					t.Errorf("corrupt = %d, want %d", st.Corrupt, len(ids)+1)
				}
				if lb.count("seed file damaged") != len(dirs) {
					t.Error("no WARN for the damaged seed")
				}
			}
			// No file is left under its unseeded name.
			for _, d := range dirs {
				filepath.WalkDir(filepath.Join(d.Path, "chunks"), func(p string, de os.DirEntry, err error) error {
					if err == nil && !de.IsDir() {
						for _, id := range ids {
							if strings.HasSuffix(p, chunkName(keyHash(id.Key), id.Index)) {
								t.Errorf("legacy file %s left", p)
							}
						}
					}
					return nil
				})
			}
			// The store works on.
			if err := s.Put(ids[0], "etag-2", nil, payload(ids[0], "etag-2", size)); err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, ids[0], "etag-2", payload(ids[0], "etag-2", size))
		})
	}
}

// TestSeededHashes checks that handles and file names depend on secret
// seeds: two stores (and two dirs) give the same key different ones, while
// placement stays the same.
func TestSeededHashes(t *testing.T) {
	dirsA, stateA := mkdirs(t, 1, 1<<20)
	dirsB, stateB := mkdirs(t, 1, 1<<20)
	a, _ := open(t, Options{Dirs: dirsA, StateFile: stateA})
	b, _ := open(t, Options{Dirs: dirsB, StateFile: stateB})
	for _, key := range []string{"/v/a.m4s", "/v/b.m4s?token=1", ""} {
		for idx := int64(0); idx < 3; idx++ {
			if a.handleOf(key, idx) == b.handleOf(key, idx) {
				t.Errorf("handle of %q/%d equal in two stores", key, idx)
			}
			if a.disks[0].nameHash(key) == b.disks[0].nameHash(key) {
				t.Errorf("file name of %q equal in two dirs", key)
			}
			h1, h2 := a.handleOf(key, idx), a.handleOf(key, idx)
			n1, n2 := a.disks[0].nameHash(key), a.disks[0].nameHash(key)
			if h1 != h2 || n1 != n2 {
				t.Errorf("hashes of %q not deterministic", key)
			}
		}
	}
	if placeHash("/v/a.m4s", 1) != handle(keyHash("/v/a.m4s"), 1) {
		t.Error("placement hash changed: chunks would move between disks")
	}
}

// TestLegacyPutDuringLoad rewrites chunks while the scan migrates a dir of
// the previous release: the new versions win, nothing is lost or doubled.
func TestLegacyPutDuringLoad(t *testing.T) {
	dirs, state := mkdirs(t, 2, 64<<20)
	opt := Options{Dirs: dirs, StateFile: state, ScrubRate: -1}
	s, _ := open(t, opt)
	ids := fill(t, s, 400, 1000)
	s.shutdown(false)
	for _, id := range ids {
		p := chunkFile(t, dirs, id)
		if err := os.Rename(p, filepath.Join(filepath.Dir(filepath.Dir(p)), chunkName(keyHash(id.Key), id.Index))); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range dirs {
		os.Remove(filepath.Join(d.Path, seedFileName))
	}
	s, _ = openNoWait(t, opt)
	for _, id := range ids[:50] {
		if err := s.Put(id, "etag-2", []byte("new"), payload(id, "etag-2", 1000)); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, s)
	for _, id := range ids[:50] {
		mustGet(t, s, id, "etag-2", payload(id, "etag-2", 1000))
	}
	for _, id := range ids[52:] { // ids[50:52] share a key with rewritten chunks
		mustGet(t, s, id, "etag-1", payload(id, "etag-1", 1000))
	}
	n, files := 0, 0
	for _, d := range s.Stats().Disks {
		n += d.Chunks
	}
	for _, d := range dirs {
		filepath.WalkDir(filepath.Join(d.Path, "chunks"), func(p string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				files++
			}
			return nil
		})
	}
	if n != len(ids) || files != len(ids) {
		t.Errorf("%d chunks indexed and %d files, want %d", n, files, len(ids))
	}
}
