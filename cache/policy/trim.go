package policy

// Trim evicts, in the policy's own eviction order and through the Evicted
// callback, until Bytes() <= target (a target < 0 counts as 0). It lets a
// caller that keeps some bytes of the same budget outside the policy (the
// disk tier's ranked chunks) make room for them without changing the
// policy's capacity.
func (p *LRU) Trim(target int64) {
	for p.bytes > max(target, 0) && p.lru.Len() > 0 {
		p.lru.RemoveOldest()
	}
}

// Trim evicts, by REPLACE, until Bytes() <= target (see LRU.Trim); evicted
// keys are remembered as ghosts as usual.
func (p *ARC) Trim(target int64) {
	for p.Bytes() > max(target, 0) && p.Len() > 0 {
		p.replace(false)
	}
	p.trimGhosts()
}

// Trim evicts, in 2Q's order (A1in beyond its share, else Am), until
// Bytes() <= target (see LRU.Trim).
func (p *TwoQ) Trim(target int64) {
	if p.Bytes() > max(target, 0) {
		p.reclaim(p.capacity - max(target, 0))
	}
}

// Trim evicts, in S3-FIFO's order (S beyond its share, else M), until
// Bytes() <= target (see LRU.Trim).
func (p *S3FIFO) Trim(target int64) {
	for p.Bytes() > max(target, 0) && p.Len() > 0 {
		if p.small.len > 0 && (p.small.bytes >= p.smallCap || p.main.len == 0) {
			p.evictSmall()
		} else {
			p.evictMain()
		}
	}
}

// Trim evicts, without contest (probation's least recently used entries,
// then protected's, then the window's), until Bytes() <= target (see
// LRU.Trim).
func (p *TinyLFU) Trim(target int64) {
	for p.Bytes() > max(target, 0) && p.Len() > 0 {
		p.evictAny()
	}
}
