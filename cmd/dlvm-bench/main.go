// Command dlvm-bench drives a running dlvm API with a fixed number of kept-alive connections
// and reports requests per second, p50/p99 latency, CPU seconds per 1,000 requests and the peak
// resident set of each dlvm process, for a project filled with growing numbers of volumes
// (created through the API, which is also how the create rate is measured). It speaks only the
// public wire (Keystone v3 and Cinder v3 JSON) and imports no server package.
//
//	dlvm-bench run --env NAME --api URL --auth-url URL ... --out part.json
//	dlvm-bench report --out bench.json part1.json part2.json
//
// scripts/bench.sh (make bench) starts the service layouts and calls both.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dlvm-bench run|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(ctx, os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (run, report)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dlvm-bench:", err)
		os.Exit(1)
	}
}
