package disk

import (
	"errors"
	"log/slog"
	"syscall"
)

// Full disks. A file system that runs out of room (ENOSPC, or EDQUOT for a
// quota) is not a failing disk: its chunks are still good and its reads
// still work, and the room may come back (another process's files deleted,
// the budget set larger than the file system). So a write that meets it
// does not take the disk out of service. The disk's budget is cut to what
// it holds, less the chunk that did not fit, and the Put tries once more:
// the next Puts evict to make room, as on a disk at its budget, so the
// cache goes on working at the size the file system can give. Each such
// write is counted (Stats.FullWrites) and logged at WARN, at most once a
// minute per disk. The periodic check (Options.CheckInterval) then sets
// each disk's budget to what its file system can hold (fitBudget): the
// configured size, or less when the free space would run out first; the
// budget grows back as room is freed, and a budget set larger than the file
// system is cut before the first write fails.

// NoSpace reports whether err is a file system out of room: ENOSPC, or
// EDQUOT (a Put's error says so when its disk is full).
func NoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// diskFull cuts d's budget to the bytes it holds now, less size (the chunk
// a write could not fit), after err said its file system is full. While
// d's index is still loading, what it holds is not known yet (the chunks
// not indexed yet fill the file system too): the budget stays, and the
// write fails.
func (s *Store) diskFull(d *disk, size int64, err error) {
	n := s.fullWrites.Add(1)
	s.mu.Lock()
	if !d.inService {
		s.mu.Unlock()
		return
	}
	if d.loaded {
		d.budget = min(d.budget, max(d.heldLocked()-size, 0))
	}
	budget := d.budget
	s.mu.Unlock()
	s.warn.Log(slog.LevelWarn, "disk full "+d.path,
		"disk full: its budget is cut to what it holds, and chunks are evicted to make room for new ones",
		"path", d.path, "budget", budget, "configured", d.size, "error", err, "full_writes_total", n)
}

// fullHeadroom is the free space fitBudget leaves on a file system: 5% of
// what the cache could use there, at most 64 MiB (room for the temp files
// being written, the index snapshot, and what the file system needs to
// itself).
func fullHeadroom(room int64) int64 { return min(room/20, 64<<20) }

// fitBudget sets d's budget to what its file system can hold: the
// configured size, or what d holds plus the space free to an unprivileged
// user, less fullHeadroom, if that is smaller. A change is logged: at
// WARN when the budget is below the configured size, at INFO when it is
// back to it. It waits for d's index to be loaded: until then what d
// holds is not known.
func (s *Store) fitBudget(d *disk) {
	free, ok := freeSpace(d.path)
	if !ok {
		return
	}
	s.mu.Lock()
	if !d.inService || d.pol == nil || !d.loaded {
		s.mu.Unlock()
		return
	}
	room := d.heldLocked() + free
	budget := min(d.size, max(room-fullHeadroom(room), 0))
	old := d.budget
	d.budget = budget
	s.mu.Unlock()
	switch {
	case budget == old:
	case budget < d.size:
		s.log.Warn("disk budget below its configured size: the file system has less room", "path", d.path,
			"budget", budget, "was", old, "configured", d.size, "free", free)
	default:
		s.log.Info("disk budget back to its configured size", "path", d.path, "budget", budget, "was", old)
	}
}
