package disk

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Stamps. The payload checksum of a chunk is verified when the chunk is
// first read after a load, but a chunk this process wrote, or verified,
// is then trusted: its file goes out by sendfile(2), which never copies
// the bytes through the daemon, so a file damaged in place afterwards (a
// stray write, a tool run against the cache dir) would be sent as it is.
// So the store stamps every chunk file it writes: its modification time is
// set to the chunk's write time, the header's written field. Any later
// write to the file moves its modification time, and every Get compares
// it (an fstat it makes anyway for a file in the fd cache; the open's own
// for another) with the entry's written time. A file whose time differs
// is verified again before it is used: damaged, it is dropped as any
// damaged chunk (counted, logged, fetched again); intact (someone only
// touched it, or it was written by a version of the daemon that did not
// stamp), it is stamped again, counted in Stats.Restamped and logged at
// WARN, at most once a minute.
//
// A dir's file system may keep modification times at less than
// nanosecond precision: the store learns the precision from its probe
// file at Open and compares at that precision (with whole seconds, a
// write within the same second as the chunk's is not noticed). A file
// system that cannot set them, or an FS without Chtimes, is not stamped,
// and its chunks are trusted as before.

// chtimer is an FS that can set a file's modification time (OSFS does).
type chtimer interface {
	// Chtimes sets the modification time of the named file, and leaves
	// its access time as it is.
	Chtimes(name string, mtime time.Time) error
}

// Chtimes implements chtimer.
func (OSFS) Chtimes(name string, mtime time.Time) error { return os.Chtimes(name, time.Time{}, mtime) }

// probeGrain returns the precision, in ns, at which the file system of the
// file at path keeps the modification times it is given, or 0 if it cannot
// set them (then d's chunk files are not stamped).
func (s *Store) probeGrain(path string) int64 {
	ct, ok := s.fs.(chtimer)
	if !ok {
		return 0
	}
	const t = 1_600_000_000_123_456_789 // every digit set below the second
	if err := ct.Chtimes(path, time.Unix(0, t)); err != nil {
		s.log.Warn("cannot set the modification time of a probe file: chunk files are not stamped, and a chunk damaged in place after it was verified can be sent until the scrubber reaches it",
			"path", path, "error", err)
		return 0
	}
	fi, err := s.fs.Stat(path)
	if err != nil {
		return 0
	}
	got := fi.ModTime().UnixNano()
	for _, g := range []int64{1, 1e3, 1e6, 1e7, 1e9, 2e9} {
		if got == t-t%g {
			return g
		}
	}
	s.log.Warn("the file system keeps modification times its own way: chunk files are not stamped",
		"path", path, "set", t, "got", got)
	return 0
}

// stamped reports whether a chunk file's modification time mtime (Unix
// ns) is still the stamp of its write at written: always, where d's files
// are not stamped.
func (d *disk) stamped(mtime, written int64) bool {
	g := d.grain
	return g == 0 || mtime-mtime%g == written-written%g
}

// stamp sets the modification time of chunk file path on d to written.
func (s *Store) stamp(d *disk, path string, written int64) error {
	if d.grain == 0 {
		return nil
	}
	if err := s.fs.(chtimer).Chtimes(path, time.Unix(0, written)); err != nil {
		return fmt.Errorf("disk: stamp %s: %w", path, err)
	}
	return nil
}

// restamped records that chunk file path on d was modified since it was
// stamped and its payload then verified intact, and stamps it again. A
// file that cannot be stamped (a read-only disk) is verified again at
// each Get until it can.
func (s *Store) restamped(d *disk, path string, written int64) {
	n := s.restamps.Add(1)
	err := s.stamp(d, path, written)
	s.warn.Log(slog.LevelWarn, "chunk file modified",
		"chunk file modified after it was written or verified; payload verified again, intact, and stamped again (touched by something other than the daemon?)",
		"path", path, "restamped_total", n, "stamp_error", err)
}
