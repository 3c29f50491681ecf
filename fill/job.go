package fill

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"
)

// Cache is what a fill job needs of the cache. cache.Filler implements it
// over a *cache.Store; tests put anything behind it.
type Cache interface {
	// Has reports whether the cache holds every byte of the object
	// req.Path, of req.Size bytes, where a fill keeps it (the disk tier
	// when there is one), without fetching anything. When it does, it
	// gives the object req's rank (Rank and Gen) if that ranks higher than
	// the one it has, so that a job's held files count as ranked by it.
	Has(ctx context.Context, req Request) bool
	// Fill makes the cache hold the object req.Path: every piece it does
	// not hold is fetched through the cache's miss path (collapsed with
	// players' fetches of the same pieces) and stored with req.Rank. Every
	// byte of the object, held or fetched, is written to w in order as it
	// is read or arrives, so the caller can check the whole object. It
	// returns the bytes written. An object whose size is not req.Size is an
	// error. When the cache is full of content ranked as high as req or
	// higher, the error wraps ErrFull.
	Fill(ctx context.Context, req Request, w io.Writer) (int64, error)
	// Discard drops every piece the cache holds of the object at path (its
	// bytes did not match the manifest).
	Discard(path string)
	// Capacity returns the bytes the cache can keep filled objects in now:
	// the byte budgets of the disks in service (of the memory tier without
	// a disk tier).
	Capacity() int64
	// Footprint returns the bytes an object of size bytes at path takes
	// of Capacity once stored (chunk headers and block rounding included).
	Footprint(path string, size int64) int64
}

// Request is one object a fill job asks the cache for.
type Request struct {
	Path string
	Size int64 // from the manifest
	Rank int   // the title's rank: lower is more popular
	// Gen is the job's generation (> 0): its start time in Unix
	// nanoseconds, the same for every run of the job. A rank of a newer
	// generation ranks higher than any rank of an older one: a new
	// manifest's ranks supersede the last one's.
	Gen int64
	// Pace, if not nil, must be called with the length of every piece
	// before it is fetched from the origin; it waits as long as the fill's
	// bandwidth cap requires, and fails when ctx ends.
	Pace func(ctx context.Context, n int64) error
	// MaxFetch, if > 0, bounds the bytes one origin request may ask for
	// (the cache rounds it to whole chunks, at least one): with a
	// bandwidth cap, a second's worth of it, so that a fetch paced as a
	// whole does not then arrive as a longer burst above the cap.
	MaxFetch int64
}

// ErrFull is wrapped by the error of a Cache.Fill refused because the
// cache is full of content ranked as high as the request or higher: the job
// stops adding files and reports the rest as left over budget.
var ErrFull = errors.New("cache full of content ranked as high or higher")

// Clock is the time source of a Runner: real time by default, a fake one
// in tests.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed; stop
	// prevents that if it has not happened yet.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// JobState is where a fill job is.
type JobState string

// Job states. A job that ended in any state but StateCompleted keeps its
// state file, so that running the same manifest again continues it.
const (
	StateIdle      JobState = "idle"      // no job has run since the runner started
	StateRunning   JobState = "running"   // filling
	StateCompleted JobState = "completed" // every file that fits the cache is held and verified
	StateFailed    JobState = "failed"    // it ended with files that failed (see Errors)
	StateCutOff    JobState = "cut_off"   // the fill window ended first
	StateCancelled JobState = "cancelled" // stopped from outside (the daemon stopping)
)

// FileError is a file a job could not fill.
type FileError struct {
	Path  string    `json:"path"`
	Error string    `json:"error"`
	At    time.Time `json:"at"`
}

// Left is what a job did not fill.
type Left struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Paths are the first of them, in fill order (at most MaxLeftPaths).
	Paths []string `json:"paths,omitempty"`
	// OverBudgetFiles and OverBudgetBytes count the files (included in
	// Files and Bytes) left because they do not fit: not even tried (the
	// higher-ranked ones already fill the cache's capacity), or refused or
	// not tried once the cache was found full of content ranked as high or
	// higher (ErrFull; then Full is set).
	OverBudgetFiles int   `json:"over_budget_files"`
	OverBudgetBytes int64 `json:"over_budget_bytes"`
	// Full reports that the job stopped adding files because the cache
	// was full of content ranked as high or higher (ErrFull).
	Full bool `json:"full,omitempty"`
}

// MaxLeftPaths bounds Left.Paths; MaxErrors bounds Status.Errors.
const (
	MaxLeftPaths = 20
	MaxErrors    = 100
)

// Status is a fill job's state as an admin endpoint serves it and as its
// report keeps it.
type Status struct {
	ID       string   `json:"id,omitempty"`
	State    JobState `json:"state"`
	Reason   string   `json:"reason,omitempty"`   // why it ended, in words
	Manifest string   `json:"manifest,omitempty"` // file or URL
	Digest   string   `json:"manifest_sha256,omitempty"`

	StartedAt time.Time `json:"started_at,omitzero"` // of the job (the first run, for a continued job)
	ResumedAt time.Time `json:"resumed_at,omitzero"` // of this run, for a continued job
	EndedAt   time.Time `json:"ended_at,omitzero"`
	Deadline  time.Time `json:"deadline,omitzero"` // the window's end, if any

	FilesTotal    int   `json:"files_total"`    // files in the manifest
	FilesDone     int   `json:"files_done"`     // held and accounted for: resident or filled
	FilesResident int   `json:"files_resident"` // already held when the job looked
	FilesFilled   int   `json:"files_filled"`   // filled and verified by the job
	FilesFailed   int   `json:"files_failed"`   // failed in this run
	BytesTotal    int64 `json:"bytes_total"`
	BytesDone     int64 `json:"bytes_done"`
	// BytesFetched counts the bytes the job asked the origin for (its
	// bandwidth use), across runs of the job.
	BytesFetched int64 `json:"bytes_fetched"`
	// Rate is BytesFetched of this run over its duration so far, bytes/s.
	Rate float64 `json:"rate_bytes_per_second"`

	ErrorCount int         `json:"error_count"`
	Errors     []FileError `json:"errors,omitempty"` // the first MaxErrors
	Left       Left        `json:"left"`
}

// Counters are a Runner's totals since it was made, for edgecache_fill_*
// metrics; read them with Load.
type Counters struct {
	BytesFetched     atomic.Int64 // bytes asked of the origin (edgecache_fill_bytes_total)
	FilesFilled      atomic.Int64 // files filled and verified (edgecache_fill_files_total)
	FilesResident    atomic.Int64 // files found already held
	Errors           atomic.Int64 // files that failed (edgecache_fill_errors_total)
	SHA256Mismatches atomic.Int64 // of which: bytes that did not match the manifest
	Jobs             atomic.Int64 // job runs started
	JobsCompleted    atomic.Int64 // job runs that ended completed
	Running          atomic.Int64 // 1 while a job runs (edgecache_fill_running)
	LastCompletion   atomic.Int64 // Unix seconds a job last completed; 0 never (edgecache_fill_last_completion_timestamp_seconds)
}
