package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/connector/daemon"
	"github.com/dlvm-project/dlvm/etc"
	"github.com/dlvm-project/dlvm/volume"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// Engine constructors. The lead points these at connector/userspace and connector/kernel; until
// then they fail, so nothing pretends to assemble volumes.
var (
	newUserspaceEngine = func(opts engineOptions) (connector.Engine, error) {
		return nil, errors.New("userspace engine not wired")
	}
	newKernelEngine = func(opts engineOptions) (connector.Engine, error) {
		return nil, errors.New("kernel engine not wired")
	}
)

// engineOptions is what cmd knows to give an engine.
type engineOptions struct {
	DataDir   string // state (NBD sockets, FUSE files, bitmaps) lives under it
	Initiator string // this host's iSCSI initiator IQN
	Log       *slog.Logger
}

func newEngine(kind string, opts engineOptions) (connector.Engine, error) {
	switch kind {
	case "userspace":
		return newUserspaceEngine(opts)
	case "kernel":
		return newKernelEngine(opts)
	}
	return nil, fmt.Errorf("unknown connector engine %q (userspace or kernel)", kind)
}

// connectorDialer gives the volume manager clients of connector daemons.
func connectorDialer(cfg *etc.Config) volume.ConnectorDialer {
	hc := &http.Client{Timeout: 5 * time.Minute}
	return func(url string) volume.HostConnector { return daemon.NewClient(url, hc, cfg.Default.AgentToken) }
}

const connectorHelp = `usage: dlvm connector [--config-file FILE] [--host NAME] [--listen ADDR] [--advertise-url URL]
                     [--engine userspace|kernel] [--data-dir DIR] [--initiator IQN]

Runs a compute host's connector daemon: the volume manager calls it to assemble multi-leg volumes
on this host. It reports itself on the bus (transport_url of the config file) every 10 s.
There is no [connector] config section yet; these flags are the settings.
`

// runConnector runs a compute host's connector daemon.
func runConnector(ctx context.Context, args []string) error {
	fs, path := configFlags("connector", args)
	fs.Usage = func() { fmt.Fprint(os.Stderr, connectorHelp) }
	hostname, _ := os.Hostname()
	host := fs.String("host", hostname, "this host's name, as Nova's connector dict reports it")
	listen := fs.String("listen", "0.0.0.0:8810", "listen address")
	advertise := fs.String("advertise-url", "", "URL the volume manager uses (default http://<host>:<port>)")
	kind := fs.String("engine", "userspace", "userspace or kernel")
	dataDir := fs.String("data-dir", "/var/lib/dlvm/connector", "engine state directory")
	initiator := fs.String("initiator", "", "iSCSI initiator IQN (default iqn.2024-01.org.dlvm:<host>)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	cfg, err := etc.Load(*path)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	bus, err := newBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer bus.Close()
	url := *advertise
	if url == "" {
		_, port, _ := net.SplitHostPort(*listen)
		url = "http://" + net.JoinHostPort(*host, port)
	}
	return serveConnector(ctx, cfg, connectorSettings{Host: *host, Listen: *listen, URL: url, Engine: *kind,
		DataDir: *dataDir, Initiator: *initiator}, bus, log)
}

// connectorSettings are a connector daemon's settings (flags for now).
type connectorSettings struct {
	Host, Listen, URL, Engine, DataDir, Initiator string
}

// serveConnector serves a connector daemon and its heartbeat until ctx ends.
func serveConnector(ctx context.Context, cfg *etc.Config, s connectorSettings, bus rpc.Bus, log *slog.Logger) error {
	log = log.With("component", "connector", "host", s.Host)
	if s.Initiator == "" {
		s.Initiator = "iqn.2024-01.org.dlvm:" + s.Host
	}
	if err := os.MkdirAll(s.DataDir, 0o750); err != nil {
		return err
	}
	eng, err := newEngine(s.Engine, engineOptions{DataDir: s.DataDir, Initiator: s.Initiator, Log: log})
	if err != nil {
		return fmt.Errorf("%w: %w", errNoEngine, err)
	}
	srv := daemon.NewServer(eng, daemon.ServerOptions{Token: cfg.Default.AgentToken}, log)
	defer srv.Close()
	go daemon.RunHeartbeat(ctx, bus, daemon.Report{Host: s.Host, URL: s.URL, Initiator: s.Initiator},
		daemon.HeartbeatOptions{Topic: rpc.TopicVolume, Method: rpc.MethodIHostHeartbeat}, log)
	return serveHTTP(ctx, s.Listen, srv.Handler(), log)
}

// errNoEngine marks a connector that could not build its engine.
var errNoEngine = errors.New("connector engine")

// serveLocalConnector runs all-in-one's connector daemon. Without a working engine it logs why
// and returns nil: the rest of all-in-one runs, and attaching a multi-leg volume then fails
// with "runs no dlvm connector" (single-leg volumes attach over plain iSCSI).
func serveLocalConnector(ctx context.Context, cfg *etc.Config, dir string, bus rpc.Bus, log *slog.Logger) error {
	err := serveConnector(ctx, cfg, localConnector(dir), bus, log)
	if errors.Is(err, errNoEngine) {
		log.Warn("local connector not started", "err", err)
		return nil
	}
	return err
}

// localConnector returns the settings of all-in-one's connector daemon on 127.0.0.1:8810.
func localConnector(dir string) connectorSettings {
	host, _ := os.Hostname()
	return connectorSettings{Host: host, Listen: "127.0.0.1:8810", URL: "http://127.0.0.1:8810",
		Engine: "userspace", DataDir: filepath.Join(dir, "connector")}
}
