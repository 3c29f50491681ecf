package policy

import (
	"slices"
	"testing"
)

// step is one call of a hand-computed scenario.
type step struct {
	op   byte // 'g' Get, 'a' Add, 'r' request (Get, then Add on a miss), 'x' Remove
	key  uint64
	size int64 // for 'a' and 'r'; 0 means 1
	want bool  // result of Get, Add or request (true: hit)
	// evicted lists the keys the step must report through Evicted, in order.
	evicted []uint64
}

// run executes steps against p, whose Evicted callback is rec.
func run(t *testing.T, p Policy, rec *recorder, steps []step) {
	t.Helper()
	for i, s := range steps {
		size := s.size
		if size == 0 {
			size = 1
		}
		var got bool
		switch s.op {
		case 'g':
			got = p.Get(s.key)
		case 'a':
			got = p.Add(s.key, size)
		case 'r':
			got = request(p, s.key, size)
		case 'x':
			p.Remove(s.key)
			got = s.want
		default:
			t.Fatalf("step %d: bad op %q", i, s.op)
		}
		ev := rec.take()
		if got != s.want || !slices.Equal(ev, s.evicted) {
			t.Fatalf("step %d (%c %d size %d): got %v evicted %v; want %v evicted %v",
				i, s.op, s.key, size, got, ev, s.want, s.evicted)
		}
		if p.Bytes() > p.Capacity() {
			t.Fatalf("step %d: Bytes %d > Capacity %d", i, p.Bytes(), p.Capacity())
		}
	}
}

// fill returns request steps for keys lo..hi of size 1 that all miss.
func fill(lo, hi uint64) []step {
	var s []step
	for k := lo; k <= hi; k++ {
		s = append(s, step{op: 'r', key: k})
	}
	return s
}

func TestTwoQ(t *testing.T) {
	t.Run("ghost hit promotes to Am", func(t *testing.T) {
		var rec recorder
		p := New2Q(8, rec.evicted) // Kin 2, Kout 4
		steps := fill(1, 8)
		steps = append(steps,
			step{op: 'g', key: 1, want: true}, // hit in A1in: no move
			step{op: 'r', key: 9, evicted: []uint64{1}},
			step{op: 'g', key: 1, want: false}, // ghost in A1out: a miss
			step{op: 'a', key: 1, want: true, evicted: []uint64{2}},
		)
		run(t, p, &rec, steps)
		if e := p.idx.get(1); e == nil || e.where != twoQAm {
			t.Fatalf("key 1 re-added from A1out is not in Am")
		}
		if got := keysOf(&p.a1out); !slices.Equal(got, []uint64{2}) {
			t.Fatalf("A1out = %v, want [2]", got)
		}
		// Four more misses push 3..6 out of A1in; A1out keeps 4 keys' worth
		// (Kout), forgetting 2.
		run(t, p, &rec, []step{
			{op: 'r', key: 10, evicted: []uint64{3}},
			{op: 'r', key: 11, evicted: []uint64{4}},
			{op: 'r', key: 12, evicted: []uint64{5}},
			{op: 'r', key: 13, evicted: []uint64{6}},
		})
		if got := keysOf(&p.a1out); !slices.Equal(got, []uint64{6, 5, 4, 3}) {
			t.Fatalf("A1out = %v, want [6 5 4 3]", got)
		}
		run(t, p, &rec, []step{{op: 'r', key: 2, evicted: []uint64{7}}})
		if e := p.idx.get(2); e == nil || e.where != twoQIn {
			t.Fatalf("key 2, forgotten by A1out, did not re-enter A1in")
		}
	})
	t.Run("Am evicted when A1in within Kin", func(t *testing.T) {
		var rec recorder
		p := New2Q(4, rec.evicted) // Kin 1, Kout 2
		steps := fill(1, 4)
		steps = append(steps,
			step{op: 'r', key: 5, evicted: []uint64{1}},
			step{op: 'r', key: 1, evicted: []uint64{2}}, // → Am
			step{op: 'r', key: 2, evicted: []uint64{3}}, // → Am
			step{op: 'r', key: 3, evicted: []uint64{4}}, // → Am; A1in = [5]
			step{op: 'r', key: 1, want: true},           // Am order 1, 3, 2
			step{op: 'r', key: 6, evicted: []uint64{2}}, // A1in at Kin: Am's LRU goes
		)
		run(t, p, &rec, steps)
		if p.idx.get(2) != nil {
			t.Fatalf("key 2 evicted from Am is remembered; 2Q forgets Am's victims")
		}
		if got := keysOf(&p.am); !slices.Equal(got, []uint64{1, 3}) {
			t.Fatalf("Am = %v, want [1 3]", got)
		}
		if got := keysOf(&p.a1in); !slices.Equal(got, []uint64{6, 5}) {
			t.Fatalf("A1in = %v, want [6 5]", got)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		var rec recorder
		p := New2Q(100, rec.evicted) // Kin 25, Kout 50
		run(t, p, &rec, []step{
			{op: 'r', key: 1, size: 40},
			{op: 'r', key: 2, size: 40},
			{op: 'r', key: 3, size: 30, evicted: []uint64{1}}, // A1in 80 > Kin 25; A1out [1]
			{op: 'r', key: 4, size: 40, evicted: []uint64{2}}, // A1out [2 1] = 80 > Kout 50: forget 1
			{op: 'r', key: 1, size: 40, evicted: []uint64{3}}, // 1 forgotten: A1in again; A1out [3]
			{op: 'r', key: 3, size: 10},                       // ghost hit: Am, with the new size
		})
		if e := p.idx.get(3); e == nil || e.where != twoQAm || e.size != 10 {
			t.Fatalf("key 3 should be in Am with 10 bytes")
		}
		if p.idx.get(2) != nil || p.a1out.len != 0 {
			t.Fatalf("A1out = %v, want empty (2 forgotten, 3 re-admitted)", keysOf(&p.a1out))
		}
		if p.Bytes() != 90 || p.Len() != 3 {
			t.Fatalf("Len %d Bytes %d, want 3 entries of 90 bytes", p.Len(), p.Bytes())
		}
	})
}

func TestARC(t *testing.T) {
	t.Run("unit sizes adapt p", func(t *testing.T) {
		var rec recorder
		p := NewARC(4, rec.evicted)
		run(t, p, &rec, []step{
			{op: 'r', key: 1}, {op: 'r', key: 2},
			{op: 'r', key: 1, want: true}, {op: 'r', key: 2, want: true}, // T2 [2 1]
			{op: 'r', key: 3}, {op: 'r', key: 4}, // T1 [4 3]
			{op: 'r', key: 5, evicted: []uint64{3}}, // |T1| 2 > p 0: T1's LRU → B1
		})
		if p.p != 0 || !slices.Equal(keysOf(&p.b1), []uint64{3}) {
			t.Fatalf("p = %d, B1 = %v; want 0, [3]", p.p, keysOf(&p.b1))
		}
		// Ghost hit in B1: p grows by 1·max(1, |B2|/|B1|) = 1.
		run(t, p, &rec, []step{{op: 'r', key: 3, evicted: []uint64{4}}})
		if p.p != 1 {
			t.Fatalf("after B1 hit p = %d, want 1", p.p)
		}
		if got := keysOf(&p.t2); !slices.Equal(got, []uint64{3, 2, 1}) {
			t.Fatalf("T2 = %v, want [3 2 1]", got)
		}
		// |T1| = 1 = p: a miss now evicts T2's LRU into B2.
		run(t, p, &rec, []step{{op: 'r', key: 6, evicted: []uint64{1}}})
		if got := keysOf(&p.b2); !slices.Equal(got, []uint64{1}) {
			t.Fatalf("B2 = %v, want [1]", got)
		}
		// Ghost hit in B2: p shrinks by 1·max(1, |B1|/|B2|) = 1, and T1
		// (|T1| 2 > p 0) gives up its LRU.
		run(t, p, &rec, []step{{op: 'r', key: 1, evicted: []uint64{5}}})
		if p.p != 0 {
			t.Fatalf("after B2 hit p = %d, want 0", p.p)
		}
		if got := keysOf(&p.t1); !slices.Equal(got, []uint64{6}) {
			t.Fatalf("T1 = %v, want [6]", got)
		}
		if got := keysOf(&p.b1); !slices.Equal(got, []uint64{5, 4}) {
			t.Fatalf("B1 = %v, want [5 4]", got)
		}
	})
	t.Run("B2 hit with |T1| = p evicts from T1", func(t *testing.T) {
		var rec recorder
		p := NewARC(4, rec.evicted)
		run(t, p, &rec, []step{
			{op: 'r', key: 1}, {op: 'r', key: 1, want: true},
			{op: 'r', key: 2}, {op: 'r', key: 2, want: true}, // T2 [2 1]
			{op: 'r', key: 3}, {op: 'r', key: 4}, // T1 [4 3]
			{op: 'r', key: 5, evicted: []uint64{3}}, // B1 [3]
			{op: 'r', key: 3, evicted: []uint64{4}}, // p 1; B1 [4]
			{op: 'r', key: 4, evicted: []uint64{1}}, // p 2; |T1| 1 < p: T2's LRU → B2
		})
		if p.p != 2 {
			t.Fatalf("p = %d, want 2", p.p)
		}
		// B2 hit: p drops to 1 = |T1|; REPLACE takes T1's LRU on a tie
		// when the key comes from B2.
		run(t, p, &rec, []step{{op: 'r', key: 1, evicted: []uint64{5}}})
		if p.p != 1 || !slices.Equal(keysOf(&p.t2), []uint64{1, 4, 3, 2}) {
			t.Fatalf("p = %d, T2 = %v; want 1, [1 4 3 2]", p.p, keysOf(&p.t2))
		}
	})
	t.Run("only T1 full evicts without ghost", func(t *testing.T) {
		var rec recorder
		p := NewARC(4, rec.evicted)
		steps := fill(1, 4)
		steps = append(steps, step{op: 'r', key: 5, evicted: []uint64{1}})
		run(t, p, &rec, steps)
		// |T1| + |B1| <= c: the paper's case IV(A) deletes T1's LRU outright.
		if p.b1.len != 0 || p.idx.get(1) != nil {
			t.Fatalf("B1 = %v; with T1 = c the victim must not be remembered", keysOf(&p.b1))
		}
	})
	t.Run("byte-scaled adaptation", func(t *testing.T) {
		var rec recorder
		p := NewARC(100, rec.evicted)
		run(t, p, &rec, []step{
			{op: 'r', key: 1, size: 30}, {op: 'r', key: 1, want: true}, // T2 [1]
			{op: 'r', key: 2, size: 30}, {op: 'r', key: 2, want: true}, // T2 [2 1]
			{op: 'r', key: 3, size: 10},                          // T1 [3]
			{op: 'r', key: 4, size: 20},                          // T1 [4 3]; 90 bytes
			{op: 'r', key: 5, size: 20, evicted: []uint64{3}},    // |T1| > p = 0: B1 [3]
			{op: 'r', key: 6, size: 30, evicted: []uint64{4, 5}}, // B1 [5 4 3]
		})
		// Now T1 [6] 30, T2 [2 1] 60, B1 [5 4 3] 50. |T1|+|B1| = 80.
		if p.t1.bytes != 30 || p.t2.bytes != 60 || p.b1.bytes != 50 || p.b2.bytes != 0 {
			t.Fatalf("T1 %d T2 %d B1 %d B2 %d; want 30 60 50 0", p.t1.bytes, p.t2.bytes, p.b1.bytes, p.b2.bytes)
		}
		// B1 hit on a 20-byte key: |B2| < |B1|, so p += 20.
		run(t, p, &rec, []step{{op: 'r', key: 4, size: 20, evicted: []uint64{6}}})
		if p.p != 20 {
			t.Fatalf("after a 20-byte B1 hit p = %d, want 20", p.p)
		}
		// T2 [4 2 1] 80: a 30-byte miss needs room; T1 is empty, so T2's LRU
		// (1, 30 bytes) goes to B2.
		run(t, p, &rec, []step{{op: 'r', key: 7, size: 30, evicted: []uint64{1}}})
		// B1 [6 5 3] = 60 bytes, B2 [1] = 30. A B2 hit on key 1 (now 10
		// bytes) moves p by 10·max(1, |B1|/|B2| = 2) = 20, not 10.
		if p.b1.bytes != 60 || p.b2.bytes != 30 {
			t.Fatalf("B1 %d B2 %d; want 60 30", p.b1.bytes, p.b2.bytes)
		}
		run(t, p, &rec, []step{{op: 'r', key: 1, size: 10}})
		if p.p != 0 {
			t.Fatalf("after a 10-byte B2 hit with |B1|/|B2| = 2, p = %d, want 20-20 = 0", p.p)
		}
		if got := keysOf(&p.t2); !slices.Equal(got, []uint64{1, 4, 2}) {
			t.Fatalf("T2 = %v, want [1 4 2]", got)
		}
	})
}

func TestScaledDelta(t *testing.T) {
	tests := []struct{ size, num, den, want int64 }{
		{1, 0, 1, 1},
		{1, 3, 1, 3},
		{2, 6, 3, 4},
		{2, 1, 3, 2},
		{10, 7, 2, 35},
		{1 << 40, 1 << 40, 1, 1 << 62}, // saturates
	}
	for _, tt := range tests {
		if got := scaledDelta(tt.size, tt.num, tt.den); got != tt.want {
			t.Errorf("scaledDelta(%d, %d, %d) = %d, want %d", tt.size, tt.num, tt.den, got, tt.want)
		}
	}
}

func TestS3FIFO(t *testing.T) {
	t.Run("one-hit wonders leave from S, re-accessed move to M", func(t *testing.T) {
		var rec recorder
		p := NewS3FIFO(10, rec.evicted) // S target 1, ghost 9
		steps := fill(1, 10)            // all in S while the cache fills
		steps = append(steps,
			step{op: 'g', key: 1, want: true}, step{op: 'g', key: 1, want: true}, // freq 2
			step{op: 'g', key: 2, want: true}, // freq 1: not enough
			// S's tail: 1 (freq 2) moves to M, 2 (freq 1) is evicted to G.
			step{op: 'r', key: 11, evicted: []uint64{2}},
			step{op: 'g', key: 2, want: false}, // remembered by G, not resident
			// G hit: 2 enters M directly; S's tail 3 (never hit) goes.
			step{op: 'a', key: 2, want: true, evicted: []uint64{3}},
		)
		run(t, p, &rec, steps)
		if got := keysOf(&p.main); !slices.Equal(got, []uint64{2, 1}) {
			t.Fatalf("M = %v, want [2 1]", got)
		}
		if got := keysOf(&p.ghost); !slices.Equal(got, []uint64{3}) {
			t.Fatalf("G = %v, want [3]", got)
		}
		if e := p.idx.get(1); e.freq != 0 {
			t.Fatalf("key 1 moved to M with freq %d, want 0 (reset)", e.freq)
		}
		if e := p.idx.get(2); e.freq != 0 {
			t.Fatalf("key 2 admitted from G with freq %d, want 0", e.freq)
		}
	})
	t.Run("M reinserts entries with a non-zero counter", func(t *testing.T) {
		var rec recorder
		p := NewS3FIFO(10, rec.evicted)
		steps := fill(1, 10)
		for k := uint64(1); k <= 10; k++ {
			steps = append(steps, step{op: 'g', key: k, want: true}, step{op: 'g', key: k, want: true})
		}
		// All of S moves to M (1 first), S empties, M's tail 1 (freq 0) goes.
		steps = append(steps, step{op: 'r', key: 11, evicted: []uint64{1}})
		steps = append(steps,
			step{op: 'g', key: 2, want: true}, // M's tail now has freq 1
			step{op: 'g', key: 11, want: true}, step{op: 'g', key: 11, want: true},
			// S's 11 moves to M; M's tail 2 is reinserted (freq 0), 3 goes.
			step{op: 'r', key: 12, evicted: []uint64{3}},
		)
		run(t, p, &rec, steps)
		if got := keysOf(&p.main); !slices.Equal(got, []uint64{2, 11, 10, 9, 8, 7, 6, 5, 4}) {
			t.Fatalf("M = %v, want [2 11 10 9 8 7 6 5 4]", got)
		}
		if got := keysOf(&p.small); !slices.Equal(got, []uint64{12}) {
			t.Fatalf("S = %v, want [12]", got)
		}
	})
	t.Run("M decrements counters on reinsertion", func(t *testing.T) {
		var rec recorder
		p := NewS3FIFO(3, rec.evicted) // S target 1, ghost 2
		steps := fill(1, 3)
		for k := uint64(1); k <= 3; k++ {
			steps = append(steps, step{op: 'g', key: k, want: true}, step{op: 'g', key: k, want: true})
		}
		steps = append(steps, step{op: 'r', key: 4, evicted: []uint64{1}}) // M [3 2], S [4]
		for range 3 {
			steps = append(steps, step{op: 'g', key: 2, want: true}) // freq 3
		}
		steps = append(steps,
			step{op: 'g', key: 3, want: true}, // freq 1
			step{op: 'g', key: 4, want: true}, step{op: 'g', key: 4, want: true},
			// 4 → M; M's tail 2 (3 → 2) and 3 (1 → 0) are reinserted, 4 goes.
			step{op: 'r', key: 5, evicted: []uint64{4}},
			step{op: 'g', key: 5, want: true}, step{op: 'g', key: 5, want: true},
			// 5 → M; 2 still has freq 2 (→ 1), 3 has 0 and goes.
			step{op: 'r', key: 6, evicted: []uint64{3}},
		)
		run(t, p, &rec, steps)
		if e := p.idx.get(2); e == nil || e.freq != 1 || e.where != s3Main {
			t.Fatalf("key 2 should be in M with freq 1")
		}
	})
	t.Run("bytes and ghost bound", func(t *testing.T) {
		var rec recorder
		p := NewS3FIFO(100, rec.evicted) // S target 10, ghost 90 bytes
		run(t, p, &rec, []step{
			{op: 'r', key: 1, size: 60},
			{op: 'r', key: 2, size: 30},
			{op: 'g', key: 2, want: true}, {op: 'g', key: 2, want: true},
			{op: 'r', key: 3, size: 20, evicted: []uint64{1}},    // G [1]
			{op: 'r', key: 4, size: 60, evicted: []uint64{3}},    // 2 → M; G [3 1]
			{op: 'r', key: 5, size: 20, evicted: []uint64{4}},    // G [4 3 1] 140 > 90: forget 1
			{op: 'r', key: 1, size: 60, evicted: []uint64{5}},    // 1 forgotten: into S; G [5 4]
			{op: 'r', key: 4, size: 80, evicted: []uint64{1, 2}}, // G hit → M; S's 1 goes, then M's 2
		})
		if got := keysOf(&p.main); !slices.Equal(got, []uint64{4}) {
			t.Fatalf("M = %v, want [4]", got)
		}
		if p.ghost.bytes > p.ghostCap {
			t.Fatalf("G holds %d bytes, bound %d", p.ghost.bytes, p.ghostCap)
		}
		if got := keysOf(&p.ghost); !slices.Equal(got, []uint64{1, 5}) {
			t.Fatalf("G = %v, want [1 5]", got)
		}
	})
}

func TestTinyLFU(t *testing.T) {
	t.Run("newcomer rejected against a frequent victim", func(t *testing.T) {
		var rec recorder
		p := NewTinyLFU(10, rec.evicted) // window 1 byte, main 9
		steps := []step{
			{op: 'g', key: 1}, {op: 'g', key: 1}, // frequency 3 after the request below
			{op: 'r', key: 1, size: 5}, // larger than the window: straight to probation
			{op: 'g', key: 2}, {op: 'g', key: 2},
			{op: 'r', key: 2, size: 5}, // room left: probation [2 1]
			// Frequency 1 against victim 1 (frequency 3): rejected.
			{op: 'r', key: 3, size: 5},
		}
		run(t, p, &rec, steps)
		if p.idx.get(3) != nil || p.Len() != 2 || p.Bytes() != 10 {
			t.Fatalf("rejected newcomer 3: Len %d Bytes %d resident %v", p.Len(), p.Bytes(), p.idx.get(3) != nil)
		}
		// Add reports the rejection.
		if p.Add(3, 5) {
			t.Fatalf("Add(3, 5) = true; its frequency does not beat victim 1")
		}
		// Four more requests make 3 more frequent than 1: it displaces 1.
		for range 3 {
			p.Get(3)
		}
		run(t, p, &rec, []step{{op: 'r', key: 3, size: 5, evicted: []uint64{1}}})
		// A 10-byte newcomer of frequency 4 must beat both victims: probation
		// holds [3 2]; it beats 2 (3) but not 3 (5), so nothing changes.
		for range 3 {
			p.Get(4)
		}
		run(t, p, &rec, []step{{op: 'r', key: 4, size: 10}})
		if p.idx.get(4) != nil || p.idx.get(2) == nil || p.idx.get(3) == nil {
			t.Fatalf("newcomer 4 displaced victims it does not beat")
		}
		// With one more access it beats both and takes the whole cache.
		for range 2 {
			p.Get(4)
		}
		run(t, p, &rec, []step{{op: 'r', key: 4, size: 10, evicted: []uint64{2, 3}}})
	})
	t.Run("window victim contests probation's LRU", func(t *testing.T) {
		var rec recorder
		p := NewTinyLFU(100, rec.evicted) // window 1, protected 79
		for range 5 {
			p.Get(1)
		}
		run(t, p, &rec, fill(1, 100)) // 1 leaves the window first: probation's LRU
		// 100 sits in the window; 200 pushes it out, and it loses to 1.
		run(t, p, &rec, []step{{op: 'r', key: 200, evicted: []uint64{100}}})
		// 200, hit in the window (frequency 2), still loses to 1 (6).
		run(t, p, &rec, []step{
			{op: 'r', key: 200, want: true},
			{op: 'r', key: 201, evicted: []uint64{200}},
		})
		// 400 has 1's frequency (6): a tie keeps the victim.
		for range 5 {
			p.Get(400)
		}
		run(t, p, &rec, []step{
			{op: 'r', key: 400, evicted: []uint64{201}},
			{op: 'r', key: 401, evicted: []uint64{400}},
		})
		// 300 (frequency 8) beats 1 when 301 pushes it out of the window.
		for range 7 {
			p.Get(300)
		}
		run(t, p, &rec, []step{
			{op: 'r', key: 300, evicted: []uint64{401}},
			{op: 'r', key: 301, evicted: []uint64{1}},
		})
		if e := p.idx.get(300); e == nil || e.where != tlfuProbation {
			t.Fatalf("admitted candidate 300 is not in probation")
		}
	})
	t.Run("probation hit promotes to protected", func(t *testing.T) {
		var rec recorder
		p := NewTinyLFU(100, rec.evicted)
		run(t, p, &rec, fill(1, 100))
		run(t, p, &rec, []step{{op: 'r', key: 5, want: true}})
		if e := p.idx.get(5); e.where != tlfuProtected {
			t.Fatalf("key 5 hit in probation is on list %d, want protected", e.where)
		}
		// Protected holds 79 bytes (80% of the 99-byte main): the 80th
		// promotion demotes protected's LRU, 5, to probation's front.
		for k := uint64(6); k < 85; k++ {
			run(t, p, &rec, []step{{op: 'r', key: k, want: true}})
		}
		if p.protected.bytes != 79 || p.idx.get(5).where != tlfuProbation || p.probation.root.next.key != 5 {
			t.Fatalf("protected holds %d bytes, key 5 on list %d; want 79 and 5 demoted to probation's front",
				p.protected.bytes, p.idx.get(5).where)
		}
	})
}
