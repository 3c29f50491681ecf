package main

import (
	"flag"
	"fmt"
	"io"

	"edgecache/cache/disk"
	"edgecache/config"
)

const diskUsage = `usage: edgecache disk clear [--config FILE | --state FILE] PATH

Puts the cache directory PATH back in service after the daemon took it out
for I/O errors (it stays out across restarts until cleared). The state file
is --state, else cache.disk_state_file of --config, else
edgecache-disks.state next to the first configured disk (or next to PATH).
Restart the daemon afterwards.
`

// cmdDisk runs "edgecache disk".
func cmdDisk(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "clear" {
		fmt.Fprint(stderr, diskUsage)
		return 2
	}
	fs := flag.NewFlagSet("disk clear", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, diskUsage) }
	configFile := fs.String("config", "", "YAML config `file` naming the disks and state file")
	state := fs.String("state", "", "disk state `file`")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	path := fs.Arg(0)
	stateFile := *state
	if stateFile == "" && *configFile != "" {
		cfg, err := config.Load(*configFile)
		if cfg == nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		stateFile = cfg.Cache.DiskStateFile
		if stateFile == "" && len(cfg.Cache.Disks) > 0 {
			stateFile = disk.DefaultStateFile(cfg.Cache.Disks[0].Path)
		}
	}
	if stateFile == "" {
		stateFile = disk.DefaultStateFile(path)
	}
	if err := disk.ClearOutOfService(stateFile, path); err != nil {
		fmt.Fprintf(stderr, "edgecache: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: back in service (state file %s); restart edgecache to use it\n", path, stateFile)
	return 0
}
