package disk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"edgecache/cache/policy"
)

func TestRoundTrip(t *testing.T) {
	dirs, state := mkdirs(t, 3, 64<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state})
	waitReady(t, s)
	sizes := []int{0, 1, 4095, 4096, 100_000, 1 << 20}
	for i, n := range sizes {
		for idx := int64(0); idx < 4; idx++ {
			id := ID{Key: fmt.Sprintf("/v/title%d/seg.m4s", i), Index: idx}
			p := payload(id, "v1", n)
			if err := s.Put(id, "v1", []byte("meta-"+id.Key), p); err != nil {
				t.Fatalf("Put(%v): %v", id, err)
			}
		}
	}
	for i, n := range sizes {
		t.Run(fmt.Sprintf("size%d", n), func(t *testing.T) {
			for idx := int64(0); idx < 4; idx++ {
				id := ID{Key: fmt.Sprintf("/v/title%d/seg.m4s", i), Index: idx}
				want := payload(id, "v1", n)
				mustGet(t, s, id, "v1", want)
				mustMiss(t, s, id, "v2")
				if !s.Has(id, "v1") || s.Has(id, "v2") {
					t.Errorf("Has(%v) disagrees with Get", id)
				}

				// Section gives the file and the offset of the payload.
				c, err := s.Get(id, "v1")
				if err != nil {
					t.Fatal(err)
				}
				off := int64(n / 3)
				f, foff := c.Section(off, int64(n)-off)
				if f == nil {
					t.Fatal("Section returned no file")
				}
				got := make([]byte, int64(n)-off)
				if _, err := f.ReadAt(got, foff); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want[off:]) {
					t.Fatal("Section bytes differ")
				}
				if f, _ := c.Section(0, int64(n)+1); f != nil {
					t.Error("Section beyond the payload returned a file")
				}
				c.Close()
			}
			v, m, ok := s.Meta(fmt.Sprintf("/v/title%d/seg.m4s", i))
			if !ok || v != "v1" || string(m) != fmt.Sprintf("meta-/v/title%d/seg.m4s", i) {
				t.Errorf("Meta = %q, %q, %v", v, m, ok)
			}
		})
	}
	mustMiss(t, s, ID{Key: "/nope", Index: 0}, "v1")
	mustMiss(t, s, ID{Key: "/v/title0/seg.m4s", Index: 9}, "v1")

	// Every disk got some chunks.
	for _, d := range s.Stats().Disks {
		if d.Chunks == 0 || d.Bytes == 0 {
			t.Errorf("disk %s holds no chunks: %+v", d.Path, d)
		}
	}

	// A newer version replaces the chunk and becomes the key's Meta.
	id := ID{Key: "/v/title0/seg.m4s", Index: 1}
	if err := s.Put(id, "v2", []byte("meta2"), payload(id, "v2", 10)); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, s, id, "v1")
	mustGet(t, s, id, "v2", payload(id, "v2", 10))
	if v, m, ok := s.Meta(id.Key); !ok || v != "v2" || string(m) != "meta2" {
		t.Errorf("Meta after v2 = %q, %q, %v", v, m, ok)
	}

	// Remove.
	s.Remove(id)
	mustMiss(t, s, id, "v2")
	if _, err := os.Stat(chunkFileMaybe(dirs, id)); !os.IsNotExist(err) {
		t.Errorf("removed chunk file still there: %v", err)
	}
	st := s.Stats()
	if st.Hits == 0 || st.Misses == 0 || st.Puts != int64(len(sizes)*4+1) {
		t.Errorf("stats: %+v", st)
	}
}

func chunkFileMaybe(dirs []Dir, id ID) string {
	for _, d := range dirs {
		p := seededPath(d.Path, id)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return seededPath(dirs[0].Path, id)
}

func TestPutValidation(t *testing.T) {
	dirs, state := mkdirs(t, 1, 1<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state})
	for _, tc := range []struct {
		name string
		id   ID
		ver  string
		meta []byte
		n    int
	}{
		{"empty key", ID{"", 0}, "v", nil, 1},
		{"negative index", ID{"/k", -1}, "v", nil, 1},
		{"long version", ID{"/k", 0}, strings.Repeat("v", MaxVersionLen+1), nil, 1},
		{"long meta", ID{"/k", 0}, "v", make([]byte, MaxMetaLen+1), 1},
		{"over budget", ID{"/k", 0}, "v", nil, 1 << 20},
	} {
		if err := s.Put(tc.id, tc.ver, tc.meta, make([]byte, tc.n)); err == nil {
			t.Errorf("%s: Put succeeded", tc.name)
		}
	}
}

// fill puts n chunks of size bytes over a few keys and returns their IDs.
func fill(t testing.TB, s *Store, n, size int) []ID {
	var ids []ID
	for i := 0; i < n; i++ {
		id := ID{Key: fmt.Sprintf("/obj/%d", i/4), Index: int64(i % 4)}
		if err := s.Put(id, "etag-1", []byte("m"+id.Key), payload(id, "etag-1", size)); err != nil {
			t.Fatalf("Put(%v): %v", id, err)
		}
		ids = append(ids, id)
	}
	return ids
}

func checkAll(t testing.TB, s *Store, ids []ID, size int) {
	t.Helper()
	for _, id := range ids {
		mustGet(t, s, id, "etag-1", payload(id, "etag-1", size))
	}
	for _, id := range ids {
		if v, m, ok := s.Meta(id.Key); !ok || v != "etag-1" || string(m) != "m"+id.Key {
			t.Fatalf("Meta(%q) = %q, %q, %v", id.Key, v, m, ok)
		}
	}
}

func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		clean    bool // Close (snapshot) or crash (scan)
		wantFrom string
	}{
		{"clean/snapshot", true, "from=snapshot"},
		{"crash/scan", false, "from=scan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs, state := mkdirs(t, 3, 64<<20)
			opt := Options{Dirs: dirs, StateFile: state}
			s, _ := open(t, opt)
			waitReady(t, s)
			ids := fill(t, s, 300, 3000)
			if tc.clean {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				for _, d := range dirs {
					if _, err := os.Stat(filepath.Join(d.Path, snapName)); err != nil {
						t.Errorf("no snapshot after Close: %v", err)
					}
				}
			} else {
				s.shutdown(false)
				// A crash leaves temp files behind.
				for _, d := range dirs {
					os.WriteFile(filepath.Join(d.Path, "tmp", "leftover"), []byte("partial"), 0o644)
				}
			}
			s2, lb := open(t, opt)
			waitReady(t, s2)
			if !strings.Contains(lb.String(), tc.wantFrom) {
				t.Errorf("index not loaded %s:\n%s", tc.wantFrom, lb.String())
			}
			checkAll(t, s2, ids, 3000)
			for _, d := range dirs {
				ents, _ := os.ReadDir(filepath.Join(d.Path, "tmp"))
				if len(ents) != 0 {
					t.Errorf("%s/tmp not emptied: %d entries", d.Path, len(ents))
				}
				for _, n := range []string{snapName, snapLoadName} {
					if _, err := os.Stat(filepath.Join(d.Path, n)); err == nil {
						t.Errorf("%s left after loading", n)
					}
				}
			}
			st := s2.Stats()
			var chunks int
			for _, d := range st.Disks {
				chunks += d.Chunks
			}
			if chunks != len(ids) || !st.Ready {
				t.Errorf("after restart: %d chunks indexed, want %d; ready %v", chunks, len(ids), st.Ready)
			}
			// The reloaded store keeps working, and a crash right after a
			// snapshot load scans instead of loading a stale snapshot.
			extra := ID{Key: "/after", Index: 0}
			if err := s2.Put(extra, "v", nil, []byte("x")); err != nil {
				t.Fatal(err)
			}
			s2.Remove(ids[0])
			s2.shutdown(false)
			s3, lb3 := open(t, opt)
			waitReady(t, s3)
			if !strings.Contains(lb3.String(), "from=scan") {
				t.Errorf("third open did not scan:\n%s", lb3.String())
			}
			mustGet(t, s3, extra, "v", []byte("x"))
			mustMiss(t, s3, ids[0], "etag-1")
			checkAll(t, s3, ids[1:], 3000)
		})
	}
}

// TestKill9 kills a child process writing chunks with SIGKILL and checks
// that everything it had stored is found by the next Open.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("EDGECACHE_DISK_CHILD"); dir != "" {
		child(dir)
		return
	}
	dirs, state := mkdirs(t, 2, 64<<20)
	cmd := execSelf(t, "TestKill9", "EDGECACHE_DISK_CHILD="+dirs[0].Path+":"+dirs[1].Path+":"+state)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child prints "stored N" after each chunk; kill it mid-stream.
	var stored int
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 512)
	for stored < 200 {
		n, err := out.Read(tmp)
		buf = append(buf, tmp[:n]...)
		lines := strings.Split(string(buf), "\n")
		for _, l := range lines[:len(lines)-1] {
			fmt.Sscanf(l, "stored %d", &stored)
		}
		buf = append(buf[:0], lines[len(lines)-1]...)
		if err != nil {
			t.Fatalf("child stopped after %d chunks: %v", stored, err)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	s, lb := open(t, Options{Dirs: dirs, StateFile: state})
	waitReady(t, s)
	if !strings.Contains(lb.String(), "from=scan") {
		t.Errorf("no scan after kill -9:\n%s", lb.String())
	}
	for i := 0; i < stored; i++ {
		id := ID{Key: fmt.Sprintf("/kill/%d", i/4), Index: int64(i % 4)}
		mustGet(t, s, id, "v", payload(id, "v", 20000))
	}
	t.Logf("child stored at least %d chunks before SIGKILL; all found", stored)
}

func child(spec string) {
	parts := strings.Split(spec, ":")
	s, err := Open(Options{Dirs: []Dir{{Path: parts[0], Size: 64 << 20}, {Path: parts[1], Size: 64 << 20}}, StateFile: parts[2],
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	<-s.Ready()
	for i := 0; ; i++ {
		id := ID{Key: fmt.Sprintf("/kill/%d", i/4), Index: int64(i % 4)}
		if err := s.Put(id, "v", nil, payload(id, "v", 20000)); err != nil {
			fmt.Println("put:", err)
			os.Exit(1)
		}
		fmt.Printf("stored %d\n", i+1)
	}
}

func TestCorruption(t *testing.T) {
	const size = 50_000
	type damage func(t *testing.T, path string)
	flip := func(off func(hlen, size int64) int64) damage {
		return func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			b := make([]byte, 1)
			o := off(fi.Size()-size, fi.Size())
			f.ReadAt(b, o)
			b[0] ^= 0x40
			f.WriteAt(b, o)
		}
	}
	cases := []struct {
		name     string
		damage   damage
		checksum bool // counted as a checksum failure
		gone     bool // file deleted behind the store's back: neither counter
	}{
		{"flip payload first byte", flip(func(h, n int64) int64 { return h }), true, false},
		{"flip payload last byte", flip(func(h, n int64) int64 { return n - 1 }), true, false},
		{"flip header key", flip(func(h, n int64) int64 { return fixedHeader + 2 }), false, false},
		{"flip header magic", flip(func(h, n int64) int64 { return 0 }), false, false},
		{"truncate payload", func(t *testing.T, p string) { fi, _ := os.Stat(p); os.Truncate(p, fi.Size()-1) }, false, false},
		{"truncate header", func(t *testing.T, p string) { os.Truncate(p, 30) }, false, false},
		{"empty file", func(t *testing.T, p string) { os.Truncate(p, 0) }, false, false},
		{"extend file", func(t *testing.T, p string) {
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("junk"))
			f.Close()
		}, false, false},
		{"delete", func(t *testing.T, p string) { os.Remove(p) }, false, true},
	}
	for _, load := range []string{"snapshot", "scan", "live"} {
		for _, tc := range cases {
			t.Run(load+"/"+tc.name, func(t *testing.T) {
				dirs, state := mkdirs(t, 2, 16<<20)
				opt := Options{Dirs: dirs, StateFile: state}
				s, _ := open(t, opt)
				ids := fill(t, s, 8, size)
				victim := ids[5]
				if load != "live" {
					s.shutdown(load == "snapshot")
					tc.damage(t, chunkFile(t, dirs, victim))
					s, _ = open(t, opt)
					waitReady(t, s)
				} else {
					tc.damage(t, chunkFile(t, dirs, victim))
				}
				for i := 0; i < 2; i++ {
					c, err := s.Get(victim, "etag-1")
					if err == nil {
						got := readAll(t, c)
						c.Close()
						t.Fatalf("damaged chunk served (%d bytes, equal: %v)", len(got), bytes.Equal(got, payload(victim, "etag-1", size)))
					}
					if !errors.Is(err, ErrNotFound) {
						t.Fatalf("Get: %v", err)
					}
				}
				st := s.Stats()
				switch {
				case tc.checksum && st.ChecksumFailures != 1:
					t.Errorf("checksum failures = %d, want 1", st.ChecksumFailures)
				case !tc.checksum && !tc.gone && st.Corrupt != 1:
					t.Errorf("corrupt = %d, want 1", st.Corrupt)
				case st.IOErrors != 0:
					t.Errorf("damage counted as an I/O error: %+v", st)
				}
				if !tc.gone {
					// Deletes are queued behind the index change: wait for it.
					p := chunkFileMaybe(dirs, victim)
					waitFor(t, "damaged file "+p+" deleted", func() bool { return !fileExists(p) })
				}
				for _, id := range ids {
					if id != victim {
						mustGet(t, s, id, "etag-1", payload(id, "etag-1", size))
					}
				}
				// The chunk can be stored again.
				if err := s.Put(victim, "etag-1", nil, payload(victim, "etag-1", size)); err != nil {
					t.Fatal(err)
				}
				mustGet(t, s, victim, "etag-1", payload(victim, "etag-1", size))
				for _, d := range st.Disks {
					if !d.InService {
						t.Errorf("damage took %s out of service", d.Path)
					}
				}
			})
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestSnapshotDamaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-10] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"garbage", func(b []byte) []byte { return []byte("not a snapshot at all, really") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs, state := mkdirs(t, 1, 16<<20)
			opt := Options{Dirs: dirs, StateFile: state}
			s, _ := open(t, opt)
			ids := fill(t, s, 20, 1000)
			s.Close()
			p := filepath.Join(dirs[0].Path, snapName)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(p, tc.damage(b), 0o644)
			s, lb := open(t, opt)
			waitReady(t, s)
			if !strings.Contains(lb.String(), "from=scan") || !strings.Contains(lb.String(), "snapshot unusable") {
				t.Errorf("damaged snapshot not replaced by a scan:\n%s", lb.String())
			}
			checkAll(t, s, ids, 1000)
		})
	}
}

func TestDiskFault(t *testing.T) {
	for _, tc := range []struct {
		op  string
		err error
	}{
		{"write", syscall.EIO},
		{"openfile", syscall.EROFS},
		{"rename", syscall.EIO},
		{"sync", syscall.EIO}, // with fsync=always
		{"read", syscall.EIO},
	} {
		t.Run(tc.op+"/"+tc.err.Error(), func(t *testing.T) {
			dirs, state := mkdirs(t, 2, 16<<20)
			ffs := &faultFS{}
			opt := Options{Dirs: dirs, StateFile: state, FS: ffs, Fsync: "always"}
			s, lb := open(t, opt)
			waitReady(t, s)
			ids := fill(t, s, 40, 2000)
			bad := dirs[1].Path
			ffs.add(tc.op, bad+"/", 0, tc.err)
			if tc.op == "read" {
				// Reads fail only on Get: read every chunk once.
				for _, id := range ids {
					if c, err := s.Get(id, "etag-1"); err == nil {
						c.Close()
					}
				}
			}
			// Chunks keep being stored: the failing disk goes out of
			// service and the other takes its share.
			more := make([]ID, 0, 40)
			for i := 0; i < 40; i++ {
				id := ID{Key: fmt.Sprintf("/more/%d", i), Index: 0}
				if err := s.Put(id, "etag-1", []byte("m"+id.Key), payload(id, "etag-1", 2000)); err != nil {
					t.Fatalf("Put after fault: %v", err)
				}
				more = append(more, id)
			}
			st := s.Stats()
			if st.Disks[1].InService || !st.Disks[0].InService || st.OutOfService != 1 || st.IOErrors == 0 {
				t.Fatalf("after %s %v on %s: %+v", tc.op, tc.err, bad, st)
			}
			if n := lb.count("disk taken out of service"); n != 1 {
				t.Errorf("%d 'disk taken out of service' lines, want 1", n)
			}
			if !strings.Contains(st.Disks[1].Reason, tc.err.Error()) {
				t.Errorf("reason %q does not name the error", st.Disks[1].Reason)
			}
			// Every chunk is served correctly or missed; the ones put after
			// the fault are all there.
			rightOrMissing(t, s, ids, "etag-1", 2000)
			for _, id := range more {
				mustGet(t, s, id, "etag-1", payload(id, "etag-1", 2000))
			}
			// The state file lists the disk.
			var sf stateFile
			b, err := os.ReadFile(state)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &sf); err != nil || len(sf.OutOfService) != 1 || sf.OutOfService[0].Path != bad {
				t.Fatalf("state file: %v\n%s", err, b)
			}
			s.Close()

			// A new Open skips it, even with the fault gone.
			ffs.clear()
			s2, lb2 := open(t, opt)
			waitReady(t, s2)
			if st := s2.Stats(); st.Disks[1].InService || !strings.Contains(st.Disks[1].Reason, "listed out of service") {
				t.Errorf("disk listed in the state file is in service: %+v", st.Disks[1])
			}
			if lb2.count("disk out of service, skipped") != 1 {
				t.Errorf("no skip log line:\n%s", lb2.String())
			}
			for _, id := range more {
				mustGet(t, s2, id, "etag-1", payload(id, "etag-1", 2000))
			}
			s2.Close()

			// Cleared, it comes back, with the chunks it held.
			if err := ClearOutOfService(state, bad); err != nil {
				t.Fatal(err)
			}
			if err := ClearOutOfService(state, bad); err == nil {
				t.Error("clearing a disk twice succeeded")
			}
			s3, _ := open(t, opt)
			waitReady(t, s3)
			if st := s3.Stats(); !st.Disks[1].InService || st.Disks[1].Chunks == 0 {
				t.Errorf("cleared disk: %+v", st.Disks[1])
			}
			checkAll(t, s3, ids, 2000)
			for _, id := range more {
				mustGet(t, s3, id, "etag-1", payload(id, "etag-1", 2000))
			}
		})
	}
}

func TestAllDisksFail(t *testing.T) {
	dirs, state := mkdirs(t, 2, 16<<20)
	ffs := &faultFS{}
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, FS: ffs})
	ffs.add("write", filepath.Dir(dirs[0].Path), 0, syscall.EIO)
	err := s.Put(ID{"/k", 0}, "v", nil, []byte("x"))
	if !errors.Is(err, syscall.EIO) && !errors.Is(err, ErrNoDisk) {
		t.Fatalf("Put with every disk failing: %v", err)
	}
	if err := s.Put(ID{"/k", 1}, "v", nil, []byte("x")); !errors.Is(err, ErrNoDisk) {
		t.Fatalf("Put with no disk: %v, want ErrNoDisk", err)
	}
	mustMiss(t, s, ID{"/k", 0}, "v")
}

// TestDiskFull: a file system out of room (ENOSPC) is not a failing disk.
// The disk stays in service with its budget cut to what it holds, and the
// Puts that meet the full file system fail, each after one more try that
// evicts to make room; every chunk is served right or missed. Once there is
// room again, Puts there succeed, and the periodic check gives the budget
// back.
func TestDiskFull(t *testing.T) {
	dirs, state := mkdirs(t, 2, 16<<20)
	ffs := &faultFS{}
	s, lb := open(t, Options{Dirs: dirs, StateFile: state, FS: ffs, CheckInterval: -1})
	ids := fill(t, s, 40, 2000)
	full := dirs[1].Path
	ffs.add("write", full+"/", 0, syscall.ENOSPC)
	var failed, stored []ID
	for i := 0; i < 40; i++ {
		id := ID{Key: fmt.Sprintf("/more/%d", i), Index: 0}
		switch err := s.Put(id, "etag-1", nil, payload(id, "etag-1", 2000)); {
		case err == nil:
			stored = append(stored, id)
		case errors.Is(err, syscall.ENOSPC):
			failed = append(failed, id)
		default:
			t.Fatalf("Put: %v", err)
		}
	}
	st := s.Stats()
	if len(failed) == 0 || len(stored) == 0 {
		t.Fatalf("%d Puts failed, %d stored: want some of each (one disk full)", len(failed), len(stored))
	}
	if !st.Disks[1].InService || st.OutOfService != 0 || lb.count("disk taken out of service") != 0 {
		t.Fatalf("a full disk was taken out of service: %+v", st)
	}
	// A write that fails cuts the budget and tries once more. This fake
	// full disk frees nothing when chunks are deleted, so the budget ends
	// at 0 and the last Puts fail before writing.
	if st.FullWrites < 2 || st.FullWrites > int64(2*len(failed)) {
		t.Errorf("FullWrites %d, want 2 to %d (at most two tries per failed Put)", st.FullWrites, 2*len(failed))
	}
	if st.Disks[1].Budget >= 16<<20 {
		t.Errorf("full disk: budget %d, want it cut below the configured %d", st.Disks[1].Budget, 16<<20)
	}
	if n := lb.count("disk full"); n != 1 {
		t.Errorf("%d 'disk full' lines, want 1 (once a minute)", n)
	}
	rightOrMissing(t, s, append(ids, failed...), "etag-1", 2000)
	for _, id := range stored {
		mustGet(t, s, id, "etag-1", payload(id, "etag-1", 2000))
	}

	// Room again: the periodic check gives the configured budget back,
	// and the chunks that failed are stored.
	ffs.clear()
	s.checkAll()
	if b := s.Stats().Disks[1].Budget; b != 16<<20 {
		t.Errorf("budget %d after the check, want the configured %d back", b, 16<<20)
	}
	if lb.count("disk budget back to its configured size") != 1 {
		t.Errorf("no INFO line for the budget given back:\n%s", lb.String())
	}
	for _, id := range failed {
		if err := s.Put(id, "etag-1", nil, payload(id, "etag-1", 2000)); err != nil {
			t.Fatalf("Put after the disk has room again: %v", err)
		}
		mustGet(t, s, id, "etag-1", payload(id, "etag-1", 2000))
	}
}

// TestFitBudget: a budget larger than its file system can hold is cut, by
// the periodic check, to what the disk holds plus the free space, less
// headroom; then the Puts evict within it.
func TestFitBudget(t *testing.T) {
	dirs, state := mkdirs(t, 1, 1<<60) // an exabyte: more than any test machine's disk
	s, lb := open(t, Options{Dirs: dirs, StateFile: state, CheckInterval: -1})
	free, ok := freeSpace(dirs[0].Path)
	if !ok {
		t.Skip("free space unknown on this system")
	}
	s.checkAll()
	b := s.Stats().Disks[0].Budget
	if b >= 1<<60 || b > free || b < free-fullHeadroom(free)-(64<<20) {
		t.Errorf("budget %d after the check with %d bytes free; want about the free space less headroom", b, free)
	}
	if lb.count("disk budget below its configured size") != 1 {
		t.Errorf("no WARN for the cut budget:\n%s", lb.String())
	}
	s.checkAll() // about the same room: the free space may move a little between the checks, so one more line at most
	if n := lb.count("disk budget below its configured size"); n > 2 {
		t.Errorf("%d WARN lines for an unchanged budget", n)
	}
}

// TestENOSPC fills a real size-limited tmpfs.
func TestENOSPC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot mount a size-limited tmpfs for a real ENOSPC")
	}
	dirs, state := mkdirs(t, 2, 64<<20)
	small := dirs[1].Path
	if out, err := execCommand("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", small); err != nil {
		t.Skipf("cannot mount tmpfs (%v: %s): skipping the real ENOSPC test", err, out)
	}
	t.Cleanup(func() {
		if out, err := execCommand("umount", small); err != nil {
			t.Errorf("umount %s: %v: %s", small, err, out)
		}
	})
	s, lb := open(t, Options{Dirs: dirs, StateFile: state, CheckInterval: -1}) // budget 64 MiB on an 8 MiB tmpfs
	waitReady(t, s)
	var ids []ID
	for i := 0; i < 40; i++ {
		id := ID{Key: fmt.Sprintf("/big/%d", i), Index: 0}
		if err := s.Put(id, "v", nil, payload(id, "v", 1<<20)); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Put %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	st := s.Stats()
	if !st.Disks[1].InService || st.FullWrites == 0 || st.Disks[1].Budget > 8<<20 || st.Disks[1].Chunks == 0 {
		t.Fatalf("full tmpfs: %+v, %d full writes; want it in service, holding chunks, its budget cut below 8 MiB", st.Disks[1], st.FullWrites)
	}
	if lb.count("disk taken out of service") != 0 {
		t.Errorf("log:\n%s", lb.String())
	}
	rightOrMissing(t, s, ids, "v", 1<<20)
	s.Close()
}

func TestOpenErrors(t *testing.T) {
	root := t.TempDir()
	good := filepath.Join(root, "good")
	os.Mkdir(good, 0o755)
	missing := filepath.Join(root, "missing")
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o644)
	ro := filepath.Join(root, "ro")
	os.Mkdir(ro, 0o755)
	ffs := &faultFS{}
	if os.Geteuid() == 0 {
		// chmod does not stop root: inject the read-only file system.
		ffs.add("mkdir", ro+"/", 0, syscall.EROFS)
		ffs.add("openfile", ro+"/", 0, syscall.EROFS)
	} else {
		os.Chmod(ro, 0o555)
	}
	state := filepath.Join(root, "state")
	for _, tc := range []struct {
		name    string
		dir     string
		wantErr string
	}{
		{"missing", missing, "does not exist"},
		{"not a dir", file, "not a directory"},
		{"read-only", ro, "not writable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := newLog(t)
			_, err := Open(Options{Dirs: []Dir{{Path: good, Size: 1 << 20}, {Path: tc.dir, Size: 1 << 20}},
				StateFile: state, FS: ffs, Logger: log})
			if err == nil || !strings.Contains(err.Error(), tc.dir) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Open: %v; want an error naming %s and saying %q", err, tc.dir, tc.wantErr)
			}
			// Optional: skipped, logged, the store works on the good dir.
			s, lb := open(t, Options{Dirs: []Dir{{Path: good, Size: 1 << 20}, {Path: tc.dir, Size: 1 << 20, Optional: true}},
				StateFile: state, FS: ffs})
			waitReady(t, s)
			if lb.count("optional cache dir unusable, skipped") != 1 {
				t.Errorf("log:\n%s", lb.String())
			}
			st := s.Stats()
			if st.Disks[1].InService || !st.Disks[0].InService {
				t.Errorf("stats: %+v", st.Disks)
			}
			if err := s.Put(ID{"/k", 0}, "v", nil, []byte("x")); err != nil {
				t.Fatal(err)
			}
			mustGet(t, s, ID{"/k", 0}, "v", []byte("x"))
			s.Close()
		})
	}
	for _, tc := range []struct {
		name string
		opt  Options
	}{
		{"no dirs", Options{}},
		{"zero size", Options{Dirs: []Dir{{Path: good}}}},
		{"twice", Options{Dirs: []Dir{{Path: good, Size: 1}, {Path: good + "/", Size: 1}}}},
		{"bad fsync", Options{Dirs: []Dir{{Path: good, Size: 1 << 20}}, Fsync: "sometimes"}},
		{"bad policy", Options{Dirs: []Dir{{Path: good, Size: 1 << 20}}, Policy: "fifo-ish"}},
	} {
		tc.opt.StateFile = state
		if _, err := Open(tc.opt); err == nil {
			t.Errorf("%s: Open succeeded", tc.name)
		}
	}
}

func TestLocked(t *testing.T) {
	dirs, state := mkdirs(t, 1, 1<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state})
	log, _ := newLog(t)
	if _, err := Open(Options{Dirs: dirs, StateFile: state, Logger: log}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open of a dir in use: %v", err)
	}
	s.Close()
	s2, _ := open(t, Options{Dirs: dirs, StateFile: state})
	s2.Close()
}

// TestReadAfterEvict reads a chunk whose file was deleted meanwhile.
func TestReadAfterEvict(t *testing.T) {
	dirs, state := mkdirs(t, 1, 1<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state})
	id := ID{"/k", 0}
	want := payload(id, "v", 300_000)
	if err := s.Put(id, "v", nil, want); err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(id, "v")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Evict it by filling the budget.
	for i := 1; i < 5; i++ {
		id := ID{"/k", int64(i)}
		s.Put(id, "v", nil, payload(id, "v", 300_000))
	}
	mustMiss(t, s, id, "v")
	if fileExists(chunkFileMaybe(dirs, id)) {
		t.Fatal("evicted chunk file still there")
	}
	if got := readAll(t, c); !bytes.Equal(got, want) {
		t.Fatal("open chunk of an evicted file reads wrong bytes")
	}
	if s.Stats().Evictions == 0 {
		t.Error("no evictions counted")
	}
}

// TestBudget writes three times the budget from concurrent writers and
// checks the disk usage the OS reports, during and after.
func TestBudget(t *testing.T) {
	const (
		budget  = 8 << 20
		chunk   = 256 << 10
		writers = 8
	)
	dirs, state := mkdirs(t, 2, budget)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state})
	waitReady(t, s)
	slack := int64(writers) * blocks(int64(chunk+headerLen(20, 8, 16)))
	check := func(when string) {
		for _, d := range dirs {
			if u := usage(t, d.Path); u > budget+slack {
				t.Errorf("%s: %s uses %d bytes, budget %d + slack %d", when, d.Path, u, budget, slack)
			}
		}
	}
	done := make(chan struct{})
	var mon sync.WaitGroup
	mon.Add(1)
	go func() {
		defer mon.Done()
		for {
			select {
			case <-done:
				return
			default:
				check("during")
			}
		}
	}()
	total := 3 * 2 * budget / chunk
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += writers {
				id := ID{Key: fmt.Sprintf("/budget/%d", i/8), Index: int64(i % 8)}
				if err := s.Put(id, "etag", []byte("meta-16-bytes..."), payload(id, "etag", chunk)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	mon.Wait()
	check("after")
	st := s.Stats()
	for i, d := range st.Disks {
		if d.Bytes > budget {
			t.Errorf("%s accounts %d bytes > budget %d", d.Path, d.Bytes, budget)
		}
		// Nothing on disk that the index does not account for.
		if u := usage(t, dirs[i].Path); u != d.Bytes {
			t.Errorf("%s: %d bytes on disk, %d accounted", d.Path, u, d.Bytes)
		}
	}
	// A chunk still being written may be evicted by another writer's
	// reservation; then its Put stores nothing and is not counted.
	if st.Evictions == 0 || st.Puts > int64(total) || st.Puts < int64(total-writers) {
		t.Errorf("stats: %+v", st)
	}
}

// TestConcurrent mixes Put, Get and Remove of a few chunks and versions
// under the race detector: a Get returns the bytes of the version asked for
// or nothing.
func TestConcurrent(t *testing.T) {
	dirs, state := mkdirs(t, 3, 2<<20)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				id := ID{Key: fmt.Sprintf("/c/%d", (i*7+w)%5), Index: int64(i % 3)}
				ver := fmt.Sprintf("v%d", (i+w)%2)
				switch i % 5 {
				case 0, 1:
					if err := s.Put(id, ver, nil, payload(id, ver, 100_000)); err != nil {
						t.Error(err)
						return
					}
				case 4:
					s.Remove(id)
				default:
					c, err := s.Get(id, ver)
					if err != nil {
						continue
					}
					b := make([]byte, c.Len())
					n, err := c.ReadAt(b, 0)
					c.Close()
					if err != nil && err != io.EOF {
						t.Errorf("ReadAt: %v", err)
					}
					if !bytes.Equal(b[:n], payload(id, ver, 100_000)) {
						t.Errorf("wrong bytes for %v %s", id, ver)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	if st.IOErrors != 0 || st.Corrupt != 0 {
		t.Errorf("stats: %+v", st)
	}
	s.Close()
	// Nothing leaked: every chunk file on disk is indexed after a reload,
	// and the snapshot matches a scan.
	s2, _ := open(t, Options{Dirs: dirs, StateFile: state})
	waitReady(t, s2)
	for i, d := range s2.Stats().Disks {
		if u := usage(t, dirs[i].Path); u != d.Bytes {
			t.Errorf("%s: %d bytes on disk, %d indexed", d.Path, u, d.Bytes)
		}
	}
}

func TestPutDuringLoad(t *testing.T) {
	dirs, state := mkdirs(t, 2, 64<<20)
	opt := Options{Dirs: dirs, StateFile: state}
	s, _ := open(t, opt)
	ids := fill(t, s, 400, 1000)
	s.shutdown(false)
	s, _ = openNoWait(t, opt)
	// Rewrite some chunks with a new version while the scan runs.
	for _, id := range ids[:50] {
		if err := s.Put(id, "etag-2", []byte("new"), payload(id, "etag-2", 1000)); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, s)
	for _, id := range ids[:50] {
		mustGet(t, s, id, "etag-2", payload(id, "etag-2", 1000))
		mustMiss(t, s, id, "etag-1")
	}
	for _, id := range ids[52:] { // ids[50:52] share a key with rewritten chunks
		mustGet(t, s, id, "etag-1", payload(id, "etag-1", 1000))
	}
	var n int
	for _, d := range s.Stats().Disks {
		n += d.Chunks
	}
	if n != len(ids) {
		t.Errorf("%d chunks indexed, want %d", n, len(ids))
	}
}

func TestEvictionOnLoad(t *testing.T) {
	// A smaller budget at the next start evicts down to it, oldest first.
	dirs, state := mkdirs(t, 1, 4<<20)
	opt := Options{Dirs: dirs, StateFile: state}
	s, _ := open(t, opt)
	ids := fill(t, s, 60, 60_000)
	s.Close()
	opt.Dirs[0].Size = 1 << 20
	s, _ = open(t, opt)
	waitReady(t, s)
	st := s.Stats()
	if st.Disks[0].Bytes > 1<<20 || usage(t, dirs[0].Path) > 1<<20 {
		t.Fatalf("over budget after load: %+v", st.Disks[0])
	}
	mustGet(t, s, ids[len(ids)-1], "etag-1", payload(ids[len(ids)-1], "etag-1", 60_000))
	mustMiss(t, s, ids[0], "etag-1")
}

func TestPolicies(t *testing.T) {
	for _, name := range policy.Names() {
		t.Run(name, func(t *testing.T) {
			const budget = 2 << 20
			dirs, state := mkdirs(t, 2, budget)
			opt := Options{Dirs: dirs, StateFile: state, Policy: name}
			s, _ := open(t, opt)
			var ids []ID
			for i := 0; i < 3*2*budget/(64<<10); i++ {
				id := ID{Key: fmt.Sprintf("/p/%d", i%40), Index: int64(i / 40)}
				if err := s.Put(id, "v", nil, payload(id, "v", 60_000)); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
				if i%3 == 0 { // some reuse for the frequency-aware policies
					if c, err := s.Get(ids[i/2], "v"); err == nil {
						c.Close()
					}
				}
			}
			check := func(s *Store) int {
				found := 0
				for _, id := range ids {
					c, err := s.Get(id, "v")
					if err != nil {
						continue
					}
					if !bytes.Equal(readAll(t, c), payload(id, "v", 60_000)) {
						t.Fatalf("wrong bytes for %v", id)
					}
					c.Close()
					found++
				}
				for i, d := range s.Stats().Disks {
					if d.Bytes > budget || usage(t, dirs[i].Path) > budget {
						t.Errorf("%s over budget: %+v", d.Path, d)
					}
				}
				return found
			}
			n := check(s)
			if n == 0 {
				t.Fatal("nothing kept")
			}
			s.Close()
			s2, _ := open(t, opt)
			if n2 := check(s2); n2 != n {
				t.Errorf("%d chunks before restart, %d after", n, n2)
			}
		})
	}
}

// Running short of file descriptors or memory (EMFILE, ENFILE, ENOMEM) is
// not a fault of the disk: the reads and writes that meet it fail (misses),
// nothing is dropped, and the disk stays in service, its chunks readable
// once descriptors are free again. It took the disk out of service, its
// index dropped, until an operator cleared it.
func TestShortOfResourcesIsNotADiskFault(t *testing.T) {
	for _, tc := range []struct {
		op  string
		err error
	}{
		{"open", syscall.EMFILE},
		{"open", syscall.ENFILE},
		{"read", syscall.ENOMEM},
		{"openfile", syscall.EMFILE},
	} {
		t.Run(tc.op+"/"+tc.err.Error(), func(t *testing.T) {
			dirs, state := mkdirs(t, 1, 16<<20)
			ffs := &faultFS{}
			s, _ := open(t, Options{Dirs: dirs, StateFile: state, FS: ffs, OpenFiles: -1, ScrubRate: -1})
			waitReady(t, s)
			ids := fill(t, s, 10, 2000)
			ffs.add(tc.op, dirs[0].Path+"/", 0, tc.err)
			misses := 0
			for _, id := range ids {
				if c, err := s.Get(id, "etag-1"); err == nil {
					b := make([]byte, c.Len())
					if _, err := c.ReadAt(b, 0); err != nil {
						misses++
					}
					c.Close()
				} else {
					misses++
				}
			}
			id := ID{Key: "/new", Index: 0}
			perr := s.Put(id, "etag-1", nil, payload(id, "etag-1", 2000))
			if tc.op == "openfile" {
				if perr == nil {
					t.Error("Put succeeded with its file's open failing")
				}
			} else if misses == 0 {
				t.Error("no read met the fault")
			}
			st := s.Stats()
			if !st.Disks[0].InService || st.ResourceErrors == 0 || st.IOErrors != 0 || st.Corrupt != 0 {
				t.Fatalf("in service %v, resource errors %d, I/O errors %d, corrupt %d", st.Disks[0].InService, st.ResourceErrors, st.IOErrors, st.Corrupt)
			}
			ffs.clear()
			for _, id := range ids {
				c, err := s.Get(id, "etag-1")
				if err != nil {
					t.Fatalf("%v after the fault cleared: %v", id, err)
				}
				b := make([]byte, c.Len())
				if _, err := c.ReadAt(b, 0); err != nil || !bytes.Equal(b, payload(id, "etag-1", 2000)) {
					t.Fatalf("%v after the fault cleared: %v", id, err)
				}
				c.Close()
			}
		})
	}
}

// While a disk's index loads, what it holds is not known (its chunks not
// indexed yet fill the file system too): neither a write that meets a full
// file system nor the periodic check cuts its budget; once loaded, they do.
func TestBudgetKeptWhileLoading(t *testing.T) {
	dirs, state := mkdirs(t, 1, 1<<60)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, CheckInterval: -1})
	if _, ok := freeSpace(dirs[0].Path); !ok {
		t.Skip("free space unknown on this system")
	}
	d := s.disks[0]
	s.mu.Lock()
	d.loaded = false // as during the start-up scan
	s.mu.Unlock()
	s.fitBudget(d)
	s.diskFull(d, 4096, syscall.ENOSPC)
	if b := s.Stats().Disks[0].Budget; b != 1<<60 {
		t.Errorf("budget %d while loading, want the configured %d", b, int64(1<<60))
	}
	s.mu.Lock()
	d.loaded = true
	s.mu.Unlock()
	s.diskFull(d, 4096, syscall.ENOSPC)
	if b := s.Stats().Disks[0].Budget; b != 0 {
		t.Errorf("budget %d after a full write on an empty loaded disk, want 0", b)
	}
	s.fitBudget(d)
	if b := s.Stats().Disks[0].Budget; b == 0 || b >= 1<<60 {
		t.Errorf("budget %d after the check, want the free space less headroom", b)
	}
}
