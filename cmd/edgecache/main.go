// Command edgecache is an edge CDN cache daemon for video segments: it
// serves HTTP Range requests from memory and disk, fetching missing chunks
// from one origin with collapsed, streamed fetches.
//
// Subcommands:
//
//	edgecache serve --origin URL [--listen ADDR] [--mem SIZE] [--disk PATH:SIZE] [--config FILE]
//	edgecache demo                     synthetic origin + cache on loopback
//	edgecache origin --listen ADDR     the synthetic origin alone
//	edgecache config check FILE        validate a config file
//	edgecache bench ...                player workload, trace replay, policy simulation
//	edgecache disk clear PATH          put a disk taken out of service back
//	edgecache stats [--json]           the running daemon's counters (admin listener)
//	edgecache purge PATH|--prefix P    remove objects from every tier (admin listener)
//	edgecache fill [--wait]            start a fill job now and follow it (admin listener)
//	edgecache version
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

const usage = `edgecache: an edge cache for video segments

usage:
  edgecache serve --origin URL [--listen ADDR] [--admin ADDR] [--mem SIZE] [--disk PATH:SIZE ...] [--config FILE]
  edgecache demo [--listen ADDR] [--origin-listen ADDR] [--admin ADDR]
  edgecache origin [--listen ADDR] [--size SIZE] [--delay DURATION]
  edgecache config check FILE
  edgecache bench --target URL [--duration 30s] [--json] ...
  edgecache bench replay --trace FILE --target URL
  edgecache bench simulate --trace FILE [--size 1%,5%,10%] [--policy ...]
  edgecache bench day [--titles N] [--cache SIZE] [--json] [--svg FILE] ...
  edgecache manifest build --logs FILE... --budget SIZE --origin URL -o FILE
  edgecache disk clear [--config FILE | --state FILE] PATH
  edgecache stats [--admin URL] [--token-file FILE] [--json]
  edgecache purge [--admin URL] [--token-file FILE] [--json] PATH | --prefix P
  edgecache fill [--admin URL] [--token-file FILE] [--manifest FILE|URL] [--limit DURATION] [--wait] [--json]
  edgecache version

Run "edgecache COMMAND --help" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "origin":
		return cmdOrigin(args[1:], stderr)
	case "config":
		return cmdConfig(args[1:], stdout, stderr)
	case "disk":
		return cmdDisk(args[1:], stdout, stderr)
	case "bench":
		return cmdBench(args[1:], stdout, stderr)
	case "manifest":
		return cmdManifest(args[1:], stdout, stderr)
	case "stats":
		return cmdStats(args[1:], stdout, stderr)
	case "purge":
		return cmdPurge(args[1:], stdout, stderr)
	case "fill":
		return cmdFill(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "edgecache: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// versionString names the build: module version, VCS revision, Go version.
func versionString() string {
	v, rev, dirty := "(devel)", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + dirty
	}
	return fmt.Sprintf("edgecache %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
