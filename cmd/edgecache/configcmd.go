package main

import (
	"fmt"
	"io"

	"edgecache/config"
)

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: edgecache config check FILE")
		return 2
	}
	if _, err := config.Load(args[1]); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return 0
}
