package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edgecache/config"
	"edgecache/fill"
)

// fillUsage is the synopsis of "edgecache fill".
const fillUsage = "usage: edgecache fill [--admin URL] [--token-file FILE] [--manifest FILE|URL] [--limit DURATION] [--wait [--interval DURATION]] [--json]"

// fillLostAfter is how long --wait keeps polling a daemon that does not
// answer (a restart continues the job) before it gives up.
const fillLostAfter = 2 * time.Minute

// plainEvery is the period of the progress lines --wait prints when its
// output is not a terminal.
const plainEvery = 10 * time.Second

// cmdFill starts a fill job on a running daemon (POST /fill) and, with
// --wait, follows it (GET /fill) to its end: exit 0 if it completed, 1 if
// it failed, was cut off or could not start, 2 for a usage error.
func cmdFill(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f adminFlags
	f.register(fs)
	manifest := fs.String("manifest", "", "manifest `FILE` or URL to fill (default: the daemon's fill.manifest); a file is read by the daemon")
	limit := fs.Duration("limit", 0, "cut the job off after this `duration` (e.g. 4h); 0: no limit")
	wait := fs.Bool("wait", false, "follow the job to its end, showing its progress; exit 0 only if it completed")
	interval := fs.Duration("interval", time.Second, "with --wait, how often the job's state is asked")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *limit < 0 || *interval <= 0 {
		fmt.Fprintln(stderr, fillUsage)
		return 2
	}
	q := url.Values{}
	if src := *manifest; src != "" {
		if !config.IsManifestURL(src) {
			// The daemon reads the file: name it from its root.
			abs, err := filepath.Abs(src)
			if err != nil {
				fmt.Fprintf(stderr, "edgecache fill: manifest %s: %v\n", src, err)
				return 1
			}
			src = abs
		}
		q.Set("manifest", src)
	}
	if *limit > 0 {
		q.Set("limit", limit.String())
	}
	path := "/fill"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var first fill.Status
	if err := f.do(http.MethodPost, path, &first); err != nil {
		fmt.Fprintf(stderr, "edgecache fill: %v\n", err)
		return 1
	}
	if !*wait {
		if f.json {
			printJSON(stdout, first)
		} else {
			fmt.Fprintf(stdout, "fill job %s started: %s, %d files, %s\n", first.ID, first.Manifest, first.FilesTotal, humanBytes(first.BytesTotal))
		}
		return 0
	}
	p := &fillProgress{w: stdout, tty: isTerminal(stdout) && !f.json, quiet: f.json}
	st, err := waitFill(&f, first, *interval, p)
	p.end()
	if err != nil {
		fmt.Fprintf(stderr, "edgecache fill: %v\n", err)
		return 1
	}
	if f.json {
		printJSON(stdout, st)
	} else {
		fmt.Fprintln(stdout, fillSummary(st))
		for i, e := range st.Errors {
			if i == 5 {
				fmt.Fprintf(stdout, "  ... %d more errors (GET /fill lists %d)\n", st.ErrorCount-i, len(st.Errors))
				break
			}
			fmt.Fprintf(stdout, "  %s: %s\n", e.Path, e.Error)
		}
	}
	if st.State != fill.StateCompleted {
		fmt.Fprintf(stderr, "edgecache fill: job %s did not complete: %s: %s\n", st.ID, st.State, st.Reason)
		return 1
	}
	return 0
}

// waitFill polls GET /fill every interval until the job first started
// ends, and returns its final state.
func waitFill(f *adminFlags, first fill.Status, interval time.Duration, p *fillProgress) (fill.Status, error) {
	st, lastOK := first, time.Now()
	p.show(st)
	for {
		time.Sleep(interval)
		var cur fill.Status
		if err := f.do(http.MethodGet, "/fill", &cur); err != nil {
			// A restarting daemon continues the job: keep asking a while.
			if time.Since(lastOK) > fillLostAfter {
				return st, fmt.Errorf("following job %s: %w", first.ID, err)
			}
			continue
		}
		lastOK = time.Now()
		if cur.ID != first.ID {
			return st, fmt.Errorf("job %s is no longer the daemon's current job (now %q, %s): see its report under fill.state_dir/reports", first.ID, cur.ID, cur.State)
		}
		st = cur
		p.show(st)
		if st.State != fill.StateRunning {
			return st, nil
		}
	}
}

// fillProgress renders a job's progress: a bar redrawn in place on a
// terminal, else a plain line every plainEvery.
type fillProgress struct {
	w        io.Writer
	tty      bool
	quiet    bool
	drawn    bool // a bar is on the terminal's current line
	lastLine time.Time
}

func (p *fillProgress) show(st fill.Status) {
	if p.quiet {
		return
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", progressBar(st, 30))
		p.drawn = true
		return
	}
	if st.State == fill.StateRunning && time.Since(p.lastLine) >= plainEvery {
		p.lastLine = time.Now()
		fmt.Fprintln(p.w, progressLine(st))
	}
}

// end finishes the bar's line.
func (p *fillProgress) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// progressBar renders st as a bar of width cells and its figures.
func progressBar(st fill.Status, width int) string {
	frac := 0.0
	if st.BytesTotal > 0 {
		frac = min(float64(st.BytesDone)/float64(st.BytesTotal), 1)
	}
	n := int(frac * float64(width))
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %3.0f%% %s", bar, frac*100, progressFigures(st))
}

// progressLine renders st as one plain line.
func progressLine(st fill.Status) string {
	pct := 0.0
	if st.BytesTotal > 0 {
		pct = float64(st.BytesDone) / float64(st.BytesTotal) * 100
	}
	return fmt.Sprintf("fill %s: %s %.1f%% %s", st.ID, st.State, pct, progressFigures(st))
}

// progressFigures are bytes, files, rate and ETA.
func progressFigures(st fill.Status) string {
	s := fmt.Sprintf("%s/%s  %d/%d files  %s/s", humanBytes(st.BytesDone), humanBytes(st.BytesTotal),
		st.FilesDone, st.FilesTotal, humanBytes(int64(st.Rate)))
	if st.ErrorCount > 0 {
		s += fmt.Sprintf("  %d errors", st.ErrorCount)
	}
	if st.State == fill.StateRunning {
		s += "  ETA " + eta(st)
	}
	return s
}

// eta is the time the bytes left take at the job's rate so far.
func eta(st fill.Status) string {
	left := st.BytesTotal - st.BytesDone
	if left <= 0 {
		return "0s"
	}
	if st.Rate <= 0 {
		return "?"
	}
	return time.Duration(float64(left) / st.Rate * float64(time.Second)).Round(time.Second).String()
}

// fillSummary is the line --wait ends with.
func fillSummary(st fill.Status) string {
	s := fmt.Sprintf("fill %s %s: %d of %d files held (%d filled, %d already held), %s of %s; %s fetched",
		st.ID, st.State, st.FilesDone, st.FilesTotal, st.FilesFilled, st.FilesResident,
		humanBytes(st.BytesDone), humanBytes(st.BytesTotal), humanBytes(st.BytesFetched))
	if !st.StartedAt.IsZero() && !st.EndedAt.IsZero() {
		s += fmt.Sprintf(" in %s", st.EndedAt.Sub(st.StartedAt).Round(time.Millisecond))
	}
	if st.ErrorCount > 0 {
		s += fmt.Sprintf("; %d errors", st.ErrorCount)
	}
	if st.Left.Files > 0 {
		s += fmt.Sprintf("; left %d files (%s)", st.Left.Files, humanBytes(st.Left.Bytes))
		if st.Left.OverBudgetFiles > 0 {
			s += fmt.Sprintf(", %d of them over the disks' budget", st.Left.OverBudgetFiles)
		}
	}
	return s
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
