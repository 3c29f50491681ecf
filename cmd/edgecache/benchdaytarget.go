package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"edgecache/admin"
	"edgecache/bench"
	"edgecache/fill"
)

// targetFlags are bench day's flags for a daemon already running.
type targetFlags struct {
	target    string // the daemon's content listener
	admin     string // its admin listener
	tokenFile string // the admin bearer token, if it needs one
	origin    string // the synthetic origin the daemon fetches from
	accessLog string // the daemon's log.access file
	variant   string
	oracleLog string // for the oracle: day 1's log segment of an off run
	keepLogs  string // where the day's log segments and manifest stay
	signKey   string // ed25519 private key file the manifest is signed with
}

// register adds the target mode's flags to fs.
func (t *targetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.target, "target", "", "run the day against the running daemon whose content listener is at `URL` (one variant per run; its cache must be empty)")
	fs.StringVar(&t.admin, "admin", "http://127.0.0.1:9090", "with --target: the daemon's admin listener `URL` (/stats, /fill)")
	fs.StringVar(&t.tokenFile, "token-file", "", "with --target: `file` holding the admin bearer token (admin.token_file)")
	fs.StringVar(&t.origin, "origin", "", "with --target: base `URL` of the synthetic origin (\"edgecache origin\") the daemon fetches from; its /_stats counts the origin bytes")
	fs.StringVar(&t.accessLog, "access-log", "", "with --target: the daemon's access log `file` (log.access); the nightly manifest is built from it")
	fs.StringVar(&t.variant, "variant", bench.VariantOff, "with --target: the `variant` to run: off, nightly or oracle")
	fs.StringVar(&t.oracleLog, "oracle-log", "", "with --target --variant oracle: day 1's access log `file` of an off run with the same flags (off-day1.log under its --keep-logs)")
	fs.StringVar(&t.keepLogs, "keep-logs", "", "with --target: keep the day's access log segments and manifest in `directory` (default: removed at the end)")
	fs.StringVar(&t.signKey, "sign-key", "", "with --target: ed25519 private key `file` (as for \"manifest build\") to sign the night's manifest with, for a daemon with fill.public_key")
}

// check validates the flags of the target mode; set names the flags given.
func (t *targetFlags) check(set map[string]bool) error {
	if t.target == "" {
		for _, name := range []string{"admin", "token-file", "origin", "access-log", "variant", "oracle-log", "keep-logs", "sign-key"} {
			if set[name] {
				return fmt.Errorf("bench day: --%s needs --target", name)
			}
		}
		return nil
	}
	for _, name := range []string{"variants", "mem", "policy", "dir"} {
		if set[name] {
			return fmt.Errorf("bench day: --%s is for the in-process daemons; with --target the daemon has its own", name)
		}
	}
	switch {
	case t.origin == "":
		return errors.New("bench day: --target needs --origin: the synthetic origin the daemon fetches from (the bytes served are checked against it and its counters measure the origin bytes)")
	case t.variant != bench.VariantOff && t.variant != bench.VariantNightly && t.variant != bench.VariantOracle:
		return fmt.Errorf("bench day: --variant %q: want %s, %s or %s", t.variant, bench.VariantOff, bench.VariantNightly, bench.VariantOracle)
	case t.variant == bench.VariantNightly && t.accessLog == "":
		return errors.New("bench day: --variant nightly needs --access-log: the daemon's access log, from which yesterday's manifest is built")
	case t.variant == bench.VariantOracle && t.oracleLog == "":
		return errors.New("bench day: --variant oracle needs --oracle-log: day 1's access log of an off run with the same flags (run --variant off --keep-logs DIR --access-log FILE first, then give DIR/off-day1.log)")
	case t.variant != bench.VariantOracle && t.oracleLog != "":
		return errors.New("bench day: --oracle-log is for --variant oracle")
	}
	if t.signKey != "" {
		if _, err := readPrivateKey(t.signKey); err != nil {
			return fmt.Errorf("bench day: --sign-key: %w", err)
		}
	}
	if t.oracleLog != "" {
		fi, err := os.Stat(t.oracleLog)
		if err != nil {
			return fmt.Errorf("bench day: --oracle-log: %w", err)
		}
		if fi.Size() == 0 {
			return fmt.Errorf("bench day: --oracle-log %s is empty", t.oracleLog)
		}
	}
	return nil
}

// cmdBenchDayTarget runs bench day's one variant against a running daemon.
func cmdBenchDayTarget(f dayFlags, t targetFlags, cacheSet bool, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := runBenchDayTarget(ctx, f, t, cacheSet)
	if rep == nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return writeDayReport(rep, f, err, stdout, stderr)
}

// writeDayReport prints rep as asked and returns the exit status: 1 if err
// is not nil or the day had errors.
func writeDayReport(rep *bench.DayReport, f dayFlags, err error, stdout, stderr io.Writer) int {
	var werr error
	if f.asJSON {
		werr = rep.WriteJSON(stdout)
	} else {
		werr = rep.WriteTable(stdout)
	}
	if f.svg != "" && werr == nil {
		werr = writeSVG(f.svg, rep)
	}
	if werr != nil {
		fmt.Fprintf(stderr, "bench day: %v\n", werr)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if rep.Errors() > 0 {
		return 1
	}
	return 0
}

// runBenchDayTarget checks the daemon and runs the variant against it.
// Without --cache, the cache size reported (and the fill budget's base) is
// the daemon's disk tier budget (its memory tier's without disks).
func runBenchDayTarget(ctx context.Context, f dayFlags, t targetFlags, cacheSet bool) (*bench.DayReport, error) {
	dir := t.keepLogs
	if dir == "" {
		tmp, err := os.MkdirTemp("", "edgecache-bench-day-")
		if err != nil {
			return nil, fmt.Errorf("bench day: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench day: --keep-logs: %w", err)
	}
	d, st, err := openTargetDaemon(ctx, t, f.cfg.ObjectSize, dir)
	if err != nil {
		return nil, err
	}
	if !cacheSet {
		f.cacheBytes = st.Memory.Budget
		if st.Disk != nil {
			f.cacheBytes = st.Disk.Budget
		}
	}
	f.cfg.FillBudget = int64(float64(f.cacheBytes) * f.fillShare)
	rep, err := bench.RunDayOne(ctx, f.cfg, t.variant, d, t.oracleLog)
	if rep != nil {
		rep.CacheBytes = f.cacheBytes
	}
	return rep, err
}

// targetDaemon is a running edgecache as bench day's DayDaemon: its content
// listener, its admin listener (cache state, fills) and its access log,
// cut into one segment per simulated day.
type targetDaemon struct {
	url, originURL, admin, token string
	variant                      string
	accessLog                    string             // "" if not given
	priv                         ed25519.PrivateKey // signs the manifests; nil: unsigned
	dir                          string             // where segments and manifests go
	hc                           *http.Client

	day      int   // next segment's day
	off      int64 // access log offset of the next segment
	answered int64 // answers the daemon had counted at off
	dropped  int64 // access log lines dropped at the start
}

// openTargetDaemon checks that the daemon at t can run a day (its cache
// empty, no fill running, a fill runner for the fill variants, its access
// log written, the origin the synthetic one with objects of objectSize)
// and returns it with its /stats at the start.
func openTargetDaemon(ctx context.Context, t targetFlags, objectSize int64, dir string) (*targetDaemon, *admin.Stats, error) {
	d := &targetDaemon{url: baseURL(t.target), originURL: baseURL(t.origin), admin: baseURL(t.admin), variant: t.variant,
		accessLog: t.accessLog, dir: dir, hc: &http.Client{Timeout: 30 * time.Second}}
	if t.tokenFile != "" {
		tok, err := admin.ReadToken(t.tokenFile)
		if err != nil {
			return nil, nil, fmt.Errorf("bench day: %w", err)
		}
		d.token = tok
	}
	if t.signKey != "" {
		priv, err := readPrivateKey(t.signKey)
		if err != nil {
			return nil, nil, fmt.Errorf("bench day: --sign-key: %w", err)
		}
		d.priv = priv
	}
	var st admin.Stats
	if err := d.adminDo(ctx, http.MethodGet, "/stats", nil, &st); err != nil {
		return nil, nil, fmt.Errorf("bench day: --admin: %w", err)
	}
	var disk int64
	if st.Disk != nil {
		disk = st.Disk.Bytes
	}
	if st.Objects > 0 || st.Memory.Bytes > 0 || disk > 0 {
		return nil, nil, fmt.Errorf("bench day: the daemon's cache is not empty (%d objects, %d bytes in memory, %d on disk): "+
			"a simulated day starts from an empty cache; restart the daemon on empty cache directories", st.Objects, st.Memory.Bytes, disk)
	}
	if t.variant != bench.VariantOff {
		var fs fill.Status
		if err := d.adminDo(ctx, http.MethodGet, "/fill", nil, &fs); err != nil {
			return nil, nil, fmt.Errorf("bench day: the %s variant fills through the admin listener: %w", t.variant, err)
		}
		if fs.State == fill.StateRunning {
			return nil, nil, fmt.Errorf("bench day: the daemon is running fill job %s: wait for it to end", fs.ID)
		}
	}
	if err := checkSyntheticOrigin(ctx, d.hc, d.originURL, objectSize); err != nil {
		return nil, nil, err
	}
	if d.accessLog != "" {
		if st.AccessLog == nil {
			return nil, nil, fmt.Errorf("bench day: --access-log %s: the daemon writes no access log (set log.access in its configuration)", d.accessLog)
		}
		d.dropped = st.AccessLog.Dropped
		var err error
		if d.off, d.answered, err = d.settle(ctx); err != nil {
			return nil, nil, err
		}
	}
	return d, &st, nil
}

// baseURL returns u without a trailing slash, http:// added if it has no
// scheme.
func baseURL(u string) string {
	u = strings.TrimRight(u, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	return u
}

// checkSyntheticOrigin checks that base serves the synthetic origin's
// counters and /v/ objects of objectSize bytes (the bytes served are
// checked against the synthetic content of that size).
func checkSyntheticOrigin(ctx context.Context, hc *http.Client, base string, objectSize int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_stats", nil)
	if err != nil {
		return fmt.Errorf("bench day: --origin: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("bench day: --origin: %w", err)
	}
	var doc struct {
		Bytes *int64 `json:"bytes"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || doc.Bytes == nil {
		return fmt.Errorf("bench day: --origin %s: no byte counters at /_stats (%s): is it \"edgecache origin\"?", base, resp.Status)
	}
	if req, err = http.NewRequestWithContext(ctx, http.MethodHead, base+"/v/bench-t1/0.m4s", nil); err != nil {
		return fmt.Errorf("bench day: --origin: %w", err)
	}
	req.Header.Set("X-Origin-No-Count", "1")
	if resp, err = hc.Do(req); err != nil {
		return fmt.Errorf("bench day: --origin: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != objectSize {
		return fmt.Errorf("bench day: --origin %s serves /v/ objects of %d bytes (%s), the day's are %d (--object-size): start it with --size %d",
			base, resp.ContentLength, resp.Status, objectSize, objectSize)
	}
	return nil
}

// adminDo sends method to path on the daemon's admin listener with body
// (JSON, if not nil) and decodes the JSON answer into v.
func (d *targetDaemon) adminDo(ctx context.Context, method, path string, body, v any) error {
	return adminCall(ctx, d.hc, d.admin, d.token, method, path, body, v)
}

// settleTimeout bounds the wait for the daemon's access log to catch up
// with its answers.
const settleTimeout = 30 * time.Second

// settlePolls is how many polls in a row settle wants to see the daemon's
// answers and access log unchanged: an answer is counted and logged just
// after its last byte is sent, so the bench's last requests can end a
// moment before the daemon counts them.
const settlePolls = 3

// settle waits until every answer the daemon counted is in its access log
// file: the count of answers unchanged over settlePolls polls, every one of
// them logged (written, dropped or failed), the file's size unchanged and
// its last line whole. It returns the file's size and the answers counted.
func (d *targetDaemon) settle(ctx context.Context) (size, answered int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	prevAnswered, prevSize, same := int64(-1), int64(-1), 0
	for {
		var st admin.Stats
		if err := d.adminDo(ctx, http.MethodGet, "/stats", nil, &st); err != nil {
			return 0, 0, fmt.Errorf("bench day: %w", err)
		}
		if st.AccessLog == nil {
			return 0, 0, errors.New("bench day: the daemon no longer writes an access log")
		}
		if n := st.AccessLog.Dropped - d.dropped; n > 0 {
			return 0, 0, fmt.Errorf("bench day: access log: the daemon dropped %d lines", n)
		}
		answered = 0
		for _, r := range st.Requests {
			answered += r.Count
		}
		logged := st.AccessLog.Written + st.AccessLog.Dropped + st.AccessLog.Errors
		size, whole, err := fileEnd(d.accessLog)
		if err != nil {
			return 0, 0, fmt.Errorf("bench day: --access-log: %w", err)
		}
		if answered == prevAnswered && logged >= answered && size == prevSize && whole {
			if same++; same+1 >= settlePolls {
				return size, answered, nil
			}
		} else {
			same = 0
		}
		prevAnswered, prevSize = answered, size
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("bench day: waiting for the access log %s to hold the daemon's %d answers (%d logged): %w",
				d.accessLog, answered, logged, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fileEnd returns the size of the file name and whether its last line is
// whole (it is empty or ends with a newline).
func fileEnd(name string) (int64, bool, error) {
	fh, err := os.Open(name)
	if err != nil {
		return 0, false, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil || fi.Size() == 0 {
		return 0, true, err
	}
	var b [1]byte
	if _, err := fh.ReadAt(b[:], fi.Size()-1); err != nil {
		return 0, false, err
	}
	return fi.Size(), b[0] == '\n', nil
}

// URL implements bench.DayDaemon.
func (d *targetDaemon) URL() string { return d.url }

// OriginURL implements bench.DayDaemon.
func (d *targetDaemon) OriginURL() string { return d.originURL }

// RotateLog implements bench.DayDaemon: it waits for the access log to
// hold the day's answers, then copies what the day added to it to
// <variant>-day<N>.log in the work directory and returns that file's name
// ("" without --access-log). The daemon's file itself is left alone.
func (d *targetDaemon) RotateLog() (string, error) {
	if d.accessLog == "" {
		return "", nil
	}
	ctx := context.Background()
	size, answered, err := d.settle(ctx)
	if err != nil {
		return "", err
	}
	if size < d.off {
		return "", fmt.Errorf("access log %s shrank from %d to %d bytes during the day: was it rotated?", d.accessLog, d.off, size)
	}
	if size == d.off && answered > d.answered {
		return "", fmt.Errorf("access log %s got no line for the day's %d answers: is it the daemon's log.access file?", d.accessLog, answered-d.answered)
	}
	name := filepath.Join(d.dir, fmt.Sprintf("%s-day%d.log", d.variant, d.day))
	if err := copyRange(name, d.accessLog, d.off, size-d.off); err != nil {
		return "", fmt.Errorf("access log: %w", err)
	}
	d.day++
	d.off, d.answered = size, answered
	return name, nil
}

// copyRange writes n bytes of the file src from off to a new file dst.
func copyRange(dst, src string, off, n int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.NewSectionReader(in, off, n)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// fillPoll is how often Fill asks the daemon about its fill job.
const fillPoll = 50 * time.Millisecond

// Fill implements bench.DayDaemon: it serves the manifest (and its
// signature, with --sign-key) on a loopback port of its own (the daemon
// may not see this process's files), has the
// daemon fill it (POST /fill), follows the job (GET /fill) to its end and
// reports it. The manifest is also written to the work directory.
func (d *targetDaemon) Fill(ctx context.Context, manifest []byte) (bench.FillOutcome, error) {
	if err := os.WriteFile(filepath.Join(d.dir, d.variant+"-manifest.json"), manifest, 0o644); err != nil {
		return bench.FillOutcome{}, fmt.Errorf("manifest: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return bench.FillOutcome{}, fmt.Errorf("serving the manifest: %w", err)
	}
	files := map[string][]byte{"/manifest.json": manifest}
	if d.priv != nil {
		files["/manifest.json"+fill.SignatureSuffix] = fill.Sign(d.priv, manifest)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	start := time.Now()
	var st fill.Status
	req := admin.FillRequest{Manifest: "http://" + ln.Addr().String() + "/manifest.json"}
	if err := d.adminDo(ctx, http.MethodPost, "/fill", req, &st); err != nil {
		return bench.FillOutcome{}, fmt.Errorf("starting the fill: %w", err)
	}
	id := st.ID
	for st.State == fill.StateRunning {
		select {
		case <-ctx.Done():
			return bench.FillOutcome{}, fmt.Errorf("following fill job %s: %w", id, ctx.Err())
		case <-time.After(fillPoll):
		}
		if err := d.adminDo(ctx, http.MethodGet, "/fill", nil, &st); err != nil {
			return bench.FillOutcome{}, fmt.Errorf("following fill job %s: %w", id, err)
		}
		if st.ID != id {
			return bench.FillOutcome{}, fmt.Errorf("fill job %s is no longer the daemon's current job (now %q, %s)", id, st.ID, st.State)
		}
	}
	dur := time.Since(start)
	if !st.StartedAt.IsZero() && st.EndedAt.After(st.StartedAt) {
		dur = st.EndedAt.Sub(st.StartedAt)
	}
	return bench.FillOutcome{State: string(st.State), Files: st.FilesTotal, FilesFilled: st.FilesFilled,
		Bytes: st.BytesFetched, DurationS: dur.Seconds(), Errors: st.ErrorCount}, nil
}

// Close implements bench.DayDaemon: the daemon is not this process's to
// stop, and the work directory is the caller's.
func (d *targetDaemon) Close() error {
	d.hc.CloseIdleConnections()
	return nil
}
