package fill

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files of a Runner's directory.
const (
	stateFile    = "job.json"          // the current (or last unfinished) job's state
	manifestFile = "job-manifest.json" // that job's manifest (JSON, as parsed)
	reportsDir   = "reports"           // one <ended>-<id>.json per job run, the newest Options.Reports kept
)

// jobState is what a job keeps on disk to be continued after a restart.
// Files are named by their ordinal in the manifest (see Entry.Ordinal),
// which the digest pins.
type jobState struct {
	Version      int       `json:"version"`
	ID           string    `json:"id"`
	Digest       string    `json:"manifest_sha256"`
	Source       string    `json:"manifest"`
	Files        int       `json:"files"`
	State        JobState  `json:"state"`
	StartedAt    time.Time `json:"started_at"`
	BytesFetched int64     `json:"bytes_fetched"`
	// Done is a bitmap of the files done (bit i of byte i/8 for ordinal i),
	// in base64.
	Done string `json:"done"`

	done []byte
}

func (s *jobState) has(i int) bool { return s.done[i/8]&(1<<(i%8)) != 0 }
func (s *jobState) set(i int)      { s.done[i/8] |= 1 << (i % 8) }

// count returns the number of files done.
func (s *jobState) count() int {
	n := 0
	for _, b := range s.done {
		n += bits.OnesCount8(b)
	}
	return n
}

func (s *jobState) clone() *jobState {
	c := *s
	c.done = slices.Clone(s.done)
	return &c
}

// loadState reads the job state; nil, nil if there is none.
func (r *Runner) loadState() (*jobState, error) {
	b, err := os.ReadFile(filepath.Join(r.opt.Dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fill job state: %w", err)
	}
	var st jobState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("fill job state %s: %w", filepath.Join(r.opt.Dir, stateFile), err)
	}
	if st.done, err = base64.StdEncoding.DecodeString(st.Done); err != nil || len(st.done) != (st.Files+7)/8 || st.Version != 1 {
		return nil, fmt.Errorf("fill job state %s: damaged", filepath.Join(r.opt.Dir, stateFile))
	}
	return &st, nil
}

// saveState writes the job state atomically.
func (r *Runner) saveState(st *jobState) error {
	st.Done = base64.StdEncoding.EncodeToString(st.done)
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("fill job state: %w", err)
	}
	return writeFileAtomic(filepath.Join(r.opt.Dir, stateFile), b)
}

// clearState removes the job state and its manifest copy.
func (r *Runner) clearState() {
	for _, name := range []string{stateFile, manifestFile} {
		if err := os.Remove(filepath.Join(r.opt.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("fill: cannot remove job state", "err", err)
		}
	}
}

// Pending returns the manifest of the job the runner's directory holds
// unfinished (a daemon stopped or cut off in the middle of it), or nil if
// there is none. Run it to continue that job. The manifest copy is the
// runner's own, checked (signature included) when the job started.
func (r *Runner) Pending() (*Manifest, string, error) {
	st, err := r.loadState()
	if err != nil || st == nil {
		return nil, "", err
	}
	b, err := os.ReadFile(filepath.Join(r.opt.Dir, manifestFile))
	if err != nil {
		return nil, "", fmt.Errorf("fill job %s: manifest copy: %w", st.ID, err)
	}
	m, err := Parse(b, ParseOptions{Source: filepath.Join(r.opt.Dir, manifestFile)})
	if err != nil {
		return nil, "", fmt.Errorf("fill job %s: %w", st.ID, err)
	}
	if m.Digest != st.Digest {
		return nil, "", fmt.Errorf("fill job %s: manifest copy does not match the job", st.ID)
	}
	return m, st.Source, nil
}

// ResumePending continues the unfinished job of the runner's directory, if
// there is one, until until; ok is false if there was none.
func (r *Runner) ResumePending(ctx context.Context, until time.Time) (st Status, ok bool, err error) {
	m, src, err := r.Pending()
	if err != nil || m == nil {
		return Status{}, false, err
	}
	st, err = r.Run(ctx, m, src, until)
	return st, err == nil, err
}

// writeFileAtomic writes b to name through a temp file in the same
// directory, synced and renamed into place, then syncs the directory.
func writeFileAtomic(name string, b []byte) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// writeReport keeps st as a report and removes the oldest beyond
// Options.Reports.
func (r *Runner) writeReport(st Status) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("fill report: %w", err)
	}
	dir := filepath.Join(r.opt.Dir, reportsDir)
	name := st.EndedAt.UTC().Format("20060102T150405.000000000Z") + "-" + st.ID + ".json"
	if err := writeFileAtomic(filepath.Join(dir, name), b); err != nil {
		return fmt.Errorf("fill report: %w", err)
	}
	names, err := r.reportNames()
	if err != nil {
		return err
	}
	for len(names) > r.opt.Reports {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return fmt.Errorf("fill report: %w", err)
		}
		names = names[1:]
	}
	return nil
}

// reportNames returns the report files, oldest first.
func (r *Runner) reportNames() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(r.opt.Dir, reportsDir))
	if err != nil {
		return nil, fmt.Errorf("fill reports: %w", err)
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Reports returns the kept job reports, newest first.
func (r *Runner) Reports() ([]Status, error) {
	names, err := r.reportNames()
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(names))
	for i := len(names) - 1; i >= 0; i-- {
		b, err := os.ReadFile(filepath.Join(r.opt.Dir, reportsDir, names[i]))
		if err != nil {
			return nil, fmt.Errorf("fill report: %w", err)
		}
		var st Status
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("fill report %s: %w", names[i], err)
		}
		out = append(out, st)
	}
	return out, nil
}
