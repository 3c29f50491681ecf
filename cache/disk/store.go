package disk

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"edgecache/cache/policy"
	"edgecache/ratelog"
)

// Dir is one cache directory (one per physical disk).
type Dir struct {
	// Path is the directory. It must exist (it is usually the disk's mount
	// point or a directory on it); Open creates its subdirectories.
	Path string
	// Size is the byte budget of the chunk files in Path, counted as the OS
	// counts usage: every file's size rounded up to 4 KiB blocks.
	Size int64
	// Optional makes a missing or unwritable directory at Open a logged skip
	// instead of an error.
	Optional bool
	// RequireMount makes Open refuse Path (an error naming it, or a logged
	// skip when Optional) unless it is a mount point: "/", or on another
	// device than its parent directory. The periodic check
	// (Options.CheckInterval) takes the disk out of service if it stops
	// being one, so an unmounted disk never fills the file system beneath.
	RequireMount bool
}

// Options configure a Store. Zero fields take the documented defaults.
type Options struct {
	// Dirs are the cache directories; at least one.
	Dirs []Dir
	// StateFile is the JSON file recording disks taken out of service (see
	// the package doc). Default: "edgecache-disks.state" in the parent of the
	// first dir (e.g. /srv/edgecache-disks.state for /srv/cache1). Put it on
	// a disk that is not a cache disk, e.g. /var/lib/edgecache/disks.state.
	StateFile string
	// Fsync is "none" (the default) or "always"; see the package doc.
	Fsync string
	// Policy names the eviction policy of package edgecache/cache/policy used
	// per disk; default "lru".
	Policy string
	// Logger receives the store's logs; default slog.Default().
	Logger *slog.Logger
	// FS is the file system; default OSFS. Tests inject faults through it.
	FS FS
	// ScrubRate is the rate, in bytes per second, at which a background
	// scrubber reads and verifies every chunk, pass after pass (see the
	// package doc, Integrity). 0 means DefaultScrubRate (8 MiB/s); a
	// negative value disables scrubbing.
	ScrubRate int64
	// CheckInterval is how often the store checks that each dir's path
	// still leads to the directory and lock file it opened (see the package
	// doc, Disks out of service); the check is also made before every Put
	// writes. 0 means DefaultCheckInterval (10 s); a negative value disables
	// the periodic check.
	CheckInterval time.Duration
	// OpenFiles bounds the fd cache: how many verified chunk files the
	// store keeps open between Gets, so that a Get of a chunk found there
	// opens and reads nothing (see the package doc, Open files). The least
	// recently used are closed beyond it (after their last reader). 0
	// means DefaultOpenFiles (4096); the bound is at most a quarter of the
	// process's RLIMIT_NOFILE; a negative value disables the cache.
	OpenFiles int
	// SecondMiss makes Put store a chunk only from its second Put on
	// within the store's recent memory of Puts (a frequency sketch of
	// about one counter per 256 KiB of the disks' budgets, halved as it
	// fills): a chunk a player missed once is not written, so the
	// catalogue's one-off views do not evict what is read again, filled
	// titles included (see the package doc, Ranks). A declined Put returns
	// nil and is counted in Stats.Declined. PutRanked is not affected.
	SecondMiss bool
	// MinCharge is the least a chunk file counts against its disk's
	// budget, rounded up to 4 KiB blocks (a file counts its blocks, and
	// at least this). It bounds a disk's index to Size/MinCharge chunks,
	// whatever the sizes of the objects stored: every chunk costs the
	// index about IndexEntryBytes of memory, so a disk of tiny files
	// would otherwise cost a chunk entry per 4 KiB. 0: 4 KiB. The cache
	// sets it to a quarter of its chunk size.
	MinCharge int64

	scrubIdle time.Duration // pause after a scrub pass over nothing; tests shorten it
	writeHang time.Duration // see WriteHang; tests shorten it
}

// ID names one chunk: chunk Index of the object Key.
type ID struct {
	Key   string
	Index int64
}

var (
	// ErrNotFound is returned by Get when the chunk is absent, of another
	// version, damaged, or the store is closed.
	ErrNotFound = errors.New("disk: chunk not found")
	// ErrClosed is returned by Put after Close.
	ErrClosed = errors.New("disk: store closed")
	// ErrNoDisk is returned by Put when no disk is in service.
	ErrNoDisk = errors.New("disk: no cache disk in service")
)

// lockFileName is the lock file in a cache dir.
const lockFileName = "lock"

// blockSize is the unit in which file sizes count against a budget.
const blockSize = 4096

// blocks returns n rounded up to whole blocks: the usage of an n-byte file.
func blocks(n int64) int64 { return (n + blockSize - 1) &^ (blockSize - 1) }

// Entry states.
const (
	stateWriting uint8 = iota // reserved, file being written; invisible to Get
	stateLive                 // renamed into place
)

// object is what the index knows of one key: its interned name, its
// keyHandle, and the newest version and meta seen among its chunks.
type object struct {
	key     string
	hash    uint64 // keyHandle(key)
	version string
	meta    []byte
	written int64 // of the chunk that gave version and meta; 0 until one is live
	refs    int   // entries referring to it
}

// entry is one indexed chunk. An entry is in Store.idx until it is dropped;
// its fields are guarded by Store.mu.
type entry struct {
	obj      *object
	index    int64
	version  string
	plen     int64        // payload length
	written  int64        // Unix ns the chunk was stored
	lastUse  int64        // Unix ns of the last Get (or written)
	hlen     int32        // header length
	users    atomic.Int32 // Gets and verifications that opened or are opening its file (see recycling)
	disk     uint16
	state    uint8
	dead     bool   // a writing entry dropped before its commit: the writer deletes its file
	verified bool   // payload checksum checked since it was loaded from disk
	suspect  bool   // queued for verification by Suspect
	cold     bool   // ranked and not read since its fill (see rank.go)
	rank     int32  // with gen: the chunk's Rank (see rank.go)
	rpos     int32  // position in its rankBucket, when ranked
	gen      int64  // Rank.Gen; 0: unranked, in the disk's policy
	of       *ofile // the chunk's open file, while the fd cache holds it
}

// heldLocked returns the bytes d's chunks count against its budget:
// those in its policy and its ranked ones, writes in flight included. The
// caller holds Store.mu and d is in service (its policy is set).
func (d *disk) heldLocked() int64 { return d.pol.Bytes() + d.ranked.bytes }

// disk is one configured directory.
type disk struct {
	i        int
	path     string
	chunks   string
	tmp      string
	size     int64  // the configured budget (Dir.Size)
	budget   int64  // the budget now: size, or less on a file system with less room (full.go); guarded by Store.mu
	seed     uint64 // of placement (from the path; see placeHash)
	k0, k1   uint64 // SipHash key of file names, from the seed file
	legacy   bool   // the seed file is new: chunk files may have pre-seed names
	weight   float64
	optional bool
	lock     File

	// identity recorded by Open, checked by checkDir
	requireMount bool
	haveID       bool // dirID is known (the FS reports identities)
	haveLockID   bool
	grain        int64 // precision of the dir's file modification times (ns), from the probe file; 0: not stamped (stamp.go)
	dirID        fileID
	lockID       fileID

	// guarded by Store.mu
	inService bool
	reason    string // why not in service
	loaded    bool   // index fully loaded: a snapshot may be written at Close
	pol       policy.Policy
	ranked    rankSet  // ranked chunks, outside pol, within the same budget
	spare     []string // evicted chunk files in tmp/, for Puts to reuse (see recycling)
	spareN    int      // spare plus renames to tmp/ in progress
}

// pending is a file queued for deletion; its path is marked busy until done.
type pending struct {
	d       *disk
	path    string
	ch      chan struct{}
	recycle bool // renamed into tmp/ for reuse instead of deleted
}

// Store is a persistent chunk store over one or more disks. It is safe for
// concurrent use.
type Store struct {
	door       *policy.Sketch // Puts seen lately (Options.SecondMiss); nil: every Put stores
	fs         FS
	log        *slog.Logger
	warn       *ratelog.Limiter // warnings that could come once per request (shortOfResources)
	fsync      bool
	policyName string
	minCharge  int64         // Options.MinCharge, in blocks
	writeHang  time.Duration // WriteHang, or the tests' shorter one
	statePath  string
	nonce      string
	hseed      maphash.Seed // of handles; see keyHandle
	disks      []*disk
	tmpSeq     atomic.Uint64
	bufs       sync.Pool    // *[]byte of checkBuf bytes, for check
	now        func() int64 // Unix ns of writes and uses; tests replace it before any Put

	mu      sync.Mutex
	idx     map[uint64]*entry  // handle → entry (live or writing)
	objects map[string]*object // key → object, while it has entries
	busy    map[string]chan struct{}
	pending []pending // deletions queued by the current lock holder
	live    []*disk   // disks in service, for placement
	closed  bool
	fds     fdCache // open chunk files

	stateMu  sync.Mutex     // serializes state file updates
	ops      sync.WaitGroup // in-flight Get/Put/Remove, waited for by Close
	loadWG   sync.WaitGroup
	bg       sync.WaitGroup // verifier, scrubber, checker: stopped by Close
	suspects chan suspectReq
	ready    chan struct{}
	stop     chan struct{}

	hits, misses, puts, rejected, evictions    atomic.Int64
	declined                                   atomic.Int64 // Puts of a first miss (Options.SecondMiss)
	recycled                                   atomic.Int64 // Puts written into an evicted chunk's file (recycle.go)
	checksumFailures, corrupt, ioErrors        atomic.Int64
	resourceErrors                             atomic.Int64 // shortOfResources
	restamps                                   atomic.Int64 // chunk files found modified, verified intact (stamp.go)
	fullWrites                                 atomic.Int64 // writes that met a full file system (full.go)
	outOfService                               atomic.Int64
	scrubbedBytes, scrubbedChunks, scrubPasses atomic.Int64
}

// Open opens the store: it checks that every dir exists, is writable and,
// with RequireMount, is a mount point (an error naming the dir, unless the
// dir is Optional), skips the dirs listed out of service in the state file
// (one log line each), locks each dir and records its identity, reads (or
// makes) its seed file, removes orphaned temp files, and starts loading the
// index in the background: from each dir's snapshot when there is a valid
// one, else by scanning the chunk headers. Ready tells when loading is done.
// It also starts the store's background goroutines, which Close stops: the
// verifier of Chunk.Suspect, the periodic dir check (CheckInterval) and the
// scrubber (ScrubRate, from Ready on).
func Open(opt Options) (*Store, error) {
	if len(opt.Dirs) == 0 {
		return nil, errors.New("disk: no cache dirs configured")
	}
	if len(opt.Dirs) > 1<<16 {
		return nil, fmt.Errorf("disk: %d cache dirs, at most %d", len(opt.Dirs), 1<<16)
	}
	s := &Store{
		fs:         opt.FS,
		log:        opt.Logger,
		policyName: opt.Policy,
		minCharge:  blocks(opt.MinCharge),
		writeHang:  opt.writeHang,
		statePath:  opt.StateFile,
		idx:        make(map[uint64]*entry),
		objects:    make(map[string]*object),
		busy:       make(map[string]chan struct{}),
		ready:      make(chan struct{}),
		stop:       make(chan struct{}),
		suspects:   make(chan suspectReq, suspectQueue),
		hseed:      maphash.MakeSeed(),
		nonce:      strconv.FormatInt(time.Now().UnixNano(), 36) + "." + strconv.Itoa(os.Getpid()),
		now:        func() int64 { return time.Now().UnixNano() },
	}
	if s.writeHang <= 0 {
		s.writeHang = WriteHang
	}
	if opt.SecondMiss {
		var total int64
		for _, dc := range opt.Dirs {
			total += max(dc.Size, 0)
		}
		s.door = policy.NewSketch(int(min(max(total>>18, 1024), 1<<24)))
	}
	s.bufs.New = func() any { b := make([]byte, checkBuf); return &b }
	s.fds.init(openFiles(opt.OpenFiles, openFileLimit()))
	if s.fs == nil {
		s.fs = OSFS{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.warn = ratelog.New(s.log, 10*time.Second)
	if s.policyName == "" {
		s.policyName = "lru"
	}
	switch opt.Fsync {
	case "", "none":
	case "always":
		s.fsync = true
	default:
		return nil, fmt.Errorf("disk: fsync policy %q: want \"none\" or \"always\"", opt.Fsync)
	}
	if s.statePath == "" {
		s.statePath = DefaultStateFile(opt.Dirs[0].Path)
	}
	st, err := readState(s.fs, s.statePath)
	if err != nil {
		return nil, err
	}
	out := make(map[string]outOfService, len(st.OutOfService))
	for _, o := range st.OutOfService {
		out[o.Path] = o
	}

	seen := make(map[string]bool)
	for i, dc := range opt.Dirs {
		if dc.Path == "" {
			s.unlockAll()
			return nil, fmt.Errorf("disk: cache dir %d has no path", i)
		}
		path := cleanPath(dc.Path)
		if seen[path] {
			s.unlockAll()
			return nil, fmt.Errorf("disk: cache dir %s configured twice", path)
		}
		seen[path] = true
		if dc.Size <= 0 {
			s.unlockAll()
			return nil, fmt.Errorf("disk: cache dir %s: size must be > 0 bytes, got %d", path, dc.Size)
		}
		d := &disk{
			i:        i,
			path:     path,
			chunks:   filepath.Join(path, "chunks"),
			tmp:      filepath.Join(path, "tmp"),
			size:     dc.Size,
			budget:   dc.Size,
			seed:     mix64(keyHash(path)), // placement: fixed, see placeHash
			weight:   float64(dc.Size),
			optional: dc.Optional,

			requireMount: dc.RequireMount,
		}
		d.ranked.min = s.minCharge
		s.disks = append(s.disks, d)
		if o, ok := out[path]; ok {
			d.reason = fmt.Sprintf("listed out of service in %s since %s: %s", s.statePath, o.Since.Format(time.RFC3339), o.Error)
			s.log.Warn("disk out of service, skipped", "path", path, "state_file", s.statePath,
				"since", o.Since, "error", o.Error)
			continue
		}
		if err := s.prepare(d); err != nil {
			if d.lock != nil {
				d.lock.Close()
				d.lock = nil
			}
			if dc.Optional {
				d.reason = err.Error()
				s.log.Warn("optional cache dir unusable, skipped", "path", path, "error", err)
				continue
			}
			s.unlockAll()
			return nil, err
		}
		pol, err := policy.New(s.policyName, d.size, func(h uint64, _ int64) { s.evicted(d, h) })
		if err != nil {
			s.unlockAll()
			return nil, fmt.Errorf("disk: cache dir %s: %w", path, err)
		}
		d.pol = pol
		d.inService = true
	}
	s.mu.Lock()
	s.refreshLiveLocked()
	s.mu.Unlock()

	for _, d := range s.disks {
		if d.inService {
			s.loadWG.Add(1)
			go s.load(d)
		}
	}
	go func() {
		s.loadWG.Wait()
		close(s.ready)
	}()
	s.bg.Add(1)
	go s.verifier()
	if opt.CheckInterval >= 0 {
		interval := opt.CheckInterval
		if interval == 0 {
			interval = DefaultCheckInterval
		}
		s.bg.Add(1)
		go s.checker(interval)
	}
	if opt.ScrubRate >= 0 {
		rate, idle := opt.ScrubRate, opt.scrubIdle
		if rate == 0 {
			rate = DefaultScrubRate
		}
		if idle == 0 {
			idle = defaultScrubIdle
		}
		s.bg.Add(1)
		go s.scrubber(rate, idle)
	}
	return s, nil
}

// prepare checks and sets up one dir: subdirectories, lock, a probe write,
// orphaned temp files, and the snapshot to load.
func (s *Store) prepare(d *disk) error {
	fi, err := s.fs.Stat(d.path)
	if err != nil {
		if notExist(err) {
			return fmt.Errorf("disk: cache dir %s does not exist: %w", d.path, err)
		}
		return fmt.Errorf("disk: cache dir %s: %w", d.path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("disk: cache dir %s is not a directory", d.path)
	}
	if d.requireMount {
		mp, err := s.isMountPoint(d.path, fi)
		if err != nil {
			return fmt.Errorf("disk: cache dir %s: %w", d.path, err)
		}
		if !mp {
			return fmt.Errorf("disk: cache dir %s is not a mount point (RequireMount): is its disk mounted?", d.path)
		}
	}
	unwritable := func(err error) error {
		return fmt.Errorf("disk: cache dir %s is not writable: %w", d.path, err)
	}
	for _, p := range []string{d.chunks, d.tmp} {
		if err := s.fs.MkdirAll(p, 0o755); err != nil {
			return unwritable(err)
		}
	}
	lockName := filepath.Join(d.path, lockFileName)
	f, err := s.fs.OpenFile(lockName, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return unwritable(err)
	}
	d.lock = f
	if err := lockFile(f, lockName); err != nil {
		return fmt.Errorf("disk: cache dir %s: %w", d.path, err)
	}
	s.identify(d, fi)
	fresh, err := s.readSeed(d)
	if err != nil {
		return unwritable(err)
	}
	d.legacy = fresh
	probe := filepath.Join(d.tmp, "probe."+s.nonce)
	if err := writeFileSync(s.fs, probe, make([]byte, blockSize)); err != nil {
		return unwritable(err)
	}
	d.grain = s.probeGrain(probe)
	if err := s.fs.Remove(probe); err != nil {
		return unwritable(err)
	}
	ents, err := s.fs.ReadDir(d.tmp)
	if err != nil {
		return fmt.Errorf("disk: cache dir %s: %w", d.path, err)
	}
	removed := 0
	for _, e := range ents {
		if e.IsDir() {
			s.log.Warn("unexpected directory in temp dir, ignored", "path", filepath.Join(d.tmp, e.Name()))
			continue
		}
		if err := s.fs.Remove(filepath.Join(d.tmp, e.Name())); err != nil && !notExist(err) {
			return unwritable(err)
		}
		removed++
	}
	if removed > 0 {
		s.log.Info("removed orphaned temp files", "path", d.tmp, "files", removed)
	}
	for i := 0; i < 256; i++ {
		sub := filepath.Join(d.chunks, chunkName(uint64(i)<<56, 0)[:2])
		if err := s.fs.MkdirAll(sub, 0o755); err != nil {
			return unwritable(err)
		}
	}
	// A leftover .load snapshot belongs to a run that crashed after loading
	// it: the files may have changed since, so it must not be used.
	snap, load := filepath.Join(d.path, snapName), filepath.Join(d.path, snapLoadName)
	for _, p := range []string{load, filepath.Join(d.path, snapTmpName)} {
		if err := s.fs.Remove(p); err != nil && !notExist(err) {
			return unwritable(err)
		}
	}
	if d.legacy {
		// Its entries name files by the names of a previous release (or of
		// a lost seed): scan instead, which migrates or drops them.
		err := s.fs.Remove(snap)
		if err == nil {
			s.log.Info("index snapshot written without a seed file discarded; scanning instead", "path", snap)
		}
		if err != nil && !notExist(err) {
			return unwritable(err)
		}
		return nil
	}
	if err := s.fs.Rename(snap, load); err != nil && !notExist(err) {
		return unwritable(err)
	}
	return nil
}

// openFiles returns the fd cache bound for Options.OpenFiles n under the
// open file limit lim (0: unknown).
func openFiles(n int, lim uint64) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		n = DefaultOpenFiles
	}
	if lim > 0 && uint64(n) > lim/4 {
		n = int(lim / 4)
	}
	return n
}

func (s *Store) unlockAll() {
	for _, d := range s.disks {
		if d.lock != nil {
			d.lock.Close()
			d.lock = nil
		}
	}
}

// refreshLiveLocked rebuilds the list of disks in service used for placement.
func (s *Store) refreshLiveLocked() {
	s.live = s.live[:0:0]
	for _, d := range s.disks {
		if d.inService {
			s.live = append(s.live, d)
		}
	}
}

// Ready returns a channel closed when the index of every disk is loaded.
// Before that, Get finds only what has been loaded or Put so far, and Put
// works.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// entryPath returns the chunk file path of e.
func (s *Store) entryPath(e *entry) string {
	return s.disks[e.disk].chunkPath(e.obj.key, e.index)
}

// dropLocked removes e (under handle h) from the index, if it is still
// there, and reports whether it was. It does not touch the policy. A writing
// entry is marked dead (its writer deletes the file); a live one's file is
// queued for deletion when del is set.
func (s *Store) dropLocked(h uint64, e *entry, del bool) bool {
	if s.idx[h] != e {
		return false
	}
	delete(s.idx, h)
	s.fdDropLocked(e)
	if e.gen != 0 {
		s.disks[e.disk].ranked.remove(e)
	}
	o := e.obj
	o.refs--
	if o.refs == 0 && s.objects[o.key] == o {
		delete(s.objects, o.key)
	}
	if e.state == stateWriting {
		e.dead = true
		return true
	}
	if del {
		d := s.disks[e.disk]
		if s.queueDeleteLocked(d, s.entryPath(e)) && e.users.Load() == 0 && d.loaded && d.spareN < spareMax {
			s.pending[len(s.pending)-1].recycle = true
			d.spareN++
		}
	}
	return true
}

// queueDeleteLocked marks path busy and queues it for deletion after the
// lock is released (see takePendingLocked and unlink), and reports whether
// it did. A busy path is left alone: its writer replaces it, or its deleter
// is already on it.
func (s *Store) queueDeleteLocked(d *disk, path string) bool {
	if _, ok := s.busy[path]; ok {
		return false
	}
	ch := make(chan struct{})
	s.busy[path] = ch
	s.pending = append(s.pending, pending{d: d, path: path, ch: ch})
	return true
}

func (s *Store) takePendingLocked() []pending {
	p := s.pending
	s.pending = nil
	return p
}

// releaseLocked ends a busy mark.
func (s *Store) releaseLocked(path string, ch chan struct{}) {
	if s.busy[path] == ch {
		delete(s.busy, path)
		close(ch)
	}
}

// release ends the busy marks of queued deletions without deleting.
func (s *Store) release(ps []pending) {
	if len(ps) == 0 {
		return
	}
	s.mu.Lock()
	for _, p := range ps {
		s.releaseLocked(p.path, p.ch)
		if p.recycle {
			p.d.spareN--
		}
	}
	s.mu.Unlock()
}

// unlink deletes queued files, outside the lock, then releases their marks;
// a file queued for recycling is renamed into tmp/ instead (see recycling).
// A failure other than not-found takes the disk out of service.
func (s *Store) unlink(ps []pending) {
	if len(ps) == 0 {
		return
	}
	type failure struct {
		d   *disk
		err error
	}
	var failed []failure
	spare := make([]string, len(ps))
	for i, p := range ps {
		var err error
		if p.recycle {
			spare[i] = p.d.tmp + "/" + s.nonce + ".r" + strconv.FormatUint(s.tmpSeq.Add(1), 36)
			if err = s.fs.Rename(p.path, spare[i]); err != nil {
				spare[i] = ""
			}
		} else {
			err = s.fs.Remove(p.path)
		}
		if err != nil && !notExist(err) {
			failed = append(failed, failure{p.d, err})
		}
	}
	s.mu.Lock()
	for i, p := range ps {
		s.releaseLocked(p.path, p.ch)
		if p.recycle {
			if spare[i] != "" && p.d.inService && !s.closed {
				p.d.spare = append(p.d.spare, spare[i])
				spare[i] = ""
			} else {
				p.d.spareN--
			}
		}
	}
	s.mu.Unlock()
	for _, name := range spare {
		if name != "" { // renamed, but its disk left service or the store closed
			_ = s.fs.Remove(name)
		}
	}
	for _, f := range failed {
		s.diskFailed(f.d, fmt.Errorf("disk: remove or recycle chunk: %w", f.err))
	}
}

// evicted is the policy's eviction callback for disk d; it runs under s.mu.
func (s *Store) evicted(d *disk, h uint64) {
	e := s.idx[h]
	if e == nil || int(e.disk) != d.i {
		return
	}
	s.evictions.Add(1)
	s.dropLocked(h, e, true)
}

// diskFailed takes d out of service after the I/O error err: its index
// entries are dropped (their files stay), placement moves to the other
// disks, and the disk is recorded in the state file.
func (s *Store) diskFailed(d *disk, err error) {
	s.ioErrors.Add(1)
	s.mu.Lock()
	if !d.inService {
		s.mu.Unlock()
		return
	}
	d.inService = false
	d.reason = err.Error()
	d.pol = nil
	n := 0
	for h, e := range s.idx {
		if int(e.disk) == d.i {
			s.dropLocked(h, e, false)
			n++
		}
	}
	s.refreshLiveLocked()
	s.mu.Unlock()
	s.outOfService.Add(1)
	s.log.Error("disk taken out of service", "path", d.path, "error", err, "chunks_dropped", n,
		"state_file", s.statePath)
	s.stateMu.Lock()
	serr := addOutOfService(s.fs, s.statePath, d.path, time.Now(), err)
	s.stateMu.Unlock()
	if serr != nil {
		s.log.Error("cannot record disk out of service in state file", "path", d.path, "error", serr)
	}
}

// Put stores payload as chunk id of the given version, with meta (opaque
// bytes the caller stores with the chunk, returned by Meta). The chunk goes
// to its rendezvous disk among those in service: Put reserves its size in
// that disk's budget (evicting and deleting other chunks first), writes a
// temp file and renames it into place; Get sees the chunk only after the
// rename. A write that fails with an I/O error takes the disk out of service
// and Put tries the next disk. A chunk the eviction policy declines to admit
// is not stored and Put returns nil, as is a chunk's first Put lately with
// Options.SecondMiss. The chunk is unranked: see PutRanked.
func (s *Store) Put(id ID, version string, meta []byte, payload []byte) error {
	return s.put(id, version, meta, payload, nil, Rank{})
}

// PutSummed is Put (rk the zero Rank) or PutRanked (rk a rank) for a
// payload whose CRC-32C (Castagnoli) the caller computed as the bytes
// arrived, while they were in the CPU's cache: the header gets sum instead
// of a checksum of payload read again from memory (perf of cold ranges on
// the daemon's disk setup: CRC 12.6% of its samples computed here, 9.3%
// computed as the bytes arrived). The sum then also covers the payload's
// time in the caller's memory before the write. A sum that does not match
// the payload makes the chunk fail its verification (ReadAllVerified, the
// scrubber, Suspect), which removes it as damaged; it is never trusted
// beyond what a checksum computed here would be.
func (s *Store) PutSummed(id ID, version string, meta []byte, payload []byte, sum uint32, rk Rank) error {
	if rk != (Rank{}) {
		if err := checkRank(rk); err != nil {
			return err
		}
	}
	return s.put(id, version, meta, payload, &sum, rk)
}

// firstMiss counts a Put of chunk h (Options.SecondMiss) and reports
// whether it is the chunk's first within the sketch's memory: then it is
// not stored.
func (s *Store) firstMiss(h uint64) bool {
	if s.door == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.door.Frequency(h) == 0
	s.door.Increment(h)
	return first
}

// put is Put, and PutRanked when rk is a rank; sum is the payload's
// CRC-32C if the caller has it (PutSummed), else nil.
func (s *Store) put(id ID, version string, meta []byte, payload []byte, sum *uint32, rk Rank) error {
	switch {
	case id.Key == "" || len(id.Key) > MaxKeyLen:
		return fmt.Errorf("disk: put: key length %d not in [1, %d]", len(id.Key), MaxKeyLen)
	case id.Index < 0:
		return fmt.Errorf("disk: put %q: negative chunk index %d", id.Key, id.Index)
	case len(version) > MaxVersionLen:
		return fmt.Errorf("disk: put %q: version of %d bytes, at most %d", id.Key, len(version), MaxVersionLen)
	case len(meta) > MaxMetaLen:
		return fmt.Errorf("disk: put %q: meta of %d bytes, at most %d", id.Key, len(meta), MaxMetaLen)
	}
	kh := s.keyHandle(id.Key)
	h := handle(kh, id.Index)
	if !rk.Ranked() && s.firstMiss(h) { // before the header's checksum of the payload
		s.declined.Add(1)
		return nil
	}
	written := s.now()
	plen := int64(len(payload))
	hdr := make([]byte, 0, headerLen(len(id.Key), len(version), len(meta))+rankFields)
	var crc uint32
	if sum != nil {
		crc = *sum
	} else {
		crc = crc32.Checksum(payload, castagnoli)
	}
	hdr = appendRankedHeader(hdr, id.Key, version, meta, id.Index, plen, written, crc, rk)
	size := charge(int64(len(hdr))+plen, s.minCharge)
	meta = bytes.Clone(meta)
	full := 0 // writes that met a full file system
	for attempt := 0; ; attempt++ {
		r, err := s.reserve(id, kh, h, version, written, len(hdr), plen, size, rk)
		if err != nil {
			if len(r.victims) > 0 { // a refused ranked Put's replaced file
				if s.checkDir(r.d) == nil {
					s.unlink(r.victims)
				} else {
					s.release(r.victims)
				}
			}
			return err
		}
		if r.wait != nil {
			<-r.wait
			continue
		}
		if r.e == nil {
			s.unlink(r.victims)
			return nil // not admitted
		}
		// The dir must still be the one Open found before anything in it
		// is deleted or written.
		err = s.checkDir(r.d)
		if err == nil {
			s.unlink(r.victims)
			err = s.writeWatched(r.d, r.path, hdr, payload, written)
			if err == nil {
				s.commit(h, &r, meta)
				return nil
			}
		} else {
			s.release(r.victims)
		}
		s.abort(h, &r, !errors.Is(err, errDirChanged))
		if shortOfResources(err) {
			s.resourceErrors.Add(1)
			return err
		}
		if NoSpace(err) {
			s.diskFull(r.d, size, err)
			if full++; full == 1 {
				continue // once more: the cut budget makes room first
			}
			return err
		}
		if !diskFault(err) {
			return err
		}
		s.diskFailed(r.d, err)
		if attempt >= len(s.disks) {
			return err
		}
	}
}

// reservation is a Put's claim: the disk, the path (marked busy with ch) and
// the writing entry holding its bytes in the disk's policy.
type reservation struct {
	d       *disk
	path    string
	ch      chan struct{}
	e       *entry
	victims []pending
	wait    chan struct{} // path busy: wait for it and try again
}

func (s *Store) reserve(id ID, kh, h uint64, version string, written int64, hlen int, plen, size int64, rk Rank) (reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return reservation{}, ErrClosed
	}
	d := place(placeHash(id.Key, id.Index), s.live)
	if d == nil {
		return reservation{}, ErrNoDisk
	}
	if size > d.budget {
		if d.budget < d.size { // cut: see full.go
			return reservation{}, fmt.Errorf("disk: put %q chunk %d: %d bytes exceed the budget of %s (%d bytes, cut from %d because its file system is full): %w",
				id.Key, id.Index, size, d.path, d.budget, d.size, syscall.ENOSPC)
		}
		return reservation{}, fmt.Errorf("disk: put %q chunk %d: %d bytes exceed the budget of %s (%d bytes)",
			id.Key, id.Index, size, d.path, d.budget)
	}
	path := d.chunkPath(id.Key, id.Index)
	if ch, ok := s.busy[path]; ok {
		return reservation{wait: ch}, nil
	}
	replaced := false // an older file at path left to the rename
	if old := s.idx[h]; old != nil {
		oldPath := s.entryPath(old)
		if ch := s.busy[oldPath]; ch != nil && old.state == stateWriting {
			return reservation{wait: ch}, nil // another Put of this chunk
		}
		s.disks[old.disk].pol.Remove(h)
		// A file at the same path is replaced by the rename.
		s.dropLocked(h, old, oldPath != path)
		replaced = oldPath == path && old.state == stateLive
	}
	if !s.roomLocked(d, size, rk) {
		// Only a ranked chunk can be refused room.
		s.rejected.Add(1)
		if replaced {
			s.queueDeleteLocked(d, path) // the index no longer knows it
		}
		return reservation{d: d, victims: s.takePendingLocked()}, fmt.Errorf("disk: put %q chunk %d with rank %d (generation %d) on %s: %w",
			id.Key, id.Index, rk.Rank, rk.Gen, d.path, ErrRankedFull)
	}
	o := s.objects[id.Key]
	if o == nil {
		o = &object{key: id.Key, hash: kh}
		s.objects[id.Key] = o
	}
	o.refs++
	if version == o.version {
		version = o.version
	}
	e := &entry{obj: o, index: id.Index, version: version, plen: plen, written: written, lastUse: written,
		hlen: int32(hlen), disk: uint16(d.i), state: stateWriting, verified: true, gen: rk.Gen, rank: int32(rk.Rank)}
	s.idx[h] = e
	ch := make(chan struct{})
	s.busy[path] = ch
	ok := true
	if rk.Ranked() {
		d.ranked.add(e) // roomLocked made room for it
	} else {
		ok = d.pol.Add(h, size)
	}
	r := reservation{d: d, path: path, ch: ch, e: e}
	if !ok || e.dead {
		s.rejected.Add(1)
		s.dropLocked(h, e, false)
		s.releaseLocked(path, ch)
		r = reservation{}
	} else {
		s.ops.Add(1)
	}
	r.victims = s.takePendingLocked()
	return r, nil
}

// WriteHang is how long a chunk write may go on before its disk is taken
// out of service as hanging (a disk that neither answers nor fails, such
// as a frozen file system or a dying drive's endless retries): its writes
// would otherwise hold writers and requests for ever, and its reads go on
// being tried. No working disk takes that long to write one chunk.
const WriteHang = 30 * time.Second

// writeWatched is write, taking d out of service if it has not ended in
// WriteHang. The write itself is left to end when it can (a call blocked in
// the kernel cannot be cancelled); its chunk, dropped with the disk, is
// then removed (commit).
func (s *Store) writeWatched(d *disk, path string, hdr, payload []byte, written int64) error {
	t := time.AfterFunc(s.writeHang, func() {
		s.diskFailed(d, fmt.Errorf("disk: a chunk write to %s has not ended in %v: the disk hangs", path, s.writeHang))
	})
	defer t.Stop()
	return s.write(d, path, hdr, payload, written)
}

// write stores hdr and payload at path through a temp file: a new one, or
// a recycled chunk file (see recycling), stamped with written (stamp.go).
func (s *Store) write(d *disk, path string, hdr, payload []byte, written int64) error {
	f, tmp, err := s.openTmp(d, int64(len(hdr)+len(payload)))
	if err != nil {
		return fmt.Errorf("disk: store chunk %s: %w", path, err)
	}
	err = writeBoth(f, hdr, payload)
	if err == nil {
		err = s.stamp(d, tmp, written)
	}
	if err == nil && s.fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, path)
		if notExist(err) { // chunks/xx/ removed behind our back
			if err = s.remakeDir(d, filepath.Dir(path)); err == nil {
				err = s.fs.Rename(tmp, path)
			}
		}
	}
	if err != nil {
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("disk: store chunk %s: %w", path, err)
	}
	if s.fsync {
		if err := syncDir(s.fs, filepath.Dir(path)); err != nil {
			return fmt.Errorf("disk: store chunk %s: %w", path, err)
		}
	}
	return nil
}

// writeEach writes a then b to f, one Write each.
func writeEach(f File, a, b []byte) error {
	_, err := f.Write(a)
	if err == nil {
		_, err = f.Write(b)
	}
	return err
}

// remakeDir re-creates dir, a subdirectory of d (tmp, chunks or chunks/xx)
// removed behind the store's back, and the chunks directory it may be in,
// after checking that d is still the directory Open found: a cache dir that
// vanished is never re-created.
func (s *Store) remakeDir(d *disk, dir string) error {
	if err := s.checkDir(d); err != nil {
		return err
	}
	if filepath.Dir(dir) == d.chunks {
		if err := s.fs.Mkdir(d.chunks, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if err := s.fs.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// commit makes a written chunk visible, or deletes it when its entry was
// dropped while it was being written.
func (s *Store) commit(h uint64, r *reservation, meta []byte) {
	defer s.ops.Done()
	s.mu.Lock()
	e := r.e
	if !e.dead {
		e.state = stateLive
		if o := e.obj; e.written >= o.written {
			o.version, o.meta, o.written = e.version, meta, e.written
		}
		s.releaseLocked(r.path, r.ch)
		s.mu.Unlock()
		s.puts.Add(1)
		return
	}
	s.mu.Unlock()
	err := s.fs.Remove(r.path)
	s.mu.Lock()
	s.releaseLocked(r.path, r.ch)
	s.mu.Unlock()
	if diskFault(err) {
		s.diskFailed(r.d, fmt.Errorf("disk: remove chunk: %w", err))
	}
}

// abort undoes a reservation whose write failed; remove says whether the
// file at its path is to be removed (not when the directory changed: the
// path is no longer ours).
func (s *Store) abort(h uint64, r *reservation, remove bool) {
	defer s.ops.Done()
	s.mu.Lock()
	if !r.e.dead && s.idx[h] == r.e {
		r.d.pol.Remove(h)
		s.dropLocked(h, r.e, false)
	}
	s.mu.Unlock()
	// The path may hold our renamed file (a failed directory sync) or an
	// older version the reservation displaced: either is now nobody's.
	if remove {
		_ = s.fs.Remove(r.path)
	}
	s.mu.Lock()
	s.releaseLocked(r.path, r.ch)
	s.mu.Unlock()
}

// Get opens chunk id of the given version. It returns (nil, ErrNotFound)
// when the chunk is absent or of another version. The header is checked
// when Get opens the chunk's file; the payload checksum is verified on the
// first Get after the chunk was loaded from disk (a mismatch is counted and
// logged, the file deleted, and ErrNotFound returned). The checked file
// then stays open in the fd cache (Options.OpenFiles), and the next Gets of
// the chunk share it after one fstat (still linked, same size, not
// modified since: see stamp.go; a modified file is verified again). A damaged
// or vanished file is dropped from the index and reported as ErrNotFound:
// Get never hands out wrong bytes. The caller must Close the Chunk.
func (s *Store) Get(id ID, version string) (*Chunk, error) { return s.get(id, version, true) }

// Peek is Get without recording a use: the chunk's recency, in its disk's
// policy and for its rank (a filled chunk nobody has read stays unread,
// see Ranks), is left as it was; Stats counts it as a Get. A fill reads
// back the chunks its own span just stored with Peek: its reads of them
// are not players'.
func (s *Store) Peek(id ID, version string) (*Chunk, error) { return s.get(id, version, false) }

// get is Get, recording the use if use is set.
func (s *Store) get(id ID, version string, use bool) (*Chunk, error) {
	h := s.handleOf(id.Key, id.Index)
	now := s.now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.misses.Add(1)
		return nil, ErrNotFound
	}
	e := s.idx[h]
	if e == nil && use {
		if d := place(placeHash(id.Key, id.Index), s.live); d != nil {
			d.pol.Get(h) // record the miss for frequency-aware policies
		}
	}
	if e == nil || e.state != stateLive || e.index != id.Index || e.obj.key != id.Key || e.version != version {
		s.mu.Unlock()
		s.misses.Add(1)
		return nil, ErrNotFound
	}
	d := s.disks[e.disk]
	if use {
		d.pol.Get(h)
		e.lastUse = now
		d.used(e)
	}
	hlen, plen, verified, written := int64(e.hlen), e.plen, e.verified, e.written
	s.ops.Add(1)
	e.users.Add(1) // until the Chunk's Close: its file is not recycled
	if of := e.of; of != nil {
		// In the fd cache: checked when opened, and no other file can have
		// become this entry's since (a rewrite makes a new entry).
		of.refs.Add(1)
		s.fdTouchLocked(of)
		s.mu.Unlock()
		defer s.ops.Done()
		c := &Chunk{f: of.f, of: of, off: hlen, n: plen, crc: of.crc, s: s, d: d, e: e, h: h, id: id}
		changed, err := of.check(d, id, hlen+plen, written)
		if err == nil && changed {
			// Modified since it was stamped: verified again before use.
			path := c.path()
			if _, err = s.check(of.f, hlen+plen, path, id, version, hlen, plen, false); err == nil {
				s.restamped(d, path, written)
			}
		}
		if err != nil {
			s.misses.Add(1)
			s.reject(d, h, e, c.path(), id, err)
			c.Close()
			return nil, ErrNotFound
		}
		s.fds.hits.Add(1)
		s.hits.Add(1)
		return c, nil
	}
	s.mu.Unlock()
	defer s.ops.Done()

	path := d.chunkPath(id.Key, id.Index)
	of, err := s.open(d, path, id, version, hlen, plen, verified, written)
	if err != nil {
		s.misses.Add(1)
		s.reject(d, h, e, path, id, err)
		e.users.Add(-1)
		return nil, ErrNotFound
	}
	c := &Chunk{f: of.f, of: of, off: hlen, n: plen, crc: of.crc, s: s, d: d, e: e, h: h, id: id}
	s.mu.Lock()
	if s.idx[h] != e {
		// e was dropped between the lookup and the open, and the path may
		// have led to a newer entry's file (the chunk stored again): the
		// reader is counted among e's users, not that entry's, so the file
		// could be recycled and rewritten under it. While e stays indexed
		// nothing replaces its file; an entry dropped is never indexed
		// again. A miss, then.
		s.mu.Unlock()
		c.Close()
		s.misses.Add(1)
		return nil, ErrNotFound
	}
	// Still the indexed chunk: the file just checked is its file.
	e.verified = true
	if e.of == nil && s.fds.max > 0 && !s.closed && d.inService {
		of.refs.Add(1) // the cache's
		s.fdAddLocked(e, of)
	}
	s.mu.Unlock()
	s.hits.Add(1)
	return c, nil
}

// errForeign marks a chunk file that holds a valid chunk of another key.
var errForeign = errors.New("chunk file holds another chunk")

// open opens and checks a chunk file written at written, and returns it
// with one reference. A verified chunk's payload is verified again if its
// file was modified since it was stamped (stamp.go).
func (s *Store) open(d *disk, path string, id ID, version string, hlen, plen int64, verified bool, written int64) (*ofile, error) {
	f, fi, err := openRead(s.fs, path)
	if err != nil {
		return nil, fmt.Errorf("disk: open chunk: %w", err)
	}
	stale := !d.stamped(fi.ModTime().UnixNano(), written)
	crc, err := s.check(f, fi.Size(), path, id, version, hlen, plen, verified && !stale)
	if err != nil {
		f.Close()
		return nil, err
	}
	switch {
	case stale && verified:
		s.restamped(d, path, written) // modified since it was written or verified
	case stale:
		// Verified now for the first time since a load: a file of a
		// version that did not stamp, or modified while the daemon was
		// down (intact, or it would have failed). Stamped from now on; a
		// read-only disk leaves it unstamped, and it is verified again
		// at each Get.
		_ = s.stamp(d, path, written)
	}
	return newOFile(f, crc), nil
}

// check checks the header, size and (unless verified) payload checksum of
// f, the file of chunk id at path whose Stat gave size, against what the
// index says (header length hlen, payload length plen), and returns the
// header's payload checksum. Unverified, it reads header and payload with
// as few reads as its buffer allows: one for a chunk of the default size.
func (s *Store) check(f File, size int64, path string, id ID, version string, hlen, plen int64, verified bool) (uint32, error) {
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	want := hlen // at most about 132 KiB (MaxKeyLen, MaxVersionLen, MaxMetaLen)
	if !verified {
		want += plen
	}
	n, err := f.ReadAt(buf[:min(want, int64(len(buf)))], 0)
	if int64(n) < hlen || err != nil && !errors.Is(err, io.EOF) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("disk: read chunk header %s: %w", path, err)
	}
	hd, err := decodeHeader(buf[:hlen])
	if err != nil {
		return 0, fmt.Errorf("disk: chunk %s: %w", path, err)
	}
	if string(hd.key) != id.Key {
		return 0, fmt.Errorf("disk: chunk %s: %w: key %q", path, errForeign, hd.key)
	}
	if hd.index != id.Index || string(hd.version) != version || hd.plen != plen {
		return 0, fmt.Errorf("disk: chunk %s: %w: header says index %d, version %q, %d bytes; index has %d, %q, %d",
			path, errCorrupt, hd.index, hd.version, hd.plen, id.Index, version, plen)
	}
	if size != hlen+plen {
		return 0, fmt.Errorf("disk: chunk %s: %w: %d bytes, want %d", path, errCorrupt, size, hlen+plen)
	}
	if verified {
		return hd.crc, nil
	}
	crc := crc32.Update(0, castagnoli, buf[hlen:n])
	crc, err = checksumFrom(f, buf, crc, int64(n), hlen+plen-int64(n))
	if err != nil {
		return 0, fmt.Errorf("disk: read chunk %s: %w", path, err)
	}
	if crc != hd.crc {
		return 0, fmt.Errorf("disk: chunk %s (key %q, index %d): %w", path, id.Key, id.Index, ErrChecksum)
	}
	return hd.crc, nil
}

// checkBuf is the size of the buffers check reads chunks with: a chunk of
// the default size (256 KiB) and a header of up to 8 KiB in one read.
const checkBuf = 264 << 10

// checksumFrom returns crc updated with n bytes of f at off, read through
// buf.
func checksumFrom(f io.ReaderAt, buf []byte, crc uint32, off, n int64) (uint32, error) {
	for done := int64(0); done < n; {
		m := min(int64(len(buf)), n-done)
		k, err := f.ReadAt(buf[:m], off+done)
		crc = crc32.Update(crc, castagnoli, buf[:k])
		done += int64(k)
		if err != nil && (done < n || !errors.Is(err, io.EOF)) {
			return 0, err
		}
	}
	return crc, nil
}

// Meta returns the newest version and meta stored for key among its indexed
// chunks, so that after a restart the cache knows objects without asking the
// origin. The meta slice must not be modified.
func (s *Store) Meta(key string) (version string, meta []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[key]
	if o == nil || o.written == 0 {
		return "", nil, false
	}
	return o.version, o.meta, true
}

// Remove deletes chunk id (any version) if it is stored.
func (s *Store) Remove(id ID) {
	h := s.handleOf(id.Key, id.Index)
	s.mu.Lock()
	e := s.idx[h]
	if s.closed || e == nil || e.obj.key != id.Key || e.index != id.Index {
		s.mu.Unlock()
		return
	}
	s.disks[e.disk].pol.Remove(h)
	s.dropLocked(h, e, true)
	ps := s.takePendingLocked()
	s.ops.Add(1)
	s.mu.Unlock()
	s.unlink(ps)
	s.ops.Done()
}

// Close stops loading and the background goroutines (scrubber, verifier,
// dir check; a scrub read in progress finishes first), waits for in-flight
// Get, Put and Remove calls, writes each fully loaded disk's index snapshot
// (atomically: temp file and rename) and releases the dirs. Chunks already handed out stay readable until they
// are closed. Close is idempotent.
func (s *Store) Close() error { return s.shutdown(true) }

func (s *Store) shutdown(snapshot bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.loadWG.Wait()
	s.bg.Wait()
	s.ops.Wait()
	s.mu.Lock()
	s.fdDropAllLocked() // Chunks handed out keep theirs open until they close
	s.mu.Unlock()
	var errs []error
	if snapshot {
		for _, d := range s.disks {
			// Never write a snapshot into a directory that replaced ours
			// (or lies beneath an unmounted disk).
			if err := s.checkDir(d); err != nil {
				s.diskFailed(d, err)
				continue
			}
			if err := s.writeSnapshot(d); err != nil {
				s.log.Error("cannot write index snapshot", "path", d.path, "error", err)
				errs = append(errs, err)
			}
		}
	}
	s.unlockAll()
	return errors.Join(errs...)
}

// Stats are a Store's counters since Open and its disks' state.
type Stats struct {
	// Ready reports whether the index is loaded.
	Ready bool
	// Disks lists every configured dir, in configuration order.
	Disks []DiskStats
	// Hits and Misses count Get results.
	Hits, Misses int64
	// Puts counts chunks stored; Rejected those the policy did not admit.
	Puts, Rejected int64
	// Declined counts Puts not stored as a chunk's first (Options.SecondMiss).
	Declined int64
	// Evictions counts chunks evicted to stay within budget.
	Evictions int64
	// Recycled counts chunks written into the file of an evicted chunk
	// instead of a new file (see the package doc, Recycling).
	Recycled int64
	// ChecksumFailures counts payloads whose checksum did not match;
	// Corrupt other damaged chunk files found (bad header, wrong length,
	// holding another chunk, or vanished while indexed).
	ChecksumFailures, Corrupt int64
	// IOErrors counts disk I/O failures; OutOfService disks taken out of
	// service since Open.
	IOErrors, OutOfService int64
	// ResourceErrors counts reads and writes that failed for want of file
	// descriptors or memory (EMFILE, ENFILE, ENOMEM): misses, the disk
	// left in service.
	ResourceErrors int64
	// Restamped counts chunk files found modified after the store wrote
	// or verified them whose payload was then verified intact, and stamped
	// again (stamp.go); a damaged one counts in ChecksumFailures.
	Restamped int64
	// FullWrites counts chunk writes that met a full file system (ENOSPC,
	// EDQUOT): the disk stays in service with its budget cut (full.go).
	FullWrites int64
	// ScrubbedBytes and ScrubbedChunks count the payload bytes and chunks
	// the scrubber verified (mismatches included, and counted in
	// ChecksumFailures); ScrubPasses its completed passes over every chunk.
	ScrubbedBytes, ScrubbedChunks, ScrubPasses int64
	// OpenFiles is the number of chunk files the fd cache holds open now;
	// OpenFileHits counts the Gets it served (also counted in Hits).
	OpenFiles    int
	OpenFileHits int64
}

// DiskStats describes one cache dir.
type DiskStats struct {
	Path      string
	InService bool
	Reason    string // why it is not in service
	Budget    int64  // byte budget
	Bytes     int64  // bytes held (including writes in flight), in 4 KiB blocks and at least Options.MinCharge per chunk
	Chunks    int    // chunks held (including writes in flight)
	// RankedBytes and RankedChunks are the part of Bytes and Chunks that
	// is ranked (stored by PutRanked or given a rank by SetRank);
	// RankedEvictions counts ranked chunks evicted since Open.
	RankedBytes     int64
	RankedChunks    int
	RankedEvictions int64
	// ColdBytes is the part of RankedBytes not read since its fill;
	// ColdEvictions counts the ranked chunks evicted, unread since their
	// fill, for unranked chunks more recently used (part of
	// RankedEvictions).
	ColdBytes     int64
	ColdEvictions int64
}

// Stats returns the store's counters and disk states.
func (s *Store) Stats() Stats {
	st := Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(),
		Puts: s.puts.Load(), Rejected: s.rejected.Load(), Declined: s.declined.Load(), Recycled: s.recycled.Load(),
		Evictions:        s.evictions.Load(),
		ChecksumFailures: s.checksumFailures.Load(), Corrupt: s.corrupt.Load(),
		IOErrors: s.ioErrors.Load(), OutOfService: s.outOfService.Load(), ResourceErrors: s.resourceErrors.Load(),
		Restamped: s.restamps.Load(), FullWrites: s.fullWrites.Load(),
		ScrubbedBytes: s.scrubbedBytes.Load(), ScrubbedChunks: s.scrubbedChunks.Load(),
		ScrubPasses: s.scrubPasses.Load(), OpenFileHits: s.fds.hits.Load(),
	}
	select {
	case <-s.ready:
		st.Ready = true
	default:
	}
	s.mu.Lock()
	st.OpenFiles = s.fds.n
	for _, d := range s.disks {
		ds := DiskStats{Path: d.path, InService: d.inService, Reason: d.reason, Budget: d.budget}
		if d.pol != nil {
			ds.Bytes, ds.Chunks = d.heldLocked(), d.pol.Len()+d.ranked.n
			ds.RankedBytes, ds.RankedChunks, ds.RankedEvictions = d.ranked.bytes, d.ranked.n, d.ranked.evicts
			ds.ColdBytes, ds.ColdEvictions = d.ranked.coldBytes, d.ranked.coldEvicts
		}
		st.Disks = append(st.Disks, ds)
	}
	s.mu.Unlock()
	return st
}

// Chunk is an open chunk payload returned by Get. It holds a reference to
// its file (shared with the store's fd cache and other Chunks of the same
// chunk), so it stays readable even if the chunk is evicted meanwhile.
// ReadAt may be called concurrently; the file's offset is shared and never
// used (see Section).
type Chunk struct {
	f   File
	of  *ofile
	off int64  // file offset of the payload
	n   int64  // payload length
	crc uint32 // CRC-32C of the payload, from the header
	s   *Store
	d   *disk
	e   *entry // the index entry Get found (it may have been dropped since)
	h   uint64 // its handle
	id  ID
}

// path returns the chunk's file path (for errors and logs).
func (c *Chunk) path() string { return c.d.chunkPath(c.id.Key, c.id.Index) }

// Len returns the payload length.
func (c *Chunk) Len() int64 { return c.n }

// ReadAt reads payload bytes at payload offset off, as io.ReaderAt. A file
// that shrank behind the store's back gives io.ErrUnexpectedEOF, never
// wrong bytes (and the chunk is verified in the background, as by Suspect);
// an I/O error takes the disk out of service. ReadAt does not verify the
// payload checksum: to copy a chunk's bytes, use ReadAllVerified.
func (c *Chunk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("disk: chunk read at negative offset %d", off)
	}
	if c.of == nil {
		return 0, fmt.Errorf("disk: read chunk %s: %w", c.path(), os.ErrClosed)
	}
	if off >= c.n {
		return 0, io.EOF
	}
	short := false
	if int64(len(p)) > c.n-off {
		p, short = p[:c.n-off], true
	}
	n, err := c.f.ReadAt(p, c.off+off)
	switch {
	case err == nil && short:
		err = io.EOF
	case err != nil && n < len(p) && truncated(err):
		err = io.ErrUnexpectedEOF
		c.Suspect()
	case err != nil && n == len(p) && errors.Is(err, io.EOF):
		if !short {
			err = nil
		}
	case shortOfResources(err):
		c.s.resourceErrors.Add(1)
	case diskFault(err):
		c.s.diskFailed(c.d, fmt.Errorf("disk: read chunk: %w", err))
	}
	return n, err
}

// Section returns, for sendfile, the chunk's underlying file and the
// absolute file offset of payload byte off (the header is skipped). off and
// n must satisfy 0 <= off <= off+n <= Len(), else f is nil; f is also nil
// when the store's FS does not hand out *os.File (then use ReadAt). The file
// belongs to the Chunk and is shared by every reader of the chunk: the
// caller must read it only at explicit offsets (ReadAt, pread, sendfile(2)
// with an offset), never Seek it or Read it at its file offset, and must
// not close it. It stays valid until Close. A sendfile that sends fewer
// bytes than asked for found the file shorter than its header said: call
// Suspect.
func (c *Chunk) Section(off, n int64) (f *os.File, fileOff int64) {
	if off < 0 || n < 0 || off > c.n-n || c.of == nil || c.of.osf == nil {
		return nil, 0
	}
	return c.of.osf, c.off + off
}

// Close releases the chunk's file: it is closed when no other Chunk uses
// it and the fd cache does not hold it. Close is idempotent.
func (c *Chunk) Close() error {
	if of := c.of; of != nil {
		c.of, c.f = nil, nil
		of.release()
		c.e.users.Add(-1)
	}
	return nil
}

// IndexEntryBytes is the heap the store's index allows per chunk held
// (TestHeapPerChunk measures about 500 bytes, 520 under -race, for a one-chunk object with
// a 40-byte key, the object's entry included; an object's further chunks
// cost less). A disk indexes at most Size/MinCharge chunks, so its index
// takes at most about IndexEntryBytes × Size/MinCharge.
const IndexEntryBytes = 640
