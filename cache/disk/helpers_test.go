package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logBuf collects a store's logs; a failed test prints them.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) count(substr string) int { return strings.Count(l.String(), substr) }

func newLog(t testing.TB) (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("store log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// mkdirs makes n cache dirs under a fresh temp dir and returns them with
// the state file path.
func mkdirs(t testing.TB, n int, size int64) ([]Dir, string) {
	root := t.TempDir()
	var dirs []Dir
	for i := 0; i < n; i++ {
		p := filepath.Join(root, fmt.Sprintf("disk%d", i))
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, Dir{Path: p, Size: size})
	}
	return dirs, filepath.Join(root, "state.json")
}

// open opens a store, waits for its index, and closes it (with a snapshot)
// at cleanup.
func open(t testing.TB, opt Options) (*Store, *logBuf) {
	t.Helper()
	s, lb := openNoWait(t, opt)
	waitReady(t, s)
	return s, lb
}

// openNoWait is open without waiting for the index.
func openNoWait(t testing.TB, opt Options) (*Store, *logBuf) {
	t.Helper()
	var lb *logBuf
	if opt.Logger == nil {
		opt.Logger, lb = newLog(t)
	}
	s, err := Open(opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, lb
}

func waitReady(t testing.TB, s *Store) {
	t.Helper()
	select {
	case <-s.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("index not loaded after 30s")
	}
}

// payload returns deterministic bytes for a chunk.
func payload(id ID, version string, n int) []byte {
	b := make([]byte, n)
	x := keyHash(version) ^ handle(keyHash(id.Key), id.Index) | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// readAll reads a chunk's whole payload through ReadAt and checks Section.
func readAll(t testing.TB, c *Chunk) []byte {
	t.Helper()
	b := make([]byte, c.Len())
	n, err := c.ReadAt(b, 0)
	if n != len(b) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: %d of %d bytes, %v", n, len(b), err)
	}
	return b
}

// rightOrMissing checks that each of ids, of version and payload size,
// is either missing or served with its own bytes.
func rightOrMissing(t testing.TB, s *Store, ids []ID, version string, size int) {
	t.Helper()
	for _, id := range ids {
		if c, err := s.Get(id, version); err == nil {
			if !bytes.Equal(readAll(t, c), payload(id, version, size)) {
				t.Fatalf("wrong bytes for %v", id)
			}
			c.Close()
		}
	}
}

// mustGet gets a chunk and checks its bytes.
func mustGet(t testing.TB, s *Store, id ID, version string, want []byte) {
	t.Helper()
	c, err := s.Get(id, version)
	if err != nil {
		t.Fatalf("Get(%v, %q): %v", id, version, err)
	}
	defer c.Close()
	if got := readAll(t, c); !bytes.Equal(got, want) {
		t.Fatalf("Get(%v, %q): %d bytes differ from the %d stored", id, version, len(got), len(want))
	}
}

func mustMiss(t testing.TB, s *Store, id ID, version string) {
	t.Helper()
	c, err := s.Get(id, version)
	if err == nil {
		c.Close()
		t.Fatalf("Get(%v, %q) found a chunk, want ErrNotFound", id, version)
	}
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%v, %q): %v, want ErrNotFound", id, version, err)
	}
}

// chunkFile returns the file holding id, found by walking the dirs.
func chunkFile(t testing.TB, dirs []Dir, id ID) string {
	t.Helper()
	for _, d := range dirs {
		p := seededPath(d.Path, id)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("no file for %v", id)
	return ""
}

// seededPath returns the path of chunk id in the cache dir at dir, named
// with the dir's seed file ("" if it has none).
func seededPath(dir string, id ID) string {
	b, err := os.ReadFile(filepath.Join(dir, seedFileName))
	if err != nil {
		return ""
	}
	k, ok := parseSeed(b)
	if !ok {
		return ""
	}
	d := &disk{chunks: filepath.Join(dir, "chunks"),
		k0: binary.BigEndian.Uint64(k[:8]), k1: binary.BigEndian.Uint64(k[8:])}
	return d.chunkPath(id.Key, id.Index)
}

// usage returns the blocks allocated to files under the dirs, in bytes.
func usage(t testing.TB, dir string) int64 {
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || d.Name() == "lock" || d.Name() == seedFileName {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if notExist(err) {
				return nil
			}
			return err
		}
		total += fi.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	return total
}

// faultFS injects errors into OSFS operations whose path starts with a
// prefix.
type faultFS struct {
	OSFS
	mu    sync.Mutex
	rules []*rule
}

type rule struct {
	op     string // "openfile", "open", "write", "read", "sync", "rename", "remove", "mkdir", "readdir", "stat"
	prefix string
	skip   int // let this many matching calls pass first
	err    error
	hits   int
}

func (f *faultFS) add(op, prefix string, skip int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &rule{op: op, prefix: prefix, skip: skip, err: err})
}

func (f *faultFS) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

func (f *faultFS) check(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.op == op && strings.HasPrefix(name, r.prefix) {
			r.hits++
			if r.hits > r.skip {
				return &fs.PathError{Op: op, Path: name, Err: r.err}
			}
		}
	}
	return nil
}

func (f *faultFS) has(op, name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.op == op && strings.HasPrefix(name, r.prefix) {
			return true
		}
	}
	return false
}

type faultFile struct {
	File
	fs   *faultFS
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.check("write", f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check("read", f.name); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.check("sync", f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFS) wrap(file File, name string) File {
	if f.has("write", name) || f.has("read", name) || f.has("sync", name) {
		return &faultFile{File: file, fs: f, name: name}
	}
	return file
}

func (f *faultFS) Open(name string) (File, error) {
	if err := f.check("open", name); err != nil {
		return nil, err
	}
	file, err := f.OSFS.Open(name)
	if err != nil {
		return nil, err
	}
	return f.wrap(file, name), nil
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := f.check("openfile", name); err != nil {
		return nil, err
	}
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f.wrap(file, name), nil
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if err := f.check("rename", newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err.(*fs.PathError).Err}
	}
	return f.OSFS.Rename(oldpath, newpath)
}

func (f *faultFS) Remove(name string) error {
	if err := f.check("remove", name); err != nil {
		return err
	}
	return f.OSFS.Remove(name)
}

func (f *faultFS) Mkdir(name string, perm fs.FileMode) error {
	if err := f.check("mkdir", name); err != nil {
		return err
	}
	return f.OSFS.Mkdir(name, perm)
}

func (f *faultFS) MkdirAll(name string, perm fs.FileMode) error {
	if err := f.check("mkdir", name); err != nil {
		return err
	}
	return f.OSFS.MkdirAll(name, perm)
}

func (f *faultFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.check("readdir", name); err != nil {
		return nil, err
	}
	return f.OSFS.ReadDir(name)
}

func (f *faultFS) Stat(name string) (fs.FileInfo, error) {
	if err := f.check("stat", name); err != nil {
		return nil, err
	}
	return f.OSFS.Stat(name)
}
