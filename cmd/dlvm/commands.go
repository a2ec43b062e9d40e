package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/dlvm-project/dlvm/etc"
	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/volume/agent"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// runDBSync creates or upgrades the schema (cinder-manage db sync).
func runDBSync(ctx context.Context, args []string) error {
	cfg, err := loadConfig("db sync", args)
	if err != nil {
		return err
	}
	d, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		return err
	}
	fmt.Println("dlvm: database schema is up to date")
	return nil
}

// runAPI serves the Cinder v3 REST API.
func runAPI(ctx context.Context, args []string) error {
	cfg, err := loadConfig("api", args)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	if cfg.Default.AuthStrategy == etc.AuthBuiltin {
		return fmt.Errorf("[DEFAULT] auth_strategy: builtin is only served by all-in-one; use keystone")
	}
	d, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	bus, err := newBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer bus.Close()
	svc, err := newVolumeAPI(d, bus, cfg, log)
	if err != nil {
		return err
	}
	h, err := newAPIHandler(svc, cfg, nil, log)
	if err != nil {
		return err
	}
	return serveHTTP(ctx, hostPort(cfg.Default.Listen, cfg.Default.ListenPort), h, log)
}

// runScheduler runs the placement service.
func runScheduler(ctx context.Context, args []string) error {
	cfg, err := loadConfig("scheduler", args)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	d, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	bus, err := newBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer bus.Close()
	return newScheduler(d, bus, cfg, log).Run(ctx)
}

// runVolume runs the volume manager.
func runVolume(ctx context.Context, args []string) error {
	cfg, err := loadConfig("volume", args)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	d, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := registerDVGs(ctx, d, cfg); err != nil {
		return err
	}
	bus, err := newBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer bus.Close()
	m, err := newManager(d, bus, cfg, log)
	if err != nil {
		return err
	}
	return m.Run(ctx)
}

// runDPVAgent runs a storage server's agent.
func runDPVAgent(ctx context.Context, args []string) error {
	cfg, err := loadConfig("dpv-agent", args)
	if err != nil {
		return err
	}
	if err := cfg.ValidateDPVAgent(); err != nil {
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
	p, err := newPool(cfg.DPV, 0, log)
	if err != nil {
		return err
	}
	return serveDPV(ctx, cfg, cfg.DPV, p, bus, log)
}

// newPool opens the dpv's pool; capacity caps what a file pool advertises (0 = the filesystem).
func newPool(s etc.DPVSection, capacity int64, log *slog.Logger) (pool.Pool, error) {
	switch s.PoolType {
	case etc.PoolLVM:
		return pool.NewLVM(s.VolumeGroup, s.ThinPool, runner.Exec{}, pool.LVMOptions{Log: log})
	default:
		return pool.NewFile(s.PoolDir, pool.FileOptions{Log: log, CapacityBytes: capacity})
	}
}

// serveDPV serves one dpv agent and sends its heartbeats until ctx ends.
func serveDPV(ctx context.Context, cfg *etc.Config, s etc.DPVSection, p pool.Pool, bus rpc.Bus, log *slog.Logger) error {
	log = log.With("dpv", s.Name)
	srv := agent.NewServer(p, agent.ServerOptions{Name: s.Name, DVG: s.DVG, Location: s.Location, Token: cfg.Default.AgentToken}, log)
	hb := rpc.DPVHeartbeat{ID: s.Name, Name: s.Name, DVG: dvgOf(cfg, s.DVG), URL: s.AdvertiseURL, Location: s.Location,
		PoolType: s.PoolType, TargetPortal: hostPort(s.TargetIPAddress, s.TargetPort)}
	go agent.RunHeartbeat(ctx, p, bus, hb, cfg.Default.DPVHeartbeatInterval, log)
	return serveHTTP(ctx, hostPort(s.Listen, s.Port), srv.Handler(), log)
}

// dvgOf maps a backend section name to its dvg name.
func dvgOf(cfg *etc.Config, backend string) string {
	if b, ok := cfg.Backend(backend); ok {
		return b.DVGName
	}
	return backend
}
