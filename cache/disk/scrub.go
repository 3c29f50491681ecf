package disk

import "time"

// DefaultScrubRate is the scrubber's read rate when Options.ScrubRate is 0:
// 8 MiB/s. Its CPU cost is small (see the package doc), so the limit is
// the disk: 8 MiB/s is under 1% of an SSD's bandwidth and about eight 1 MiB
// random reads a second, a few percent of an HDD's seek budget, so the
// scrubber never competes noticeably with serving. It verifies about
// 0.7 TB a day: a pass over a few TB every few days.
const DefaultScrubRate = 8 << 20

// defaultScrubIdle is the pause after a scrub pass that found nothing to
// verify (an empty store), so that the scrubber does not spin. Passes over
// chunks follow each other at once: the rate alone spaces the reads.
const defaultScrubIdle = time.Second

// scrubNap is the shortest pause the scrubber takes: it reads until it is
// that far ahead of its rate, then sleeps it off in one go. Each wake-up of
// an idle process costs far more CPU than reading a chunk from the page
// cache (a timer, a thread woken, on a VM an idle vCPU woken), so a pause
// per chunk (32 a second at the default rate and chunk size) cost ten times
// the reads themselves; a pause per 250 ms of reading costs a few a second.
const scrubNap = 250 * time.Millisecond

// maxScrubCredit is how far the scrubber may run ahead of its rate after it
// fell behind (slow reads): at most this much reading at full speed.
const maxScrubCredit = time.Second

// pacer spaces reads to average at most rate bytes per second.
type pacer struct {
	rate int64 // bytes per second; 0: no pacing
	next time.Time
	naps int // pauses taken
}

// scrubber verifies every live chunk of every disk in service, at the
// store's scrub rate, pass after pass, from Ready until Close.
func (s *Store) scrubber(rate int64, idle time.Duration) {
	defer s.bg.Done()
	select {
	case <-s.ready:
	case <-s.stop:
		return
	}
	p := &pacer{rate: rate}
	for {
		before := s.scrubbedChunks.Load()
		if !s.scrubPass(p) {
			return
		}
		s.scrubPasses.Add(1)
		if s.scrubbedChunks.Load() == before && !s.sleep(idle) {
			return
		}
	}
}

// sleep waits for d, or until Close; it reports whether the store is still
// open.
func (s *Store) sleep(d time.Duration) bool {
	if d <= 0 {
		return !s.stopped()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	}
}

// scrubItem is a chunk to scrub: its handle and the entry it had when the
// pass began (a chunk replaced since is skipped).
type scrubItem struct {
	h uint64
	e *entry
}

// scrubPass verifies, once, every chunk live at its start, reading at p's
// rate, without holding the store's lock while reading. A mismatch is
// handled by reject: dropped, deleted, counted, logged. It reports false if
// Close interrupted it.
func (s *Store) scrubPass(p *pacer) bool {
	s.mu.Lock()
	items := make([]scrubItem, 0, len(s.idx))
	for h, e := range s.idx {
		if e.state == stateLive {
			items = append(items, scrubItem{h, e})
		}
	}
	s.mu.Unlock()
	for _, it := range items {
		if s.stopped() {
			return false
		}
		d := s.disks[it.e.disk] // e.disk never changes
		n, checked := s.verify(d, it.h, it.e)
		if !checked {
			continue
		}
		s.scrubbedChunks.Add(1)
		s.scrubbedBytes.Add(n)
		// Pace by what the disk reads: the header and payload, at least a
		// block even for an empty chunk.
		if !s.pace(p, blocks(int64(it.e.hlen)+n)) {
			return false
		}
	}
	return true
}

// pace waits long enough after reading n bytes for the reads to average at
// most p.rate bytes per second; it reports false if Close interrupted it.
func (s *Store) pace(p *pacer, n int64) bool {
	if p.rate <= 0 {
		return true
	}
	now := time.Now()
	if now.Sub(p.next) > maxScrubCredit {
		p.next = now.Add(-maxScrubCredit)
	}
	p.next = p.next.Add(time.Duration(float64(n) / float64(p.rate) * float64(time.Second)))
	d := p.next.Sub(now)
	if d < scrubNap {
		return !s.stopped()
	}
	p.naps++
	return s.sleep(d)
}
