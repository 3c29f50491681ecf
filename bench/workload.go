package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// Path schemes of Config.Paths.
const (
	PathsS = "s" // /s/<title size>/bench-t<i>.mp4: one object per title
	PathsV = "v" // /v/bench-t<i>/<seg>.m4s: one object per segment
)

// Request is one request of a virtual player.
type Request struct {
	Title int    // title rank, 1 = most popular
	Path  string // path of the object (on the target and on the origin)
	Size  int64  // size of the object
	Off   int64  // first byte requested
	// Len is the number of body bytes the answer carries: the range
	// length, Size-Off for an open-ended range, Size for a whole GET.
	Len int64
	// Whole is a plain GET of the whole object, without a Range header.
	Whole bool
	// OpenEnded is a "bytes=Off-" range.
	OpenEnded bool
	// Read is the number of body bytes the player reads before it closes
	// the connection; it is Len unless the player abandons the answer.
	Read int64
}

// Abandons reports whether the player stops reading before the end of the
// answer (and closes the connection).
func (r Request) Abandons() bool { return r.Read < r.Len }

// RangeHeader returns the value of the Range header, or "" for a whole GET.
func (r Request) RangeHeader() string {
	switch {
	case r.Whole:
		return ""
	case r.OpenEnded:
		return "bytes=" + strconv.FormatInt(r.Off, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(r.Off, 10) + "-" + strconv.FormatInt(r.Off+r.Len-1, 10)
}

// String describes the request for error messages.
func (r Request) String() string {
	if h := r.RangeHeader(); h != "" {
		return "GET " + r.Path + " " + h
	}
	return "GET " + r.Path
}

// Workload is the catalog and the player model of a Config. It is
// immutable; Player returns independent, deterministic players.
type Workload struct {
	scheme     string
	titleLen   int64 // bytes a player walks through per title
	objectSize int64 // PathsV: size of one segment object
	segment    int64 // mean range length
	seekStart  float64
	jump       float64
	abandon    float64
	openEnded  float64
	seed       uint64
	zipf       *Zipf
	paths      []string // PathsS: the object path of each title
}

// NewWorkload checks the workload fields of cfg (Titles, TitleSize,
// SegmentSize, ObjectSize, Paths, Zipf, SeekStart, Jump, Abandon,
// OpenEnded, Seed) and returns the workload. Zero values are not replaced
// by defaults: start from DefaultConfig.
func NewWorkload(cfg Config) (*Workload, error) {
	if cfg.Titles < 1 {
		return nil, fmt.Errorf("bench: titles %d: need at least 1", cfg.Titles)
	}
	if cfg.TitleSize < 1 {
		return nil, fmt.Errorf("bench: title size %d: need at least 1 byte", cfg.TitleSize)
	}
	if cfg.SegmentSize < 2 {
		return nil, fmt.Errorf("bench: segment size %d: need at least 2 bytes", cfg.SegmentSize)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"seek", cfg.SeekStart}, {"jump", cfg.Jump}, {"abandon", cfg.Abandon}, {"open-ended", cfg.OpenEnded}} {
		if !(p.v >= 0 && p.v <= 1) {
			return nil, fmt.Errorf("bench: %s probability %v: need 0..1", p.name, p.v)
		}
	}
	z, err := NewZipf(cfg.Titles, cfg.Zipf)
	if err != nil {
		return nil, err
	}
	w := &Workload{
		scheme:    cfg.Paths,
		titleLen:  cfg.TitleSize,
		segment:   cfg.SegmentSize,
		seekStart: cfg.SeekStart,
		jump:      cfg.Jump,
		abandon:   cfg.Abandon,
		openEnded: cfg.OpenEnded,
		seed:      cfg.Seed,
		zipf:      z,
	}
	switch cfg.Paths {
	case PathsS:
		tok := SizeToken(cfg.TitleSize)
		w.paths = make([]string, cfg.Titles)
		for i := range w.paths {
			w.paths[i] = "/s/" + tok + "/bench-t" + strconv.Itoa(i+1) + ".mp4"
		}
	case PathsV:
		if cfg.ObjectSize < 1 {
			return nil, fmt.Errorf("bench: object size %d: need at least 1 byte", cfg.ObjectSize)
		}
		w.objectSize = cfg.ObjectSize
		segs := (cfg.TitleSize + cfg.ObjectSize - 1) / cfg.ObjectSize
		w.titleLen = segs * cfg.ObjectSize
	default:
		return nil, fmt.Errorf("bench: path scheme %q: want %q or %q", cfg.Paths, PathsS, PathsV)
	}
	return w, nil
}

// Zipf returns the title popularity distribution.
func (w *Workload) Zipf() *Zipf { return w.zipf }

// Player returns virtual player i. Players with the same index from
// workloads of equal configuration issue the same request sequence.
func (w *Workload) Player(i int) *Player {
	return &Player{w: w, rng: rand.New(rand.NewPCG(w.seed, uint64(i)<<1))}
}

// SizeToken writes n the way /s/<size>/ paths do: with a G, M or K suffix
// when n is a multiple of that binary unit, else as a plain number.
func SizeToken(n int64) string {
	switch {
	case n > 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "G"
	case n > 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "M"
	case n > 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "K"
	}
	return strconv.FormatInt(n, 10)
}

// PlayerPicking returns virtual player i choosing its titles with pick (a
// title rank in 1..Titles drawn with the player's generator) instead of the
// workload's Zipf law; the rest of its behaviour is Player's.
func (w *Workload) PlayerPicking(i int, pick func(*rand.Rand) int) *Player {
	p := w.Player(i)
	p.pick = pick
	return p
}

// Player is one virtual player: a deterministic request sequence. It is
// not safe for concurrent use.
type Player struct {
	w      *Workload
	pick   func(*rand.Rand) int // nil: the workload's Zipf law
	rng    *rand.Rand
	active bool  // watching a title
	title  int   // current title rank
	pos    int64 // next byte of the title to fetch
}

// Next returns the player's next request.
func (p *Player) Next() Request {
	w, r := p.w, p.rng
	if p.active {
		switch {
		case r.Float64() < w.abandon:
			p.active = false
		case r.Float64() < w.jump:
			p.pos = r.Int64N(w.titleLen)
		}
	}
	if !p.active {
		if p.pick != nil {
			p.title = p.pick(r)
		} else {
			p.title = w.zipf.Sample(r)
		}
		p.pos = 0
		if r.Float64() < w.seekStart {
			p.pos = r.Int64N(w.titleLen)
		}
		p.active = true
	}
	// Range length: SegmentSize varied uniformly by ±50%.
	lo, hi := w.segment-w.segment/2, w.segment+w.segment/2
	n := lo + r.Int64N(hi-lo+1)
	open := r.Float64() < w.openEnded

	rq := Request{Title: p.title}
	if w.scheme == PathsV {
		seg := p.pos / w.objectSize
		rq.Path = "/v/bench-t" + strconv.Itoa(p.title) + "/" + strconv.FormatInt(seg, 10) + ".m4s"
		rq.Size = w.objectSize
		rq.Off = p.pos - seg*w.objectSize
	} else {
		rq.Path = w.paths[p.title-1]
		rq.Size = w.titleLen
		rq.Off = p.pos
	}
	rest := rq.Size - rq.Off
	if open {
		// Read part of the answer, then close and move to another title.
		rq.OpenEnded = true
		rq.Len = rest
		rq.Read = rest
		if rest > 1 {
			rq.Read = 1 + r.Int64N(min(n, rest-1))
		}
		p.active = false
		return rq
	}
	rq.Len = min(n, rest)
	rq.Read = rq.Len
	rq.Whole = w.scheme == PathsV && rq.Off == 0 && rq.Len == rq.Size
	p.pos += rq.Len
	if p.pos >= w.titleLen {
		p.active = false
	}
	return rq
}
