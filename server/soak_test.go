package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/fill"
	"edgecache/origin"
)

// TestRandomRequestsMatchOrigin drives the whole content path with random
// requests from several pipelining clients, over a memory tier of 8 chunks
// (so chunks are evicted, pinned past the tier and served from a disk tier
// or the write queue while others are fetched) and checks every answer's
// status, fields and bytes against the origin's object: whole GETs, single
// and multiple ranges (in one chunk, across chunks, suffix, open-ended,
// unsatisfiable), HEAD, If-Range with the right and a wrong validator, and
// clients that hang up in the middle of an answer. It is the held writev,
// sendfile, pin and collapse paths of the other tests, mixed the way
// players mix them.
func TestRandomRequestsMatchOrigin(t *testing.T) {
	const chunk = 64 << 10
	for _, tc := range []struct {
		name          string
		mem           int64
		disks         int
		flaky, vanish bool
		fill          bool
		variants      bool
		failing       bool
	}{
		{name: "small memory and disk", mem: 8 * chunk, disks: 1},
		{name: "a fill meanwhile", mem: 8 * chunk, disks: 1, fill: true},
		{name: "small memory alone", mem: 8 * chunk},
		{name: "large memory", mem: 1 << 30},
		{name: "flaky origin", mem: 8 * chunk, disks: 1, flaky: true},
		{name: "a disk vanishes", mem: 8 * chunk, disks: 2, vanish: true},
		{name: "variants", mem: 8 * chunk, disks: 1, variants: true},
		{name: "a disk fills up, then fails", mem: 8 * chunk, disks: 2, failing: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var co cache.Options
			var dirs []string
			var ffs *faultFS
			if tc.disks > 0 {
				dirs = newCacheDirs(t, tc.disks)
				var fsys disk.FS
				if tc.failing {
					ffs = &faultFS{dir: dirs[0]}
					fsys = ffs
				}
				ds, _, _ := openTestDisksAt(t, tc.disks, dirs, filepath.Join(t.TempDir(), "disks.state"), fsys)
				co = cache.Options{Disk: ds, DiskWriters: 2}
			}
			ho := harnessOptions{chunk: chunk, mem: tc.mem, cache: co}
			var fo *flakyOrigin
			if tc.flaky {
				fo = &flakyOrigin{next: origin.NewSynthetic(origin.SyntheticOptions{})}
				ho.originHandle = fo
			}
			if tc.variants {
				ho.originHandle = variantOrigin{}
			}
			h := newHarness(t, ho)
			so := soakOptions{disk: tc.disks > 0, flaky: tc.flaky, fill: tc.fill, variants: tc.variants}
			if tc.vanish {
				// Removed behind the daemon's back while clients read, a
				// third of the way through: its chunks are fetched again,
				// and no answer fails.
				so.fault = func(tick int) {
					if tick == 8 {
						if err := os.RemoveAll(dirs[0]); err != nil {
							t.Error(err)
						}
					}
				}
			}
			if ffs != nil {
				// A quarter of the way through, the first disk is full
				// (every write fails with ENOSPC), which cuts its budget
				// (it stays in service); half way, it fails (every open
				// fails with EIO) while its chunks held open are still
				// being sent, which takes it out of service. Its chunks
				// are fetched again, and no answer fails.
				so.fault = func(tick int) {
					switch tick {
					case 6:
						ffs.mode.Store(faultFull)
					case 12:
						ffs.mode.Store(faultIO)
					}
				}
			}
			randomRequests(t, h, chunk, so)
			if ffs != nil {
				st := co.Disk.Stats()
				t.Logf("failing disk: in service %v (%s); I/O errors %d", st.Disks[0].InService, st.Disks[0].Reason, st.IOErrors)
				if st.Disks[0].InService || !st.Disks[1].InService {
					t.Errorf("in service: the failing disk %v, the other %v; want false, true", st.Disks[0].InService, st.Disks[1].InService)
				}
			}
			if fo != nil {
				t.Logf("origin: %d answers failed, %d cut short", fo.failed.Load(), fo.cut.Load())
				if fo.failed.Load() == 0 || fo.cut.Load() == 0 {
					t.Error("the origin neither failed nor cut an answer: the test did not test it")
				}
			}
			if tc.vanish {
				if up := h.store.Stats(); co.Disk.Stats().Disks[0].InService {
					t.Errorf("the vanished disk is still in service (%d disk hits)", up.DiskHits)
				}
			}
		})
	}
}

// The same over a restart: clients read through a daemon with a disk
// tier, the daemon stops (server, store, disks closed as serve does on
// SIGTERM), some chunk files are damaged, a new daemon starts over the
// same cache directories, and clients read on: the chunks come from the
// disks the first daemon filled (each verified on its first read after
// the start, so the damaged ones are fetched again), and every byte is
// still the origin's. (A round shipped a crash after restarts.)
func TestRandomRequestsAcrossRestart(t *testing.T) {
	const chunk = 64 << 10
	ds, dirs, state := openTestDisksAt(t, 2, nil, "", nil)
	h := newHarness(t, harnessOptions{chunk: chunk, mem: 8 * chunk, cache: cache.Options{Disk: ds, DiskWriters: 2}})
	randomRequests(t, h, chunk, soakOptions{disk: true})
	// The purges may have dropped everything lately: read every object
	// once more, so that the disks hold them all when the daemon stops
	// (closing the store drains the write queue).
	for i, n := range soakSizes(chunk) {
		p := soakPath(i, n)
		if resp, body := h.do(http.MethodGet, p); resp.StatusCode != http.StatusOK || !bytes.Equal(body, originBytes(p, 0, n)) {
			t.Fatalf("GET %s: status %d, %d bytes differing from the origin's", p, resp.StatusCode, len(body))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	h.store.Close()
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}
	before := ds.Stats()
	// While the daemon is down, some chunk files are damaged: a payload
	// byte flipped in one file in four, the last 10 bytes cut off one in
	// seven. The next daemon finds each when it first reads it (its
	// checksum, its length), drops it and fetches it again.
	var files, damaged int
	for _, dir := range dirs {
		filepath.WalkDir(filepath.Join(dir, "chunks"), func(path string, e iofs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			files++
			switch {
			case files%4 == 0:
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				b[len(b)-1] ^= 0x20
				damaged++
				return os.WriteFile(path, b, 0o644)
			case files%7 == 0:
				fi, err := e.Info()
				if err != nil {
					return err
				}
				damaged++
				return os.Truncate(path, fi.Size()-10)
			}
			return nil
		})
	}
	ds2, _, _ := openTestDisksAt(t, 2, dirs, state, nil)
	after := ds2.Stats()
	for i := range after.Disks {
		if after.Disks[i].Chunks == 0 || after.Disks[i].Chunks > before.Disks[i].Chunks {
			t.Errorf("disk %d: %d chunks before the restart, %d after", i, before.Disks[i].Chunks, after.Disks[i].Chunks)
		}
	}
	h2 := newHarness(t, harnessOptions{chunk: chunk, mem: 8 * chunk, cache: cache.Options{Disk: ds2, DiskWriters: 2}})
	randomRequests(t, h2, chunk, soakOptions{disk: true})
	st := ds2.Stats()
	t.Logf("%d of %d chunk files damaged; found: %d checksum failures, %d other damage", damaged, files, st.ChecksumFailures, st.Corrupt)
	if damaged == 0 || st.ChecksumFailures+st.Corrupt == 0 {
		t.Errorf("%d files damaged, %d found: the test did not test it", damaged, st.ChecksumFailures+st.Corrupt)
	}
}

// newCacheDirs makes n empty cache directories.
func newCacheDirs(t *testing.T, n int) []string {
	var dirs []string
	for range n {
		p := filepath.Join(t.TempDir(), "cache")
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, p)
	}
	return dirs
}

// openTestDisksAt opens a disk store over dirs with the state file state,
// or over n new directories and a new state file if dirs is nil, through
// fsys (nil: the OS's), and returns it with its directories and state
// file.
func openTestDisksAt(t *testing.T, n int, dirs []string, state string, fsys disk.FS) (*disk.Store, []string, string) {
	t.Helper()
	if dirs == nil {
		dirs = newCacheDirs(t, n)
		state = filepath.Join(t.TempDir(), "disks.state")
	}
	var dd []disk.Dir
	for _, p := range dirs {
		dd = append(dd, disk.Dir{Path: p, Size: 64 << 20})
	}
	opt := disk.Options{Dirs: dd, StateFile: state, ScrubRate: -1, FS: fsys}
	if fsys != nil {
		// Faults come and go within seconds: the periodic check, which
		// also gives a full disk's budget back when its file system has
		// room again, runs that often too.
		opt.CheckInterval = 100 * time.Millisecond
	}
	ds, err := disk.Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	<-ds.Ready()
	return ds, dirs, state
}

// faultFS is the OS's file system, except under dir once mode says the
// disk there is full (writes fail with ENOSPC) or failing (every open
// fails with EIO).
type faultFS struct {
	disk.OSFS
	dir  string
	mode atomic.Int32
}

const (
	faultFull = 1 + iota
	faultIO
)

func (f *faultFS) fault(name string) int32 {
	if !strings.HasPrefix(name, f.dir+string(filepath.Separator)) {
		return 0
	}
	return f.mode.Load()
}

func (f *faultFS) Open(name string) (disk.File, error) {
	if f.fault(name) == faultIO {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: syscall.EIO}
	}
	return f.OSFS.Open(name)
}

func (f *faultFS) OpenFile(name string, flag int, perm iofs.FileMode) (disk.File, error) {
	switch f.fault(name) {
	case faultIO:
		return nil, &iofs.PathError{Op: "open", Path: name, Err: syscall.EIO}
	case faultFull:
		file, err := f.OSFS.OpenFile(name, flag, perm)
		if err != nil || flag&(os.O_WRONLY|os.O_RDWR) == 0 {
			return file, err
		}
		return fullFile{file, name}, nil
	}
	return f.OSFS.OpenFile(name, flag, perm)
}

// fullFile is a file on a full disk: every write fails.
type fullFile struct {
	disk.File
	name string
}

func (f fullFile) Write([]byte) (int, error) {
	return 0, &iofs.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
}

// soakSizes are the sizes of the objects the soak tests read, around
// chunk, the cache's chunk size; soakPath is the path of the i-th.
func soakSizes(chunk int64) []int64 {
	return []int64{0, 1, 100, chunk - 1, chunk, chunk + 1, 200_000, 1 << 20, 3<<20 + 7}
}

func soakPath(i int, size int64) string { return fmt.Sprintf("/s/%d/soak-%d", size, i) }

// soakVariants are the X-V values the variant soak sends ("": none).
var soakVariants = []string{"", "a", "b", "c"}

// variantOrigin serves /s/<size>/<name> objects that vary on X-V: the
// bytes of variant v are origin.FillContent's of path|v, with an ETag of
// their own, and http.ServeContent answers ranges and conditionals.
type variantOrigin struct{}

func (variantOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(r.URL.Path, "/")
	size, err := strconv.ParseInt(parts[len(parts)-2], 10, 64)
	if len(parts) < 4 || err != nil {
		http.NotFound(w, r)
		return
	}
	v := r.Header.Get("X-V")
	b := make([]byte, size)
	origin.FillContent(r.URL.Path+"|"+v, 0, b)
	w.Header().Set("ETag", fmt.Sprintf(`"%s-%x-%d"`, v, len(r.URL.Path), size))
	w.Header().Set("Vary", "X-V")
	w.Header().Set("Cache-Control", "max-age=3600")
	http.ServeContent(w, r, "", time.Unix(1_700_000_000, 0), bytes.NewReader(b))
}

// want returns the bytes [off, off+n) of the object r asks for: the
// synthetic origin's, or the variant's of a variantOrigin.
func (r soakReq) want(off, n int64) []byte {
	if !r.varied {
		return originBytes(r.path, off, n)
	}
	return originBytes(r.path+"|"+r.variant, off, n)
}

// soakOptions say what randomRequests runs against.
type soakOptions struct {
	disk bool // the cache has a disk tier: some chunks must come from it
	// flaky: the origin fails some fetches; an answer may then be a 5xx,
	// or be cut short, but what it holds must be the origin's bytes.
	flaky bool
	fault func(tick int) // if set, called every 20 ms while clients run
	// variants: the origin is a variantOrigin, and requests send X-V
	// (one of soakVariants, or none).
	variants bool
	fill     bool // fill the objects, one after another, while clients run
}

// flakyOrigin is an origin that fails one request in eleven (503) and cuts
// one in seven short after some of its body (the connection is closed).
type flakyOrigin struct {
	next        http.Handler
	n           atomic.Int64
	failed, cut atomic.Int64
}

func (f *flakyOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.n.Add(1)
	switch {
	case n%11 == 0:
		f.failed.Add(1)
		http.Error(w, "flaky", http.StatusServiceUnavailable)
	case n%7 == 0:
		f.cut.Add(1)
		f.next.ServeHTTP(&cutWriter{ResponseWriter: w, left: 1000 + n*997%40000}, r)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// cutWriter passes left bytes of a body on, then aborts the answer.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		c.ResponseWriter.Write(p[:c.left])
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}

// randomRequests is TestRandomRequestsMatchOrigin against h, whose chunks
// are chunk bytes.
func randomRequests(t *testing.T, h *harness, chunk int64, so soakOptions) {
	sizes := soakSizes(chunk)
	paths := make([]string, len(sizes))
	for i, n := range sizes {
		paths[i] = soakPath(i, n)
	}
	variants := []string{""}
	if so.variants {
		variants = soakVariants
	}
	etags := make([]map[string]string, len(sizes)) // by variant
	for i, p := range paths {
		etags[i] = map[string]string{}
		for _, v := range variants {
			hdr := []string{}
			if v != "" {
				hdr = []string{"X-V", v}
			}
			resp, _ := h.do(http.MethodHead, p, hdr...)
			etags[i][v] = resp.Header.Get("ETag")
			if etags[i][v] == "" {
				t.Fatalf("HEAD %s (X-V %q): no ETag", p, v)
			}
		}
	}
	addr := strings.TrimPrefix(h.base, "http://")
	const clients = 6
	requests := 200
	if raceEnabled {
		requests = 60
	}
	// Objects are purged now and then while clients read them, so chunks
	// are fetched (and collapsed) again all along, not only at the start.
	stop := make(chan struct{})
	purged := make(chan int)
	go func() {
		n := 0
		defer func() { purged <- n }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			h.store.PurgePath(paths[i%len(paths)])
			n++
			if so.fault != nil {
				so.fault(i)
			}
		}
	}()
	var fills sync.WaitGroup
	filled, notStored := 0, 0
	if so.fill {
		// A nightly fill of the same objects, again and again (each pass a
		// new generation), while players read them and purges drop them:
		// the bytes it streams must be the origin's too.
		fl := h.store.NewFiller(cache.FillerOptions{})
		fills.Add(1)
		go func() {
			defer fills.Done()
			for pass := int64(1); ; pass++ {
				for i, p := range paths {
					select {
					case <-stop:
						return
					default:
					}
					var b bytes.Buffer
					n, err := fl.Fill(t.Context(), fill.Request{Path: p, Size: sizes[i], Rank: i + 1, Gen: pass}, &b)
					if errors.Is(err, cache.ErrNotStored) {
						// A purge dropped a chunk the fill had just stored:
						// the object is left for the next pass.
						notStored++
						continue
					}
					if err != nil {
						t.Errorf("fill %s (pass %d): %v", p, pass, err)
						return
					}
					if n != sizes[i] || !bytes.Equal(b.Bytes(), originBytes(p, 0, sizes[i])) {
						t.Errorf("fill %s (pass %d): %d bytes, differing from the origin's %d", p, pass, n, sizes[i])
						return
					}
					filled++
				}
			}
		}()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(c), 11))
			sc := &soakClient{t: t, addr: addr, rnd: rnd, flaky: so.flaky}
			defer sc.close()
			for done := 0; done < requests; {
				batch := 1 + rnd.IntN(4)
				var reqs []soakReq
				for range batch {
					i := rnd.IntN(len(paths))
					v := variants[rnd.IntN(len(variants))]
					r := randomReq(rnd, paths[i], sizes[i], etags[i][v])
					r.variant, r.varied = v, so.variants
					if rnd.IntN(25) == 0 {
						// A path with no object: the origin's status
						// answer, remembered (negative caching) or not.
						r = soakReq{method: http.MethodGet, path: fmt.Sprintf("/gone/soak-%d", rnd.IntN(4)), status: http.StatusGone}
						if so.variants {
							r.status = http.StatusNotFound // variantOrigin knows only /s/
						}
					}
					reqs = append(reqs, r)
				}
				switch rnd.IntN(12) {
				case 0: // the last answer ends the connection
					reqs[len(reqs)-1].close = true
				case 1: // an HTTP/1.0 client: one request a connection
					reqs = reqs[:1]
					reqs[0].http10, reqs[0].close = true, true
					batch = 1
				}
				kinds, err := sc.roundTrip(reqs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, k := range kinds {
					counts[k]++
				}
				mu.Unlock()
				done += batch
			}
		}()
	}
	wg.Wait()
	close(stop)
	fills.Wait()
	if so.fill {
		t.Logf("%d objects filled, %d not stored (purged meanwhile)", filled, notStored)
		if filled == 0 {
			t.Error("nothing was filled: the test did not test it")
		}
	}
	t.Logf("answers checked: %v; %d purges", counts, <-purged)
	want := []string{"200", "206", "206 multipart", "416", "HEAD", "aborted", "304", "412", "closed", "status answer"}
	if so.flaky {
		want = append(want, "origin error")
	}
	for _, k := range want {
		if counts[k] == 0 {
			t.Errorf("no %q answer among %v: the test did not test it", k, counts)
		}
	}
	st := h.store.Stats()
	t.Logf("chunks: %d from memory, %d from disk, %d fetched; %d queued hits", st.ChunkHits, st.DiskHits, st.ChunkMisses, st.QueuedHits)
	if so.disk && st.DiskHits == 0 {
		t.Error("no chunk came from the disk tier")
	}
}

// soakReq is one request of TestRandomRequestsMatchOrigin and what it
// asks for.
type soakReq struct {
	method, path, rng, ifRange string
	size                       int64
	ranges                     [][2]int64 // the requested ranges, [first, last], clipped to the object
	unsatisfiable              bool       // no range starts inside the object
	ifRangeMismatch            bool       // If-Range names another validator: the whole object is due
	ifNoneMatch, ifMatch       string     // conditional fields, if set
	abort                      bool       // hang up after the first bytes of the body
	malformed                  bool       // the Range field is not a valid range: ignored
	status                     int        // the status due, for a path with no object (410, 404)
	close                      bool       // Connection: close (the last of a batch), or HTTP/1.0's default
	varied                     bool       // the object varies on X-V (variantOrigin)
	variant                    string     // the X-V sent, if any
	http10                     bool       // sent as HTTP/1.0
}

// randomReq returns a random request for path, an object of size bytes
// whose strong validator is etag.
func randomReq(rnd *rand.Rand, path string, size int64, etag string) soakReq {
	r := soakReq{method: http.MethodGet, path: path, size: size}
	switch k := rnd.IntN(20); {
	case k == 0:
		r.method = http.MethodHead
		return r
	case k <= 3:
		if rnd.IntN(4) == 0 {
			r.ifNoneMatch = etag
		}
		return r // whole object
	case k == 4 && size > 0:
		r.rng = fmt.Sprintf("bytes=%d-", size+int64(rnd.IntN(1000)))
		r.unsatisfiable = true
		return r
	case k == 5:
		// Not a valid Range: ignored (RFC 9110 §14.2), the whole object.
		r.rng = []string{"bytes=abc", "bytes=5-2", "items=0-10", "bytes=", "bytes=-", "bytes=1-2,,x"}[rnd.IntN(6)]
		r.malformed = true
		return r
	}
	if size == 0 {
		return r
	}
	nr := 1
	if rnd.IntN(4) == 0 {
		nr = 2 + rnd.IntN(3)
	}
	var specs []string
	for range nr {
		switch rnd.IntN(4) {
		case 0: // suffix
			n := 1 + rnd.Int64N(min(size, 300_000))
			specs = append(specs, fmt.Sprintf("-%d", n))
			r.ranges = append(r.ranges, [2]int64{size - n, size - 1})
		case 1: // open-ended
			a := rnd.Int64N(size)
			specs = append(specs, fmt.Sprintf("%d-", a))
			r.ranges = append(r.ranges, [2]int64{a, size - 1})
		default: // a window, maybe past the end
			a := rnd.Int64N(size)
			b := a + rnd.Int64N(300_000)
			specs = append(specs, fmt.Sprintf("%d-%d", a, b))
			r.ranges = append(r.ranges, [2]int64{a, min(b, size-1)})
		}
	}
	r.rng = "bytes=" + strings.Join(specs, ",")
	if rnd.IntN(6) == 0 {
		r.ifRange = etag
		if rnd.IntN(2) == 0 {
			r.ifRange = `"not-` + strings.Trim(etag, `"`) + `"`
			r.ifRangeMismatch = true
		}
	}
	r.abort = r.method == http.MethodGet && rnd.IntN(15) == 0
	switch rnd.IntN(12) {
	case 0:
		r.ifNoneMatch = etag // 304, whatever the Range
	case 1:
		r.ifMatch = `"other"` // 412, whatever the Range
	case 2:
		r.ifMatch = etag // no effect
	}
	return r
}

// soakClient is a keep-alive connection that sends requests pipelined.
type soakClient struct {
	t     *testing.T
	addr  string
	rnd   *rand.Rand
	c     net.Conn
	br    *bufio.Reader
	flaky bool // the origin fails now and then: answers may be 5xx or cut short
}

func (sc *soakClient) close() {
	if sc.c != nil {
		sc.c.Close()
		sc.c = nil
	}
}

// roundTrip sends reqs on one connection, pipelined, and checks each
// answer; it returns the kind of each answer checked.
func (sc *soakClient) roundTrip(reqs []soakReq) ([]string, error) {
	if sc.c == nil {
		c, err := net.Dial("tcp", sc.addr)
		if err != nil {
			return nil, err
		}
		sc.c, sc.br = c, bufio.NewReader(c)
	}
	sc.c.SetDeadline(time.Now().Add(30 * time.Second))
	var b bytes.Buffer
	for _, r := range reqs {
		proto := "HTTP/1.1"
		if r.http10 {
			proto = "HTTP/1.0"
		}
		fmt.Fprintf(&b, "%s %s %s\r\nHost: soak\r\n", r.method, r.path, proto)
		if r.close && !r.http10 {
			b.WriteString("Connection: close\r\n")
		}
		if r.variant != "" {
			fmt.Fprintf(&b, "X-V: %s\r\n", r.variant)
		}
		if r.rng != "" {
			fmt.Fprintf(&b, "Range: %s\r\n", r.rng)
		}
		if r.ifRange != "" {
			fmt.Fprintf(&b, "If-Range: %s\r\n", r.ifRange)
		}
		if r.ifNoneMatch != "" {
			fmt.Fprintf(&b, "If-None-Match: %s\r\n", r.ifNoneMatch)
		}
		if r.ifMatch != "" {
			fmt.Fprintf(&b, "If-Match: %s\r\n", r.ifMatch)
		}
		b.WriteString("\r\n")
	}
	if _, err := sc.c.Write(b.Bytes()); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	var kinds []string
	for _, r := range reqs {
		resp, err := http.ReadResponse(sc.br, &http.Request{Method: r.method})
		if err != nil {
			return nil, fmt.Errorf("%s %s Range %q: reading the answer: %w", r.method, r.path, r.rng, err)
		}
		if r.abort && resp.ContentLength > 1 {
			io.ReadFull(resp.Body, make([]byte, 1))
			sc.close() // the rest of the batch is lost with the connection
			return append(kinds, "aborted"), nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil && sc.flaky && errors.Is(err, io.ErrUnexpectedEOF) {
			// Cut short after an origin failure: what came must be the
			// origin's bytes.
			if err := checkPrefix(r, resp, body); err != nil {
				return nil, fmt.Errorf("%s %s Range %q: cut short: %w", r.method, r.path, r.rng, err)
			}
			sc.close()
			return append(kinds, "cut"), nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s Range %q: reading the body: %w", r.method, r.path, r.rng, err)
		}
		if sc.flaky && resp.StatusCode >= 500 {
			// The origin's 503 passed on, or the cache's 502 or 504.
			kinds = append(kinds, "origin error")
			continue
		}
		kind, err := checkSoak(r, resp, body)
		if err != nil {
			return nil, fmt.Errorf("%s %s Range %q If-Range %q: %w", r.method, r.path, r.rng, r.ifRange, err)
		}
		kinds = append(kinds, kind)
	}
	if last := reqs[len(reqs)-1]; last.close {
		// The server ends the connection after that answer.
		sc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := sc.br.Read(make([]byte, 1)); err != io.EOF {
			return nil, fmt.Errorf("after an answer to %s (%s): read %d bytes, %v; want the connection closed", last.path, map[bool]string{true: "HTTP/1.0", false: "Connection: close"}[last.http10], n, err)
		}
		sc.close()
		kinds = append(kinds, "closed")
	}
	return kinds, nil
}

// checkSoak checks resp, the answer to r with its body, against the
// origin's bytes, and returns its kind.
func checkSoak(r soakReq, resp *http.Response, body []byte) (string, error) {
	if got := resp.Header.Get("Content-Length"); resp.StatusCode != http.StatusPartialContent || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/") {
		if want := strconv.Itoa(len(body)); r.method != http.MethodHead && resp.StatusCode != http.StatusNotModified && got != want {
			return "", fmt.Errorf("status %d: Content-Length %q for %d body bytes", resp.StatusCode, got, len(body))
		}
	}
	whole := r.rng == "" || r.malformed || r.ifRangeMismatch || (r.size == 0 && !r.unsatisfiable)
	switch {
	case r.status != 0:
		if resp.StatusCode != r.status {
			return "", fmt.Errorf("status %d, want %d", resp.StatusCode, r.status)
		}
		return "status answer", nil
	case r.ifMatch != "" && r.ifMatch != resp.Header.Get("ETag") && resp.StatusCode != http.StatusPreconditionFailed:
		return "", fmt.Errorf("If-Match %q: status %d, want 412", r.ifMatch, resp.StatusCode)
	case resp.StatusCode == http.StatusPreconditionFailed:
		if r.ifMatch == "" || r.ifMatch == resp.Header.Get("ETag") || len(body) > 0 && r.method == http.MethodHead {
			return "", fmt.Errorf("412 to If-Match %q, ETag %q", r.ifMatch, resp.Header.Get("ETag"))
		}
		return "412", nil
	case r.ifNoneMatch != "":
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != r.ifNoneMatch {
			return "", fmt.Errorf("If-None-Match %q: status %d, ETag %q, %d body bytes; want 304", r.ifNoneMatch, resp.StatusCode, resp.Header.Get("ETag"), len(body))
		}
		return "304", nil
	case r.method == http.MethodHead:
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != r.size {
			return "", fmt.Errorf("HEAD: status %d, Content-Length %d, %d body bytes; want 200, %d, 0", resp.StatusCode, resp.ContentLength, len(body), r.size)
		}
		return "HEAD", nil
	case r.unsatisfiable && !r.ifRangeMismatch:
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", r.size) {
			return "", fmt.Errorf("status %d, Content-Range %q; want 416, bytes */%d", resp.StatusCode, resp.Header.Get("Content-Range"), r.size)
		}
		return "416", nil
	case resp.StatusCode == http.StatusOK:
		// The whole object: asked for, or several ranges that add up to
		// more than it (then the server may send it whole).
		if !whole && len(r.ranges) < 2 {
			return "", fmt.Errorf("200 for a single satisfiable range")
		}
		if !bytes.Equal(body, r.want(0, r.size)) {
			return "", fmt.Errorf("200: %d bytes differ from the origin's %d", len(body), r.size)
		}
		return "200", nil
	case whole:
		return "", fmt.Errorf("status %d, want 200", resp.StatusCode)
	case resp.StatusCode != http.StatusPartialContent:
		return "", fmt.Errorf("status %d, want 206", resp.StatusCode)
	}
	var got [][2]int64 // the ranges the answer holds
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "multipart/byteranges" {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", fmt.Errorf("multipart: %w", err)
			}
			pb, err := io.ReadAll(p)
			if err != nil {
				return "", fmt.Errorf("multipart part: %w", err)
			}
			rg, err := checkPart(r, p.Header.Get("Content-Range"), pb)
			if err != nil {
				return "", err
			}
			got = append(got, rg)
		}
	} else {
		rg, err := checkPart(r, resp.Header.Get("Content-Range"), body)
		if err != nil {
			return "", err
		}
		got = append(got, rg)
	}
	// Both ends of every range asked for are in some part.
	for _, want := range r.ranges {
		for _, at := range want {
			in := false
			for _, g := range got {
				in = in || (g[0] <= at && at <= g[1])
			}
			if !in {
				return "", fmt.Errorf("byte %d asked for is in no part of %v", at, got)
			}
		}
	}
	if mt == "multipart/byteranges" {
		return "206 multipart", nil
	}
	return "206", nil
}

// checkPart checks one part of a 206, its Content-Range value cr and its
// bytes, against the origin's, and returns its range.
func checkPart(r soakReq, cr string, b []byte) ([2]int64, error) {
	var first, last, size int64
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &first, &last, &size); err != nil {
		return [2]int64{}, fmt.Errorf("Content-Range %q: %w", cr, err)
	}
	if size != r.size || first > last || last >= size || int64(len(b)) != last-first+1 {
		return [2]int64{}, fmt.Errorf("Content-Range %q with %d bytes for an object of %d", cr, len(b), r.size)
	}
	if !bytes.Equal(b, r.want(first, last-first+1)) {
		return [2]int64{}, fmt.Errorf("bytes %d-%d differ from the origin's", first, last)
	}
	return [2]int64{first, last}, nil
}

// checkPrefix checks the bytes of an answer to r cut short: those of a
// whole object or of a single range must be the origin's from where the
// answer started; a multipart body is not checked part by part.
func checkPrefix(r soakReq, resp *http.Response, b []byte) error {
	var first int64
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusPartialContent && !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/"):
		var last, size int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &size); err != nil {
			return fmt.Errorf("Content-Range %q: %w", resp.Header.Get("Content-Range"), err)
		}
	default:
		return nil
	}
	if !bytes.Equal(b, r.want(first, int64(len(b)))) {
		return fmt.Errorf("the %d bytes from %d differ from the origin's", len(b), first)
	}
	return nil
}
