package disk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// putUntil puts new 10 kB chunks until one lands on dirs[i] (by placement)
// and returns how many it put; it fails after 200 tries.
func putUntilDisk(t *testing.T, s *Store, i int) {
	t.Helper()
	for n := 0; n < 200; n++ {
		id := ID{Key: "/probe", Index: int64(n)}
		s.mu.Lock()
		d := place(placeHash(id.Key, id.Index), s.live)
		s.mu.Unlock()
		if err := s.Put(id, "v", nil, payload(id, "v", 10_000)); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if d != nil && d.i == i {
			return
		}
	}
	t.Fatalf("no chunk placed on disk %d in 200 Puts", i)
}

func TestDirChanged(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, dir string)
		what   string // in the ERROR line (the alternatives split by |)
	}{
		{"removed", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}, "the directory was removed|its lock file was removed"}, // the check may run during RemoveAll
		{"replaced", func(t *testing.T, dir string) {
			if err := os.Rename(dir, dir+".away"); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "the path now leads to another directory|the directory was removed"}, // the check may run between the two
		{"lock removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "lock")); err != nil {
				t.Fatal(err)
			}
		}, "its lock file was removed"},
	}
	for _, tc := range cases {
		for _, by := range []string{"put", "periodic"} {
			t.Run(tc.name+"/"+by, func(t *testing.T) {
				dirs, state := mkdirs(t, 2, 16<<20)
				opt := Options{Dirs: dirs, StateFile: state, ScrubRate: -1, CheckInterval: -1}
				if by == "periodic" {
					opt.CheckInterval = 5 * time.Millisecond
				}
				s, lb := open(t, opt)
				ids := fill(t, s, 6, 10_000)
				dir := dirs[0].Path
				entries := func() []string {
					var names []string
					ents, _ := os.ReadDir(dir)
					for _, e := range ents {
						names = append(names, e.Name())
					}
					return names
				}
				tc.change(t, dir)
				before := entries() // nothing, an empty new dir, or no lock
				if by == "put" {
					putUntilDisk(t, s, 0)
				} else {
					waitFor(t, "the periodic check", func() bool { return !s.Stats().Disks[0].InService })
				}
				st := s.Stats()
				if st.Disks[0].InService || !st.Disks[1].InService || st.OutOfService != 1 {
					t.Fatalf("disks: %+v", st.Disks)
				}
				said := false
				for _, w := range strings.Split(tc.what, "|") {
					said = said || strings.Contains(st.Disks[0].Reason, w)
				}
				if !strings.Contains(st.Disks[0].Reason, "cache directory replaced or removed") || !said {
					t.Errorf("reason %q does not say what changed (%q)", st.Disks[0].Reason, tc.what)
				}
				// diskFailed logs right after it takes the disk out, outside
				// the lock: the line may trail the state by a moment.
				waitFor(t, "the ERROR line", func() bool { return lb.count(`level=ERROR msg="disk taken out of service"`) >= 1 })
				if n := lb.count(`level=ERROR msg="disk taken out of service"`); n != 1 {
					t.Errorf("%d ERROR lines, want 1", n)
				}
				// Nothing re-created behind our back.
				if got := entries(); strings.Join(got, ",") != strings.Join(before, ",") {
					t.Errorf("dir content changed from %v to %v", before, got)
				}
				// The other disk serves on; chunks of the lost one are misses.
				for _, id := range ids {
					if c, err := s.Get(id, "etag-1"); err == nil {
						readAll(t, c)
						c.Close()
					}
				}
				for n := 0; n < 20; n++ {
					id := ID{Key: "/after", Index: int64(n)}
					if err := s.Put(id, "v", nil, payload(id, "v", 1000)); err != nil {
						t.Fatal(err)
					}
					mustGet(t, s, id, "v", payload(id, "v", 1000))
				}
				if got := entries(); strings.Join(got, ",") != strings.Join(before, ",") {
					t.Errorf("dir content changed from %v to %v", before, got)
				}
				s.Close()
				if got := entries(); strings.Join(got, ",") != strings.Join(before, ",") {
					t.Errorf("Close changed the dir content from %v to %v", before, got)
				}
				// It stays out at the next Open.
				s2, _ := open(t, Options{Dirs: dirs[1:], StateFile: state, ScrubRate: -1})
				_ = s2
				stf, err := readState(OSFS{}, state)
				if err != nil || len(stf.OutOfService) != 1 || stf.OutOfService[0].Path != dir {
					t.Errorf("state file: %+v, %v", stf, err)
				}
			})
		}
	}
}

// TestMissingSubdir checks that subdirectories removed inside a dir that is
// still the same are re-created.
// TestDirChangedBeforeClose checks that Close writes no snapshot into a
// directory that replaced the store's before any check noticed.
func TestDirChangedBeforeClose(t *testing.T) {
	dirs, state := mkdirs(t, 1, 16<<20)
	s, lb := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1, CheckInterval: -1})
	fill(t, s, 3, 1000)
	dir := dirs[0].Path
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Close wrote into the new directory: %v", ents)
	}
	if fileExists(filepath.Join(dir+".away", snapName)) {
		t.Error("snapshot written")
	}
	if lb.count("level=ERROR") != 1 {
		t.Error("no ERROR line")
	}
}

func TestMissingSubdir(t *testing.T) {
	dirs, state := mkdirs(t, 1, 16<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1, CheckInterval: -1})
	for _, sub := range []string{"tmp", "chunks"} {
		if err := os.RemoveAll(filepath.Join(dirs[0].Path, sub)); err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 5; n++ {
			id := ID{Key: "/sub/" + sub, Index: int64(n)}
			if err := s.Put(id, "v", nil, payload(id, "v", 1000)); err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, id, "v", payload(id, "v", 1000))
		}
	}
	if st := s.Stats(); !st.Disks[0].InService {
		t.Fatalf("disk out of service: %+v", st.Disks[0])
	}
}

func TestRequireMount(t *testing.T) {
	dirs, state := mkdirs(t, 2, 16<<20)
	// A subdirectory of a temp dir is never a mount point.
	dirs[0].RequireMount = true
	_, err := Open(Options{Dirs: dirs, StateFile: state})
	if err == nil || !strings.Contains(err.Error(), dirs[0].Path) || !strings.Contains(err.Error(), "not a mount point") {
		t.Fatalf("Open of a dir that is not a mount point: %v", err)
	}
	if fileExists(filepath.Join(dirs[0].Path, "chunks")) {
		t.Error("Open wrote into a dir it refused")
	}
	// Optional: skipped with a WARN.
	dirs[0].Optional = true
	s, lb := open(t, Options{Dirs: dirs, StateFile: state})
	if st := s.Stats(); st.Disks[0].InService || !st.Disks[1].InService {
		t.Errorf("disks: %+v", st.Disks)
	}
	if lb.count("level=WARN") == 0 || lb.count("not a mount point") == 0 {
		t.Error("no WARN for the skipped dir")
	}
	// "/" is a mount point.
	if mp, err := s.isMountPoint("/", nil); !mp || err != nil {
		t.Errorf("isMountPoint(/) = %v, %v", mp, err)
	}
}
