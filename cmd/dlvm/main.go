// Command dlvm is the one binary of the dlvm block storage service. Its subcommands run the
// service's processes (api, scheduler, volume, dpv-agent), all of them at once on embedded
// defaults (all-in-one), or maintenance tasks (db sync, version). Only this package reads flags,
// environment and files; it wires the packages below it together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

const usage = `usage: dlvm <command> [flags]

commands:
  all-in-one   everything in one process on embedded defaults (SQLite, in-process bus,
               built-in identity, local file-pool dpvs) — see --help
  api          Cinder v3 REST API
  scheduler    places volumes on dvgs and legs on dpvs
  volume       volume manager: runs workflows against dpv agents
  dpv-agent    storage server agent: pool + leg operations
  connector    compute host daemon: assembles multi-leg volumes (see --help)
  db sync      create or upgrade the database schema
  dpv drain NAME | dpv undrain NAME
               stop placing legs on a dpv and move its mirrored legs to other dpvs while
               their volumes stay in use (undrain: take it back into service)
  version      print the version

Every command but all-in-one reads --config-file (default /etc/dlvm/dlvm.conf).
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "all-in-one":
		err = runAllInOne(ctx, args)
	case "api":
		err = runAPI(ctx, args)
	case "scheduler":
		err = runScheduler(ctx, args)
	case "volume":
		err = runVolume(ctx, args)
	case "dpv-agent":
		err = runDPVAgent(ctx, args)
	case "connector":
		err = runConnector(ctx, args)
	case "db":
		if len(args) == 0 || args[0] != "sync" {
			err = usageError("usage: dlvm db sync [--config-file FILE]")
		} else {
			err = runDBSync(ctx, args[1:])
		}
	case "dpv":
		err = runDPVState(ctx, args)
	case "version", "--version":
		fmt.Println("dlvm", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		err = usageError(fmt.Sprintf("dlvm: unknown command %q\n\n%s", cmd, usage))
	}
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, string(ue))
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "dlvm:", err)
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

// configFlags parses the flags every service command shares and loads the configuration.
func configFlags(name string, args []string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("dlvm "+name, flag.ContinueOnError)
	path := fs.String("config-file", "/etc/dlvm/dlvm.conf", "configuration file (cinder.conf style)")
	return fs, path
}
