package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/etc"
	"github.com/dlvm-project/dlvm/keystone"
	"github.com/dlvm-project/dlvm/model"
)

const allInOneHelp = `usage: dlvm all-in-one [--data-dir DIR] [--config-file FILE] [--api-port N] [--identity-port N]
                         [--dpv-base-port N] [--target-base-port N] [--connector-port N]

Runs the API, the built-in identity, the scheduler, the volume manager and local dpv agents (each
with its own file pool under DIR) in one process, on SQLite and the in-process bus. Writes
DIR/openrc for the openstack CLI and stops cleanly on SIGTERM or Ctrl-C. A config file, if given,
overrides the embedded defaults (see etc/dlvm.conf.sample).
`

func runAllInOne(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dlvm all-in-one", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, allInOneHelp) }
	dataDir := fs.String("data-dir", "dlvm-data", "state directory (database, pools, identity key, openrc)")
	cfgPath := fs.String("config-file", "", "optional configuration file over the embedded defaults")
	apiPort := fs.Int("api-port", 0, "API port (default 8776)")
	idPort := fs.Int("identity-port", 0, "built-in identity port (default 5000)")
	dpvPort := fs.Int("dpv-base-port", 0, "first local dpv agent port (default 8801)")
	connPort := fs.Int("connector-port", 8810, "the local connector daemon's port")
	tgtPort := fs.Int("target-base-port", 0, "first local dpv's iSCSI portal / tgtd control port (default 13261, at most 32767)")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	cfg := etc.Default(dir)
	if *cfgPath != "" {
		if cfg, err = etc.LoadAllInOne(dir, *cfgPath); err != nil {
			return err
		}
	}
	if *apiPort > 0 {
		cfg.Default.ListenPort = *apiPort
	}
	if *idPort > 0 {
		cfg.BuiltinIdentity.Port = *idPort
		cfg.BuiltinIdentity.PublicURL = ""
	}
	if *dpvPort > 0 {
		cfg.AllInOne.DPVBasePort = *dpvPort
	}
	if *tgtPort > 0 {
		cfg.AllInOne.TargetBasePort = *tgtPort
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	return allInOne(ctx, cfg, dir, *connPort, log)
}

func allInOne(ctx context.Context, cfg *etc.Config, dir string, connectorPort int, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := ensureLocalSecret(cfg, dir); err != nil {
		return fmt.Errorf("agent secret: %w", err)
	}

	d, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		return err
	}
	if err := registerDVGs(ctx, d, cfg); err != nil {
		return err
	}
	bus, err := newBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer bus.Close()

	apiURL := "http://" + hostPort(cfg.Default.Listen, cfg.Default.ListenPort)
	bi := cfg.BuiltinIdentity
	idURL := firstNonEmpty(bi.PublicURL, "http://"+hostPort(bi.Listen, bi.Port))
	var users []keystone.User
	for _, u := range bi.Users {
		ku := keystone.User{Name: u.Name, Project: u.Project, Roles: u.Roles}
		if u.PasswordIsHash() {
			ku.PasswordHash = u.Password
		} else {
			ku.Password = u.Password
		}
		users = append(users, ku)
	}
	ident, err := keystone.NewBuiltin(keystone.BuiltinOptions{
		KeyFile: bi.KeyFile, TokenTTL: bi.TokenExpiration, PublicURL: idURL,
		VolumeURL: firstNonEmpty(cfg.Default.PublicEndpoint, apiURL) + "/v3/%(project_id)s", Users: users,
	}, log.With("component", "identity"))
	if err != nil {
		return err
	}
	svc, err := newVolumeAPI(d, bus, cfg, log)
	if err != nil {
		return err
	}
	var verifier keystone.TokenVerifier
	if cfg.Default.AuthStrategy == etc.AuthBuiltin {
		verifier = ident
	}
	h, err := newAPIHandler(svc, cfg, verifier, log)
	if err != nil {
		return err
	}
	mgr, err := newManager(d, bus, cfg, log)
	if err != nil {
		return err
	}
	sched := newScheduler(d, bus, cfg, log)

	// Every part runs until ctx ends; the first to fail stops the others. Shutdown goes in two
	// steps: the host's connector detaches its volumes first, while the dpv agents and their
	// tgtds still serve the legs; then every other part stops (svcCtx).
	svcCtx, svcCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer svcCancel()
	var wg sync.WaitGroup
	var connDone chan struct{}
	shutdown := func() {
		cancel()
		if connDone != nil {
			select {
			case <-connDone:
			case <-time.After(60 * time.Second):
				log.Warn("the local connector did not stop within 60 s")
			}
		}
		svcCancel()
		wg.Wait()
	}
	errc := make(chan error, 16)
	start := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	start("scheduler", func() error { return sched.Run(svcCtx) })
	start("volume manager", func() error { return mgr.Run(svcCtx) })
	start("service heartbeats", func() error {
		return heartbeat(svcCtx, d, cfg, append(schedulerRows(cfg), volumeRows(cfg)...), log)
	})
	for i := 0; i < cfg.AllInOne.DPVCount; i++ {
		s := cfg.DPV
		s.Name = fmt.Sprintf("dpv-%d", i+1)
		s.DVG = localBackend(cfg, i)
		s.Port = cfg.AllInOne.DPVBasePort + i
		s.PoolDir = filepath.Join(dir, s.Name)
		s.PoolType = etc.PoolFile
		s.AdvertiseURL = "http://" + hostPort(s.Listen, s.Port)
		s.TargetPort = cfg.AllInOne.TargetBasePort + i
		p, err := newPool(s, int64(cfg.AllInOne.DPVSizeGB)*model.GiB, log)
		if err != nil {
			shutdown()
			return err
		}
		start(s.Name, func() error { return serveDPV(svcCtx, cfg, s, p, bus, true, log) })
	}
	connDone = make(chan struct{})
	start("connector", func() error {
		defer close(connDone)
		return serveLocalConnector(ctx, cfg, dir, connectorPort, bus, log)
	})
	start("identity", func() error {
		return serveHTTP(svcCtx, hostPort(bi.Listen, bi.Port), ident.Handler(), log.With("component", "identity"))
	})
	startPprof(svcCtx, cfg.Default.PprofListen, log)
	start("api", func() error {
		return serveHTTP(svcCtx, hostPort(cfg.Default.Listen, cfg.Default.ListenPort), h, log.With("component", "api"))
	})

	// Ready means the local dpvs have registered (before that, a create would find no room) and
	// so has the local connector (before that, attaching a multi-leg volume here fails).
	since := time.Now().Add(-time.Second)
	err = waitDPVs(ctx, d, cfg.AllInOne.DPVCount, 60*time.Second)
	if err == nil {
		err = waitIHost(ctx, d, localConnector(dir, connectorPort).Host, since, 60*time.Second)
	}
	if err != nil {
		// A component that failed (a port taken, tgtd missing) canceled the wait: say which.
		shutdown()
		close(errc)
		var errs []error
		for cerr := range errc {
			errs = append(errs, cerr)
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		return err
	}
	rc := openrc(cfg, idURL)
	// Written whole or not at all: scripts wait for the file to appear, then source it.
	tmp := filepath.Join(dir, ".openrc.tmp")
	if err := os.WriteFile(tmp, []byte(rc), 0o600); err != nil {
		cancel()
	} else if err := os.Rename(tmp, filepath.Join(dir, "openrc")); err != nil {
		cancel()
	}
	fmt.Printf("dlvm all-in-one is running: API %s, identity %s, %d dpvs under %s\n"+
		"Use it with:  source %s\n\n%s\n", apiURL, idURL, cfg.AllInOne.DPVCount, dir, filepath.Join(dir, "openrc"), rc)

	<-ctx.Done()
	log.Info("shutting down")
	shutdown()
	close(errc)
	var errs []string
	for err := range errc {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	log.Info("stopped")
	return nil
}

// localBackend is the backend section local dpv i (0-based) joins: the dpvs are dealt to the
// enabled backends in contiguous blocks (etc.AllInOneSection.DPVsOf).
func localBackend(cfg *etc.Config, i int) string {
	n := len(cfg.Backends)
	for k := range n {
		if first, count := cfg.AllInOne.DPVsOf(k, n); i >= first && i < first+count {
			return cfg.Backends[k].Name
		}
	}
	return cfg.Backends[0].Name
}

// waitDPVs waits until n dpvs have sent a heartbeat since it was called (rows of an earlier run
// of the same data dir do not count), or ctx ends, or timeout passes.
func waitDPVs(ctx context.Context, d *db.DB, n int, timeout time.Duration) error {
	since := time.Now().Add(-time.Second)
	deadline := since.Add(timeout)
	for {
		fresh := 0
		dpvs, err := d.Store().ListDPVs(ctx, "")
		for _, p := range dpvs {
			if err == nil && p.HeartbeatAt.After(since) {
				fresh++
			}
		}
		if fresh >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d local dpvs reported within %s (is tgtd installed?)", fresh, n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitIHost waits until the connector daemon of host has reported since since, or ctx ends,
// or timeout passes.
func waitIHost(ctx context.Context, d *db.DB, host string, since time.Time, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		h, err := d.Store().GetIHost(ctx, host)
		if err == nil && h.HeartbeatAt.After(since) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the local connector (host %q) did not report within %s", host, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// openrc renders the environment for the openstack CLI as the first configured (admin) user.
func openrc(cfg *etc.Config, idURL string) string {
	u := cfg.BuiltinIdentity.Users[0]
	pw := u.Password
	if u.PasswordIsHash() {
		pw = "<the password of " + u.Name + ">"
	}
	return fmt.Sprintf(`export OS_AUTH_URL=%s/v3
export OS_AUTH_TYPE=password
export OS_USERNAME=%s
export OS_PASSWORD=%s
export OS_PROJECT_NAME=%s
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_IDENTITY_API_VERSION=3
export OS_REGION_NAME=RegionOne
export OS_VOLUME_API_VERSION=3
`, idURL, u.Name, pw, u.Project)
}
