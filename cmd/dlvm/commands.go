package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/etc"
	"github.com/dlvm-project/dlvm/internal/agentauth"
	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/agent"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/rpc"
	"github.com/dlvm-project/dlvm/volume/target"
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

// runDPVState is `dlvm dpv drain|undrain NAME`: a draining dpv gets no new legs, and the volume
// managers replace its mirrored legs on other dpvs of its dvg (resynced in use, as for a lost
// dpv), after which the legs it held are deleted from it; undrain puts it back in service.
func runDPVState(ctx context.Context, args []string) error {
	const use = "usage: dlvm dpv drain|undrain NAME [--config-file FILE]"
	if len(args) < 2 || (args[0] != "drain" && args[0] != "undrain") {
		return usageError(use)
	}
	verb, name := args[0], args[1]
	cfg, err := loadConfig("dpv "+verb, args[2:])
	if err != nil {
		return err
	}
	d, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	state := model.DPVDraining
	if verb == "undrain" {
		state = model.DPVUp
	}
	if err := d.Store().SetDPVState(ctx, name, state); err != nil {
		return err
	}
	fmt.Printf("dlvm: dpv %s is %s\n", name, state)
	return nil
}

// proc is what a service process opens from its configuration: logger, database and bus.
type proc struct {
	cfg *etc.Config
	log *slog.Logger
	db  *db.DB
	bus rpc.Bus
}

// openProc loads the config of command name and opens what it needs (the database when withDB);
// it serves pprof when [DEFAULT] pprof_listen is set, until ctx ends.
func openProc(ctx context.Context, name string, args []string, withDB bool) (*proc, error) {
	cfg, err := loadConfig(name, args)
	if err != nil {
		return nil, err
	}
	p := &proc{cfg: cfg}
	if p.log, err = newLogger(cfg); err != nil {
		return nil, err
	}
	startPprof(ctx, cfg.Default.PprofListen, p.log)
	if withDB {
		if p.db, err = openDB(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if p.bus, err = newBus(ctx, cfg, p.log); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *proc) close() {
	if p.bus != nil {
		_ = p.bus.Close()
	}
	if p.db != nil {
		_ = p.db.Close()
	}
}

// runAPI serves the Cinder v3 REST API.
func runAPI(ctx context.Context, args []string) error {
	p, err := openProc(ctx, "api", args, true)
	if err != nil {
		return err
	}
	defer p.close()
	if p.cfg.Default.AuthStrategy == etc.AuthBuiltin {
		return fmt.Errorf("[DEFAULT] auth_strategy: builtin is only served by all-in-one; use keystone")
	}
	svc, err := newVolumeAPI(p.db, p.bus, p.cfg, p.log)
	if err != nil {
		return err
	}
	h, err := newAPIHandler(svc, p.cfg, nil, p.log)
	if err != nil {
		return err
	}
	return serveHTTP(ctx, hostPort(p.cfg.Default.Listen, p.cfg.Default.ListenPort), h, p.log)
}

// runScheduler runs the placement service.
func runScheduler(ctx context.Context, args []string) error {
	p, err := openProc(ctx, "scheduler", args, true)
	if err != nil {
		return err
	}
	defer p.close()
	go func() { _ = heartbeat(ctx, p.db, p.cfg, schedulerRows(p.cfg), p.log) }()
	return newScheduler(p.db, p.bus, p.cfg, p.log).Run(ctx)
}

// runVolume runs the volume manager.
func runVolume(ctx context.Context, args []string) error {
	p, err := openProc(ctx, "volume", args, true)
	if err != nil {
		return err
	}
	defer p.close()
	if err := registerDVGs(ctx, p.db, p.cfg); err != nil {
		return err
	}
	m, err := newManager(p.db, p.bus, p.cfg, p.log)
	if err != nil {
		return err
	}
	go func() { _ = heartbeat(ctx, p.db, p.cfg, volumeRows(p.cfg), p.log) }()
	return m.Run(ctx)
}

// runDPVAgent runs a storage server's agent.
func runDPVAgent(ctx context.Context, args []string) error {
	p, err := openProc(ctx, "dpv-agent", args, false)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.cfg.ValidateDPVAgent(); err != nil {
		return err
	}
	pl, err := newPool(p.cfg.DPV, 0, p.log)
	if err != nil {
		return err
	}
	return serveDPV(ctx, p.cfg, p.cfg.DPV, pl, p.bus, false, p.log)
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

// serveDPV serves one dpv agent, with its own tgtd exporting its legs, and sends its heartbeats
// until ctx ends. stopTgtd stops a tgtd this agent started when it ends (all-in-one); otherwise
// tgtd keeps serving and the next agent adopts it.
func serveDPV(ctx context.Context, cfg *etc.Config, s etc.DPVSection, p pool.Pool, bus rpc.Bus, stopTgtd bool, log *slog.Logger) error {
	log = log.With("dpv", s.Name)
	tg, exports, err := newTarget(ctx, cfg, s, log)
	if err != nil {
		return err
	}
	if stopTgtd {
		defer tg.Stop()
	}
	secret, err := agentSecret(cfg)
	if err != nil {
		return err
	}
	fence, err := agentauth.OpenFence(filepath.Join(dpvStateDir(cfg, s), "epochs.json"))
	if err != nil {
		return err
	}
	srv := agent.NewServer(p, agent.ServerOptions{Name: s.Name, DVG: s.DVG, Location: s.Location, Token: secret,
		Fence: fence, ReplayWindow: cfg.Agent.ReplayWindow, Target: tg, Exports: exports}, log)
	if err := srv.RestoreExports(ctx); err != nil {
		log.Warn("restore exports", "err", err)
	}
	go tg.Watch(ctx, 2*time.Second, func() {
		if err := srv.RestoreExports(ctx); err != nil {
			log.Warn("restore exports after a tgtd restart", "err", err)
		}
	})
	hb := rpc.DPVHeartbeat{ID: s.Name, Name: s.Name, DVG: dvgOf(cfg, s.DVG), URL: agentURL(cfg, s.AdvertiseURL), Location: s.Location,
		PoolType: s.PoolType, TargetPortal: hostPort(s.TargetIPAddress, s.TargetPort), StartedAt: time.Now().UTC()}
	go agent.RunHeartbeat(ctx, p, bus, hb, cfg.Default.DPVHeartbeatInterval, log)
	return serveAgent(ctx, cfg, hostPort(s.Listen, s.Port), srv.Handler(), log)
}

// newTarget starts (or adopts) the dpv's tgtd: portal target_ip_address:target_port, control
// port = target_port (tgtd takes control ports up to 32767), and opens the export state file
// that lets a restarted agent or tgtd rebuild every target.
func newTarget(ctx context.Context, cfg *etc.Config, s etc.DPVSection, log *slog.Logger) (*target.Tgt, *target.State, error) {
	if s.TargetHelper != etc.TargetTgtadm {
		return nil, nil, fmt.Errorf("[dpv] target_helper: %s is not available in this build yet; use tgtadm", s.TargetHelper)
	}
	if s.TargetPort > 32767 {
		return nil, nil, fmt.Errorf("[dpv] target_port: %d is above 32767, which tgtd cannot use as its control port", s.TargetPort)
	}
	tg := target.NewTgt(target.TgtOptions{Portal: hostPort(s.TargetIPAddress, s.TargetPort), ControlPort: s.TargetPort,
		IQNPrefix: s.ISCSITargetPrefix, Log: log})
	if err := tg.EnsureDaemon(ctx); err != nil {
		return nil, nil, err
	}
	dir := dpvStateDir(cfg, s)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	st, err := target.OpenState(filepath.Join(dir, "exports.json"))
	if err != nil {
		tg.Stop()
		return nil, nil, err
	}
	return tg, st, nil
}

// dpvStateDir is where a dpv agent keeps its export state and epochs: the pool dir of a file
// pool, state_path/dpv-NAME for an lvm pool.
func dpvStateDir(cfg *etc.Config, s etc.DPVSection) string {
	if s.PoolType == etc.PoolLVM {
		return filepath.Join(cfg.Default.StatePath, "dpv-"+s.Name)
	}
	return s.PoolDir
}

// dvgOf maps a backend section name to its dvg name.
func dvgOf(cfg *etc.Config, backend string) string {
	if b, ok := cfg.Backend(backend); ok {
		return b.DVGName
	}
	return backend
}
