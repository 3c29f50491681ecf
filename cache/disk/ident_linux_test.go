package disk

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a small tmpfs on a new directory under a temp dir, or
// skips the test when it may not (not root).
func mountTmpfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestLazyUnmount is `umount -l` of a disk under a running store, with
// RequireMount: the disk is taken out at the next Put (or check) and nothing
// is written into the directory beneath the mount.
func TestLazyUnmount(t *testing.T) {
	for _, by := range []string{"put", "periodic"} {
		t.Run(by, func(t *testing.T) {
			mnt := mountTmpfs(t)
			other, state := mkdirs(t, 1, 16<<20)
			dirs := []Dir{{Path: mnt, Size: 8 << 20, RequireMount: true}, other[0]}
			opt := Options{Dirs: dirs, StateFile: state, ScrubRate: -1, CheckInterval: -1}
			if by == "periodic" {
				opt.CheckInterval = 5 * time.Millisecond
			}
			s, lb := open(t, opt)
			fill(t, s, 4, 10_000)
			if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
				t.Fatal(err)
			}
			if by == "put" {
				putUntilDisk(t, s, 0)
			} else {
				waitFor(t, "the periodic check", func() bool { return !s.Stats().Disks[0].InService })
			}
			st := s.Stats()
			if st.Disks[0].InService || !strings.Contains(st.Disks[0].Reason, "cache directory replaced or removed") {
				t.Errorf("disk 0: %+v", st.Disks[0])
			}
			// The line may trail the state by a moment (logged outside the lock).
			waitFor(t, "the ERROR line", func() bool { return lb.count("level=ERROR") >= 1 })
			if lb.count("level=ERROR") != 1 {
				t.Error("not one ERROR line")
			}
			for n := 0; n < 10; n++ {
				id := ID{Key: "/after", Index: int64(n)}
				if err := s.Put(id, "v", nil, payload(id, "v", 1000)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
				t.Errorf("wrote into the directory beneath the mount: %v", ents)
			}
		})
	}
	t.Run("open", func(t *testing.T) {
		mnt := mountTmpfs(t)
		_, state := mkdirs(t, 0, 0)
		s, _ := open(t, Options{Dirs: []Dir{{Path: mnt, Size: 8 << 20, RequireMount: true}}, StateFile: state})
		if !s.Stats().Disks[0].InService {
			t.Fatal("a mount point refused")
		}
	})
}
