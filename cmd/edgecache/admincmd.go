package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"edgecache/admin"
	"edgecache/config"
)

// adminFlags are the flags of the commands that talk to the admin
// listener.
type adminFlags struct {
	url, tokenFile string
	json           bool
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "admin", "http://127.0.0.1:9090", "admin listener `URL`")
	fs.StringVar(&f.tokenFile, "token-file", "", "`file` holding the admin bearer token (admin.token_file)")
	fs.BoolVar(&f.json, "json", false, "print the answer as JSON")
}

// do sends method to path on the admin listener and decodes the JSON
// answer into v.
func (f *adminFlags) do(method, path string, v any) error {
	base := strings.TrimRight(f.url, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	var tok string
	if f.tokenFile != "" {
		t, err := admin.ReadToken(f.tokenFile)
		if err != nil {
			return err
		}
		tok = t
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return adminCall(ctx, http.DefaultClient, base, tok, method, path, nil, v)
}

// adminCall sends method to path on the admin listener at base (with the
// bearer token tok, if not empty, and body as JSON, if not nil) and decodes
// the JSON answer into v.
func adminCall(ctx context.Context, hc *http.Client, base, tok, method, path string, body, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return fmt.Errorf("admin URL %q: %w", base, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin listener: %s %s: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("admin listener: %s %s: 401 unauthorized (give --token-file)", method, path)
	case resp.StatusCode/100 != 2: // 202 Accepted for POST /fill
		return fmt.Errorf("admin listener: %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("admin listener: %s %s: %w", method, path, err)
	}
	return nil
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// cmdStats prints the daemon's /stats.
func cmdStats(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f adminFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "stats: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var st admin.Stats
	if err := f.do(http.MethodGet, "/stats", &st); err != nil {
		fmt.Fprintf(stderr, "edgecache stats: %v\n", err)
		return 1
	}
	if f.json {
		printJSON(stdout, st)
		return 0
	}
	printStats(stdout, &st)
	return 0
}

// printStats renders st for a person.
func printStats(w io.Writer, st *admin.Stats) {
	size := func(n int64) string { return config.Size(n).String() }
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "version\t%s\n", st.Version)
	fmt.Fprintf(tw, "uptime\t%s (since %s)\n", time.Duration(st.UptimeSeconds*float64(time.Second)).Round(time.Second), st.StartTime)
	var total int64
	for _, n := range st.RequestsByCache {
		total += n
	}
	fmt.Fprintf(tw, "requests\t%d\t%s\n", total, counts(st.RequestsByCache))
	fmt.Fprintf(tw, "bytes sent\t%s\tmemory %s, disk %s, origin %s\n", size(st.BytesByTier["memory"]+st.BytesByTier["disk"]+st.BytesByTier["origin"]),
		size(st.BytesByTier["memory"]), size(st.BytesByTier["disk"]), size(st.BytesByTier["origin"]))
	fmt.Fprintf(tw, "memory\t%s of %s\t%d chunks, %d evictions\n", size(st.Memory.Bytes), size(st.Memory.Budget), st.Memory.Chunks, st.Memory.Evictions)
	if st.Disk != nil {
		fmt.Fprintf(tw, "disk\t%s of %s\t%d chunks, %d evictions\n", size(st.Disk.Bytes), size(st.Disk.Budget), st.Disk.Chunks, st.Disk.Evictions)
	}
	for _, d := range st.Disks {
		state := "in service"
		if !d.InService {
			state = "OUT OF SERVICE: " + d.Reason
		}
		fmt.Fprintf(tw, "  %s\t%s of %s\t%d chunks, %s\n", d.Path, size(d.Bytes), size(d.Budget), d.Chunks, state)
	}
	fmt.Fprintf(tw, "objects\t%d\n", st.Objects)
	fmt.Fprintf(tw, "origin\t%s received\tfetches: %s; %d errors; %d chunk flights (%d failed), %d collapsed waiters\n",
		size(st.Origin.Bytes), counts(st.Origin.Fetches), st.Origin.Errors, st.Origin.Flights, st.Origin.FlightErrors, st.CollapsedWaiters)
	fmt.Fprintf(tw, "connections\t%d open\t%d rejected\n", st.Connections.Open, st.Connections.Rejected)
	if st.AccessLog != nil {
		fmt.Fprintf(tw, "access log\t%d lines\t%d dropped, %d write errors\n", st.AccessLog.Written, st.AccessLog.Dropped, st.AccessLog.Errors)
	}
	if st.RecoveredPanics > 0 {
		fmt.Fprintf(tw, "recovered panics\t%d\t(bugs: see the log)\n", st.RecoveredPanics)
	}
	tw.Flush()
}

// counts renders a map of counts as "a 1, b 2", sorted by name, zeros left
// out.
func counts(m map[string]int64) string {
	var keys []string
	for k, n := range m {
		if n > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// cmdPurge asks the daemon to purge a path or a prefix.
func cmdPurge(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f adminFlags
	f.register(fs)
	prefix := fs.String("prefix", "", "purge every object whose key starts with `P`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	q := url.Values{}
	switch {
	case *prefix != "" && fs.NArg() == 0:
		q.Set("prefix", *prefix)
	case *prefix == "" && fs.NArg() == 1:
		q.Set("path", fs.Arg(0))
	default:
		fmt.Fprintln(stderr, "usage: edgecache purge [--admin URL] [--token-file FILE] [--json] PATH | --prefix P")
		return 2
	}
	var res admin.PurgeResponse
	if err := f.do(http.MethodPost, "/purge?"+q.Encode(), &res); err != nil {
		fmt.Fprintf(stderr, "edgecache purge: %v\n", err)
		return 1
	}
	if f.json {
		printJSON(stdout, res)
		return 0
	}
	fmt.Fprintf(stdout, "purged %d objects: %d chunks (%s) from memory, %d chunks (%s) from disk\n", res.Objects,
		res.MemoryChunks, config.Size(res.MemoryBytes), res.DiskChunks, config.Size(res.DiskBytes))
	for _, k := range res.Keys {
		fmt.Fprintf(stdout, "  %s\n", k)
	}
	if res.Truncated {
		fmt.Fprintf(stdout, "  ... and %d more\n", res.Objects-len(res.Keys))
	}
	return 0
}
