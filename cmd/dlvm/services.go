package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dlvm-project/dlvm/apiv3"
	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/etc"
	"github.com/dlvm-project/dlvm/keystone"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/scheduler/service"
	"github.com/dlvm-project/dlvm/volume"
	"github.com/dlvm-project/dlvm/volume/agent"
	volapi "github.com/dlvm-project/dlvm/volume/api"
	"github.com/dlvm-project/dlvm/volume/backup"
	"github.com/dlvm-project/dlvm/volume/nova"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// loadConfig parses flags and the config file of a service command.
func loadConfig(name string, args []string) (*etc.Config, error) {
	fs, path := configFlags(name, args)
	if err := fs.Parse(args); err != nil {
		return nil, usageError(err.Error())
	}
	cfg, err := etc.Load(*path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// newLogger returns the process logger: text to stderr or log_file, debug when configured.
func newLogger(cfg *etc.Config) (*slog.Logger, error) {
	level := slog.LevelInfo
	if cfg.Default.Debug {
		level = slog.LevelDebug
	}
	w := os.Stderr
	if cfg.Default.LogFile != "" {
		f, err := os.OpenFile(cfg.Default.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return nil, fmt.Errorf("[DEFAULT] log_file: %w", err)
		}
		w = f
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	for _, warn := range cfg.Warnings {
		log.Warn("config: " + warn)
	}
	return log, nil
}

func openDB(ctx context.Context, cfg *etc.Config) (*db.DB, error) {
	return db.Open(ctx, cfg.Database.Connection, db.Options{MaxOpenConns: cfg.Database.MaxPoolSize})
}

// newBus connects the configured transport.
func newBus(ctx context.Context, cfg *etc.Config, log *slog.Logger) (rpc.Bus, error) {
	t, err := etc.ParseTransportURL(cfg.Default.TransportURL)
	if err != nil {
		return nil, err
	}
	if t.Scheme == "inproc" {
		return rpc.NewInproc(log.With("component", "rpc")), nil
	}
	return rpc.DialRabbit(ctx, rpc.RabbitOptions{URLs: amqpURLs(t), Exchange: cfg.Default.ControlExchange,
		Log: log.With("component", "rpc")})
}

// amqpURLs turns an oslo rabbit:// transport into one amqp:// URL per broker.
func amqpURLs(t *etc.Transport) []string {
	var out []string
	for _, h := range t.Hosts {
		u := url.URL{Scheme: "amqp", Host: net.JoinHostPort(h.Host, strconv.Itoa(h.Port)), Path: "/" + t.VirtualHost}
		if h.Username != "" {
			u.User = url.UserPassword(h.Username, h.Password)
		}
		out = append(out, u.String())
	}
	return out
}

// newVolumeAPI builds the service layer from config.
func newVolumeAPI(d *db.DB, bus rpc.Bus, cfg *etc.Config, log *slog.Logger) (*volapi.API, error) {
	q := cfg.Default.Quotas
	return volapi.New(d, bus, volapi.Options{
		DefaultVolumeType: cfg.Default.DefaultVolumeType,
		DefaultAZ:         cfg.Default.DefaultAvailabilityZone,
		QuotaDefaults: map[string]int64{
			model.ResVolumes: int64(q.Volumes), model.ResSnapshots: int64(q.Snapshots),
			model.ResGigabytes: int64(q.Gigabytes), model.ResBackups: int64(q.Backups),
			model.ResBackupGigabytes: int64(q.BackupGigabytes), model.ResGroups: int64(q.Groups),
			model.ResPerVolumeGB: int64(q.PerVolumeSizeLimit),
		},
		DefaultLayout: model.Layout{Mirrors: cfg.Default.Layout.Mirrors, Stripes: cfg.Default.Layout.Stripes,
			ChunkKiB: cfg.Default.Layout.StripeChunkKiB},
		Backend:         volumeBackend(cfg),
		ServiceDownTime: cfg.Default.ServiceDownTime,
		BackupContainer: cfg.Backup.Container,
	}, log)
}

// newAPIHandler builds the REST API with its auth middleware. verifier is the built-in
// identity when auth_strategy is builtin.
func newAPIHandler(svc *volapi.API, cfg *etc.Config, verifier keystone.TokenVerifier, log *slog.Logger) (http.Handler, error) {
	ks := cfg.KeystoneAuthtoken
	mw, err := keystone.NewMiddleware(keystone.MiddlewareOptions{
		Strategy:               cfg.Default.AuthStrategy,
		WWWAuthenticateURI:     firstNonEmpty(ks.WWWAuthenticateURI, ks.AuthURL),
		AuthURL:                ks.AuthURL,
		Username:               ks.Username,
		Password:               ks.Password,
		ProjectName:            ks.ProjectName,
		UserDomainName:         ks.UserDomainName,
		ProjectDomainName:      ks.ProjectDomainName,
		JWSPublicKeyRepository: ks.JWSPublicKeyRepository,
		CacheTTL:               ks.TokenCacheTime,
		HTTPTimeout:            ks.HTTPConnectTimeout,
		Verifier:               verifier,
		Public:                 apiv3.IsPublic,
	}, log.With("component", "auth"))
	if err != nil {
		return nil, err
	}
	h := apiv3.New(svc, apiv3.Options{Identity: callerFromKeystone, PublicURL: cfg.Default.PublicEndpoint, Log: log.With("component", "api")})
	return mw.Wrap(h), nil
}

// callerFromKeystone turns the auth middleware's context into the service layer's caller.
func callerFromKeystone(r *http.Request) (volapi.Caller, bool) {
	kc, ok := keystone.FromContext(r.Context())
	if !ok {
		return volapi.Caller{}, false
	}
	return volapi.Caller{UserID: kc.UserID, ProjectID: kc.ProjectID, Roles: kc.Roles, IsAdmin: kc.IsAdmin}, true
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// registerDVGs records the configured backends as dvgs (the volume manager owns them).
func registerDVGs(ctx context.Context, d *db.DB, cfg *etc.Config) error {
	for _, b := range cfg.Backends {
		now := time.Now().UTC()
		if err := d.Store().UpsertDVG(ctx, &model.DVG{
			ID: b.DVGName, Name: b.DVGName, BackendName: b.VolumeBackendName, AvailabilityZone: b.AvailabilityZone,
			OverSubscription: b.MaxOverSubscriptionRatio, ReservedPercentage: b.ReservedPercentage,
			CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			return fmt.Errorf("register dvg %s: %w", b.DVGName, err)
		}
	}
	return nil
}

// newManager builds the volume manager with HTTP clients for the dpv agents.
func newManager(d *db.DB, bus rpc.Bus, cfg *etc.Config, log *slog.Logger) (*volume.Manager, error) {
	hc, err := agentClient(cfg, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	secret, err := agentSecret(cfg)
	if err != nil {
		return nil, err
	}
	dial := func(p *model.DPV) volume.Agent { return agent.NewClient(p.URL, hc, secret) }
	root, err := filepath.Abs(cfg.Backup.PosixPath)
	if err != nil {
		return nil, fmt.Errorf("[backup] backup_posix_path: %w", err)
	}
	drv, err := backup.NewPosix(root, cfg.Backup.FileSize)
	if err != nil {
		return nil, fmt.Errorf("[backup] backup_posix_path: %w", err)
	}
	opts := volume.Options{
		Host: cfg.Default.Host, SweepInterval: cfg.Default.WorkflowSweepInterval, StaleAfter: cfg.Default.WorkflowStaleAfter,
		MessageTTL: cfg.Default.MessageTTL, Backup: drv,
		Connectors: connectorDialer(hc, secret), HeartbeatTimeout: cfg.Default.DPVHeartbeatTimeout, LegReplaceAfter: cfg.Default.LegReplaceAfter,
	}
	if n := cfg.Nova; n.Configured() {
		c, err := nova.New(nova.Options{AuthURL: n.AuthURL, Username: n.Username, Password: n.Password,
			ProjectName: n.ProjectName, UserDomainName: n.UserDomainName, ProjectDomainName: n.ProjectDomainName,
			RegionName: n.RegionName, Interface: n.EndpointType, Log: log.With("component", "nova")})
		if err != nil {
			return nil, err
		}
		opts.Nova = c
	} else {
		log.Info("no [nova] auth_url: Nova will not be told when attached volumes grow")
	}
	return volume.New(d, bus, dial, opts, log.With("component", "volume"))
}

func newScheduler(d *db.DB, bus rpc.Bus, cfg *etc.Config, log *slog.Logger) *service.Service {
	return service.New(d, bus, service.Options{HeartbeatTimeout: cfg.Default.DPVHeartbeatTimeout, Backend: volumeBackend(cfg),
		ServiceDownTime: cfg.Default.ServiceDownTime, MessageTTL: cfg.Default.MessageTTL},
		log.With("component", "scheduler"))
}

// serveHTTP serves h on addr until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveListener(ctx, l, h, log)
}

func serveListener(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}
