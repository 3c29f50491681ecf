package popularity

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// MaxLineLength is the longest access log line read; a longer one is a bad
// line.
const MaxLineLength = 64 << 10

// maxExamples is how many bad lines and read errors Stats describes.
const maxExamples = 5

// Stats count what an Aggregate read.
type Stats struct {
	Files   int   `json:"files"`   // log files read
	Lines   int64 `json:"lines"`   // lines read, bad ones included
	Bad     int64 `json:"bad"`     // lines that did not parse, skipped
	Counted int64 `json:"counted"` // lines counted: status 200 or 206 with a path
	Bytes   int64 `json:"bytes"`   // body bytes of the counted lines
	// BadExamples describe the first bad lines ("FILE:LINE: reason").
	BadExamples []string `json:"bad_examples,omitempty"`
	// ReadErrors describe files that could not be read to their end (a
	// truncated compressed file, an I/O error): what was read before
	// counts.
	ReadErrors []string `json:"read_errors,omitempty"`
}

// dayBytes is a file's bytes streamed on one UTC day.
type dayBytes struct {
	day   int64
	bytes int64
}

// Aggregate adds up the bytes streamed per file (cache key) and per UTC
// day. Its memory grows with the distinct files and days seen, not with
// the lines. It is not safe for concurrent use; read files in parallel
// with ReadFiles.
type Aggregate struct {
	files  map[string][]dayBytes
	stats  Stats
	parser Parser
	minDay int64
	maxDay int64
	seen   bool // minDay and maxDay are set
}

// NewAggregate returns an empty Aggregate.
func NewAggregate() *Aggregate {
	return &Aggregate{files: map[string][]dayBytes{}}
}

// Stats returns the counts so far.
func (a *Aggregate) Stats() Stats {
	s := a.stats
	s.BadExamples = slices.Clone(s.BadExamples)
	s.ReadErrors = slices.Clone(s.ReadErrors)
	return s
}

// Days returns the first and last UTC day seen (days since 1970-01-01);
// ok is false if no line was counted.
func (a *Aggregate) Days() (first, last int64, ok bool) {
	return a.minDay, a.maxDay, a.seen
}

// Files returns the number of distinct files seen.
func (a *Aggregate) Files() int { return len(a.files) }

// Add counts one parsed line: answers 200 and 206 with a path; others are
// ignored.
func (a *Aggregate) Add(l *Line) {
	if (l.Status != 200 && l.Status != 206) || len(l.Path) == 0 {
		return
	}
	a.stats.Counted++
	a.stats.Bytes += l.Bytes
	a.add(l.Path, l.Day, l.Bytes)
}

func (a *Aggregate) add(path []byte, day, n int64) {
	if !a.seen || day < a.minDay {
		a.minDay = day
	}
	if !a.seen || day > a.maxDay {
		a.maxDay = day
	}
	a.seen = true
	ds, ok := a.files[string(path)] // no allocation for the lookup
	if !ok {
		a.files[string(path)] = []dayBytes{{day, n}}
		return
	}
	// Logs are mostly in time order: the day is usually the last one.
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].day == day {
			ds[i].bytes += n
			return
		}
	}
	a.files[string(path)] = append(ds, dayBytes{day, n})
}

// Merge adds b's counts to a.
func (a *Aggregate) Merge(b *Aggregate) {
	for path, ds := range b.files {
		for _, d := range ds {
			a.add([]byte(path), d.day, d.bytes)
		}
	}
	a.stats.Files += b.stats.Files
	a.stats.Lines += b.stats.Lines
	a.stats.Bad += b.stats.Bad
	a.stats.Counted += b.stats.Counted
	a.stats.Bytes += b.stats.Bytes
	for _, e := range b.stats.BadExamples {
		if len(a.stats.BadExamples) < maxExamples {
			a.stats.BadExamples = append(a.stats.BadExamples, e)
		}
	}
	a.stats.ReadErrors = append(a.stats.ReadErrors, b.stats.ReadErrors...)
}

// Compression magic numbers.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Read reads one access log from r (plain, gzip or zstd, told by its
// magic number), named name in Stats. Bad lines are counted and skipped;
// an error that stops the reading midway (a truncated file) is recorded in
// Stats.ReadErrors, and what was read before it counts. The error is ctx's
// if it ended, or one that kept the stream from being read at all (an
// unreadable compression header).
func (a *Aggregate) Read(ctx context.Context, r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 256<<10)
	head, _ := br.Peek(4)
	var src io.Reader = br
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("access log %s: gzip: %w", name, err)
		}
		defer zr.Close()
		src = zr
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return fmt.Errorf("access log %s: zstd: %w", name, err)
		}
		defer zr.Close()
		src = zr
	}
	a.stats.Files++
	lr := br
	if src != io.Reader(br) {
		lr = bufio.NewReaderSize(src, 256<<10)
	}
	var l Line
	var lineNo int64
	for {
		if lineNo&0xffff == 0 && ctx.Err() != nil {
			return fmt.Errorf("access log %s: %w", name, ctx.Err())
		}
		b, err := lr.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || len(b) > MaxLineLength {
			lineNo++
			a.stats.Lines++
			a.bad(name, lineNo, "longer than the longest line read")
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lr.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				a.readError(name, err)
				return nil
			}
			if err == io.EOF {
				return nil
			}
			continue
		}
		if len(b) > 0 {
			lineNo++
			if line := bytes.TrimRight(b, "\r\n"); len(line) > 0 {
				a.stats.Lines++
				if perr := a.parser.Parse(line, &l); perr != nil {
					a.bad(name, lineNo, perr.Error())
				} else {
					a.Add(&l)
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			a.readError(name, err)
			return nil
		}
	}
}

func (a *Aggregate) bad(name string, line int64, why string) {
	a.stats.Bad++
	if len(a.stats.BadExamples) < maxExamples {
		a.stats.BadExamples = append(a.stats.BadExamples, fmt.Sprintf("%s:%d: %s", name, line, why))
	}
}

func (a *Aggregate) readError(name string, err error) {
	a.stats.ReadErrors = append(a.stats.ReadErrors, fmt.Sprintf("%s: %v", name, err))
}

// ReadFile reads the access log file name (see Read).
func (a *Aggregate) ReadFile(ctx context.Context, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	defer f.Close()
	return a.Read(ctx, f, name)
}

// ReadFiles reads the access log files names, up to parallel of them at
// once (each into an Aggregate of its own, merged into a in the order of
// names, so the result does not depend on the parallelism). The first
// error (a file that cannot be opened or decompressed, or ctx's) is
// returned after every file was tried.
func (a *Aggregate) ReadFiles(ctx context.Context, names []string, parallel int) error {
	parallel = max(1, min(parallel, len(names)))
	parts := make([]*Aggregate, len(names))
	errs := make([]error, len(names))
	next := make(chan int)
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for i := range next {
				p := NewAggregate()
				errs[i] = p.ReadFile(ctx, names[i])
				parts[i] = p
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, p := range parts {
		a.Merge(p)
	}
	return errors.Join(errs...)
}
