// Package disk is the disk tier of the cache: a persistent, crash-safe chunk
// store over one or more cache directories (one per physical disk), each
// with a byte budget.
//
// The cache cuts objects into fixed-size chunks (chunk i holds bytes
// [i·C, min((i+1)·C, size))). A Store keeps chunk payloads in files, finds
// them again after a restart, clean or not, and never hands out a byte that
// is not the one stored.
//
// # Files
//
// A cache dir holds:
//
//	chunks/<2 hex>/<16 hex>-<index>   one file per chunk
//	tmp/                              chunks being written, and evicted chunk files kept for
//	                                  reuse (see recycle.go); emptied by Open
//	index.snap                        index snapshot written by Close
//	lock                              flock'ed while a Store has the dir open
//	seed                              the dir's secret file-name key
//
// <16 hex> is the 64-bit SipHash-2-4 of the object key keyed with the dir's
// seed, <2 hex> its first two digits, <index> the chunk index in decimal. A
// chunk file is a header (see header.go: magic "ECCHUNK1", format version,
// header length, chunk index, payload length, write time, CRC-32C of the
// payload, key, version, meta, and a CRC-32C of the header itself) followed
// by the payload. Put writes the file under tmp/ and renames it into place,
// so a chunk file is complete or absent.
//
// # Hashes and collisions
//
// Keys carry query parameters that clients choose, so a hash of the key that
// anyone can compute would let an attacker craft keys colliding with a
// popular chunk's: a colliding file name replaces the file (the newest write
// wins), a colliding index handle replaces the index entry. Neither may be
// predictable:
//
//   - File names use SipHash-2-4 (github.com/dchest/siphash) keyed with a
//     random 128-bit seed per dir, made at the dir's first Open and kept in
//     its seed file (32 hex digits and a newline, written atomically), so the
//     names are the same after a restart. A key of SipHash, unlike a seed
//     XORed into an unkeyed hash, cannot be worked around without knowing it.
//   - Index handles (and the eviction policies' keys) use hash/maphash
//     seeded at random by each Open: the index is rebuilt from keys at every
//     start (snapshots store keys, not handles), so this seed never needs to
//     persist, and one seed per Store (rather than per dir) is needed because
//     a handle is computed before the chunk's disk is known.
//   - Placement (below) stays a fixed hash of key and index (FNV-1a mixed
//     with SplitMix64): it must give the same disk across restarts and before
//     any dir is chosen, and a crafted collision there only moves load from
//     one disk to another, which an attacker can do anyway by trying keys.
//
// A collision of the keyed hashes is then a chance of 2^-64 per pair; Get
// checks the key in the header anyway, so a file is never served for the
// wrong key.
//
// A dir without a seed file (written by a release before seeds) gets one at
// Open; its index snapshot is discarded (one INFO line) and the scan renames
// each chunk file from its old, unseeded FNV-1a name to its seeded name (one
// INFO line with the count; a rename costs about as much as reading the
// header, so the first start after the upgrade scans about half as fast; a
// crash during that scan leaves the files not yet renamed to the next start,
// which removes them as damaged, to be refetched). A damaged seed file is replaced by a new one with a WARN: the files named
// with the old seed are then removed by the scan as damaged, to be
// refetched. The seed and lock files do not count against the budget.
//
// # Placement
//
// A chunk goes to the disk with the highest weighted rendezvous score of the
// chunk's placement hash (a fixed hash of key and index, see above) among
// the disks in service, weighted by budget. Placing chunks rather than
// whole objects spreads a hot object's load over every disk. Losing a disk
// moves only that disk's share. The in-memory index (handle → disk, size,
// version, last use, verified) is the source of truth: after the disk set
// changes, chunks stay where they are and are still found.
//
// # Index
//
// The index lives in memory. Open starts loading it in the background, one
// goroutine per disk: from the disk's index snapshot when Close left a valid
// one, else by scanning every chunk header (eight goroutines per disk). The
// snapshot is renamed away by Open and deleted once loaded, so a crash later
// can never load a stale one: after a kill -9 the next Open scans. Measured
// on a 2-core VM: one million chunks load from a snapshot in about 1.4 s
// (BenchmarkLoadSnapshot1M, 88 bytes of snapshot per chunk); a scan reads
// about 80k chunk files per second from a warm page cache
// (BenchmarkScan100k), so about 13 s per million, more from cold disks. To
// force a scan (the daemon stopped), delete index.snap. Ready is
// closed when every disk is loaded; meanwhile Put works and Get finds what is
// already known. Chunks written by Put while loading may take a disk past its
// budget until loading completes; the loaded chunks are then offered to the
// policy, which evicts down to the budget.
//
// # Budgets and eviction
//
// Each disk has an eviction policy from edgecache/cache/policy ("lru" by
// default) over its chunks, by bytes: a file counts as its size rounded up to
// 4 KiB. Put reserves the chunk's bytes before writing (evicting other chunks
// and deleting their files first, outside the lock), so the chunk files on a
// disk never exceed its budget plus the chunks being written at that moment.
// Directory blocks are not counted.
//
// # Ranks
//
// PutRanked stores a chunk with a Rank (a generation, > 0, and a rank,
// lower is better: a fill job's start time and a title's rank); Put stores
// it unranked. Ranks compare by generation first (a newer fill job's
// content beats any of an older job's), then by rank. A ranked chunk is
// kept out of its disk's eviction policy, in the disk's ranked set (chunks
// by rank, in a sorted slice of ranks: O(1) per chunk of a known rank, a
// binary search and a slice move for a new rank), whose bytes share the
// disk's budget: the policy keeps its capacity, and before adding a chunk
// the store trims it (policy.Policy.Trim, the policy's own eviction order)
// and evicts ranked chunks so that policy bytes plus ranked bytes fit.
//
//   - A ranked chunk evicts only chunks ranked strictly lower: ranked
//     chunks of older generations (worst first), then unranked ones (the
//     policy's order), then worse ranks of its generation (worst first;
//     within a rank, the one added last first). If those cannot make room,
//     nothing is evicted and PutRanked returns an error wrapping
//     ErrRankedFull (counted in Stats.Rejected).
//   - An unranked chunk (a player's miss) first evicts cold ranks, worst
//     first, while their fill is older than the last use of the policy's
//     next victim, when the policy can name that victim (policy.Victimizer:
//     LRU and ARC do); then unranked chunks, and ranked ones, worst first, only
//     when the policy is empty. A ranked chunk is cold until it is read
//     (Get, Touch) after its fill: its write, or for a chunk ranked while
//     held (SetRank) its generation, which a fill job sets to its start
//     time. A rank is cold while all its chunks are: a fill ranks by
//     title, so a title nobody watched since the fill gives its chunks
//     back to what players read since, as an LRU would, and a title
//     players watch keeps its chunks protected, the parts not watched yet
//     included. (Chunk by chunk instead, a good manifest lost its titles
//     to the day's one-off views before their viewers came: bench day's
//     oracle peak offload fell from 73% to 58%; by title, 66%, with the
//     nightly manifest's 48% up to 56%.) Of the worst cold rank, only the
//     chunk made cold last is compared with the victim (O(1) per
//     eviction): a rank filled over a long time may give its chunks back
//     a little late. Cold ranks are a second sorted slice of ranks; a
//     chunk moves between cold and warm in O(1). The write, last use and
//     generation are in the snapshot, so a restart from it keeps what is
//     cold; a scan makes every ranked chunk cold again (its last use is
//     its write).
//   - Get does not look at ranks beyond that (a map lookup the first
//     time a cold chunk is read): a hit on a ranked chunk leaves it
//     ranked; the policy's Get on its handle is a miss, which only a
//     frequency sketch (tinylfu) counts.
//   - SetRank gives a stored chunk a better rank (any rank of a newer
//     generation is better) without moving bytes: the fill ranks what it
//     finds already held, so a new job's ranks cover it.
//
// The rank is in the chunk file's header (flag 1 and 12 bytes after the
// meta; unranked chunks are written exactly as before ranks, and a release
// before ranks removes ranked files as damaged) and in the index snapshot
// (format version 2; a version 1 snapshot loads every chunk unranked). A
// rank given by SetRank is kept by the snapshot only: after a crash, the
// scan gives the chunk the rank its file was written with. Ranks cost 16
// bytes per index entry.
//
// # Integrity
//
// The payload's CRC-32C in the header is computed by Put, or given by the
// caller (PutSummed: the cache sums a chunk as it arrives from the origin).
// A chunk's bytes are checked as follows:
//
//   - Get checks the header (magic, header CRC, key, index, version,
//     length, file size) when it opens the chunk's file; a Get served from
//     the fd cache (see Open files) checks only that the open file is still
//     linked, of that size and not modified since (one fstat).
//   - The payload CRC-32C is checked by the first Get of a chunk after it
//     was loaded from disk (snapshot or scan). Chunks written by this
//     process, or verified since the load, are trusted by Get as long as
//     their file's modification time is still the stamp the store gave it
//     (stamp.go): a file written to since is verified again first.
//   - Chunk.ReadAllVerified checks the payload CRC on every call: the cache
//     uses it whenever it copies a chunk's bytes into user space (promotion
//     to memory, the copy path when a connection cannot take a file), so
//     copied bytes are always verified bytes.
//   - The scrubber (Options.ScrubRate, DefaultScrubRate 8 MiB/s, on by
//     default) reads and verifies every chunk of every disk in service,
//     pass after pass from Ready on, without holding the store's lock while
//     reading. It is what covers the sendfile path, whose bytes never pass
//     through user space. It reads through the page cache, so it checks the
//     bytes sendfile would send. BenchmarkScrub measured 0.23 to 0.25 CPU
//     seconds per GiB verified from the page cache on a 2-core VM with
//     256 KiB chunks (about 60 µs a chunk: open, stat, one read, CRC-32C,
//     close) and 0.15 with 1 MiB chunks. It reads until it is 250 ms ahead
//     of its rate, then pauses (scrubNap): a daemon idle but for its
//     scrubber, at 8 MiB/s over 256 KiB chunks, used 0.6% of one core,
//     against 2% when it paused after each chunk, the wake-ups costing
//     more than the reads. The cost that matters is the disk's: see
//     DefaultScrubRate.
//   - Chunk.Suspect, called by the cache when a read or sendfile of a chunk
//     fails, verifies that chunk (header and payload, read anew) in the
//     background at once.
//
// Whoever finds a mismatch drops the chunk from the index, deletes its file,
// counts it (Stats.ChecksumFailures; other damage in Stats.Corrupt) and logs
// a WARN with the path, key and index: Get then reports ErrNotFound and
// ReadAllVerified an error wrapping ErrChecksum, so the cache refetches it.
//
// The window that remains: bytes damaged in place (same file, same length,
// after the chunk's last verification) can go out through sendfile until the
// scrubber's next pass reaches the chunk, or until a copy or a Suspect
// catches it. A pass over B bytes of chunks (all disks together: the rate
// is the store's) takes B/ScrubRate, about 1.5 days per TB at the default;
// a higher rate shortens the window at the cost of disk time.
//
// # Open files
//
// A Get that opened and checked a chunk's file keeps it open in the fd
// cache (Options.OpenFiles, DefaultOpenFiles 4096, at most a quarter of
// RLIMIT_NOFILE), held by the chunk's index entry along with the payload
// CRC its header gave; every Chunk of it shares the file through a
// reference count. The next Get of the chunk then opens, reads and decodes
// nothing: one fstat checks that the file is still linked (a file deleted
// or replaced behind the store's back is dropped as vanished) and of the
// length the header gave (a truncated or extended one is dropped as
// corrupt). A rewrite of the chunk by Put makes a new index entry, which
// opens the new file: an open file is only ever served for the entry whose
// Get checked it. The least recently used files beyond the bound leave the
// cache; a chunk's file leaves it when its entry is dropped (evicted,
// removed, purged, replaced, found damaged, its disk taken out of service)
// and every file at Close. A file that leaves the cache is closed when its
// last Chunk closes. Readers share a file's descriptor, so they read at
// explicit offsets only (ReadAt, and sendfile from an offset: see
// Chunk.Section).
//
// # Durability: Options.Fsync
//
// "none" (the default) relies on the rename: a process crash loses nothing
// (the page cache survives it); a power loss may lose chunks written in the
// last seconds, or leave them empty or partial, which the length and checksum
// checks catch. "always" fsyncs each file before its rename and its directory
// after, so a chunk that Put returned for survives power loss. Measured by
// BenchmarkPut on a 2-core VM (ext4 on virtio), one writer, 1 MiB chunks:
// "none" 0.64 ms per chunk (1.6 GB/s), "always" 2.7 ms (0.38 GB/s): about
// four times the cost, which a fill at a few Gbit/s can still afford, but
// a cache that refetches what it lost rarely needs. Snapshots and the state
// file are always fsynced.
//
// Verifying a 1 MiB payload costs one read of it plus a CRC-32C (47 µs in
// memory, SSE4.2): BenchmarkGet1MiB measured 82 µs to Get and read a
// verified chunk from the page cache and 228 µs for a first read, so Get
// verifies once per chunk after a load, not on every call (the sendfile
// path never reads the payload in user space at all); a copy of the bytes
// already pays for the read, and ReadAllVerified adds only the CRC.
//
// # Disks out of service
//
// An I/O error other than not-found (a failed write, rename, read or
// delete; EROFS, EIO, ...) takes the disk out of service: one log
// line "disk taken out of service" with its path and error, a counter in
// Stats, its index entries dropped (its files stay), and Puts go to the
// other disks. The disk is recorded in the state file (Options.StateFile),
// rewritten atomically, so it stays out across restarts until the operator
// clears it with ClearOutOfService (the CLI's command for it) after fixing
// the disk; its chunks are then found again by a scan. The state file is
// JSON:
//
//	{
//	  "version": 1,
//	  "out_of_service": [
//	    {"path": "/srv/cache2", "since": "2025-01-02T03:04:05Z", "error": "write /srv/cache2/tmp/...: input/output error"}
//	  ]
//	}
//
// A missing state file means every disk is in service. Deleting an entry by
// hand (daemon stopped) is equivalent to ClearOutOfService.
//
// A full file system (ENOSPC, EDQUOT) is not a disk failure: the disk stays
// in service with its budget cut to what it holds, and the periodic check
// sets the budget to what the file system can hold (see full.go).
//
// # A disk that disappears
//
// Open records the identity (device and inode) of each dir and of its lock
// file. Before every Put writes (or deletes an evicted chunk), before Close
// writes the index snapshot, and every Options.CheckInterval
// (DefaultCheckInterval, 10 s), the store checks that the path still leads
// to them; a Get that finds a chunk file missing checks too. A dir removed (rm -rf), replaced by another directory (renamed away
// and re-created), lazily unmounted (umount -l: the path then leads to the
// directory beneath the mount), or whose lock file was removed or replaced
// (another daemon could then lock the path) is taken out of service as
// above, with an ERROR line saying what changed ("cache directory replaced
// or removed: ..."). The store never re-creates a vanished dir: only a
// missing tmp/, chunks/ or chunks/xx inside a dir that is still the same one
// is re-created. With Dir.RequireMount, Open refuses a dir that is not a
// mount point ("/", or on another device than its parent; a bind mount of a
// directory of the same file system does not count), and the periodic check
// takes it out of service when it stops being one, so an unmounted disk
// never fills the root file system. The checks cost two or three stat calls
// (a few µs, against about 0.6 ms to write a 1 MiB chunk). They are skipped
// when the FS does not report device and inode (Sys() not a
// *syscall.Stat_t).
package disk
